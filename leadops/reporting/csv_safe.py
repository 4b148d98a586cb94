"""CSV export that is safe to open in a spreadsheet.

CSV ("formula") injection: a cell that starts with ``=``, ``+``, ``-``, ``@``,
tab or carriage return may be evaluated as a formula by Excel, LibreOffice or
Google Sheets (``=HYPERLINK(...)``, ``=cmd|...``). Following the OWASP "CSV
Injection" guidance, such text gets a single quote, which the spreadsheet shows
as text. Line feed and the full-width look-alikes (``＝ ＋ － ＠``) are treated
the same way for good measure. Two forms that start elsewhere are caught too:

* leading spaces: ``" =1+1"`` (spreadsheets that trim spaces on import see
  ``=1+1``): the first character that is not a space decides;
* a formula after a separator: ``"x;=1+1"`` is one cell here, but a spreadsheet
  whose list separator is ``;`` (French or German Excel) splits it and
  evaluates ``=1+1``; the same holds for ``,``, tab and line breaks.

Each *segment* of a text cell (the cell itself, and each part after ``;``,
``,``, tab, CR or LF) whose first non-space character is one of
:data:`FORMULA_PREFIXES` gets a ``'`` at its start: ``" =1+1"`` -> ``"' =1+1"``,
``"x;=1+1"`` -> ``"x;'=1+1"``, whatever the reader's separator is.

Values that are real numbers (``int``, ``float``, ``Decimal``; not ``bool``) are
written as numbers, so ``-2`` (the int) stays ``-2`` and a spreadsheet sums it;
the *string* ``"-2+3"`` becomes ``'-2+3`` and the string ``"-5"`` ``'-5`` (text
is never guessed to be a number). Quoting of commas/quotes/newlines is left to
:mod:`csv`.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from os import PathLike
from pathlib import Path

__all__ = ["FORMULA_PREFIXES", "SEPARATORS", "neutralize", "write_csv"]

#: First characters that make a spreadsheet treat a cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
#: Where a spreadsheet may start a new cell inside our one: the list separators of every locale
#: (``,`` and ``;``), tab, and line breaks.
SEPARATORS = ";,\t\r\n"
#: A segment (at the start or after a separator) whose first non-space character starts a formula.
_DANGER = re.compile(
    r"(^|[" + re.escape(SEPARATORS) + r"])(?=[ \u00a0]*[" + re.escape("".join(FORMULA_PREFIXES)) + r"])"
)


def neutralize(value: object) -> str:
    """The text to write in a CSV cell for ``value``, defused against formula injection.

    * None -> ``""``; bool -> ``"true"``/``"false"``
    * int / float / Decimal -> their plain text (never prefixed); NaN/inf -> ``""``
    * datetime / date / time -> ISO 8601
    * anything else -> ``str(value)`` with ``'`` put at the start of the text and after each of
      :data:`SEPARATORS` where the first non-space character that follows is one of :data:`FORMULA_PREFIXES`
      (``" =1+1"`` -> ``"' =1+1"``, ``"x;=1+1"`` -> ``"x;'=1+1"``).
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
    return _DANGER.sub(lambda m: m.group(1) + "'", str(value))


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
