"""A fake firmographics API on loopback for tests and the enrichment benchmark: real HTTP, the
request and response shapes of Clearbit's Company API and People Data Labs' Company Enrichment,
key checks, latency, an enforced rate limit, a request log and scripted faults.

    with FirmoServer(key="k") as srv:
        srv.add("acme.fr", name="Acme", industry="Software", employees=120, country="FR")
        srv.latency = 0.02                      # every answer 20 ms late
        srv.rate_limit = 50                     # more than 50 requests in any second: HTTP 429, Retry-After: 1
        srv.fail(503)                           # next request (any domain): HTTP 503
        srv.fail(429, headers={"Retry-After": "1"}, domain="acme.fr")   # next request for acme.fr only
        srv.fail(200, "<html>oops</html>", headers={"Content-Type": "text/html"})
        srv.fail(None)                          # next request: connection dropped
        srv.fail(200, delay=2.0)                # next request: the normal answer, 2 s late
        srv.clearbit_url / srv.pdl_url          # base URLs for the presets
        srv.log                                 # [{"t", "path", "domain", "status"}, ...]
        srv.echo(500)                           # every request from now on: HTTP 500 whose body and headers
                                                # repeat the key received in every encoding (tests.support.echo)
        srv.echo(200, content_type="text/html") # ...or a 200 that is not JSON (echo in Content-Type too)
        srv.echo(None)                          # back to normal answers
"""
from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


