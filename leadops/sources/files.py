"""Reading lead files (CSV and JSON Lines) robustly.

What this module guarantees, so ingest can key and explain every row:

* Encoding: UTF-8 (with or without BOM), UTF-16/32 with BOM, Windows-1252 (Excel
  "CSV" exports on French/Western Windows), Latin-1 as a last resort. Binary
  files (a NUL or control character in the first line) are rejected; such a
  character further down is left in its record, which validation quarantines.
* Delimiter: ``,`` ``;`` tab or ``|``, detected (``.tsv`` is always tab).
  Quoted fields may contain delimiters and newlines.
* Headers are mapped to canonical lead fields: an explicit per-source ``columns``
  mapping first, then :data:`DEFAULT_ALIASES` (English and French headers),
  both compared exactly and then ignoring case, accents, spaces and punctuation.
* ``RawRow.row_number`` is the 1-based **physical line number** in the file of
  the line where the record starts (what a text editor shows; in a usual CSV the
  header is line 1 and the first data row line 2; in JSON Lines it is the
  object's line). With the file's SHA-256 it is the idempotency key of a row.
* Nothing is lost: blank rows are skipped, cells beyond the header are kept in
  ``raw["_extra"]``, and unreadable JSON lines become rows with empty ``fields``
  and ``raw["_error"]`` so they can be quarantined with a reason. Problems that
  make the whole file unusable raise :class:`FileRejected`.

No Prefect, no SQLAlchemy: tasks call these functions.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
from functools import partial
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from leadops.domain.normalize import clean_text, fold

__all__ = [
    "CANONICAL_FIELDS",
    "CSV_EXTENSIONS",
    "DEFAULT_ALIASES",
    "DELIMITERS",
    "JSONL_EXTENSIONS",
    "FileRead",
    "FileStream",
    "FileRejected",
    "RawRow",
    "decode_bytes",
    "build_aliases",
    "detect_encoding",
    "detect_delimiter",
    "header_key",
    "map_headers",
    "open_lead_file",
    "read_lead_file",
    "sha256_file",
]

CANONICAL_FIELDS: tuple[str, ...] = (
    "email", "first_name", "last_name", "full_name", "company", "job_title", "phone", "country",
    "website", "source", "campaign", "created_at", "language", "consent",
)
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
CSV_EXTENSIONS = frozenset({".csv", ".txt", ".tsv"})
JSONL_EXTENSIONS = frozenset({".jsonl", ".ndjson"})
UNDECODABLE = "not valid UTF-8 or Windows-1252 text"


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

    __slots__ = ("row_number", "raw", "_fields", "mapping")

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
            self._fields = _cleaned_fields(self.mapping or {}, self.raw)
        return self._fields

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RawRow):
            return NotImplemented
        return (self.row_number, self.fields, self.raw) == (other.row_number, other.fields, other.raw)

    __hash__ = None  # mutable, like the dataclass it replaced

    def __repr__(self) -> str:
        return f"RawRow(row_number={self.row_number!r}, fields={self.fields!r}, raw={self.raw!r})"


@dataclass
class FileRead:
    """Result of :func:`read_lead_file`: one entry in ``rows`` per non-blank record."""

    path: Path
    encoding: str
    delimiter: str | None  # None for JSON Lines
    header: list[str]
    rows: list[RawRow] = field(default_factory=list)
    unmapped_columns: list[str] = field(default_factory=list)
    #: header -> canonical field for the mapped columns, in header order.
    mapping: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- hashing, decoding


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


# --------------------------------------------------------------------------- delimiter


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


# --------------------------------------------------------------------------- header mapping

_ALIASES_BY_FIELD: dict[str, tuple[str, ...]] = {
    "email": ("Email", "E-mail", "Email Address", "E-mail address", "Courriel", "Adresse e-mail",
              "Adresse email", "Adresse mail", "Adresse courriel", "Mail", "Work email", "Business email",
              "Email professionnel"),
    "first_name": ("First Name", "Firstname", "Given name", "Forename", "Prénom"),
    "last_name": ("Last Name", "Lastname", "Surname", "Family name", "Nom", "Nom de famille"),
    "full_name": ("Name", "Full name", "Nom complet", "Contact name", "Nom et prénom", "Prénom et nom",
                  "Prénom nom", "Nom prénom"),
    "company": ("Company", "Company Name", "Organization", "Organisation", "Organization name",
                "Société", "Entreprise", "Raison sociale", "Account name", "Employer", "Nom de l'entreprise",
                "Nom de la société"),
    "job_title": ("Job Title", "Title", "Position", "Job", "Role", "Rôle", "Fonction", "Poste",
                  "Intitulé de poste", "Intitulé du poste", "Titre"),
    "phone": ("Phone", "Phone Number", "Telephone", "Telephone number", "Téléphone", "Tél", "Tel",
              "Mobile", "Mobile phone", "Portable", "Numéro de téléphone", "GSM"),
    "country": ("Country", "Pays", "Country code", "Code pays", "Country/Region"),
    "website": ("Website", "Web site", "Company website", "Site web", "Site internet", "Site", "URL"),
    "source": ("Source", "Lead Source", "Origine", "Source du lead", "Origin"),
    "campaign": ("Campaign", "Campaign name", "Campagne", "UTM campaign"),
    "created_at": ("Created", "Created At", "Created date", "Creation date", "Date", "Date de création",
                   "Submitted at", "Submission date", "Date de soumission", "Timestamp"),
    "language": ("Language", "Langue", "Lang", "Locale"),
    "consent": ("Consent", "Opt-in", "Optin", "Consentement", "GDPR consent", "Marketing consent"),
}


def header_key(header: str) -> str:
    """Return the comparison key of a header: casefolded, accents, spaces and punctuation removed.

    "Adresse e-mail" -> "adresseemail", "Date de création" -> "datedecreation", "first_name" -> "firstname".
    """
    return re.sub(r"[\W_]+", "", fold(header))


def build_aliases(by_field: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """Return header key -> canonical field for the field names and their aliases (raises on a clash)."""
    aliases: dict[str, str] = {}
    for canonical, names in by_field.items():
        for name in (canonical, *names):
            key = header_key(name)
            if aliases.setdefault(key, canonical) != canonical:
                raise ValueError(f"header alias {name!r} maps to both {aliases[key]} and {canonical}")
    return aliases


#: Normalized header (see :func:`header_key`) -> canonical field.
DEFAULT_ALIASES: dict[str, str] = build_aliases(_ALIASES_BY_FIELD)


def map_headers(
    header: list[str], columns: Mapping[str, str] | None = None,
    aliases: Mapping[str, str] = DEFAULT_ALIASES, fields: tuple[str, ...] = CANONICAL_FIELDS,
) -> tuple[dict[str, str], list[str]]:
    """Return ``(mapping, unmapped)``: header -> canonical field, and the headers left over.

    Explicit ``columns`` (source header -> canonical field) claim fields first,
    matched exactly and then by :func:`header_key`; the remaining headers are
    looked up in :data:`DEFAULT_ALIASES`. Each field is taken by one header
    only: the first claimant wins and later ones are unmapped. Raises
    ``ValueError`` if ``columns`` names a field outside :data:`CANONICAL_FIELDS`.
    """
    columns = dict(columns or {})
    unknown = sorted({f for f in columns.values() if f not in fields})
    if unknown:
        raise ValueError(
            f"columns mapping targets unknown field(s) {', '.join(unknown)}; "
            f"use one of {', '.join(fields)}"
        )
    explicit_by_key = {}
    for source_header, target in columns.items():
        explicit_by_key.setdefault(header_key(source_header), target)

    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for name in header:  # explicit mapping first
        target = columns.get(name) or explicit_by_key.get(header_key(name))
        if target and target not in taken:
            mapping[name] = target
            taken.add(target)
    for name in header:  # then the default aliases
        if name in mapping or name in columns or header_key(name) in explicit_by_key:
            continue
        target = aliases.get(header_key(name))
        if target and target not in taken:
            mapping[name] = target
            taken.add(target)
    ordered = {name: mapping[name] for name in header if name in mapping}
    unmapped = [name for name in header if name not in mapping]
    return ordered, unmapped


#: Characters of a header shown in an error at most (a file's only content errors may show).
HEADER_SHOWN = 300


def _shown_header(header: list[str]) -> str:
    """Return the header as an error shows it: names joined, cut at HEADER_SHOWN characters."""
    found = ", ".join(header) if header else "no columns"
    return found if len(found) <= HEADER_SHOWN else found[:HEADER_SHOWN] + f"... ({len(header)} columns)"


def _check_required(path: str | Path, header: list[str], mapping: dict[str, str],
                    required: Iterable[str]) -> None:
    missing = [f for f in required if f not in mapping.values()]
    if not missing:
        return
    found = _shown_header(header)
    if len(missing) == 1:
        problem = f"required column '{missing[0]}' is missing (found: {found})"
    else:
        problem = f"required columns {', '.join(repr(m) for m in missing)} are missing (found: {found})"
    raise FileRejected(path, problem)


def _unique_headers(cells: list[str]) -> list[str]:
    """Trimmed header names; blanks become ``column_<n>``, repeats get ``_2``, ``_3``..."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for index, cell in enumerate(cells, start=1):
        name = " ".join(cell.replace("\ufeff", "").split()) or f"column_{index}"
        base = name
        while name in seen:
            seen[base] += 1
            name = f"{base}_{seen[base]}"
        seen.setdefault(name, 1)
        out.append(name)
    return out


