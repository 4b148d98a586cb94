"""Normalization of raw lead values (text, email, names, phone, country, company,
job title, website) into the canonical forms the rest of leadops matches on.

Pure functions over plain values: no IO, no Prefect, no SQLAlchemy, no network.
Every function accepts messy input (``None``, numbers, padded strings, placeholder
values like ``"n/a"``) and returns ``None`` rather than raising when a value is
unusable, except :func:`normalize_email`, which returns an :class:`EmailResult`
carrying a human-readable ``error`` so the row can be quarantined with a reason.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any, TypeVar, cast

import math
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

import email_validator
import phonenumbers
from email_validator import EmailNotValidError, validate_email

__all__ = [
    "DEPARTMENTS",
    "DISPOSABLE_EMAIL_DOMAINS",
    "FREE_EMAIL_DOMAINS",
    "NAME_PARTICLES",
    "SENIORITIES",
    "EmailResult",
    "clean_text",
    "company_key",
    "domain_from_website",
    "email_address",
    "email_domain_kind",
    "field_problems",
    "fold",
    "normalize_country",
    "normalize_email",
    "normalize_person_name",
    "normalize_phone",
    "title_to_seniority_department",
]


# --------------------------------------------------------------------------- text

#: Values that mean "nothing was entered" (compared case-insensitively).
PLACEHOLDERS = frozenset({"", "-", "--", "n/a", "#n/a", "null", "none", "select"})
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\ufeff"), None)  # zero-width space, BOM


def clean_text(value: object) -> str | None:
    """Return ``value`` as a tidy string, or ``None`` if it holds nothing.

    ``str()`` of the value, Unicode NFC, zero-width characters removed, stripped,
    internal whitespace runs (including non-breaking spaces and newlines)
    collapsed to one space. ``None``, float NaN, empty strings and placeholders
    (``"-"``, ``"--"``, ``"n/a"``, ``"#N/A"``, ``"null"``, ``"none"``,
    ``"Select"``, any case) and strings made only of dashes give ``None``.
    """
    if value is None:
        return None
    if type(value) is str and value.isascii():
        text = " ".join(value.split())  # ASCII needs no NFC and has no zero-width characters
    else:
        if isinstance(value, float) and math.isnan(value):
            return None
        text = unicodedata.normalize("NFC", str(value)).translate(_INVISIBLE)
        text = " ".join(text.split())
    if len(text) > 6:  # longer than any placeholder: only an all-dash string could still be empty
        return None if text[0] == "-" and set(text) == {"-"} else text
    if text.casefold() in PLACEHOLDERS or set(text) <= {"-"}:
        return None
    return text


#: Control characters a cleaned value must not hold: C0 but the whitespace clean_text turns into
#: spaces (tab, LF, VT, FF, CR, U+001C-U+001F), and DEL. NUL is refused by PostgreSQL's text
#: columns; the others are invisible in a CRM and break exports.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0e-\x1b\x7f]")


def field_problems(values: dict[str, object], limits: dict[str, int], labels: dict[str, str]) -> list[str]:
    """Return one quarantine reason per field of ``values`` that cannot be stored as it is.

    A text value longer than ``limits[field]`` characters (the column's length) gives
    "<label> longer than <limit> characters"; one holding a control character (see
    :data:`CONTROL_CHARACTERS`) gives "<label> contains a control character (U+0000)". Reasons
    name the field (``labels[field]``, else the field) and never the value. Grain: one row.
    Fields without a limit are checked for control characters only.
    """
    texts = {name: value for name, value in values.items() if type(value) is str}
    # the usual row has no problem: one pass over the lengths and one search over all its text
    if all(len(v) <= limits.get(n, len(v)) for n, v in texts.items()) \
            and CONTROL_CHARACTERS.search("\n".join(texts.values())) is None:
        return []
    problems: list[str] = []
    for name, value in texts.items():
        label = labels.get(name, name)
        limit = limits.get(name)
        if limit is not None and len(value) > limit:
            problems.append(f"{label} longer than {limit} characters")
        bad = CONTROL_CHARACTERS.search(value)
        if bad is not None:
            problems.append(f"{label} contains a control character (U+{ord(bad.group()):04X})")
    return list(dict.fromkeys(problems))  # company and its derived key say the same once


#: Latin letters that Unicode does not decompose into a base letter plus accent ("Łódź", "Søren").
_UNDECOMPOSABLE = str.maketrans({
    "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ħ": "h", "Ħ": "H", "ı": "i",
    "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "þ": "th", "Þ": "TH", "ð": "d", "Ð": "D",
})


def fold(value: str) -> str:
    """Return ``value`` casefolded with accents removed ("Élodie" -> "elodie").

    Used for accent- and case-insensitive comparisons; it does not touch
    punctuation or spacing.
    """
    if value.isascii():
        return value.lower()  # casefold of ASCII, with nothing to strip
    decomposed = unicodedata.normalize("NFKD", value.translate(_UNDECOMPOSABLE))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.casefold()


def _words_key(value: str) -> str:
    """``fold`` then every run of non-alphanumerics becomes one space, stripped."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", fold(value)).split())


# --------------------------------------------------------------------------- email

