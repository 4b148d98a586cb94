"""Which reader reads a file, by its extension; opening and reading a lead (or activity) file.

A new kind of file is a module with a class that has ``suffixes`` and ``open(path, layout)`` (see
:class:`Reader`), listed in :data:`READERS`: the inbox then lists its files and intake reads them.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

from leadops.intake.reading.delimited import DelimitedReader
from leadops.intake.reading.headers import CANONICAL_FIELDS, DEFAULT_ALIASES, Layout
from leadops.intake.reading.json_lines import JsonLinesReader
from leadops.intake.reading.rows import FileRead, FileRejected, FileStream


class Reader(Protocol):
    """Reads one kind of file: the extensions it takes, and how it opens one for streaming."""

    suffixes: frozenset[str]

    def open(self, path: Path, layout: Layout) -> FileStream:
        """Return the open file, its header mapped by ``layout`` and its required fields checked; raises
        :class:`FileRejected` when the file cannot be read as a whole."""
        ...


READERS: tuple[Reader, ...] = (DelimitedReader(), JsonLinesReader())
#: Reader by lower-case extension (".csv" -> the delimited reader).
BY_SUFFIX: dict[str, Reader] = {suffix: r for r in READERS for suffix in sorted(r.suffixes)}
#: The extensions the inbox lists (compared lower-case).
SUFFIXES: tuple[str, ...] = tuple(BY_SUFFIX)


def reader_for(path: str | Path) -> Reader:
    """Return the reader of ``path`` by its extension; raises :class:`FileRejected` for one no reader takes."""
    suffix = Path(path).suffix.lower()
    reader = BY_SUFFIX.get(suffix)
    if reader is None:
        expected = ", ".join(sorted(BY_SUFFIX))
        raise FileRejected(path, f"unsupported file type '{suffix or '(none)'}' (expected one of {expected})")
    return reader


def open_lead_file(
    path: str | Path,
    columns: Mapping[str, str] | None = None,
    required: Iterable[str] = ("email",),
    aliases: Mapping[str, str] = DEFAULT_ALIASES,
    fields: tuple[str, ...] = CANONICAL_FIELDS,
) -> FileStream:
    """Open a lead file of any kind a reader takes, for streaming; returns a :class:`FileStream` whose
    records are read lazily (memory stays flat in the file size).

    ``columns`` maps source headers to canonical fields and takes precedence over
    :data:`DEFAULT_ALIASES`; ``required`` lists canonical fields that must be mapped (``full_name``
    never stands in for ``email``). ``aliases`` and ``fields`` replace the lead vocabulary for other
    kinds of files (activity exports).

    Raises :class:`FileRejected` at once for an unsupported extension, a zero-byte or
    whitespace-only file ("file is empty"), undecodable/binary content, a ``columns`` mapping to
    unknown fields, or a missing required column (the message lists the headers found); while
    iterating, for a problem found late (a malformed CSV line, an unterminated quoted field).
    """
    reader = reader_for(path)
    return reader.open(Path(path), Layout(columns, tuple(required), aliases, fields))


def read_lead_file(
    path: str | Path,
    columns: Mapping[str, str] | None = None,
    required: Iterable[str] = ("email",),
    aliases: Mapping[str, str] = DEFAULT_ALIASES,
    fields: tuple[str, ...] = CANONICAL_FIELDS,
) -> FileRead:
    """Read a whole lead file into memory; returns a :class:`FileRead` with one row per record.

    Same rules and errors as :func:`open_lead_file` (a header with no data rows gives zero rows);
    for small files and tests: intake streams with :func:`open_lead_file`.
    """
    stream = open_lead_file(path, columns, required, aliases, fields)
    rows = list(stream)
    return FileRead(stream.path, stream.encoding, stream.delimiter, stream.header, rows,
                    stream.unmapped_columns, stream.mapping)
