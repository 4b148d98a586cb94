"""Waiting for a Prefect server started by a script, a test or a benchmark to answer."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import requests


def wait_healthy(api_url: str, log: Path, proc: subprocess.Popen | None = None, timeout: float = 120) -> None:
    """Return once ``{api_url}/health`` answers; raise RuntimeError with the tail of ``log`` if it does not
    within ``timeout`` seconds or ``proc`` (the server's process) exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{api_url}/health", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.5)
    raise RuntimeError("the Prefect server did not start: " + Path(log).read_text()[-2000:])
