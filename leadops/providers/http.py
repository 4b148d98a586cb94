"""A generic HTTP JSON firmographics provider, configured in sources.yaml (or by a preset).

``lookup(domain)`` never raises: it returns a hit (fields mapped by JSON path and coerced to
leadops' vocabulary), a miss (the provider does not know the company: 404 or an empty answer)
or an error (after retries with exponential backoff and jitter on timeouts, dropped
connections, 429 honouring ``Retry-After``, and 5xx; at once for 401/403, HTML pages and
malformed JSON; at once when the circuit breaker is open). Calls are spaced by the
provider's rate limit, shared by every thread of the process. The API key travels in a
header and never appears in a message: every encoding of it (raw, JSON-escaped, percent-encoded,
base64) is redacted (:mod:`leadops.redact`) from the whole response text before it is cut to an
excerpt, and from every error a lookup returns.
"""
from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests

from leadops.config import ProviderConfig
from leadops.domain.enrichment import LookupResult
from leadops.domain.normalize import clean_text, normalize_country
from leadops.providers.base import employee_band
from leadops.providers.limits import CircuitBreaker, DatabaseRateLimiter, RateLimiter, shared_limiter
from leadops.redact import redact, register
from leadops.sources.api import RETRY_STATUS, RetriesExhausted, backoff, excerpt, get_with_retries, token_secrets


def jittered_backoff(attempt: int, rng: random.Random | None = None) -> float:
    """Seconds before retry ``attempt + 1``: the reader's backoff (0.5 s * 2^attempt, capped at 30 s),
    jittered between half and all of it so concurrent lookups do not retry in step."""
    return backoff(attempt) * (0.5 + 0.5 * (rng or random).random())


def dig_any(obj: Any, paths: str) -> Any:
    """Return the first non-empty value among ``"a.b|c"``-style alternative dotted paths, or None."""
    for path in paths.split("|"):
        cur = obj
        for part in path.strip().split("."):
            if not isinstance(cur, dict):
                cur = None
                break
            cur = cur.get(part)
        if cur not in (None, "", [], {}):
            return cur
    return None


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value) if value >= 0 else None
    text = str(value).replace(",", "").replace(" ", "").strip()
    return int(text) if text.isdigit() else None


def _range_bound(text: str) -> float | None:
    text = text.strip().lower().replace(",", "")
    mult = 1000 if text.endswith("k") else 1
    text = text.rstrip("k+")
    try:
        return float(text) * mult
    except ValueError:
        return None


def band_from_range(value: Any) -> str | None:
    """Return leadops' employee band for a provider's range ("51-250", "1K-5K", "10001+"), by its midpoint."""
    text = clean_text(value)
    if text is None:
        return None
    low, _, high = text.partition("-")
    lo, hi = _range_bound(low), _range_bound(high) if high else None
    if lo is None:
        return None
    return employee_band(int((lo + hi) / 2) if hi is not None else int(lo))


def _linkedin(value: Any) -> str | None:
    text = clean_text(value)
    if text is None:
        return None
    if text.startswith(("http://", "https://")):
        return text
    if text.startswith(("linkedin.com", "www.linkedin.com")):
        return "https://" + text.removeprefix("www.").replace("linkedin.com", "www.linkedin.com", 1)
    return "https://www.linkedin.com/" + text.lstrip("/")


def coerce(fields: dict[str, Any]) -> dict[str, Any]:
    """Return the mapped values in leadops' vocabulary; values that make no sense are dropped."""
    out: dict[str, Any] = {}
    for key, raw in fields.items():
        value: Any
        if key == "employee_count":
            value = _count(raw)
        elif key == "employee_band":
            value = band_from_range(raw)
        elif key == "country":
            value = normalize_country(raw)
        elif key == "technologies":
            items = raw if isinstance(raw, list) else str(raw).replace(";", ",").split(",")
            value = sorted({t for t in (clean_text(i) for i in items if not isinstance(i, (dict, list))) if t}) or None
        elif key == "linkedin_url":
            value = _linkedin(raw)
        else:
            value = clean_text(raw) if not isinstance(raw, (dict, list)) else None
        if value is not None:
            out[key] = value
    if out.get("employee_count") is not None:
        out["employee_band"] = employee_band(out["employee_count"])  # the count is more precise than a range
    return out


