"""Duplicate detection beyond exact email: the same person at the same company within one
email domain, by fuzzy similarity of name and company (rapidfuzz). Pure functions.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from leadops.domain.normalize import fold


@dataclass(frozen=True)
class Person:
    """What fuzzy matching compares: a key (lead id or batch row), domain, name (as :func:`match_name`
    gives it) and company key."""

    key: object
    domain: str
    name: str
    company: str | None


def person(key: object, domain: str, first: str | None, last: str | None, company_key: str | None) -> Person | None:
    """Return a comparable person, or None when there is not enough name to compare (no last name)."""
    name = match_name(first, last)
    return None if name is None else Person(key, domain, name, company_key)


def match_name(first: str | None, last: str | None) -> str | None:
    """Return the name fuzzy matching compares, or None without a last name: folded, lower-case
    words in sorted order ("élodie", "Dupont" -> "dupont elodie").

    Word order never counts (the score is rapidfuzz's token_sort_ratio); sorting the words once
    here lets :func:`best_match` compare with the plain ratio, 2.7x cheaper per pair.
    """
    if not last:
        return None
    return folded_match_name(fold(first) if first else None, fold(last))


def folded_match_name(first: str | None, last: str) -> str:
    """Return :func:`match_name` of names already folded (:func:`leadops.domain.normalize.fold`): for
    callers that fold each distinct name once."""
    words = (f"{first} {last}" if first else last).lower().split()
    return " ".join(sorted(words))


def similarity(a: Person, b: Person) -> float:
    """Return 0-100: name similarity (token order ignored) when the companies agree, else 0.

    Companies agree when both keys are equal, either is unknown, or they are near-identical.
    """
    if a.domain != b.domain:
        return 0.0
    if a.company and b.company and a.company != b.company and fuzz.ratio(a.company, b.company) < 90:
        return 0.0
    return fuzz.token_sort_ratio(a.name, b.name)


class DomainPeople:
    """The people of one email domain that fuzzy matching compares with: parallel lists, compact.

    Intake keeps one per domain for a whole file (a million-row file holds a million of them),
    so a person costs a name string and two references, not an object.
    """

    __slots__ = ("companies", "keys", "names")

    def __init__(self) -> None:
        self.keys: list[object] = []
        self.names: list[str] = []
        self.companies: list[str | None] = []

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, p: Person) -> int:
        """Append ``p``; returns its index (to re-key it once stored)."""
        return self.append(p.key, p.name, p.company)

    def append(self, key: object, name: str, company: str | None) -> int:
        """Append the person of ``key``, ``name`` (a match name) and ``company`` (key), without making a
        :class:`Person`; returns its index."""
        self.keys.append(key)
        self.names.append(name)
        self.companies.append(company)
        return len(self.keys) - 1

    def __getitem__(self, i: int) -> Person:
        return Person(self.keys[i], "", self.names[i], self.companies[i])

    def best(self, domain: str, name: str, company: str | None, threshold: float) -> tuple[object, float] | None:
        """Return :func:`best_match` of the person of ``domain``, ``name`` (a match name) and ``company`` among
        these people, or None; no :class:`Person` is made unless some name reaches ``threshold``.

        Intake asks this of most rows (~85k of 100k) and nearly every answer is None: the names' first
        pass alone (one rapidfuzz call) says so.
        """
        if process.extractOne(name, self.names, scorer=fuzz.ratio, score_cutoff=threshold) is None:
            return None
        return best_match(Person(None, domain, name, company), self, threshold)


def best_match(candidate: Person, pool: Sequence[Person] | DomainPeople, threshold: float) -> tuple[object, float] | None:
    """Return (key, score) of the most similar person in ``pool`` at or above ``threshold``, else None.

    Same answer as taking the first maximum of :func:`similarity` over ``pool``; the name scores
    are computed by rapidfuzz in one call (intake compares every new lead with its domain's people).
    A :class:`DomainPeople` pool holds people of the candidate's domain only.
    """
    if isinstance(pool, DomainPeople):
        names, same_domain = pool.names, True
    else:
        pool = pool if isinstance(pool, list) else list(pool)
        names, same_domain = [p.name for p in pool], False
    # names are match names (words sorted): the plain ratio is their token_sort_ratio
    hits = process.extract(candidate.name, names, scorer=fuzz.ratio, score_cutoff=threshold, limit=None)
    for _, _score, i in sorted(hits, key=lambda h: (-h[1], h[2])):  # best first, then pool order
        other = pool[i]
        if same_domain:
            other = Person(other.key, candidate.domain, other.name, other.company)
        agreed = similarity(candidate, other)  # 0 unless the domain and company agree too
        if agreed >= threshold:
            return other.key, agreed
    return None
