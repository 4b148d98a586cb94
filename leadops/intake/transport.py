"""What crosses to the validation process and back: a chunk's rows packed by column.

Lists of strings cross the process boundary several times faster than an object per row, and rows
read from a file travel as their raw cells: the validation process cleans them there (cleaning was a
fifth of the reading process's time).
"""
from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter

from leadops.domain.normalize import clean_text
from leadops.intake.reading.rows import RawRow


@dataclass
class PackedRows:
    """A chunk's rows as the validation process needs them, by column, without what it does not read.

    Rows read from a file and not cleaned yet travel as their mapped raw cells (``mapping``:
    source header -> field; the validation process cleans them); other rows as their fields
    (``mapping`` None, ``names`` the fields).
    """

    row_numbers: list[int]
    names: list[str]  # the source headers of ``mapping``, or the field names
    columns: list[list[str | None]]
    mapping: dict[str, str] | None
    errors: dict[int, str | None]  # index in the chunk -> the record's read error
    irregular: dict[int, dict[str, str | None]]  # index -> fields, for rows packed otherwise than by ``names``

    @classmethod
    def of(cls, rows: list[RawRow]) -> PackedRows:
        """Return ``rows`` packed (grain: one list per column, one entry per row)."""
        mapping = rows[0].mapping if rows and not rows[0].cleaned else None
        if mapping is not None:
            names = list(mapping)
            irregular = {i: r.fields for i, r in enumerate(rows) if r.cleaned or r.mapping is not mapping}
            columns = _columns([r.raw for r in rows], names)
        else:
            names = list(rows[0].fields) if rows else []
            keys = set(names)
            irregular = {i: r.fields for i, r in enumerate(rows) if r.fields.keys() != keys}
            columns = [[r.fields.get(n) for r in rows] for n in names]
        errors = {i: r.raw["_error"] for i, r in enumerate(rows) if "_error" in r.raw}
        return cls([r.row_number for r in rows], names, columns, mapping, errors, irregular)

    def unpack(self) -> list[RawRow]:
        """Return the rows: their fields are those of the rows packed; raw holds the mapped cells, or only a read error."""
        errors, irregular = self.errors, self.irregular
        if self.mapping is not None:  # clean by column, each distinct value once (files repeat most values)
            names = [self.mapping[h] for h in self.names]
            columns = [_cleaned_column(c) for c in self.columns]
        else:
            names, columns = self.names, self.columns
        values = zip(*columns, strict=True) if names else ((),) * len(self.row_numbers)
        return [RawRow(number, irregular[i] if i in irregular else dict(zip(names, cells, strict=True)),
                       {"_error": errors[i]} if i in errors else {})
                for i, (number, cells) in enumerate(zip(self.row_numbers, values, strict=True))]


def _columns(raws: list[dict[str, str | None]], names: list[str]) -> list[list[str | None]]:
    """Return the values of each of ``names`` in ``raws`` (None where a row lacks one; grain: one list per name)."""
    if len(names) > 1:
        try:  # rows read from one file hold every header: picked and transposed in C (2-3x faster)
            return [list(column) for column in zip(*map(itemgetter(*names), raws), strict=True)] if raws \
                else [[] for _ in names]
        except KeyError:
            pass
    return [[raw.get(n) for raw in raws] for n in names]


def _cleaned_column(values: list[str | None]) -> list[str | None]:
    """Return ``values`` through :func:`clean_text`, computing each distinct value once."""
    seen: dict[str | None, str | None] = {}
    out = []
    for v in values:
        try:
            out.append(seen[v])
        except KeyError:
            out.append(seen.setdefault(v, clean_text(v)))
    return out
