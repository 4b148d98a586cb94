"""Enrichment decisions: which providers a waterfall asks, and what the lead keeps of their answers.

Pure: providers are reached through the ``ask`` function the caller passes (the service wraps the
cache and the HTTP lookup in it), so the order, the stopping rule, the field precedence and the
status of a domain are decided here without any IO.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

#: one provider's verdict on one subject: it knows the company (hit), does not (miss), or failed (error)
LookupStatus = Literal["hit", "miss", "error"]

#: the person fields a person lookup may fill on a lead (blanks only)
PERSON_FIELDS: tuple[str, ...] = ("job_title", "seniority", "department")
#: a person waterfall stops once these are known (they count in the fit score)
PERSON_REQUIRED: tuple[str, ...] = ("seniority", "department")


@dataclass(frozen=True)
class LookupResult:
    """One provider's answer for one subject (a domain, or a person's email): its status and the fields it knows."""

    status: LookupStatus
    fields: dict[str, Any] = field(default_factory=dict)
    confidence: float = 1.0
    error: str | None = None


@dataclass(frozen=True)
class Answer:
    """What one provider said about one subject during a waterfall, and whether it came from the cache."""

    provider: str
    result: LookupResult
    from_cache: bool = False


class EnrichmentStatus(StrEnum):
    """A lead's enrichment outcome; its value is what ``leads.enrichment_status`` holds."""

    ENRICHED = "enriched"  # every required field filled
    PARTIAL = "partial"  # some fields, not every required one
    MISS = "miss"  # every provider answered, none knew the company
    ERROR = "error"  # a provider failed and nothing was found: retried next run
    SKIPPED = "skipped"  # free email address: no company to look up


#: how good an outcome is: a refresh never makes a lead's enrichment worse than it was
RANK: Mapping[EnrichmentStatus, int] = {
    EnrichmentStatus.ENRICHED: 3, EnrichmentStatus.PARTIAL: 2, EnrichmentStatus.MISS: 1, EnrichmentStatus.ERROR: 0,
}
#: outcomes a later pass looks at again once they are older than the TTL
REFRESHABLE: tuple[EnrichmentStatus, ...] = (EnrichmentStatus.ENRICHED, EnrichmentStatus.PARTIAL, EnrichmentStatus.MISS)


@dataclass(frozen=True)
class Combined:
    """One subject's enrichment from all its answers: the status, each field's value and the provider it came from."""

    status: EnrichmentStatus
    values: dict[str, Any]
    source: dict[str, str]


def has_value(value: Any) -> bool:
    """True when a provider's field value says something (None, "" and [] say nothing)."""
    return value not in (None, "", [])


def replaceable_by(status: EnrichmentStatus) -> tuple[EnrichmentStatus, ...]:
    """Return the stored outcomes a lead may have and still take ``status`` (none better; an error always)."""
    no_worse = tuple(st for st, rank in RANK.items() if rank <= RANK[status])
    return no_worse if EnrichmentStatus.ERROR in no_worse else (*no_worse, EnrichmentStatus.ERROR)


def waterfall(providers: Sequence[str], ask: Callable[[str], Answer], required: Collection[str]) -> list[Answer]:
    """Ask ``providers`` in order until every ``required`` field has a value; returns one answer per provider asked.

    ``ask(name)`` returns the provider's answer (cached or fresh) and never raises: a provider
    that fails answers ``error``, and the waterfall goes on to the next one.
    """
    answers: list[Answer] = []
    filled: set[str] = set()
    for name in providers:
        answer = ask(name)
        answers.append(answer)
        filled |= {k for k, v in answer.result.fields.items() if has_value(v)}
        if all(k in filled for k in required):
            break
    return answers


def combine(answers: Sequence[Answer], precedence: Mapping[str, Sequence[str]], required: Collection[str]) -> Combined:
    """Return one subject's status, field values and field -> provider from its waterfall's answers.

    Per field, the first provider in ``precedence[field]`` that has a value wins, else the first
    in waterfall order. Status: enriched (required fields filled), partial (some fields), miss
    (every provider answered, none knew), error (a provider failed and nothing was found).
    """
    order = [a.provider for a in answers]
    by_name = {a.provider: a.result for a in answers}
    values: dict[str, Any] = {}
    source: dict[str, str] = {}
    for fld in dict.fromkeys(k for a in answers for k in a.result.fields):  # first-seen order: deterministic
        preferred = precedence.get(fld, [])
        ranked = [n for n in preferred if n in by_name] + [n for n in order if n not in preferred]
        for name in ranked:
            v = by_name[name].fields.get(fld)
            if has_value(v):
                values[fld], source[fld] = v, name
                break
    if values:
        status = EnrichmentStatus.ENRICHED if all(has_value(values.get(k)) for k in required) else EnrichmentStatus.PARTIAL
    elif any(a.result.status == "error" for a in answers):
        status = EnrichmentStatus.ERROR
    else:
        status = EnrichmentStatus.MISS
    return Combined(status, values, source)


def first_values(answers: Iterable[Answer]) -> dict[str, Any]:
    """Return each field's first value in waterfall order (a person lookup has no precedence rules)."""
    values: dict[str, Any] = {}
    for a in answers:
        for k, v in a.result.fields.items():
            if has_value(v):
                values.setdefault(k, v)
    return values


def person_fields_to_fill(current: Mapping[str, Any], found: Mapping[str, Any]) -> dict[str, Any]:
    """Return the person fields (of PERSON_FIELDS) a lead takes from a person lookup: only its blanks.

    A lead's own values (from its job title at intake) are never replaced.
    """
    return {k: found[k] for k in PERSON_FIELDS if has_value(found.get(k)) and current.get(k) is None}
