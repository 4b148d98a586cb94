"""Mapping a file's headers to canonical fields.

An explicit per-source ``columns`` mapping first, then :data:`DEFAULT_ALIASES` (English and French
headers), both compared exactly and then ignoring case, accents, spaces and punctuation.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from leadops.domain.normalize import fold
from leadops.intake.reading.rows import FileRejected

CANONICAL_FIELDS: tuple[str, ...] = (
    "email", "first_name", "last_name", "full_name", "company", "job_title", "phone", "country",
    "website", "source", "campaign", "created_at", "language", "consent",
)

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
    explicit_by_key: dict[str, str] = {}
    for source_header, field_name in columns.items():
        explicit_by_key.setdefault(header_key(source_header), field_name)

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


def shown_header(header: list[str]) -> str:
    """Return the header as an error shows it: names joined, cut at HEADER_SHOWN characters."""
    found = ", ".join(header) if header else "no columns"
    return found if len(found) <= HEADER_SHOWN else found[:HEADER_SHOWN] + f"... ({len(header)} columns)"


def check_required(path: str | Path, header: list[str], mapping: dict[str, str],
                    required: Iterable[str]) -> None:
    missing = [f for f in required if f not in mapping.values()]
    if not missing:
        return
    found = shown_header(header)
    if len(missing) == 1:
        problem = f"required column '{missing[0]}' is missing (found: {found})"
    else:
        problem = f"required columns {', '.join(repr(m) for m in missing)} are missing (found: {found})"
    raise FileRejected(path, problem)


def unique_headers(cells: list[str]) -> list[str]:
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


@dataclass(frozen=True)
class Layout:
    """What a kind of file's headers map to: the source's explicit ``columns`` (source header ->
    field), the fields that must be mapped, the aliases and the fields of its vocabulary."""

    columns: Mapping[str, str] | None = None
    required: tuple[str, ...] = ("email",)
    aliases: Mapping[str, str] = field(default_factory=lambda: DEFAULT_ALIASES)
    fields: tuple[str, ...] = CANONICAL_FIELDS

    def map(self, header: list[str]) -> tuple[dict[str, str], list[str]]:
        """Return ``(mapping, unmapped)`` for ``header`` (see :func:`map_headers`)."""
        return map_headers(header, self.columns, self.aliases, self.fields)

    def check(self, path: str | Path) -> None:
        """Raise :class:`FileRejected` when ``columns`` names a field outside the vocabulary (a configuration
        error, said before reading the file)."""
        try:
            self.map([])
        except ValueError as exc:
            raise FileRejected(path, str(exc)) from None

    def require(self, path: str | Path, header: list[str], mapping: dict[str, str]) -> None:
        """Raise :class:`FileRejected` listing the headers found when a required field is not mapped."""
        check_required(path, header, mapping, self.required)