FREE_EMAIL_DOMAINS: frozenset[str] = frozenset({
    # Google, Yahoo, Microsoft, Apple, AOL
    "gmail.com", "googlemail.com",
    "yahoo.com", "yahoo.fr", "yahoo.co.uk", "yahoo.de", "yahoo.es", "yahoo.it", "ymail.com",
    "hotmail.com", "hotmail.fr", "hotmail.co.uk", "hotmail.de", "hotmail.it", "hotmail.es", "hotmail.be",
    "outlook.com", "outlook.fr", "outlook.de", "outlook.es", "outlook.it", "live.com", "live.fr",
    "live.co.uk", "live.be", "msn.com",
    "icloud.com", "me.com", "mac.com", "aol.com", "aol.fr",
    # Germany, Austria, Switzerland
    "gmx.de", "gmx.net", "gmx.fr", "gmx.com", "gmx.at", "gmx.ch", "web.de", "t-online.de", "freenet.de",
    "bluewin.ch",
    # France, Belgium
    "orange.fr", "wanadoo.fr", "free.fr", "sfr.fr", "neuf.fr", "bbox.fr", "laposte.net", "numericable.fr",
    "skynet.be", "telenet.be",
    # Italy, Spain, Central/Eastern Europe, Russia
    "libero.it", "virgilio.it", "tiscali.it", "alice.it", "seznam.cz", "wp.pl", "o2.pl", "onet.pl",
    "interia.pl", "mail.ru", "yandex.ru", "yandex.com",
    # Privacy / generic providers
    "protonmail.com", "protonmail.ch", "proton.me", "pm.me", "tutanota.com", "zoho.com", "mail.com",
    "fastmail.com", "hey.com",
    # UK, US, Asia
    "btinternet.com", "sky.com", "comcast.net", "verizon.net", "att.net", "qq.com", "163.com",
})

DISPOSABLE_EMAIL_DOMAINS: frozenset[str] = frozenset({
    "mailinator.com", "yopmail.com", "yopmail.fr", "yopmail.net", "10minutemail.com", "10minutemail.net",
    "guerrillamail.com", "guerrillamail.net", "guerrillamail.org", "guerrillamail.de", "sharklasers.com",
    "grr.la", "trashmail.com", "trashmail.de", "trashmail.net", "mytrashmail.com", "tempmail.com",
    "tempmail.net", "temp-mail.org", "temp-mail.io", "tempr.email", "throwawaymail.com", "getnada.com",
    "nada.email", "dispostable.com", "maildrop.cc", "mailnesia.com", "mintemail.com", "mohmal.com",
    "fakeinbox.com", "spamgourmet.com", "mailcatch.com", "jetable.org", "emailondeck.com",
    "discard.email", "moakt.com", "mailpoof.com", "burnermail.io",
})


@dataclass(frozen=True, slots=True)
class EmailResult:
    """Outcome of :func:`normalize_email`.

    ``email``/``domain`` are ``None`` exactly when ``error`` is set.
    """

    email: str | None
    domain: str | None
    error: str | None
    is_free: bool = False
    is_disposable: bool = False


_ANGLE = re.compile(r"<([^<>]*)>")


def _in_domain_set(domain: str, domains: frozenset[str]) -> bool:
    """True if ``domain`` or one of its parent domains is in ``domains``."""
    parts = domain.split(".")
    return any(".".join(parts[i:]) in domains for i in range(len(parts) - 1))



#: Entries per normalizer cache (see _memoized).
CACHE_ENTRIES = 1 << 16


_Normalizer = TypeVar("_Normalizer", bound=Callable[..., Any])


def _memoized(fn: _Normalizer) -> _Normalizer:
    """Cache a pure normalizer: lead files repeat the same countries, titles, companies and phones."""
    # 64k entries per normalizer: a million-row file names ~50k companies and domains, and a
    # cache smaller than that misses on every row (8k made 1M rows 3x slower per row than 100k);
    # bounded, so intake memory still levels off (tens of MB) however big the file.
    cached = lru_cache(maxsize=CACHE_ENTRIES)(fn)

    @wraps(fn)
    def wrapper(*args: Any) -> Any:
        try:
            return cached(*args)
        except TypeError:  # an unhashable value (e.g. a list from JSON): compute it directly
            return fn(*args)

    wrapper.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return cast(_Normalizer, wrapper)


# RFC 5322 dot-atom local part, ASCII only: the common case, checked without the full validator.
_DOT_ATOM = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


# A plain ASCII host name: dot-separated labels of letters, digits and inner hyphens, a top-level
# label of letters only. email_validator accepts such a name unchanged unless it is special-use
# or has "--" (reserved or Punycode labels), so it is checked without the validator (~40 us a
# call: 2 s of a million-row file with 50k domains). Anything else goes to the validator.
_PLAIN_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def _plain_host(host: str) -> bool:
    """True if ``host`` is a plain ASCII host name that email_validator accepts as it is."""
    return (len(host) <= 253 and "--" not in host and _PLAIN_HOST.fullmatch(host) is not None
            and not any(host == d or host.endswith("." + d) for d in email_validator.SPECIAL_USE_DOMAIN_NAMES))


