"""What a careless server does with the credentials it was sent: repeat them, in every encoding.

``echo_body`` and ``echo_headers`` are what the loopback servers (crm_server, firmo_server, the
SMTP and webhook test servers) answer in echo mode; ``forms`` and ``leaks`` are what the tests
look for afterwards in stdout, stderr, Prefect logs and artifacts, files and every database column.

The secret used by the tests holds a quote, a backslash, a slash, ``+``, ``=``, ``&``, ``%``, a
space and a non-ASCII letter, so that each encoding differs from the raw text and from the others.
"""
from __future__ import annotations

import base64
import html
import json
import re
from urllib.parse import quote, quote_plus

#: a token every encoding changes (see the module docstring); long enough to straddle a 200-character cut
TOKEN = 'tok/"en+ü=&% \\42-Zq7v-long-secret-9f3k'
#: the user half of a user:password pair
USER = "api-user"
#: a message long enough that the raw secret straddles the 200-character excerpt readers cut bodies to
PADDING = "The credentials you sent are not valid for this account; " * 3


def forms(secret: str, user: str = USER, prefix: str = "Bearer ") -> dict[str, str]:
    """Return name -> text of every encoding of ``secret`` a server might echo (and a test must not find)."""
    data = secret.encode()
    b64 = base64.b64encode
    out = {
        "raw": secret,
        "first characters": secret[:10],
        "json": json.dumps(secret)[1:-1],
        "json-unicode": json.dumps(secret, ensure_ascii=False)[1:-1],
        "json-slashes": json.dumps(secret)[1:-1].replace("/", "\\/"),
        "percent": quote(secret, safe=""),
        "percent-path": quote(secret),
        "percent-plus": quote_plus(secret),
        "percent-lower": re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(secret, safe="")),
        "html": html.escape(secret),
        "repr-bytes": repr(data)[2:-1],
        "base64": b64(data).decode(),
        "base64-urlsafe": base64.urlsafe_b64encode(data).decode(),
        "base64-header": b64((prefix + secret).encode()).decode(),
        "base64-user-pass": b64(f"{user}:{secret}".encode()).decode(),
        "base64-auth-plain": b64(f"\0{user}\0{secret}".encode()).decode(),
    }
    return out


def leaks(text: str, secret: str, **kw: str) -> list[str]:
    """Return the names of the encodings of ``secret`` found in ``text`` (empty: nothing leaked)."""
    return [name for name, form in forms(secret, **kw).items() if form in text]


def echo_body(received: str, secret: str | None = None, user: str = USER) -> str:
    """Return a response body repeating ``received`` (a header value) and ``secret`` in every encoding.

    The raw value comes right after PADDING, so it straddles a reader's 200-character cut.
    """
    secret = secret or received
    echoed = {name: form for name, form in forms(secret, user).items() if name != "first characters"}
    echoed["header"] = received
    echoed["header-base64"] = base64.b64encode(received.encode()).decode()
    # as text (each form as it is), then as JSON (each form escaped once more)
    return (f"{PADDING}{received} {secret} " + " ".join(echoed.values()) + " "
            + json.dumps({"error": "invalid credentials", "received": echoed}))


def echo_headers(received: str, secret: str | None = None) -> dict[str, str]:
    """Return response headers repeating ``received`` and ``secret`` (Latin-1 safe, as HTTP requires)."""
    secret = secret or received
    return {
        "WWW-Authenticate": f'Bearer error="invalid_token", received="{received}"',
        "X-Echo-Credentials": received,
        "X-Echo-Base64": base64.b64encode(secret.encode()).decode(),
        "X-Echo-Percent": quote(secret, safe=""),
    }


def database_text(url: str) -> str:
    """Return every value of every column of every leadops table as text, one row per line (to search)."""
    from sqlalchemy import select

    from leadops.db.models import Base
    from leadops.db.session import get_engine

    lines = []
    with get_engine(url).connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                lines.append(f"{table.name}: " + " | ".join("" if v is None else str(v) for v in row))
    return "\n".join(lines)


def files_text(folder) -> str:
    """Return the content of every file under ``folder`` (decoded leniently), with its path, to search."""
    from pathlib import Path

    out = []
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            out.append(f"{path}: " + path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(out)