#: Person APIs' seniority levels and job roles, in leadops' vocabulary (values already in it pass through).
SENIORITY_ALIASES = {"cxo": "c_level", "owner": "c_level", "founder": "c_level", "partner": "director",
                     "senior": "individual", "entry": "individual", "training": "intern", "unpaid": "intern"}
DEPARTMENT_ALIASES = {"human_resources": "hr", "customer_service": "customer_success", "design": "product",
                      "public_relations": "marketing", "information_technology": "it"}


def coerce_person(fields: dict[str, Any]) -> dict[str, Any]:
    """Return job_title / seniority / department in leadops' vocabulary (the most senior level of a list)."""
    from leadops.domain.normalize import DEPARTMENTS, SENIORITIES

    out: dict[str, Any] = {}
    title = fields.get("job_title")
    cleaned = clean_text(title) if isinstance(title, str) else None
    if cleaned:
        out["job_title"] = cleaned[:255]
    levels = fields.get("seniority")
    levels = levels if isinstance(levels, list) else [levels]
    mapped = [SENIORITY_ALIASES.get(str(v).lower(), str(v).lower()) for v in levels if v]
    ranked = [s for s in SENIORITIES if s in mapped]
    if ranked:
        out["seniority"] = ranked[0]
    role = fields.get("department")
    if isinstance(role, str):
        role = DEPARTMENT_ALIASES.get(role.lower(), role.lower())
        if role in DEPARTMENTS:
            out["department"] = role
    return out


