"""What reading gives: rows, the stream of an open file, and the rejection of a whole file.

* ``RawRow.row_number`` is the 1-based **physical line number** in the file of the line where the
  record starts (what a text editor shows; in a usual CSV the header is line 1 and the first data
  row line 2; in JSON Lines it is the object's line). With the file's SHA-256 it is the
  idempotency key of a row.
* Nothing is lost: blank rows are skipped, cells beyond the header are kept in ``raw["_extra"]``,
  and unreadable records become rows with empty ``fields`` and ``raw["_error"]`` so they can be
  quarantined with a reason. Problems that make the whole file unusable raise :class:`FileRejected`.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from leadops.domain.normalize import clean_text


class FileRejected(Exception):
    """A whole file cannot be read; ``problem`` says why and what is wrong.

    ``str()`` is ``"<path>: <problem>"``, e.g.
    ``"inbox/x.csv: required column 'email' is missing (found: Nom, Prénom, Société)"``.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


class RawRow:
    """One record of a lead file.

    ``row_number``: 1-based physical line number where the record starts.
    ``fields``: canonical field -> cleaned value (trimmed, whitespace collapsed,
    empty/placeholder -> ``None``), one key per mapped field.
    ``raw``: original header -> value exactly as read (``None`` for a missing
    cell), plus ``"_extra"`` (JSON list of cells beyond the header) or, for an
    unreadable JSON line, ``"_line"`` and ``"_error"``.

    Rows read from a file (:meth:`read`) clean their ``fields`` on first use: intake reads
    on one process and hands the raw cells to the validation process, which cleans them
    there (cleaning was a fifth of the reading process's time).
    """

    __slots__ = ("_fields", "mapping", "raw", "row_number")

    def __init__(self, row_number: int, fields: dict[str, str | None] | None, raw: dict[str, str | None],
                 mapping: dict[str, str] | None = None) -> None:
        self.row_number, self.raw, self._fields, self.mapping = row_number, raw, fields, mapping

    @classmethod
    def read(cls, row_number: int, raw: dict[str, str | None], mapping: dict[str, str]) -> RawRow:
        """Return a row whose fields are ``mapping`` (source header -> field) of ``raw``, cleaned when first used."""
        return cls(row_number, None, raw, mapping)

    @property
    def cleaned(self) -> bool:
        """True once ``fields`` exist (always, for rows not made by :meth:`read`)."""
        return self._fields is not None

    @property
    def fields(self) -> dict[str, str | None]:
        if self._fields is None:
            self._fields = cleaned_fields(self.mapping or {}, self.raw)
        return self._fields

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RawRow):
            return NotImplemented
        return (self.row_number, self.fields, self.raw) == (other.row_number, other.fields, other.raw)

    # mutable, like the dataclass it replaced; typeshed types object.__hash__ as a method, the data model says None
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RawRow(row_number={self.row_number!r}, fields={self.fields!r}, raw={self.raw!r})"


@dataclass
class FileRead:
    """Result of :func:`leadops.intake.reading.registry.read_lead_file`: one entry in ``rows`` per non-blank record."""

    path: Path
    encoding: str
    delimiter: str | None  # None for JSON Lines
    header: list[str]
    rows: list[RawRow] = field(default_factory=list)
    unmapped_columns: list[str] = field(default_factory=list)
    #: header -> canonical field for the mapped columns, in header order.
    mapping: dict[str, str] = field(default_factory=dict)


@dataclass
class FileStream:
    """An open lead file: its layout (known on opening) and its records, read on demand.

    Iterating gives one :class:`RawRow` per non-blank record; :meth:`chunks` groups them.
    The iteration can raise :class:`FileRejected` for a problem found late (a malformed
    CSV line, an unterminated quote at the end): callers admitting chunks as they come
    must be able to undo them (intake admits a file inside a savepoint).
    """

    path: Path
    encoding: str
    delimiter: str | None
    header: list[str]
    unmapped_columns: list[str]
    mapping: dict[str, str]
    _rows: Iterator[RawRow]

    def __iter__(self) -> Iterator[RawRow]:
        return self._rows

    def chunks(self, size: int) -> Iterator[list[RawRow]]:
        """Yield lists of at most ``size`` records, in file order (grain: record)."""
        chunk: list[RawRow] = []
        for row in self._rows:
            chunk.append(row)
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def cleaned_fields(mapping: dict[str, str], raw: Mapping[str, str | None]) -> dict[str, str | None]:
    """Return field -> cleaned value of the cells of ``raw`` that ``mapping`` (source header -> field) maps."""
    return {target: clean_text(raw.get(source)) for source, target in mapping.items()}