# --------------------------------------------------------------------------- readers

#: Bytes read at a time when checking a file's encoding (memory stays flat in the file size).
BLOCK = 1 << 20


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


@dataclass
class FileStream:
    """An open lead file: its layout (known on opening) and its records, read on demand.

    Iterating gives one :class:`RawRow` per non-blank record; :meth:`chunks` groups them.
    The iteration can raise :class:`FileRejected` for a problem found late (a malformed
    CSV line, an unterminated quote at the end): callers admitting chunks as they come
    must be able to undo them (ingest admits a file inside a savepoint).
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


def open_lead_file(
    path: str | Path,
    columns: Mapping[str, str] | None = None,
    required: Iterable[str] = ("email",),
    aliases: Mapping[str, str] = DEFAULT_ALIASES,
    fields: tuple[str, ...] = CANONICAL_FIELDS,
) -> FileStream:
    """Open a CSV (``.csv``/``.txt``/``.tsv``) or JSON Lines (``.jsonl``/``.ndjson``) lead file for streaming.

    Returns a :class:`FileStream` whose records are read lazily; memory stays flat in the
    file size. ``columns`` maps source headers to canonical fields and takes precedence over
    :data:`DEFAULT_ALIASES`; ``required`` lists canonical fields that must be mapped
    (``full_name`` never stands in for ``email``). ``aliases`` and ``fields`` replace the
    lead vocabulary for other kinds of files (activity exports).

    Raises :class:`FileRejected` at once for an unsupported extension, a zero-byte or
    whitespace-only file ("file is empty"), undecodable/binary content, or a missing
    required column (the message lists the headers found); while iterating, for a
    malformed CSV line or an unterminated quoted field. For JSON Lines the header is the
    union of the objects' keys in order of first appearance (a first, light pass collects
    them) and the required check only runs if at least one line is a JSON object.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in CSV_EXTENSIONS | JSONL_EXTENSIONS:
        expected = ", ".join(sorted(CSV_EXTENSIONS | JSONL_EXTENSIONS))
        raise FileRejected(path, f"unsupported file type '{suffix or '(none)'}' (expected one of {expected})")
    try:
        encoding = detect_encoding(path)
    except ValueError as exc:  # names the character and the line, never the file's text
        raise FileRejected(path, str(exc)) from None
    except EOFError:
        raise FileRejected(path, "file is empty") from None
    required = tuple(required)
    try:
        mapper = partial(map_headers, columns=columns, aliases=aliases, fields=fields)
        mapper([])  # a mapping naming unknown fields is a configuration error: say so before reading
    except ValueError as exc:
        raise FileRejected(path, str(exc)) from None
    if suffix in JSONL_EXTENSIONS:
        return _open_jsonl(Path(path), encoding, mapper, required)
    return _open_csv(Path(path), encoding, suffix, mapper, required)