@lru_cache(maxsize=CACHE_ENTRIES)
def _checked_domain(host: str) -> str | None:
    """Return the normalized domain if email_validator accepts it (checked once per distinct domain)."""
    if _plain_host(host):
        return host
    try:
        return validate_email(f"a@{host}", check_deliverability=False).domain.lower()
    except EmailNotValidError:
        return None


def normalize_email(value: object) -> EmailResult:
    """Return an :class:`EmailResult` for a raw email value.

    Accepts ``"mailto:"`` prefixes and ``"Name <addr>"`` forms; the address is
    trimmed and lower-cased, then syntax-checked by ``email_validator`` without
    DNS lookups. On success ``email`` is the normalized address, ``domain`` its
    domain, and ``is_free``/``is_disposable`` flag webmail and throwaway
    domains (subdomains of a listed domain count). On failure ``email`` and
    ``domain`` are ``None`` and ``error`` says why, e.g. ``"email is missing"``
    or ``"invalid email syntax: An email address must have an @-sign."``.
    """
    email, domain, error = email_address(value)
    if domain is None:
        return EmailResult(None, None, error)
    is_free, is_disposable = _domain_kind(domain)
    return EmailResult(email=email, domain=domain, error=None, is_free=is_free, is_disposable=is_disposable)


def email_address(value: object) -> tuple[str | None, str | None, str | None]:
    """Return ``(email, domain, None)`` for a raw email value, or ``(None, None, why)``: the address part
    of :func:`normalize_email`, without its flags of the domain (see :func:`email_domain_kind`), for
    callers that read them once per distinct domain."""
    text = clean_text(value)
    if text is None:
        return None, None, "email is missing"
    match = _ANGLE.search(text) if "<" in text else None
    if match:
        text = match.group(1)
    text = text.strip().strip("<>").strip().lower()
    if text.startswith("mailto:"):
        text = text[len("mailto:"):].split("?", 1)[0].strip()
    if not text:
        return None, None, "email is missing"
    local, at, host = text.rpartition("@")
    domain = _checked_domain(host) if at and _DOT_ATOM.fullmatch(local) and len(local) <= 64 else None
    if domain is not None and len(local) + 1 + len(domain) <= 254:
        return f"{local}@{domain}", domain, None
    # anything unusual (quoted or Unicode local part, odd domain): the full validator decides
    try:
        validated = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        return None, None, f"invalid email syntax: {exc}"
    return validated.normalized.lower(), validated.domain.lower(), None


def email_domain_kind(domain: str) -> tuple[bool, bool]:
    """Return (free-mail, disposable) for a normalized domain (as :func:`email_address` gives it)."""
    return _domain_kind(domain)


@lru_cache(maxsize=CACHE_ENTRIES)
def _domain_kind(domain: str) -> tuple[bool, bool]:
    """Return (free-mail, disposable) for a normalized domain (once per distinct domain)."""
    return domain in FREE_EMAIL_DOMAINS, _in_domain_set(domain, DISPOSABLE_EMAIL_DOMAINS)


# --------------------------------------------------------------------------- person names

#: Name particles kept lower-case when they are neither the first nor the last word.
NAME_PARTICLES: frozenset[str] = frozenset({
    "de", "du", "des", "la", "le", "van", "von", "der", "den", "di", "da", "dos", "del", "y", "zu",
    "ten", "ter",
})
#: Elided particles written before an apostrophe ("d'Alembert"): kept lower-case.
_ELIDED_PARTICLES = frozenset({"d"})
_NAME_SEPARATORS = re.compile(r"([\-'\u2019\u02bc])")
_APOSTROPHES = frozenset("'\u2019\u02bc")


def _capitalize_name_part(part: str) -> str:
    lower = part.lower()
    if lower.startswith("mc") and len(lower) > 2 and lower[2].isalpha():
        return "Mc" + lower[2].upper() + lower[3:]
    return lower[:1].upper() + lower[1:]


def _recase_name_part(part: str) -> str | None:
    """Recased ``part`` if its casing looks accidental, else ``None`` (keep as typed).

    Accidental: ALL-UPPER, all-lower, inverted caps ("éLODIE") or "Mc" + upper
    ("McDONALD"). Anything else mixed ("DeVito", "MacLeod") is deliberate.
    """
    if part.upper() == part.lower():  # no cased letters (digits, CJK, empty)
        return None
    rest = part[1:]
    if (
        part in (part.lower(), part.upper())
        or (part[0].islower() and rest == rest.upper() and rest != rest.lower())
        or (part.startswith("Mc") and len(part) > 3 and part[2:] == part[2:].upper())
    ):
        return _capitalize_name_part(part)
    return None


