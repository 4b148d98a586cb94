"""Numbers formatted for people, for artifacts, reports and CLI output: 104,500 not 1.04e+05; 76.6% not 0.766."""
from __future__ import annotations

from typing import Any

DASH = "—"


def count(n: Any) -> str:
    """Return a whole number with thousands separators ('104,500'); None as a dash."""
    if n is None:
        return DASH
    return f"{round(float(n)):,}"


def decimal(x: Any, digits: int = 1) -> str:
    """Return a number with ``digits`` decimals and thousands separators ('1,234.5'); None as a dash."""
    if x is None:
        return DASH
    return f"{float(x):,.{digits}f}"


def percent(ratio: Any, digits: int = 1) -> str:
    """Return a ratio (0.766) as a percentage ('76.6%'); None (a rate whose denominator is 0) as a dash."""
    if ratio is None:
        return DASH
    return f"{float(ratio) * 100:.{digits}f}%"


def table_cells(row: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of an artifact table row with ints and floats as text for people (grain: one row)."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, bool) or v is None:
            out[k] = v
        elif isinstance(v, int):
            out[k] = count(v)
        elif isinstance(v, float):
            out[k] = decimal(v, 2 if abs(v) < 10 else 1)
        else:
            out[k] = v
    return out