class FirmoServer:
    def __init__(self, key: str = "firmo-key") -> None:
        self.key = key
        self.companies: dict[str, dict[str, Any]] = {}
        self.people: dict[str, dict[str, Any]] = {}  # email -> PDL person "data" (job_title, job_title_role, ...)
        self.latency = 0.0
        self.rate_limit: float | None = None
        self.faults: deque[tuple[int | None, dict[str, str], str | None, float, str | None]] = deque()
        self.log: list[dict[str, Any]] = []
        self.echo_status: int | None = None
        self.echo_content_type = "application/json"
        self._admitted: deque[float] = deque()  # times of requests admitted under the rate limit
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.server.request_queue_size = 128
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.clearbit_url = self.base
        self.pdl_url = self.base
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def start(self) -> FirmoServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FirmoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add(self, domain: str, **company: Any) -> None:
        """Know ``domain``: name, legal_name, industry, employees, size, revenue, country, city, tech, linkedin."""
        self.companies[domain] = company

    def fail(self, status: int | None, body: str | None = None, headers: dict[str, str] | None = None,
             delay: float = 0.0, domain: str | None = None) -> None:
        self.faults.append((status, headers or {}, body, delay, domain))

    def echo(self, status: int | None, content_type: str = "application/json") -> None:
        """Answer every later request (after scripted faults) with ``status``, repeating the key in every encoding."""
        self.echo_status, self.echo_content_type = status, content_type

    def requests_for(self, domain: str) -> int:
        return sum(1 for r in self.log if r["domain"] == domain)

    # ----------------------------------------------------------------- shapes
    @staticmethod
    def clearbit(domain: str, c: dict[str, Any]) -> dict[str, Any]:
        return {"id": f"cb-{domain}", "name": c.get("name"), "legalName": c.get("legal_name"), "domain": domain,
                "category": {"sector": None, "industry": c.get("industry")},
                "metrics": {"employees": c.get("employees"), "employeesRange": c.get("size"),
                            "estimatedAnnualRevenue": c.get("revenue")},
                "geo": {"city": c.get("city"), "countryCode": c.get("country")},
                "tech": c.get("tech", []), "linkedin": {"handle": c.get("linkedin")}}

    @staticmethod
    def pdl(domain: str, c: dict[str, Any]) -> dict[str, Any]:
        return {"status": 200, "likelihood": c.get("likelihood", 8), "name": (c.get("name") or "").lower(),
                "display_name": c.get("name"), "website": domain, "industry": c.get("pdl_industry", c.get("industry")),
                "employee_count": c.get("employees"), "size": c.get("size"), "inferred_revenue": c.get("revenue"),
                "location": {"locality": c.get("city"), "country": c.get("country_name", c.get("country"))},
                "tags": c.get("tech", []), "linkedin_url": c.get("linkedin") and f"linkedin.com/{c['linkedin']}"}

    # ----------------------------------------------------------------- server
    def _take_fault(self, domain: str | None):
        with self._lock:
            for i, f in enumerate(self.faults):
                if f[4] is None or f[4] == domain:
                    del self.faults[i]
                    return f
        return None

    def _over_limit(self, now: float) -> bool:
        """True if ``rate_limit`` requests were already admitted in the last second (this one is refused)."""
        if not self.rate_limit:
            return False
        with self._lock:
            while self._admitted and self._admitted[0] <= now - 1.0:
                self._admitted.popleft()
            if len(self._admitted) >= self.rate_limit:
                return True
            self._admitted.append(now)
            return False

    def _handler(self):
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
                data = body.encode()
                self.send_response(status)
                hdrs = {"Content-Type": "application/json", **(headers or {})}
                for k, v in hdrs.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                q = parse_qs(url.query)
                if url.path == "/v2/companies/find":
                    kind, domain, authorized = "clearbit", (q.get("domain") or [""])[0], \
                        self.headers.get("Authorization") == f"Bearer {srv.key}"
                elif url.path == "/v5/person/enrich":
                    kind, domain, authorized = "pdl_person", (q.get("email") or [""])[0], \
                        self.headers.get("X-Api-Key") == srv.key
                elif url.path == "/v5/company/enrich":
                    kind, domain, authorized = "pdl", (q.get("website") or [""])[0], \
                        self.headers.get("X-Api-Key") == srv.key
                else:
                    kind, domain, authorized = "?", "", False
                now = time.monotonic()
                entry = {"t": now, "path": url.path, "domain": domain, "status": None}
                with srv._lock:
                    srv.log.append(entry)
                fault = srv._take_fault(domain)
                if fault is not None:
                    status, headers, body, delay, _ = fault
                    time.sleep(delay)
                    if status is None:
                        entry["status"] = "dropped"
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    if body is None and status != 200:
                        body = json.dumps({"error": f"scripted {status}"})
                    if body is not None:
                        entry["status"] = status
                        return self._send(status, body, headers)
                if srv.echo_status is not None:
                    from tests.support.echo import echo_body, echo_headers

                    received = self.headers.get("Authorization") or self.headers.get("X-Api-Key") or ""
                    secret = received.partition(" ")[2] if received.startswith("Bearer ") else received
                    headers = {**echo_headers(received, secret), "Retry-After": "0"}
                    if srv.echo_content_type != "application/json":
                        headers["Content-Type"] = f"{srv.echo_content_type}; charset=utf-8; echo={secret}"
                    entry["status"] = srv.echo_status
                    return self._send(srv.echo_status, echo_body(received, secret), headers)
                if srv._over_limit(now):
                    entry["status"] = 429
                    return self._send(429, json.dumps({"error": "rate limited"}), {"Retry-After": "1"})
                time.sleep(srv.latency)
                if kind == "?":
                    entry["status"] = 404
                    return self._send(404, json.dumps({"error": "no such endpoint"}))
                if not authorized:
                    entry["status"] = 401
                    return self._send(401, json.dumps({"error": "invalid key"}))
                if kind == "pdl_person":
                    person = srv.people.get(domain)
                    if person is None:
                        entry["status"] = 404
                        return self._send(404, json.dumps({"status": 404, "error": {"type": "not_found"}}))
                    entry["status"] = 200
                    return self._send(200, json.dumps({"status": 200, "likelihood": 7, "data": person}))
                company = srv.companies.get(domain)
                if company is None:
                    entry["status"] = 404
                    return self._send(404, json.dumps({"error": {"type": "unknown_record", "message": "not found"}}))
                entry["status"] = 200
                shape = srv.clearbit if kind == "clearbit" else srv.pdl
                self._send(200, json.dumps(shape(domain, company)))

        return Handler
