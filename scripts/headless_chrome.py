"""PNG screenshots of web pages in Debian's headless Chromium, taken once the page shows what the
caller waits for (a single-page app renders its data after the load event, so waiting for the
load is not enough).

Talks to Chromium over the Chrome DevTools Protocol (a websocket); the browser's proxy is a
dead local port, so a page can reach loopback addresses only.
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import requests
from websockets.sync.client import connect

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class PageNotReady(Exception):
    """The page did not show what was awaited in time; the message names the URL and the condition."""


class Browser:
    """One headless Chromium with one tab, driven over the DevTools protocol; use as a context manager."""

    def __init__(self, width: int = 1400, height: int = 900):
        self.width, self.height = width, height
        self._ids = itertools.count(1)

    def __enter__(self) -> Browser:
        # Chromium's helper processes may still write to the profile while it exits: never fail on it
        self._profile = tempfile.TemporaryDirectory(prefix="leadops-chromium-", ignore_cleanup_errors=True)
        self._proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             f"--user-data-dir={self._profile.name}", "--remote-debugging-port=0",
             "--proxy-server=127.0.0.1:9",  # anything but loopback fails: nothing leaves the machine
             f"--window-size={self.width},{self.height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        port = self._debugging_port(Path(self._profile.name) / "DevToolsActivePort")
        page = next(t for t in requests.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
                    if t["type"] == "page")
        self._ws = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30)
        self.call("Page.enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self._ws.close()
        finally:
            self._signal(signal.SIGTERM)  # the whole group: renderers and crashpad too
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self._proc.wait(timeout=10)
            self._profile.cleanup()

    def _signal(self, sig: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self._proc.pid, sig)

    def _debugging_port(self, active_port: Path, timeout: float = 30) -> int:
        """Return the DevTools port Chromium wrote to its profile (it picks a free one)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if active_port.exists() and active_port.read_text().strip():
                return int(active_port.read_text().split()[0])
            if self._proc.poll() is not None:
                raise RuntimeError(f"chromium exited with code {self._proc.returncode}")
            time.sleep(0.1)
        raise RuntimeError("chromium did not open its DevTools port")

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one DevTools command; returns its result (events received meanwhile are dropped)."""
        msg_id = next(self._ids)
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params or {}}))
        while True:
            msg = json.loads(self._ws.recv(timeout=60))
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def evaluate(self, expression: str) -> Any:
        """Return the value of a JavaScript expression in the page."""
        return self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})["result"].get("value")

    def open(self, url: str, ready: str, timeout: float = 60, settle: float = 1.0) -> None:
        """Load ``url`` and wait until the JavaScript expression ``ready`` is true (see :meth:`wait`)."""
        self.call("Page.navigate", {"url": url})
        self.wait(ready, timeout, settle)

    def wait(self, ready: str, timeout: float = 60, settle: float = 1.0) -> None:
        """Wait until the JavaScript expression ``ready`` is true, then ``settle`` seconds more for
        transitions and drawing; raises PageNotReady naming the page and the condition."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate(f"Boolean({ready})"):
                time.sleep(settle)
                return
            time.sleep(0.25)
        raise PageNotReady(f"{self.evaluate('location.href')}: {ready} still false after {timeout:g} s; the page "
                           "shows: " + str(self.evaluate("document.body ? document.body.innerText.slice(0, 300) : ''")))

    def click(self, label: str) -> None:
        """Click the first element whose own text is ``label`` (the click bubbles up to the tab or
        button around it); raises PageNotReady if there is none."""
        found = self.evaluate(
            "(() => { const e = [...document.querySelectorAll('body *')].find(e => e.children.length === 0"
            f" && e.textContent.trim() === {json.dumps(label)}); if (e) e.click(); return Boolean(e); }})()")
        if not found:
            raise PageNotReady(f"{self.evaluate('location.href')}: nothing to click labelled {label!r}")

    def screenshot(self, target: Path) -> Path:
        """Save the visible part of the page as a PNG at ``target``; returns it."""
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})["data"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(data))
        return target


def text_shown(*needles: str) -> str:
    """Return a JavaScript condition: the page's visible text contains every one of ``needles``."""
    return " && ".join(f"document.body.innerText.includes({json.dumps(n)})" for n in needles) or "true"