@_memoized
def normalize_person_name(value: object) -> str | None:
    """Return a person name with natural capitalization, or ``None`` if empty.

    The name is cleaned (:func:`clean_text`), then each part between spaces,
    hyphens and apostrophes is recased only when its casing looks accidental
    (ALL-UPPER, all-lower, inverted caps like "éLODIE", or "McDONALD");
    deliberate mixed case ("DeVito", "MacLeod") is kept as typed. Recased
    particles (``de``, ``la``, ``van``, ``von``...) stay lower-case when they
    are neither the first nor the last word, and an elided ``d'`` stays
    lower-case: "marie de la fontaine" -> "Marie de la Fontaine",
    "d'ALEMBERT" -> "d'Alembert", "o'brien" -> "O'Brien", "JEAN-PIERRE" -> "Jean-Pierre".
    """
    text = clean_text(value)
    if text is None:
        return None
    if " " not in text and _NAME_SEPARATORS.search(text) is None:  # one part: the loop below in short
        return _recase_name_part(text) or text
    words = text.split(" ")
    out: list[str] = []
    for index, word in enumerate(words):
        inner = 0 < index < len(words) - 1
        if inner and word.casefold() in NAME_PARTICLES and _recase_name_part(word) is not None:
            out.append(word.lower())
            continue
        pieces = _NAME_SEPARATORS.split(word)  # [part, sep, part, sep, part...]
        recased = [_recase_name_part(p) if i % 2 == 0 else None for i, p in enumerate(pieces)]
        result = []
        for i, piece in enumerate(pieces):
            if i % 2 == 1:
                result.append(piece)
                continue
            is_elided = (
                i + 2 < len(pieces)
                and pieces[i + 1] in _APOSTROPHES
                and piece.casefold() in _ELIDED_PARTICLES
                and (recased[i + 2] is not None or piece.islower())
            )
            if is_elided:
                result.append(piece.lower())
            else:
                result.append(recased[i] if recased[i] is not None else piece)
        out.append("".join(result))
    return " ".join(out)


# --------------------------------------------------------------------------- phone


@_memoized
def normalize_phone(value: object, country: str | None = None) -> str | None:
    """Return the phone number in E.164 form ("+33612345678"), or ``None``.

    ``country`` (ISO alpha-2, or anything :func:`normalize_country` understands)
    is the default region for numbers written without an international prefix;
    a leading ``00`` is read as ``+``. Numbers that ``phonenumbers`` does not
    consider valid for their region give ``None``; extensions are dropped.
    """
    text = clean_text(value)
    if text is None:
        return None
    if text.startswith("00"):
        text = "+" + text[2:]
    region = normalize_country(country) if country else None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --------------------------------------------------------------------------- country

