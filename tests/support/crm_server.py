"""A fake CRM REST API on loopback for tests: real HTTP, page or cursor pagination, updated_since,
bearer auth, and scripted faults (status codes, Retry-After, HTML bodies, delays)."""
from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class FakeCrm:
    """Serve ``records`` at /api/leads. ``faults`` are (status, headers, body, delay) served first."""

    def __init__(self, token: str = "s3cret-token"):
        self.token = token
        self.records: list[dict] = []
        self.faults: deque[tuple[int, dict, str, float]] = deque()
        self.log: list[dict] = []
        crm = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                auth = self.headers.get("Authorization", "")
                crm.log.append({"path": url.path, "params": q, "authorized": auth == f"Bearer {crm.token}"})
                if crm.faults:
                    status, headers, body, delay = crm.faults.popleft()
                    time.sleep(delay)
                    return self._send(status, body, headers)
                if auth != f"Bearer {crm.token}":
                    return self._send(401, json.dumps({"error": "unauthorized"}))
                rows = sorted(crm.records, key=lambda r: (r["updated_at"], r["id"]))
                if "updated_since" in q:
                    rows = [r for r in rows if r["updated_at"] > q["updated_since"]]
                size = int(q.get("per_page", 100))
                if "page" in q:
                    start = (int(q["page"]) - 1) * size
                    return self._send(200, json.dumps({"data": rows[start:start + size]}))
                start = int(q.get("cursor", "0") or 0)
                nxt = start + size if start + size < len(rows) else None
                return self._send(200, json.dumps({"data": rows[start:start + size],
                                                   "meta": {"next_cursor": str(nxt) if nxt else None}}))

            def _send(self, status, body, headers=None):
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", (headers or {}).get("Content-Type", "application/json"))
                for k, v in (headers or {}).items():
                    if k != "Content-Type":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/leads"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeCrm:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add(self, n: int, start: int = 0, updated_at: str = "2026-11-20T10:00:00+00:00", **extra) -> None:
        for i in range(start, start + n):
            # one domain per record: fuzzy dedupe compares people within a domain only
            self.records.append({"id": i, "email": f"lead{i}@forge{i}.fr", "first_name": f"Lead{i}",
                                 "last_name": "Martin", "company": "Forge SAS", "country": "France",
                                 "updated_at": updated_at, **extra})
