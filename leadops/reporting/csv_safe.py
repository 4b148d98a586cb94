"""CSV export that is safe to open in a spreadsheet.

CSV ("formula") injection: a cell that starts with ``=``, ``+``, ``-``, ``@``,
tab or carriage return may be evaluated as a formula by Excel, LibreOffice or
Google Sheets (``=HYPERLINK(...)``, ``=cmd|...``). Following the OWASP "CSV
Injection" guidance, such text cells get a leading single quote, which the
spreadsheet shows as text. Line feed and the full-width look-alikes
(``＝ ＋ － ＠``) are treated the same way for good measure.

Values that are real numbers (``int``, ``float``, ``Decimal``; not ``bool``) are
written as numbers, so ``-2`` (the int) stays ``-2`` while the *string* ``"-2+3"``
becomes ``'-2+3``. Quoting of commas/quotes/newlines is left to :mod:`csv`.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from os import PathLike
from pathlib import Path

__all__ = ["FORMULA_PREFIXES", "neutralize", "write_csv"]

#: First characters that make a spreadsheet treat a cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralize(value: object) -> str:
    """The text to write in a CSV cell for ``value``, defused against formula injection.

    * None -> ``""``; bool -> ``"true"``/``"false"``
    * int / float / Decimal -> their plain text (never prefixed); NaN/inf -> ``""``
    * datetime / date / time -> ISO 8601
    * anything else -> ``str(value)``, prefixed with ``'`` if it starts with one of
      :data:`FORMULA_PREFIXES`.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def write_csv(
    path: str | PathLike[str],
    rows: Iterable[Mapping[str, object]],
    columns: list[str] | None = None,
) -> Path:
    """Write ``rows`` to ``path`` as UTF-8 CSV with a BOM (so Excel reads accents right).

    ``columns`` defaults to every key in order of first appearance. Missing keys
    are written as empty cells; keys not in ``columns`` are ignored. Every cell,
    header included, goes through :func:`neutralize`. Returns the path written.
    """
    rows = list(rows)
    if columns is None:
        columns = []
        seen: set[str] = set()
        for row in rows:
            for key in row:
                if key not in seen:
                    seen.add(key)
                    columns.append(key)
    target = Path(path)
    with target.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        writer.writerow([neutralize(c) for c in columns])
        for row in rows:
            writer.writerow([neutralize(row.get(c)) for c in columns])
    return target