# alpha-2 -> (alpha-3, names and aliases in English, French and the local language).
_COUNTRIES: dict[str, tuple[str, tuple[str, ...]]] = {
    # European Union
    "AT": ("AUT", ("Austria", "Autriche", "Österreich")),
    "BE": ("BEL", ("Belgium", "Belgique", "België", "Belgien")),
    "BG": ("BGR", ("Bulgaria", "Bulgarie")),
    "HR": ("HRV", ("Croatia", "Croatie", "Hrvatska")),
    "CY": ("CYP", ("Cyprus", "Chypre")),
    "CZ": ("CZE", ("Czech Republic", "Czechia", "République tchèque", "Tchéquie", "Česko",
                   "Česká republika")),
    "DK": ("DNK", ("Denmark", "Danemark", "Danmark")),
    "EE": ("EST", ("Estonia", "Estonie", "Eesti")),
    "FI": ("FIN", ("Finland", "Finlande", "Suomi")),
    "FR": ("FRA", ("France", "République française", "France métropolitaine")),
    "DE": ("DEU", ("Germany", "Allemagne", "Deutschland", "Federal Republic of Germany")),
    "GR": ("GRC", ("Greece", "Grèce", "Hellas", "Ellada")),
    "HU": ("HUN", ("Hungary", "Hongrie", "Magyarország")),
    "IE": ("IRL", ("Ireland", "Republic of Ireland", "Irlande", "Éire", "Eire")),
    "IT": ("ITA", ("Italy", "Italie", "Italia")),
    "LV": ("LVA", ("Latvia", "Lettonie", "Latvija")),
    "LT": ("LTU", ("Lithuania", "Lituanie", "Lietuva")),
    "LU": ("LUX", ("Luxembourg", "Luxemburg", "Lëtzebuerg", "Grand-Duché de Luxembourg")),
    "MT": ("MLT", ("Malta", "Malte")),
    "NL": ("NLD", ("Netherlands", "The Netherlands", "Pays-Bas", "Nederland", "Holland", "Hollande")),
    "PL": ("POL", ("Poland", "Pologne", "Polska")),
    "PT": ("PRT", ("Portugal",)),
    "RO": ("ROU", ("Romania", "Roumanie", "România")),
    "SK": ("SVK", ("Slovakia", "Slovaquie", "Slovensko")),
    "SI": ("SVN", ("Slovenia", "Slovénie", "Slovenija")),
    "ES": ("ESP", ("Spain", "Espagne", "España")),
    "SE": ("SWE", ("Sweden", "Suède", "Sverige")),
    # EEA outside the EU, EFTA, UK, European microstates
    "IS": ("ISL", ("Iceland", "Islande", "Ísland")),
    "LI": ("LIE", ("Liechtenstein",)),
    "NO": ("NOR", ("Norway", "Norvège", "Norge")),
    "CH": ("CHE", ("Switzerland", "Suisse", "Schweiz", "Svizzera", "Confédération suisse",
                   "Confederation helvetique")),
    "GB": ("GBR", ("United Kingdom", "UK", "U.K.", "Great Britain", "Britain", "England", "Scotland",
                   "Wales", "Northern Ireland", "Royaume-Uni", "Grande-Bretagne", "Angleterre",
                   "Écosse", "Pays de Galles", "Irlande du Nord",
                   "United Kingdom of Great Britain and Northern Ireland")),
    "MC": ("MCO", ("Monaco",)),
    "AD": ("AND", ("Andorra", "Andorre")),
    "SM": ("SMR", ("San Marino", "Saint-Marin")),
    "VA": ("VAT", ("Vatican", "Holy See", "Saint-Siège")),
    # Other Europe
    "RS": ("SRB", ("Serbia", "Serbie")),
    "UA": ("UKR", ("Ukraine",)),
    "TR": ("TUR", ("Turkey", "Türkiye", "Turquie")),
    "RU": ("RUS", ("Russia", "Russian Federation", "Russie")),
    # North America
    "US": ("USA", ("United States", "United States of America", "US", "U.S.", "U.S.A.", "America",
                   "États-Unis", "États-Unis d'Amérique", "Amérique")),
    "CA": ("CAN", ("Canada",)),
    "MX": ("MEX", ("Mexico", "Mexique", "México")),
    # North Africa and French-speaking Africa
    "MA": ("MAR", ("Morocco", "Maroc")),
    "DZ": ("DZA", ("Algeria", "Algérie")),
    "TN": ("TUN", ("Tunisia", "Tunisie")),
    "LY": ("LBY", ("Libya", "Libye")),
    "EG": ("EGY", ("Egypt", "Égypte")),
    "MR": ("MRT", ("Mauritania", "Mauritanie")),
    "SN": ("SEN", ("Senegal", "Sénégal")),
    "CI": ("CIV", ("Côte d'Ivoire", "Cote d'Ivoire", "Ivory Coast")),
    "CM": ("CMR", ("Cameroon", "Cameroun")),
    "MU": ("MUS", ("Mauritius", "Maurice", "Île Maurice")),
    "ZA": ("ZAF", ("South Africa", "Afrique du Sud")),
    # Middle East, Asia-Pacific, South America
    "AE": ("ARE", ("United Arab Emirates", "UAE", "Émirats arabes unis", "EAU")),
    "SA": ("SAU", ("Saudi Arabia", "Arabie saoudite")),
    "QA": ("QAT", ("Qatar",)),
    "IL": ("ISR", ("Israel", "Israël")),
    "LB": ("LBN", ("Lebanon", "Liban")),
    "IN": ("IND", ("India", "Inde")),
    "CN": ("CHN", ("China", "Chine", "People's Republic of China")),
    "HK": ("HKG", ("Hong Kong",)),
    "JP": ("JPN", ("Japan", "Japon")),
    "KR": ("KOR", ("South Korea", "Korea", "Republic of Korea", "Corée du Sud", "Corée")),
    "SG": ("SGP", ("Singapore", "Singapour")),
    "AU": ("AUS", ("Australia", "Australie")),
    "NZ": ("NZL", ("New Zealand", "Nouvelle-Zélande")),
    "BR": ("BRA", ("Brazil", "Brésil", "Brasil")),
    "AR": ("ARG", ("Argentina", "Argentine")),
    "CL": ("CHL", ("Chile", "Chili")),
    "CO": ("COL", ("Colombia", "Colombie")),
}


def _country_key(value: str) -> str:
    key = _words_key(value)
    key = key.removeprefix("the ")
    return key.replace(" ", "")


def _build_country_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for alpha2, (alpha3, names) in _COUNTRIES.items():
        for name in (alpha2, alpha3, *names):
            key = _country_key(name)
            if lookup.setdefault(key, alpha2) != alpha2:
                raise ValueError(f"country alias {name!r} is ambiguous ({lookup[key]} and {alpha2})")
    return lookup


_COUNTRY_LOOKUP: dict[str, str] = _build_country_lookup()
#: Every ISO 3166-1 alpha-2 code phonenumbers knows (so rare codes like "KE" still pass).
_ISO_ALPHA2: frozenset[str] = frozenset(phonenumbers.SUPPORTED_REGIONS) | frozenset(_COUNTRIES)


@_memoized
def normalize_country(value: object) -> str | None:
    """Return the ISO 3166-1 alpha-2 code ("FR") for a country value, or ``None``.

    Understands alpha-2 codes (any ISO code, any case; "UK" -> "GB"), alpha-3
    codes of the countries in the table ("FRA"), and English, French and local
    names and aliases ("Allemagne", "Deutschland", "Royaume-Uni", "England",
    "Etats Unis", "Holland") regardless of case, accents, punctuation and
    spacing. Unknown values give ``None``.
    """
    text = clean_text(value)
    if text is None:
        return None
    if len(text) == 2 and text.isascii() and text.isalpha() and text.upper() in _ISO_ALPHA2:
        return text.upper()
    return _COUNTRY_LOOKUP.get(_country_key(text))


# --------------------------------------------------------------------------- company

