"""Take secrets out of text before it leaves an adapter: error messages, stored error columns, log lines.

One function, :func:`redact`, replaces every occurrence of every *encoding* of each secret in play
with ``<redacted>``. Servers echo what they were sent in many shapes, so a secret is looked for as:

* raw, and as Python's ``repr`` of its text and of its UTF-8 bytes (``str(exc)`` of a tuple of bytes,
  as smtplib's exceptions are);
* JSON-escaped (``json.dumps``, ASCII-only or not, with ``/`` escaped or not) and HTML-escaped;
* percent-encoded both ways (``quote`` and ``quote_plus``, upper- and lowercase hex);
* base64 (standard and URL-safe, padded or not) of the secret alone *and of any text containing it*
  (``Bearer <token>``, ``user:password``, SMTP ``AUTH PLAIN``'s ``\\0user\\0password``): for each of
  the three alignments a secret can have inside a base64 stream, the groups that encode only the
  secret's bytes are always the same characters, and those are replaced.

Redact first, cut after: a body cut to 200 characters before redaction would keep the first
characters of a secret the cut made unrecognisable. Callers therefore pass whole texts here and
truncate the result.

Secrets come from the caller (the adapter knows its token) and from a process-wide set filled by
:func:`register` wherever a secret is resolved (``resolve_token``, settings), so an outer boundary
can redact what an inner one knew. Texts shorter than :data:`MIN_SECRET` are not treated as secrets:
replacing every ``"ab"`` would destroy messages without protecting anything.

Pure Python, no IO.
"""
from __future__ import annotations

import base64
import html
import json
import re
import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

__all__ = [
    "MIN_SECRET",
    "REDACTED",
    "basic_auth_secrets",
    "encodings",
    "redact",
    "register",
    "registered",
    "secrets_of_settings",
    "secrets_of_url",
]

REDACTED = "<redacted>"
#: shortest text treated as a secret (shorter ones are ignored, see the module docstring)
MIN_SECRET = 4
#: shortest base64 run treated as a secret's trace (two groups: 6 bytes of the secret)
_MIN_B64_CORE = 8

_registry: set[str] = set()
_registry_lock = threading.Lock()


def _plain(secret: Any) -> str | None:
    """Return the text of a secret (``str``, pydantic ``SecretStr``, ``None``), stripped of nothing."""
    if secret is None:
        return None
    getter = getattr(secret, "get_secret_value", None)
    value = getter() if callable(getter) else secret
    return value if isinstance(value, str) else str(value)


def register(*secrets: Any) -> None:
    """Remember ``secrets`` for this process: every later :func:`redact` call also hides them."""
    values = {v for v in map(_plain, secrets) if v and len(v) >= MIN_SECRET}
    if values:
        with _registry_lock:
            _registry.update(values)


def registered() -> frozenset[str]:
    """Return the secrets registered in this process."""
    with _registry_lock:
        return frozenset(_registry)


def _b64_forms(data: bytes) -> set[str]:
    out = set()
    for enc in (base64.b64encode, base64.urlsafe_b64encode):
        full = enc(data).decode("ascii")
        out |= {full, full.rstrip("=")}
    return out