class HttpProvider:
    """A provider speaking JSON over HTTP; thread-safe (one requests session per thread)."""

    def __init__(self, cfg: ProviderConfig, token: str | None, *, breaker: CircuitBreaker | None = None,
                 limiter: RateLimiter | DatabaseRateLimiter | None = None, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None) -> None:
        self.name, self.cfg, self._token = cfg.name, cfg, token
        #: what this provider's requests expose (the key, the header value): redacted from every error
        self.secrets: tuple[str, ...] = tuple(token_secrets(token, cfg.auth_prefix))
        register(token)
        self.breaker = breaker or CircuitBreaker(cfg.circuit_failures, cfg.circuit_cooldown_seconds)
        self.limiter = limiter or (shared_limiter(cfg.name, cfg.rate_limit_per_second)
                                   if cfg.rate_limit_per_second else None)
        self._sleep, self._rng = sleep, rng or random.Random()
        self._local = threading.local()
        self.latencies: list[float] = []  # seconds per HTTP request made (for p50/p95)
        self.requests = 0  # HTTP requests made, retries included
        self._stats_lock = threading.Lock()

    def _http(self) -> requests.Session:
        http = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = requests.Session()
        return http

    def url_for(self, domain: str) -> str:
        assert self.cfg.url_template is not None  # kind http: ProviderConfig requires it
        return self.cfg.url_template.format(base_url=(self.cfg.base_url or "").rstrip("/"), domain=quote(domain, safe=""))

    def lookup(self, domain: str) -> LookupResult:
        """Return hit, miss or error for ``domain``; never raises, never leaks the key."""
        if not self.breaker.allow():
            until = self.breaker.state.opened_until
            when = time.strftime("%H:%M:%S", time.gmtime(until)) + " UTC" if until else "later"
            # last_error may come from the database, written by an older version: redacted again
            return LookupResult("error", error=redact(f"circuit open after repeated failures (next try {when}): "
                                                      f"{self.breaker.state.last_error or ''}".rstrip(": "), self.secrets))
        result = self._redacted(self._lookup(self.url_for(domain), self._parse))
        # a miss is a healthy answer; only errors count towards opening the circuit
        self.breaker.record(result.status != "error", result.error)
        return result

    def lookup_person(self, email: str) -> LookupResult:
        """Return hit (job_title/seniority/department), miss or error for a person by email; never raises."""
        if not self.cfg.person_url_template:
            return LookupResult("miss")
        if not self.breaker.allow():
            return LookupResult("error", error=f"provider {self.name}: circuit open after repeated failures")
        url = self.cfg.person_url_template.format(base_url=(self.cfg.base_url or "").rstrip("/"),
                                                  email=quote(email, safe=""))
        result = self._redacted(self._lookup(url, self._parse_person))
        # personal data stays out of stored errors: the URL carries the email
        if result.error:
            result = LookupResult(result.status, result.fields, result.confidence,
                                  result.error.replace(quote(email, safe=""), "<email>"))
        self.breaker.record(result.status != "error", result.error)
        return result

    def _redacted(self, result: LookupResult) -> LookupResult:
        """Return ``result`` with every encoding of this provider's secrets taken out of its error."""
        clean = redact(result.error, self.secrets)
        if clean == result.error:
            return result
        return LookupResult(result.status, result.fields, result.confidence, clean)

    def _lookup(self, url: str, parse: Callable[[Any], LookupResult]) -> LookupResult:
        cfg = self.cfg
        where = f"provider {cfg.name}: GET {url}"
        headers = {"Accept": "application/json"}
        if cfg.auth_header and self._token:
            headers[cfg.auth_header] = cfg.auth_prefix + self._token
        attempts = cfg.max_retries + 1

        def send() -> requests.Response:
            if self.limiter is not None:
                self.limiter.acquire()
            started = time.perf_counter()
            try:
                return self._http().get(url, headers=headers, timeout=cfg.timeout_seconds)
            finally:
                self._note(time.perf_counter() - started)

        try:
            resp = get_with_retries(send, attempts, self._sleep, lambda attempt: jittered_backoff(attempt, self._rng))
        except RetriesExhausted as exc:
            what = "timed out" if isinstance(exc.cause, requests.Timeout) else "connection failed"
            return LookupResult("error", error=f"{where}: {what} ({type(exc.cause).__name__}) after {attempts} attempts")
        except requests.RequestException as exc:
            return LookupResult("error", error=f"{where}: {type(exc).__name__}")
        status = resp.status_code
        if status in cfg.miss_statuses:
            return LookupResult("miss")
        if status in cfg.retry_later_statuses:
            return LookupResult("error", error=f"{where}: HTTP {status}: accepted, not ready yet (retried next run)")
        if status in (401, 403):
            return LookupResult("error", error=f"{where}: HTTP {status}: the provider refused the credentials "
                                               f"(check {cfg.token_env or cfg.token_secret_block or 'the key'})")
        if status >= 400:
            tried = f" after {attempts} attempts" if status in RETRY_STATUS and attempts > 1 else ""
            return LookupResult("error", error=f"{where}: HTTP {status}{tried}: {excerpt(resp.text, self.secrets)}")
        try:
            data = resp.json()
        except ValueError:
            kind = redact(resp.headers.get("Content-Type"), self.secrets) or "no Content-Type"
            return LookupResult("error", error=f"{where}: HTTP {status} response is not JSON ({kind}): "
                                               f"{excerpt(resp.text, self.secrets)}")
        return parse(data)

    def _parse_person(self, data: Any) -> LookupResult:
        if not isinstance(data, dict):
            return LookupResult("error", error=f"provider {self.name}: expected a JSON object, got {type(data).__name__}")
        fields = coerce_person({k: dig_any(data, path) for k, path in self.cfg.person_fields.items()})
        return LookupResult("hit", fields, self.cfg.confidence) if fields else LookupResult("miss")

    def _parse(self, data: Any) -> LookupResult:
        if not isinstance(data, dict):
            return LookupResult("error", error=f"provider {self.name}: expected a JSON object, got {type(data).__name__}")
        fields = coerce({k: dig_any(data, path) for k, path in self.cfg.fields.items()})
        if not fields:
            return LookupResult("miss")
        confidence = self.cfg.confidence
        if self.cfg.confidence_path:
            raw = dig_any(data, self.cfg.confidence_path)
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                confidence = max(0.0, min(1.0, raw / self.cfg.confidence_scale))
        return LookupResult("hit", fields, confidence)

    def _note(self, seconds: float) -> None:
        with self._stats_lock:
            self.requests += 1
            self.latencies.append(seconds)