#: Legal-form and grouping words dropped from the end of company names.
_COMPANY_SUFFIXES = frozenset({
    "sa", "sas", "sasu", "sarl", "eurl", "sci", "gmbh", "ag", "kg", "bv", "nv", "srl", "spa", "sl",
    "ltd", "limited", "llc", "inc", "incorporated", "corp", "corporation", "co", "plc", "oy", "ab",
    "as", "group", "groupe",
})
_COMPANY_SUFFIXES |= frozenset({
    "ug", "ohg", "ev", "kgaa", "se", "sprl", "bvba", "srl", "sro", "as", "aps", "asa", "oyj", "spzoo",
    "kft", "zrt", "lda", "ltda", "pte", "pty", "kk", "doo", "sca", "scs", "snc", "scop", "selarl", "spa",
})
#: Legal forms written as several words once dots are gone ("Sp. z o.o." -> "sp z oo").
_COMPANY_SUFFIX_SEQUENCES: tuple[tuple[str, ...], ...] = tuple(sorted({
    ("sp", "z", "oo"), ("sp", "k"), ("s", "a"), ("s", "r", "l"), ("s", "p", "a"), ("s", "l"), ("b", "v"),
    ("n", "v"), ("a", "g"), ("co", "kg"), ("s", "a", "s"), ("s", "a", "r", "l"), ("pty", "ltd"),
    ("pte", "ltd"), ("sa", "de", "cv"), ("s", "r", "o"), ("a", "s"), ("e", "v"),
}, key=len, reverse=True))
_COMPANY_PREFIXES = frozenset({"groupe", "group"})


@_memoized
def company_key(value: object) -> str | None:
    """Return a matching key for a company name, or ``None`` if empty.

    Casefolded, accents stripped, dots and apostrophes removed ("S.A." -> "sa",
    "L'Oréal" -> "loreal"), other
    punctuation turned into spaces, legal suffixes ("SA", "SAS", "GmbH", "Inc",
    "Ltd", "Group"...) dropped from the end (repeatedly) and "Groupe"/"Group"
    from the start, spaces collapsed: "Société Générale S.A." -> "societe generale",
    "ACME, Inc." -> "acme". A name made only of such words is kept whole
    ("SAS" -> "sas") rather than emptied.
    """
    text = clean_text(value)
    if text is None:
        return None
    folded = re.sub(r"[.'\u2019]", "", fold(text)).replace("&", " ")
    tokens = re.sub(r"[^0-9a-z]+", " ", folded).split()
    if not tokens:
        return None
    kept = list(tokens)
    while kept:
        if kept[-1] in _COMPANY_SUFFIXES:
            kept.pop()
            continue
        seq = next((q for q in _COMPANY_SUFFIX_SEQUENCES if len(kept) > len(q) and tuple(kept[-len(q):]) == q), None)
        if seq is None:
            break
        del kept[-len(seq):]
    while len(kept) > 1 and kept[0] in _COMPANY_PREFIXES:
        kept.pop(0)
    return " ".join(kept or tokens)


# --------------------------------------------------------------------------- job title

SENIORITIES = ("c_level", "vp", "director", "manager", "individual", "student", "intern")
DEPARTMENTS = (
    "executive", "sales", "marketing", "it", "engineering", "finance", "hr", "operations", "product",
    "customer_success", "legal", "purchasing",
)


def _title_regex(patterns: list[str]) -> re.Pattern[str]:
    """One word-bounded regex over titles normalized by :func:`_words_key`."""
    return re.compile(r"\b(?:" + "|".join(patterns) + r")\b")