def read_lead_file(
    path: str | Path,
    columns: Mapping[str, str] | None = None,
    required: Iterable[str] = ("email",),
    aliases: Mapping[str, str] = DEFAULT_ALIASES,
    fields: tuple[str, ...] = CANONICAL_FIELDS,
) -> FileRead:
    """Read a whole lead file into memory; returns a :class:`FileRead` with one row per record.

    Same rules and errors as :func:`open_lead_file` (a header with no data rows gives zero
    rows); for small files and tests: ingest streams with :func:`open_lead_file`.
    """
    stream = open_lead_file(path, columns, required, aliases, fields)
    rows = list(stream)
    return FileRead(stream.path, stream.encoding, stream.delimiter, stream.header, rows,
                    stream.unmapped_columns, stream.mapping)


def _cleaned_fields(mapping: dict[str, str], raw: Mapping[str, str | None]) -> dict[str, str | None]:
    return {target: clean_text(raw.get(source)) for source, target in mapping.items()}


# csv's default 128 KB field limit would reject a whole file for one oversized cell; let such
# a row through to validation instead, where it is quarantined alone (the GX suite caps lengths).
FIELD_LIMIT = 64 * 1024 * 1024


def _text(path: Path, encoding: str):
    # utf-16/32 consume their BOM; "utf-8-sig" drops a UTF-8 one
    return open(path, encoding=encoding, newline="")


