"""Text helpers of the sample: accent folding, company keys and names, email local parts."""
from __future__ import annotations

import unicodedata

from leadops.domain import normalize
from leadops.seed.reference import LEGAL_FORMS

_TRANSLIT = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe",
                           "Œ": "OE", "đ": "d", "ı": "i"})


def ascii_fold(text: str) -> str:
    """Return ``text`` without accents (Ł→L, ø→o, ß→ss as well)."""
    text = unicodedata.normalize("NFKD", text.translate(_TRANSLIT))
    return "".join(c for c in text if not unicodedata.combining(c))


def company_key(name: str) -> str:
    """Return the matching key of a company name: the pipeline's own key (normalize.company_key),
    so seeded accounts and leads match what ingestion computes; casefold as a fallback."""
    return normalize.company_key(name) or " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def strip_legal(name: str) -> str:
    """Return the company name without its legal form ("Cloudéa SAS" -> "Cloudéa")."""
    words = name.split()
    for n in (3, 1):  # "Sp. z o.o." is three words
        if len(words) > n and " ".join(words[-n:]).lower() in LEGAL_FORMS:
            return " ".join(words[:-n])
    if len(words) > 1 and words[0].lower() in LEGAL_FORMS:
        return " ".join(words[1:])
    return name


def slug(text: str, sep: str = "") -> str:
    """Return ``text`` as lower-case ASCII alphanumeric words joined by ``sep``."""
    words = ["".join(c for c in w if c.isalnum()) for w in ascii_fold(text).lower().replace("&", " ").split()]
    return sep.join(w for w in words if w)


def local_part(first: str, last: str, pattern: str) -> str:
    """Return the email local part of a person under the company's ``pattern`` (first.last, flast...)."""
    f, la = slug(first.replace("-", " "), "-") if "-" in first else slug(first), slug(last)
    return {"first.last": f"{f}.{la}", "flast": f"{f[0]}{la}", "firstlast": f"{f}{la}", "first": f}[pattern]