# Patterns are regex fragments matched against the accent-free, lower-case title
# whose punctuation became single spaces ("Vice-Président" -> "vice president").
# The first table that matches wins, so more specific tables come first.
_SENIORITY_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("intern", _title_regex([
        r"intern", r"internship", r"stagiaire", r"alternante?", r"alternance", r"apprentie?",
        r"apprentice", r"trainee", r"werkstudent",
    ])),
    ("student", _title_regex([
        r"students?", r"etudiante?s?", r"doctorante?", r"phd candidate", r"eleve", r"lyceene?",
    ])),
    ("c_level", _title_regex([
        r"ceo", r"cfo", r"coo", r"cto", r"cio", r"cmo", r"ciso", r"cdo", r"cro", r"cpo", r"chro",
        r"cso", r"cco", r"chief(?: [a-z]+){1,3} officer", r"chief executive", r"pdg", r"dg", r"dga",
        r"president directeur general", r"directeur general", r"directrice generale",
        r"(?<!vice )presidente?", r"(?:co )?founder", r"cofounder", r"(?:co )?fondat(?:eur|rice)",
        r"owner", r"proprietaire", r"gerante?", r"managing director", r"managing partner",
        r"associee? gerante?", r"geschaftsfuhrer(?:in)?", r"geschaftsfuhrung", r"vorstand\w*",
        r"inhaber(?:in)?",
    ])),
    ("vp", _title_regex([
        r"vp", r"svp", r"evp", r"avp", r"vice presidente?", r"vice pres",
    ])),
    ("director", _title_regex([
        r"directors?", r"directeurs?", r"directrices?", r"dir", r"head(?: of)?", r"daf", r"drh", r"dsi",
        r"rssi", r"dircom", r"general manager", r"country manager",
        # German compounds: Leiter IT, Vertriebsleiterin, Abteilungsleiter (not team/project leads)
        r"(?!team|gruppen|projekt)\w*leiter(?:in)?", r"bereichsleitung", r"direktor(?:in)?",
    ])),
    # Titles with "manager" in them that are individual contributors.
    ("individual", _title_regex([
        r"(?:key )?account manager", r"community manager", r"customer success manager",
    ])),
    ("manager", _title_regex([
        r"managers?", r"mgr", r"responsables?", r"chef", r"cheffe", r"lead(?! gen)", r"team leader", r"leader",
        r"supervisor", r"superviseur", r"superviseuse", r"encadrante?",
        r"(?:team|gruppen|projekt)leiter(?:in)?",
    ])),
    ("individual", _title_regex([
        r"engineers?", r"ingenieure?s?", r"developers?", r"developpeur", r"developpeuse", r"dev",
        r"programmer", r"programmeur", r"analysts?", r"analyste", r"consultante?", r"specialist",
        r"specialiste", r"associate", r"assistante?", r"technicien(?:ne)?", r"technician",
        r"comptable", r"accountant", r"acheteur", r"acheteuse", r"buyer", r"juriste", r"lawyer",
        r"avocate?", r"commerciale?", r"chargee? d", r"chargee? de", r"coordinat(?:or|eur|rice)",
        r"representative", r"rep", r"sdr", r"bdr", r"account executive", r"business developer",
        r"designer", r"architecte?", r"scientist", r"conseill(?:er|ere)", r"gestionnaire",
        r"administrat(?:or|eur|rice)", r"officer", r"agent", r"operat(?:or|eur|rice)",
        r"employee?", r"recruiter", r"recruteur", r"recruteuse", r"controleur", r"controller",
        r"auditeur", r"auditor", r"attachee?", r"delegue", r"deleguee",
        r"\w*entwickler(?:in)?", r"\w*ingenieur(?:in)?", r"berater(?:in)?", r"sachbearbeiter(?:in)?",
        r"referent(?:in)?", r"mitarbeiter(?:in)?", r"\w*verkaufer(?:in)?", r"\w*einkaufer(?:in)?",
    ])),
]

_DEPARTMENT_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("executive", _title_regex([
        r"ceo", r"chief executive", r"pdg", r"dg", r"dga", r"president directeur general",
        r"directeur general", r"directrice generale", r"(?<!vice )presidente?", r"(?:co )?founder",
        r"cofounder", r"(?:co )?fondat(?:eur|rice)", r"owner", r"proprietaire", r"gerante?",
        r"managing director", r"general manager", r"country manager", r"direction generale",
        r"geschaftsfuhr\w*", r"vorstand\w*", r"inhaber(?:in)?",
    ])),
    # Before engineering: "Ingénieur commercial" and "Ingénieur d'affaires" are sales.
    ("sales", _title_regex([
        r"sales", r"ventes?", r"commerciale?", r"commerciaux", r"business development",
        r"business developer", r"business dev", r"biz dev", r"developpement commercial",
        r"account executive", r"(?:key )?account manager", r"key accounts?", r"kam", r"grands comptes",
        r"sdr", r"bdr", r"ingenieure? d affaires", r"chargee? d affaires", r"cro", r"chief revenue",
        r"revenue", r"avant vente", r"presales", r"pre sales", r"inside sales", r"vendeur", r"vendeuse",
        r"vertrieb\w*", r"verkauf\w*", r"\w*verkaufer(?:in)?", r"au(?:ss|ß)endienst\w*",
    ])),
    # Before product: "Product Marketing Manager" is marketing.
    ("marketing", _title_regex([
        r"marketing", r"cmo", r"demand gen(?:eration)?", r"growth", r"communications?", r"dircom",
        r"brand", r"marque", r"content", r"contenu", r"seo", r"sem", r"community manager",
        r"evenementiel", r"events?", r"relations presse", r"public relations", r"webmarketing",
        r"lead gen(?:eration)?", r"marketing\w*",
    ])),
    ("finance", _title_regex([
        r"daf", r"cfo", r"finance", r"financial", r"financiere?", r"comptables?", r"comptabilite",
        r"accountant", r"accounting", r"controller", r"controleur de gestion", r"controle de gestion",
        r"tresorier", r"tresoriere", r"treasurer", r"treasury", r"audit", r"auditor", r"auditeur",
        r"fiscal", r"fiscalite", r"tax", r"administratif et financier", r"finanz\w*", r"buchhalt\w*",
        r"controlling",
    ])),
    ("hr", _title_regex([
        r"drh", r"rh", r"hr", r"hrbp", r"chro", r"ressources humaines", r"human resources",
        r"recruiter", r"recruteur", r"recruteuse", r"recrutement", r"recruitment", r"recruiting",
        r"talent(?: acquisition)?", r"people", r"paie", r"payroll", r"formation", r"training",
        r"personal\w*",
    ])),
    ("legal", _title_regex([
        r"juriste", r"legal", r"juridique", r"avocate?", r"lawyer", r"attorney", r"counsel",
        r"general counsel", r"compliance", r"conformite", r"dpo", r"data protection", r"paralegal", r"notaire",
    ])),
    ("purchasing", _title_regex([
        r"acheteur", r"acheteuse", r"achats?", r"purchasing", r"purchaser", r"procurement", r"buyer",
        r"sourcing", r"approvisionnement", r"approvisionneur", r"einkauf\w*", r"\w*einkaufer(?:in)?",
    ])),
    # Before engineering and customer success: "Support informatique", "Architecte SI".
    ("it", _title_regex([
        r"dsi", r"cio", r"rssi", r"ciso", r"it", r"si", r"informatique", r"information technology",
        r"systemes? d information", r"information systems?", r"sysadmin", r"system administrator",
        r"administrat(?:eur|rice) systemes?(?: et reseaux?)?", r"reseaux?", r"network",
        r"infrastructure", r"helpdesk", r"help desk", r"cyber ?security", r"cybersecurite",
        r"securite informatique", r"it security",
    ])),
    ("engineering", _title_regex([
        r"cto", r"engineers?", r"engineering", r"ingenieure?s?", r"ingenierie", r"developers?",
        r"developpeur", r"developpeuse", r"developpement", r"dev", r"devops", r"sre", r"software",
        r"logiciel", r"programmer", r"programmeur", r"r d", r"recherche et developpement",
        r"research", r"data scientist", r"data engineer", r"machine learning", r"ml", r"qa",
        r"technique", r"technical", r"technology", r"bureau d etudes", r"architecte?", r"full ?stack",
        r"back ?end", r"front ?end", r"\w*entwickl\w*", r"software\w*", r"\w*ingenieur(?:in)?",
    ])),
    ("product", _title_regex([
        r"product", r"produit", r"chef de produit", r"cpo", r"product owner", r"ux", r"ui",
        r"designer",
    ])),
    ("customer_success", _title_regex([
        r"customer success", r"csm", r"customer experience", r"relation client", r"relations clients?",
        r"service clients?", r"customer service", r"customer support", r"support", r"experience client",
        r"satisfaction client", r"onboarding", r"customer care",
    ])),
    ("operations", _title_regex([
        r"operations?", r"ops", r"coo", r"operationnel(?:le)?s?", r"logistique",
        r"logistics", r"supply chain", r"production", r"usine", r"plant", r"exploitation",
        r"services generaux", r"facility", r"facilities", r"qualite", r"quality", r"office manager",
    ])),
]


