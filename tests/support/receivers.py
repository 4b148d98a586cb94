"""Receivers that record every delivery and can hold the Nth one (they answer it only when released):
a loopback webhook (HTTP) and a real SMTP server (aiosmtpd). A test kills the sender while one is held."""
from __future__ import annotations

import asyncio
import json
import socket
import threading
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Hold:
    """Holds the ``at``-th delivery (1-based; 0 holds none): ``held`` is set when it arrived, it is answered
    once ``release`` is set."""

    def __init__(self, at: int) -> None:
        self.at, self.count = at, 0
        self.held, self.release = threading.Event(), threading.Event()
        self.lock = threading.Lock()

    def arrived(self) -> bool:
        """Count one delivery; return True when it is the one to hold."""
        with self.lock:
            self.count += 1
            return self.count == self.at


class WebhookReceiver:
    """Records each POST as (Idempotency-Key header, X-Leadops-Key header, JSON body), before answering 204."""

    def __init__(self, hold_at: int = 0) -> None:
        self.posts: list[tuple[str | None, str | None, dict]] = []
        self.hold = Hold(hold_at)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.posts.append((self.headers.get("Idempotency-Key"), self.headers.get("X-Leadops-Key"), body))
                if outer.hold.arrived():  # received in full: the sender waits for the answer
                    outer.hold.held.set()
                    outer.hold.release.wait()
                try:
                    self.send_response(204)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the sender is gone
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/leadops?token=hook-secret"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def deduplicated(self) -> dict[str, dict]:
        """Return what a receiver de-duplicating on Idempotency-Key keeps: the first body per key."""
        kept: dict[str, dict] = {}
        for idem, _, body in self.posts:
            kept.setdefault(idem, body)
        return kept

    def close(self) -> None:
        self.hold.release.set()
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """A real SMTP server (aiosmtpd) recording each message once its DATA is in, before answering 250."""

    def __init__(self, hold_at: int = 0) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Message] = []
        self.hold = Hold(hold_at)
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                outer.messages.append(message_from_bytes(envelope.content))
                if outer.hold.arrived():
                    outer.hold.held.set()
                    # waits in a thread: the server's event loop goes on serving other connections
                    await asyncio.get_running_loop().run_in_executor(None, outer.hold.release.wait)
                return "250 OK"

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def deduplicated(self) -> dict[str, Message]:
        """Return what a mail system de-duplicating on Message-ID keeps: the first message per Message-ID."""
        kept: dict[str, Message] = {}
        for m in self.messages:
            kept.setdefault(m["Message-ID"], m)
        return kept

    def close(self) -> None:
        self.hold.release.set()
        self.controller.stop()