@lru_cache(maxsize=256)
def _b64_traces(secret: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Return patterns finding ``secret`` inside any base64 text (``Bearer <s>``, ``user:<s>``).

    Per alignment (the secret's first byte at position 0, 1 or 2 of a 3-byte group) the groups made
    of its bytes only are fixed characters (the core); the groups at each end mix its first or
    last bytes with their neighbours', so up to 3 characters before and 4 after go too.
    Returns (core, pattern) pairs: the pattern runs only where the core is found (a quick test).
    """
    data = secret.encode("utf-8")
    out = []
    for enc in (base64.b64encode, base64.urlsafe_b64encode):
        for shift in range(3):
            part = data[shift:]
            core = enc(part[:len(part) // 3 * 3]).decode("ascii")
            if len(core) >= _MIN_B64_CORE:
                out.append((core, re.compile(f"[A-Za-z0-9+/_-]{{0,3}}{re.escape(core)}[A-Za-z0-9+/_=-]{{0,4}}")))
    return tuple(out)


def _percent_forms(secret: str) -> set[str]:
    out = set()
    for form in (quote(secret, safe=""), quote(secret), quote_plus(secret), quote_plus(secret, safe="/")):
        out.add(form)
        # some encoders write lowercase hex (%2f)
        out.add(_lower_hex(form))
    return out


def _lower_hex(text: str) -> str:
    parts = text.split("%")
    return parts[0] + "".join("%" + p[:2].lower() + p[2:] for p in parts[1:])


@lru_cache(maxsize=256)
def encodings(secret: str) -> tuple[str, ...]:
    """Return the texts that reveal ``secret`` (see the module docstring), longest first.

    Empty for a secret shorter than :data:`MIN_SECRET`.
    """
    if len(secret) < MIN_SECRET:
        return ()
    data = secret.encode("utf-8")
    forms = {secret, repr(secret)[1:-1], repr(data)[2:-1], html.escape(secret), html.escape(secret, quote=False)}
    # inside a longer repr the quote may be escaped where the secret's own repr did not need it
    forms |= {repr(secret)[1:-1].replace("'", "\\'"), repr(data)[2:-1].replace("'", "\\'")}
    for ascii_only in (True, False):
        escaped = json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
        forms |= {escaped, escaped.replace("/", "\\/")}
    forms |= _percent_forms(secret)
    forms |= _b64_forms(data)
    latin = secret.encode("utf-8").decode("latin-1")  # UTF-8 bytes read as Latin-1 (HTTP headers)
    forms.add(latin)
    return tuple(sorted((f for f in forms if len(f) >= MIN_SECRET), key=len, reverse=True))


def redact(text: str | None, secrets: Iterable[Any] = ()) -> str | None:
    """Return ``text`` with every encoding of every secret (given, and registered) replaced by ``<redacted>``.

    ``None`` stays ``None``. Apply it to the whole text *before* cutting it to length.
    """
    if not text:
        return text
    values = frozenset(v for v in map(_plain, secrets) if v) | registered()
    forms, traces = _all_forms(values)
    for form in forms:
        if form in text:
            text = text.replace(form, REDACTED)
    for core, trace in traces:
        if core in text:
            text = trace.sub(REDACTED, text)
    return text


@lru_cache(maxsize=64)
def _all_forms(values: frozenset[str]) -> tuple[tuple[str, ...], tuple[tuple[str, re.Pattern[str]], ...]]:
    """Return the literal encodings of all ``values``, longest first (a longer form may contain a
    shorter one), and their base64 trace patterns."""
    forms = tuple(sorted({f for v in values for f in encodings(v)}, key=len, reverse=True))
    return forms, tuple(t for v in values if len(v) >= MIN_SECRET for t in _b64_traces(v))


def basic_auth_secrets(username: str | None, password: str | None) -> list[str]:
    """Return the secrets of a user/password pair: the password and the ``user:password`` forms.

    The base64 traces of ``user:password`` and of ``\\0user\\0password`` (SMTP AUTH PLAIN) are found
    through the password alone (see :func:`encodings`); the pair is added for short passwords.
    """
    if not password:
        return []
    out = [password]
    if username:
        out += [f"{username}:{password}", f"\0{username}\0{password}", f"{username}\0{password}"]
    return out


def secrets_of_url(url: Any) -> list[str]:
    """Return the secret parts of a URL that is itself a secret (a webhook URL, a database URL).

    The whole URL, its userinfo password (as written and decoded), its query values and its
    path when long enough to carry a token (``/services/T0/B0/XXXX``).
    """
    text = _plain(url)
    if not text:
        return []
    out = [text]
    try:
        parts = urlsplit(text)
    except ValueError:
        return out
    if parts.password:
        out += [parts.password, unquote(parts.password)]
        out += basic_auth_secrets(unquote(parts.username or ""), unquote(parts.password))
    for pair in parts.query.split("&"):
        _, _, value = pair.partition("=")
        if value:
            out += [value, unquote(value.replace("+", " "))]
    if len(parts.path) >= 8:
        out.append(parts.path + (f"?{parts.query}" if parts.query else ""))
        out.append(parts.path)
    return [s for s in out if len(s) >= MIN_SECRET]


def secrets_of_settings(settings: Any) -> list[str]:
    """Return the secrets of leadops' settings: SMTP password (and user pairs), webhook URL parts, the Slack
    token and webhook URL, the database URL's password."""
    out: list[str] = []
    smtp = _plain(getattr(settings, "smtp_password", None))
    out += basic_auth_secrets(getattr(settings, "smtp_username", None), smtp)
    out += secrets_of_url(getattr(settings, "webhook_url", None))
    out += secrets_of_url(getattr(settings, "slack_webhook_url", None))
    for name in ("slack_token", "slack_signing_secret"):
        value = _plain(getattr(settings, name, None))
        out += [value] if value else []
    db = getattr(settings, "database_url", None)
    if db:
        try:
            from sqlalchemy.engine import make_url

            password = make_url(db).password
        except Exception:  # noqa: BLE001 - an unparsable URL is reported elsewhere; nothing to hide here
            password = None
        if password:
            out += [str(password), quote(str(password), safe="")]
    return [s for s in out if len(s) >= MIN_SECRET]