@_memoized
def title_to_seniority_department(title: object) -> tuple[str | None, str | None]:
    """Return ``(seniority, department)`` read from an English or French job title.

    ``seniority`` is one of :data:`SENIORITIES` (``"c_level"``, ``"vp"``,
    ``"director"``, ``"manager"``, ``"individual"``, ``"student"``,
    ``"intern"``) and ``department`` one of :data:`DEPARTMENTS`; either is
    ``None`` when the title says nothing about it. A title with a recognized
    department but no seniority word is ``"individual"``. Matching is on whole
    words, case- and accent-insensitive: "PDG" -> ("c_level", "executive"),
    "Head of Marketing" -> ("director", "marketing"), "Responsable Marketing"
    -> ("manager", "marketing"), "DAF" -> ("director", "finance"),
    "Chef de projet" -> ("manager", None), "Stagiaire" -> ("intern", None).
    """
    text = clean_text(title)
    if text is None:
        return None, None
    key = _words_key(text)
    seniority = next((name for name, rx in _SENIORITY_RULES if rx.search(key)), None)
    department = next((name for name, rx in _DEPARTMENT_RULES if rx.search(key)), None)
    if seniority is None and department is not None:
        seniority = "individual"
    return seniority, department


# --------------------------------------------------------------------------- website

_LABEL_CHAR = r"[a-z0-9\u00a0-\uffff]"  # ASCII letters/digits or any non-ASCII (IDN) character
_HOSTNAME = re.compile(
    rf"^(?=.{{1,253}}$)(?:{_LABEL_CHAR}(?:[a-z0-9\u00a0-\uffff-]{{0,61}}{_LABEL_CHAR})?\.)+"
    r"[a-z\u00a0-\uffff][a-z0-9\u00a0-\uffff-]*$"
)


def domain_from_website(value: object) -> str | None:
    """Return the registrable-looking host of a website value, or ``None``.

    Scheme, credentials, port, path, query and a leading ``www.`` (or ``www2.``...)
    are dropped and the host is lower-cased: "https://www.Acme.fr/contact" ->
    "acme.fr", "acme.fr" -> "acme.fr". Values that do not contain a dotted host
    name (``"n/a"``, ``"localhost"``, ``"not a url"``) give ``None``. Other
    subdomains are kept ("shop.acme.fr").
    """
    text = clean_text(value)
    if text is None or " " in text:
        return None
    if "://" not in text:
        text = "http://" + text.lstrip("/")
    try:
        host = urlsplit(text).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.rstrip(".").lower()
    host = re.sub(r"^www\d*\.", "", host)
    if not _HOSTNAME.match(host):
        return None
    return host
