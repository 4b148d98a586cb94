"""One request loop for the CRM clients: rate limits, retries, a token refresh, and errors that name the
request and never a secret.

* Every request first acquires the limiter it names (``Transport.limiters[name]``: a
  :class:`~leadops.providers.limits.RateLimiter` in the process, or a
  :class:`~leadops.providers.limits.DatabaseRateLimiter` shared by every worker on PostgreSQL).
* Connection errors, timeouts, 429 and 5xx are retried (``max_retries`` times) after the server's
  ``Retry-After`` (capped) or an exponential backoff; a 429 counts in ``Transport.throttled``.
* A 401 calls ``refresh()`` once (a new access token) and repeats the request; a second 401, or a
  401 with nothing to refresh, is a :class:`CrmAuthError`.
* Any other status >= 400 is a :class:`CrmError` with ``retryable=False`` (a retry cannot fix it)
  and ``status`` set; the caller decides what a 4xx means for its records.

Every text quoted from a response is redacted of the transport's secrets (:mod:`leadops.redact`).
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import requests

from leadops.redact import redact
from leadops.sources.api import RETRY_STATUS, backoff, excerpt, retry_after

__all__ = ["CrmAuthError", "CrmError", "Limiter", "Transport"]

_RETRYABLE_EXC = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class Limiter(Protocol):
    def acquire(self) -> float:
        """Wait for the next request slot; returns the seconds waited."""
        ...


class CrmError(Exception):
    """A CRM request failed; the message names the connector, the request and what went wrong (never a token).

    ``status`` is the HTTP status when there was a response; ``retryable`` is True when a later run may
    succeed (an outage, a rate limit that outlasted the retries), False when only a change of configuration
    or data can (a 400, a missing property, a refused permission).
    """

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False,
                 body: Any = None) -> None:
        super().__init__(message)
        self.status, self.retryable, self.body = status, retryable, body


class CrmAuthError(CrmError):
    """The CRM refused the credentials (after one refresh when the connector can refresh)."""


class Transport:
    """Sends JSON requests to one CRM for one connector; thread-safe (a requests session per thread).

    ``headers()`` returns the authentication headers of the current token; ``secrets()`` every secret a
    message could quote; ``refresh()``, when given, obtains a new token after a 401. ``on_response`` sees
    every response (Salesforce reads its ``Sforce-Limit-Info`` there).
    """

    def __init__(self, name: str, base_url: str, *, headers: Callable[[], dict[str, str]],
                 secrets: Callable[[], list[str]], limiters: Mapping[str, Limiter] | None = None,
                 refresh: Callable[[], None] | None = None, on_response: Callable[[requests.Response], None] | None = None,
                 timeout: float = 30.0, max_retries: int = 5, sleep: Callable[[float], None] = time.sleep) -> None:
        self.name, self.base_url = name, base_url.rstrip("/")
        self._headers, self._secrets, self._refresh, self._on_response = headers, secrets, refresh, on_response
        self.limiters: dict[str, Limiter] = dict(limiters or {})
        self.timeout, self.max_retries, self._sleep = timeout, max_retries, sleep
        self._local = threading.local()
        self._lock = threading.Lock()
        #: requests sent, per limiter name (retries included): what a run used of the CRM's allowance
        self.requests: Counter[str] = Counter()
        #: 429 answers received, per limiter name
        self.throttled: Counter[str] = Counter()

    def _http(self) -> requests.Session:
        http = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = requests.Session()
        return http

    def url(self, path: str) -> str:
        """Return the absolute URL of ``path`` (an absolute URL is kept as is)."""
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"

    def redact(self, text: str | None) -> str:
        """Return ``text`` with every secret of this transport taken out."""
        return redact(text, self._secrets()) or ""

    def request(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None,
                data: bytes | str | None = None, content_type: str | None = None, limiter: str = "default",
                what: str = "") -> requests.Response:
        """Send one request with retries; returns the response (status < 400), or raises CrmError/CrmAuthError.

        ``what`` names the request in errors ("search contacts"); the URL's query string is left out of
        messages (a SOQL query can be long; a signed URL could carry a secret).
        """
        url = self.url(path)
        where = f"{self.name}: {method} {url.split('?', 1)[0]}" + (f" ({what})" if what else "")
        refreshed = False
        attempt = 0
        while True:
            gate = self.limiters.get(limiter)
            if gate is not None:
                gate.acquire()
            headers = {"Accept": "application/json", **self._headers()}
            if content_type:
                headers["Content-Type"] = content_type
            with self._lock:
                self.requests[limiter] += 1
            try:
                resp = self._http().request(method, url, json=json, params=params, data=data, headers=headers,
                                            timeout=self.timeout)
            except _RETRYABLE_EXC as exc:
                if attempt >= self.max_retries:
                    raise CrmError(f"{where}: {type(exc).__name__} after {attempt + 1} attempts "
                                   f"(timeout {self.timeout:g} s)", retryable=True) from None
                self._sleep(backoff(attempt))
                attempt += 1
                continue
            except requests.RequestException as exc:  # an invalid URL, too many redirects
                raise CrmError(f"{where}: {type(exc).__name__}") from None
            if self._on_response is not None:
                self._on_response(resp)
            status = resp.status_code
            if status == 401 and self._refresh is not None and not refreshed:
                refreshed = True
                self._refresh()
                continue
            if status in RETRY_STATUS:
                if status == 429:
                    with self._lock:
                        self.throttled[limiter] += 1
                if attempt < self.max_retries:
                    wait = retry_after(resp.headers.get("Retry-After"))
                    self._sleep(wait if wait is not None else backoff(attempt))
                    attempt += 1
                    continue
                raise CrmError(f"{where}: HTTP {status} after {attempt + 1} attempts: {self.quote(resp)}",
                               status=status, retryable=True, body=self.body(resp))
            if status == 401:
                raise CrmAuthError(f"{where}: HTTP 401: the CRM refused the credentials"
                                   f"{' (after a token refresh)' if refreshed else ''}: {self.quote(resp)}",
                                   status=status, body=self.body(resp))
            if status >= 400:
                raise CrmError(f"{where}: HTTP {status}: {self.quote(resp)}", status=status, body=self.body(resp))
            return resp

    def quote(self, resp: requests.Response) -> str:
        """Return a short excerpt of a response body for a message, secrets redacted first."""
        return excerpt(resp.text, self._secrets())

    def body(self, resp: requests.Response) -> Any:
        """Return a response's parsed JSON with its strings redacted (None when not JSON): kept on a CrmError so a
        caller can read an error code (``errorCode``, ``category``) without parsing a message."""
        try:
            data = resp.json()
        except ValueError:
            return None
        return _redact_json(data, self.redact)

    def json(self, resp: requests.Response, where: str) -> Any:
        """Return a response's JSON body, or raise a CrmError naming ``where`` when it is not JSON."""
        try:
            return resp.json()
        except ValueError:
            raise CrmError(f"{self.name}: {where}: HTTP {resp.status_code} response is not JSON: "
                           f"{self.quote(resp)}") from None


def _redact_json(value: Any, clean: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, list):
        return [_redact_json(v, clean) for v in value]
    if isinstance(value, dict):
        return {k: _redact_json(v, clean) for k, v in value.items()}
    return value
