"""Reading delimited text files (``.csv``, ``.txt``, ``.tsv``).

* Delimiter: ``,`` ``;`` tab or ``|``, detected (``.tsv`` is always tab). Quoted fields may contain
  delimiters and newlines.
* A malformed line, or a quote left open to the end of the file, rejects the file as a whole (found
  while iterating: intake admits a file inside a savepoint, so it can undo what it admitted).
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from leadops.intake.reading.headers import Layout, unique_headers
from leadops.intake.reading.rows import FileRejected, FileStream, RawRow
from leadops.intake.reading.text import open_text, text_encoding

DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
SUFFIXES = frozenset({".csv", ".txt", ".tsv"})


def _first_line_outside_quotes(sample: str) -> str:
    in_quotes = False
    for index, char in enumerate(sample):
        if char == '"':
            in_quotes = not in_quotes
        elif char in "\r\n" and not in_quotes:
            return sample[:index]
    return sample


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count, in_quotes = 0, False
    for char in line:
        if char == '"':
            in_quotes = not in_quotes
        elif char == delimiter and not in_quotes:
            count += 1
    return count


def detect_delimiter(sample: str) -> str:
    """Return the delimiter of a CSV sample: one of ``,`` ``;`` tab ``|``.

    ``csv.Sniffer`` restricted to those four decides when its answer also
    appears in the header line; otherwise the delimiter occurring most often in
    the header line outside quotes wins (ties: ``,`` then ``;`` then tab then
    ``|``). A sample with none of them (a one-column file) gives ``","``.
    """
    sample = sample.lstrip("\ufeff")
    header = _first_line_outside_quotes(sample.lstrip("\r\n"))
    counts = {d: _count_outside_quotes(header, d) for d in DELIMITERS}
    # Sniff whole lines only: a cut last line skews the consistency check.
    cut = max(sample.rfind("\n"), sample.rfind("\r"))
    sniff_sample = sample[: cut + 1] if cut > 0 else sample
    try:
        sniffed = csv.Sniffer().sniff(sniff_sample, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        sniffed = None
    if sniffed in counts and counts[sniffed] > 0:
        return sniffed
    best = max(DELIMITERS, key=lambda d: counts[d])  # max keeps the first of equal counts
    return best if counts[best] > 0 else ","


# csv's default 128 KB field limit would reject a whole file for one oversized cell; let such
# a row through to validation instead, where it is quarantined alone (the GX suite caps lengths).
FIELD_LIMIT = 64 * 1024 * 1024


class DelimitedReader:
    """The reader of delimited text files (see :class:`leadops.intake.reading.registry.Reader`)."""

    suffixes = SUFFIXES

    def open(self, path: Path, layout: Layout) -> FileStream:
        """Return the open file: its header mapped (its required fields checked), its rows read on demand."""
        encoding = text_encoding(path)
        layout.check(path)
        return _open_csv(path, encoding, path.suffix.lower(), layout)


def _open_csv(path: Path, encoding: str, suffix: str, layout: Layout) -> FileStream:
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
    with open_text(path, encoding) as fh:
        sample = fh.read(65536)
    delimiter = "\t" if suffix == ".tsv" else detect_delimiter(sample)
    fh = open_text(path, encoding)
    reader = csv.reader(fh, delimiter=delimiter)
    header: list[str] | None = None
    previous_line = 0
    try:
        for cells in reader:
            previous_line = reader.line_num
            if any(cell.strip() for cell in cells):
                header = unique_headers(cells)
                break
    except csv.Error as exc:
        fh.close()
        raise FileRejected(path, f"malformed CSV at line {reader.line_num}: {exc}") from None
    if header is None:  # only blank rows: treat like an empty file
        fh.close()
        raise FileRejected(path, "file is empty")
    mapping, unmapped = layout.map(header)
    try:
        layout.require(path, header, mapping)
    except FileRejected:
        fh.close()
        raise
    return FileStream(path, encoding, delimiter, header, unmapped, mapping,
                      _csv_rows(path, fh, reader, header, mapping, previous_line, encoding, delimiter))


def _csv_rows(path: Path, fh: TextIO, reader: Any, header: list[str], mapping: dict[str, str], previous_line: int,
              encoding: str, delimiter: str) -> Iterator[RawRow]:
    last: RawRow | None = None
    width = len(header)
    try:
        for cells in reader:
            first_line, previous_line = previous_line + 1, reader.line_num
            # (per row, joined and zipped in C: this loop is on intake's critical path)
            if not "".join(cells).strip():
                continue  # blank line, or a row of empty cells (";;;;" from Excel)
            raw: dict[str, str | None]
            if len(cells) >= width:
                raw = dict(zip(header, cells, strict=False))  # the cells past the header: _extra
                if len(cells) > width and "".join(extra := cells[width:]).strip():
                    raw["_extra"] = json.dumps(extra, ensure_ascii=False)
            else:  # a short row: the missing cells are None
                raw = dict(zip(header, [*cells, *[None] * (width - len(cells))], strict=True))
            if last is not None:
                yield last
            last = RawRow.read(first_line, raw, mapping)
    except csv.Error as exc:
        raise FileRejected(path, f"malformed CSV at line {reader.line_num}: {exc}") from None
    finally:
        fh.close()
    # The last record is held back until the end is reached: a quote left open swallows the rest
    # of the file into it, and that makes the file unusable rather than the record a bad row.
    if last is not None:
        if _unterminated_quote(path, encoding, last.row_number, delimiter):
            raise FileRejected(
                path,
                f"unterminated quoted field in the record starting at line {last.row_number} "
                "(a closing \" is missing; the rest of the file was read as one value)",
            )
        yield last


def _unterminated_quote(path: Path, encoding: str, first_line: int, delimiter: str) -> bool:
    """True if the record starting at ``first_line`` runs to the end of the file inside quotes."""
    with open_text(path, encoding) as fh:
        tail = "".join(line for number, line in enumerate(fh, start=1) if number >= first_line)
    if '"' not in tail:
        return False
    try:
        for _ in csv.reader(io.StringIO(tail, newline=""), delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False
