"""Reading JSON Lines files (``.jsonl``, ``.ndjson``): one object per line.

The header is the union of the objects' keys in order of first appearance (a first, light pass
collects them) and the required check only runs if at least one line is a JSON object. A line that
is not a JSON object becomes a row with empty ``fields`` and ``raw["_error"]``, quarantined alone.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from leadops.intake.reading.headers import Layout
from leadops.intake.reading.rows import FileStream, RawRow
from leadops.intake.reading.text import BLOCK, open_text, text_encoding

SUFFIXES = frozenset({".jsonl", ".ndjson"})


class JsonLinesReader:
    """The reader of JSON Lines files (see :class:`leadops.intake.reading.registry.Reader`)."""

    suffixes = SUFFIXES

    def open(self, path: Path, layout: Layout) -> FileStream:
        """Return the open file: its keys mapped (its required fields checked), its rows read on demand."""
        encoding = text_encoding(path)
        layout.check(path)
        return _open_jsonl(path, encoding, layout)


def _json_cell(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _json_lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """Yield (line number, line) for the non-blank lines, splitting on ``\\n`` only."""
    # Not str.splitlines(): it would also split on U+2028 etc., which JSON allows unescaped in strings.
    with open_text(path, encoding) as fh:
        number = 0
        pending = ""
        while block := fh.read(BLOCK):
            lines = (pending + block).split("\n")
            pending = lines.pop()
            for line in lines:
                number += 1
                if line.strip():
                    yield number, line.rstrip("\r")
        number += 1
        if pending.strip():
            yield number, pending.rstrip("\r")


def _parse_json_line(line: str) -> tuple[dict[str, str | None] | None, str | None]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc}"
    if not isinstance(obj, dict):
        return None, f"invalid JSON: expected an object, got {type(obj).__name__}"
    return {str(key): _json_cell(value) for key, value in obj.items()}, None


def _open_jsonl(path: Path, encoding: str, layout: Layout) -> FileStream:
    header: dict[str, None] = {}  # insertion-ordered set
    for _, line in _json_lines(path, encoding):
        raw, _error = _parse_json_line(line)
        if raw:
            header.update(dict.fromkeys(raw))
    names = list(header)
    mapping, unmapped = layout.map(names)
    if names:
        layout.require(path, names, mapping)

    def rows() -> Iterator[RawRow]:
        for number, line in _json_lines(path, encoding):
            raw, error = _parse_json_line(line)
            if raw is None:
                yield RawRow(number, {}, {"_line": line, "_error": error})
            else:
                yield RawRow.read(number, raw, mapping)

    return FileStream(path, encoding, None, names, unmapped, mapping, rows())
