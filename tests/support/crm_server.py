"""A fake CRM REST API on loopback for tests: real HTTP, page or cursor pagination, updated_since,
bearer auth, a request log, and scripted faults (status codes, Retry-After, HTML bodies, delays,
dropped connections).

    with FakeCrm("tok") as crm:            # or crm = FakeCrm("tok").start() ... crm.stop()
        crm.add(250)                        # records lead0..lead249, all updated_at the same instant
        crm.fail(500)                       # next request: HTTP 500
        crm.fail(429, headers={"Retry-After": "1"})
        crm.fail(200, "<html>down</html>", headers={"Content-Type": "text/html"})
        crm.delay(2.0)                      # next request: the normal answer, 2 s late
        crm.drop()                          # next request: connection closed without a response
        ...  GET crm.url ?per_page=100&page=2  or  ?per_page=100&cursor=<opaque>  [&updated_since=ISO]
        crm.log                             # [{"path", "params", "headers", "authorized"}, ...]
        crm.echo(401)                       # every request from now on: HTTP 401 whose body and headers
                                            # repeat the Authorization header in every encoding
        crm.echo(200, content_type="text/html")   # ...or a 200 that is not JSON (echo in Content-Type too)
        crm.echo(None)                      # back to normal answers

Faults are served first, in order, whatever the request (auth is not checked for them);
``crm.faults`` is the raw deque of ``(status, headers, body, delay)``: ``status=None`` drops the
connection, ``body=None`` serves the normal answer. Cursors are opaque base64 of an offset.
"""
from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

PATH = "/api/leads"


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    kind, _, n = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
    if kind != "offset":
        raise ValueError(cursor)
    return int(n)


class FakeCrm:
    """Serve ``records`` (dicts with ``id`` and ISO ``updated_at``) at ``/api/leads``."""

    def __init__(self, token: str = "s3cret-token") -> None:
        self.token = token
        self.records: list[dict[str, Any]] = []
        self.faults: deque[tuple[int | None, dict[str, str], str | None, float]] = deque()
        self.log: list[dict[str, Any]] = []
        self.echo_status: int | None = None
        self.echo_content_type = "application/json"
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{PATH}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> FakeCrm:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeCrm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- data and faults
    def add(self, n: int, start: int = 0, updated_at: str = "2026-11-20T10:00:00+00:00", **extra: Any) -> None:
        """Append ``n`` records with ids ``start..start+n-1``; ``extra`` keys are added to each."""
        for i in range(start, start + n):
            # one domain per record: fuzzy dedupe compares people within a domain only
            self.records.append({"id": i, "email": f"lead{i}@forge{i}.fr", "first_name": f"Lead{i}",
                                 "last_name": "Martin", "company": "Forge SAS", "country": "France",
                                 "updated_at": updated_at, **extra})

    def fail(self, status: int, body: str = "", headers: dict[str, str] | None = None, delay: float = 0) -> None:
        """Script the next unscripted request to get ``status`` with ``body`` (after ``delay`` s)."""
        self.faults.append((status, headers or {}, body, delay))

    def respond(self, payload: Any, status: int = 200) -> None:
        """Script a JSON response (e.g. a hand-made page)."""
        self.faults.append((status, {}, json.dumps(payload), 0))

    def delay(self, seconds: float) -> None:
        """Script the normal answer, ``seconds`` late (longer than the client timeout = a timeout)."""
        self.faults.append((200, {}, None, seconds))

    def drop(self) -> None:
        """Script a connection closed without any response."""
        self.faults.append((None, {}, None, 0))

    def echo(self, status: int | None, content_type: str = "application/json") -> None:
        """Answer every later request (after scripted faults) with ``status`` and a body and headers
        repeating the credentials received in every encoding (see tests.support.echo); ``None`` stops."""
        self.echo_status, self.echo_content_type = status, content_type

    def requests_to(self, path: str = PATH) -> int:
        return sum(1 for entry in self.log if entry["path"] == path)

    # ----------------------------------------------------------------- HTTP
    def page(self, q: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Return ``(status, JSON body)`` of the normal answer to query ``q``."""
        rows = sorted(self.records, key=lambda r: (r["updated_at"], r["id"]))
        if "updated_since" in q:
            rows = [r for r in rows if r["updated_at"] > q["updated_since"]]
        try:
            size = int(q.get("per_page", 100))
            start = (int(q["page"]) - 1) * size if "page" in q else decode_cursor(q["cursor"]) if "cursor" in q else 0
        except ValueError:
            return 400, {"error": "bad page, per_page or cursor"}
        chunk = rows[start:start + size]
        if "page" in q:
            return 200, {"data": chunk}
        nxt = encode_cursor(start + size) if start + size < len(rows) else None
        return 200, {"data": chunk, "meta": {"next_cursor": nxt}}

    def _handler(crm) -> type[BaseHTTPRequestHandler]:  # noqa: N805 - crm is the FakeCrm
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                auth = self.headers.get("Authorization", "")
                shown = {k: ("<token>" if crm.token and crm.token in v else v) for k, v in self.headers.items()}
                crm.log.append({"path": url.path, "params": q, "headers": shown,
                                "authorized": auth == f"Bearer {crm.token}"})
                if crm.faults:
                    status, headers, body, delay = crm.faults.popleft()
                    time.sleep(delay)
                    if status is None:  # drop the connection
                        self.close_connection = True
                        self.connection.close()
                        return
                    if body is not None:
                        return self._send(status, body, headers)
                if crm.echo_status is not None:
                    from tests.support.echo import echo_body, echo_headers

                    secret = auth.partition(" ")[2] or auth
                    headers = {**echo_headers(auth, secret), "Retry-After": "0"}
                    if crm.echo_content_type != "application/json":
                        headers["Content-Type"] = f"{crm.echo_content_type}; charset=utf-8; echo={secret}"
                    return self._send(crm.echo_status, echo_body(auth, secret), headers)
                if url.path != PATH:
                    return self._send(404, json.dumps({"error": "not found"}))
                if auth != f"Bearer {crm.token}":
                    return self._send(401, json.dumps({"error": "unauthorized"}))
                status, payload = crm.page(q)
                return self._send(status, json.dumps(payload))

            def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
                data = body.encode()
                headers = {"Content-Type": "application/json", **(headers or {})}
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    self.close_connection = True

        return Handler
