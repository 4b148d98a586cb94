"""A text file's bytes: its hash, its encoding, and whether it is text at all.

Encoding: UTF-8 (with or without BOM), UTF-16/32 with BOM, Windows-1252 (Excel "CSV" exports on
French/Western Windows), Latin-1 as a last resort. Binary files (a NUL or control character in the
first line) are rejected; such a character further down is left in its record, which validation
quarantines.
"""
from __future__ import annotations

import codecs
import hashlib
import re
from pathlib import Path
from typing import TextIO

from leadops.intake.reading.rows import FileRejected

UNDECODABLE = "not valid UTF-8 or Windows-1252 text"
#: Bytes read at a time when checking a file's encoding (memory stays flat in the file size).
BLOCK = 1 << 20


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Return the hex SHA-256 of the file's bytes (the file's idempotency key)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_BINARY_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Return ``(text, encoding)`` for the bytes of a text file.

    UTF-32/UTF-16 with a BOM -> ``"utf-32"``/``"utf-16"``; otherwise strict
    UTF-8 (``"utf-8-sig"`` when a BOM is present and removed, else
    ``"utf-8"``), then strict Windows-1252 (``"cp1252"``), then ``"latin-1"``.
    Raises ``ValueError`` when the decoded text looks binary (NUL or other
    control characters), e.g. an .xlsx renamed to .csv.
    """
    text: str | None = None
    encoding = ""
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                text, encoding = data.decode(name), name
            except UnicodeDecodeError as exc:
                raise ValueError(f"{UNDECODABLE} ({name} BOM but invalid {name}: {exc.reason})") from exc
            break
    if text is None:
        for name in ("utf-8-sig", "cp1252", "latin-1"):
            try:
                text = data.decode(name)
            except UnicodeDecodeError:
                continue
            encoding = name
            if name == "utf-8-sig" and not data.startswith(codecs.BOM_UTF8):
                encoding = "utf-8"
            break
    assert text is not None  # latin-1 decodes any bytes
    text = text.lstrip("\ufeff")
    problem = binary_header(text)
    if problem:
        raise ValueError(f"{UNDECODABLE} ({problem})")
    return text, encoding


def binary_header(text: str) -> str | None:
    """Return why ``text`` (the start of a file, decoded) is not a text file, or None.

    Only the first non-blank line (the header of a CSV, the first object of JSON Lines) is
    judged: a control character there (NUL, or any C0 character but tab, LF, FF and CR) means
    a binary file (an .xlsx renamed .csv, UTF-16 without BOM). One further down belongs to the
    record it is in, which is quarantined naming the field; the file is not rejected for it.
    The message names the character and the line, never the text around it.
    """
    start = len(text) - len(text.lstrip("\r\n"))
    end = len(text)
    for stop in ("\n", "\r"):
        found = text.find(stop, start)
        if found != -1:
            end = min(end, found)
    bad = _BINARY_CHARS.search(text, start, end)
    if bad is None:
        return None
    line = text.count("\n", 0, start) + 1
    return f"control character U+{ord(bad.group()):04X} on line {line}, the first line: not a text file"


def detect_encoding(path: str | Path) -> str:
    """Return the encoding to read ``path`` with, checking the whole file in blocks.

    Same decision as :func:`decode_bytes` (BOM, then strict UTF-8, Windows-1252, Latin-1),
    without holding the file in memory. Raises ``ValueError`` for binary content (judged on the
    first non-blank line, see :func:`binary_header`) and ``EOFError`` for a file that holds only
    whitespace.
    """
    with open(path, "rb") as fh:
        head = fh.read(4)
    candidates = next(([name] for bom, name in _BOMS if head.startswith(bom)), ["utf-8-sig", "cp1252", "latin-1"])
    for name in candidates:
        decoder = codecs.getincrementaldecoder(name)()
        blank = True
        try:
            with open(path, "rb") as fh:
                while block := fh.read(BLOCK):
                    text = decoder.decode(block)
                    if blank:  # the first line with text: the header (or a first JSON object)
                        problem = binary_header(text.replace("\ufeff", "").lstrip(" \t\r\n"))
                        if problem:
                            raise ValueError(f"{UNDECODABLE} ({problem})")
                    blank = blank and not text.replace("\ufeff", "").strip()
                decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            if len(candidates) == 1:
                raise ValueError(f"{UNDECODABLE} ({name} BOM but invalid {name}: {exc.reason})") from None
            continue
        if blank:
            raise EOFError("file is empty")
        return "utf-8" if name == "utf-8-sig" and not head.startswith(codecs.BOM_UTF8) else name
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def text_encoding(path: Path) -> str:
    """Return the encoding to read the text file ``path`` with; raises :class:`FileRejected` for a binary
    or empty file (the message names the character and the line, never the file's text)."""
    try:
        return detect_encoding(path)
    except ValueError as exc:
        raise FileRejected(path, str(exc)) from None
    except EOFError:
        raise FileRejected(path, "file is empty") from None


def open_text(path: Path, encoding: str) -> TextIO:
    """Return ``path`` opened as text in ``encoding``, newlines untranslated (csv and JSON Lines split them)."""
    # utf-16/32 consume their BOM; "utf-8-sig" drops a UTF-8 one
    return open(path, encoding=encoding, newline="")
