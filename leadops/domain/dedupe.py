"""Duplicate detection beyond exact email: the same person at the same company within one
email domain, by fuzzy similarity of name and company (rapidfuzz). Pure functions.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz

from leadops.domain.normalize import fold


@dataclass(frozen=True)
class Person:
    """What fuzzy matching compares: a key (lead id or batch row), domain, folded name and company key."""

    key: object
    domain: str
    name: str
    company: str | None


def person(key: object, domain: str, first: str | None, last: str | None, company_key: str | None) -> Person | None:
    """Return a comparable person, or None when there is not enough name to compare (no last name)."""
    if not last:
        return None
    name = " ".join(fold(x).lower() for x in (first, last) if x)
    return Person(key, domain, name, company_key)


def similarity(a: Person, b: Person) -> float:
    """Return 0-100: name similarity (token order ignored) when the companies agree, else 0.

    Companies agree when both keys are equal, either is unknown, or they are near-identical.
    """
    if a.domain != b.domain:
        return 0.0
    if a.company and b.company and a.company != b.company and fuzz.ratio(a.company, b.company) < 90:
        return 0.0
    return fuzz.token_sort_ratio(a.name, b.name)


def best_match(candidate: Person, pool: Iterable[Person], threshold: float) -> tuple[object, float] | None:
    """Return (key, score) of the most similar person in ``pool`` at or above ``threshold``, else None."""
    best: tuple[object, float] | None = None
    for other in pool:
        score = similarity(candidate, other)
        if score >= threshold and (best is None or score > best[1]):
            best = (other.key, score)
    return best