def _open_csv(path: Path, encoding: str, suffix: str, mapper, required: tuple[str, ...]) -> FileStream:
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
    with _text(path, encoding) as fh:
        sample = fh.read(65536)
    delimiter = "\t" if suffix == ".tsv" else detect_delimiter(sample)
    fh = _text(path, encoding)
    reader = csv.reader(fh, delimiter=delimiter)
    header: list[str] | None = None
    previous_line = 0
    try:
        for cells in reader:
            previous_line = reader.line_num
            if any(cell.strip() for cell in cells):
                header = _unique_headers(cells)
                break
    except csv.Error as exc:
        fh.close()
        raise FileRejected(path, f"malformed CSV at line {reader.line_num}: {exc}") from None
    if header is None:  # only blank rows: treat like an empty file
        fh.close()
        raise FileRejected(path, "file is empty")
    mapping, unmapped = mapper(header)
    try:
        _check_required(path, header, mapping, required)
    except FileRejected:
        fh.close()
        raise
    return FileStream(path, encoding, delimiter, header, unmapped, mapping,
                      _csv_rows(path, fh, reader, header, mapping, previous_line, encoding, delimiter))


def _csv_rows(path: Path, fh, reader, header: list[str], mapping: dict[str, str], previous_line: int,
              encoding: str, delimiter: str) -> Iterator[RawRow]:
    last: RawRow | None = None
    try:
        for cells in reader:
            first_line, previous_line = previous_line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # blank line, or a row of empty cells (";;;;" from Excel)
            raw: dict[str, str | None] = {
                name: (cells[i] if i < len(cells) else None) for i, name in enumerate(header)
            }
            extra = cells[len(header):]
            if any(cell.strip() for cell in extra):
                raw["_extra"] = json.dumps(extra, ensure_ascii=False)
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
    with _text(path, encoding) as fh:
        tail = "".join(line for number, line in enumerate(fh, start=1) if number >= first_line)
    if '"' not in tail:
        return False
    try:
        for _ in csv.reader(io.StringIO(tail, newline=""), delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def _json_cell(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _json_lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """Yield (line number, line) for the non-blank lines, splitting on ``\\n`` only."""
    # Not str.splitlines(): it would also split on U+2028 etc., which JSON allows unescaped in strings.
    with _text(path, encoding) as fh:
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


def _open_jsonl(path: Path, encoding: str, mapper, required: tuple[str, ...]) -> FileStream:
    header: dict[str, None] = {}  # insertion-ordered set
    for _, line in _json_lines(path, encoding):
        raw, _error = _parse_json_line(line)
        if raw:
            header.update(dict.fromkeys(raw))
    names = list(header)
    mapping, unmapped = mapper(names)
    if names:
        _check_required(path, names, mapping, required)

    def rows() -> Iterator[RawRow]:
        for number, line in _json_lines(path, encoding):
            raw, error = _parse_json_line(line)
            if raw is None:
                yield RawRow(number, {}, {"_line": line, "_error": error})
            else:
                yield RawRow.read(number, raw, mapping)

    return FileStream(path, encoding, None, names, unmapped, mapping, rows())
