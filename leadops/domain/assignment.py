"""What an assignment implies besides the SDR: the fields routing matches on, the SLA policy, and the words
that tell the SDR (or the managers, when nobody can take the lead).

Pure: the caller passes the lead's column values, the roster person's name and time zone, and
the due instant it computed on that person's business calendar.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo

from leadops.domain.routing import segment_of


class Matching(Protocol):
    """A rule-file entry that applies to the leads whose fields match its ``when`` (an SLA policy)."""

    @property
    def when(self) -> Mapping[str, Collection[Any]]: ...


P = TypeVar("P", bound=Matching)


def lead_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return the fields routing rules and SLA policies match on, from one lead's column values (grain: one lead).

    Every column stays matchable (country, language, source, industry, campaign...); added:
    ``segment`` (from the employee band), ``fit_grade`` (the grade's letter, D when unscored)
    and ``is_hand_raiser`` as a plain bool.
    """
    fields = dict(values)
    fields["segment"] = segment_of(fields.get("employee_band"))
    fields["fit_grade"] = (fields.get("grade") or "D")[0]
    fields["is_hand_raiser"] = bool(fields.get("is_hand_raiser"))
    return fields


def policy_for(fields: Mapping[str, Any], policies: Sequence[P]) -> P:
    """Return the first policy whose ``when`` matches the lead's fields; the last policy is the default."""
    for p in policies:
        if all(fields.get(k) in v for k, v in p.when.items()):
            return p
    return policies[-1]


class PolicyPicker(Generic[P]):
    """``policy_for`` over a pass's leads, decided once per distinct combination of the fields the policies
    match on (a pass of thousands of leads has a handful); returns what ``policy_for`` returns."""

    def __init__(self, policies: Sequence[P]) -> None:
        self.policies = policies
        self.keys = tuple(sorted({k for p in policies for k in p.when}))
        self.seen: dict[tuple[Any, ...], P] = {}

    def __call__(self, fields: Mapping[str, Any]) -> P:
        key = tuple(fields.get(k) for k in self.keys)
        try:
            return self.seen[key]
        except KeyError:
            policy = self.seen[key] = policy_for(fields, self.policies)
            return policy
        except TypeError:  # an unhashable value (a list): decided on its own
            return policy_for(fields, self.policies)


def _who(f: Mapping[str, Any]) -> str:
    first, last = f["first_name"], f["last_name"]
    return f"{first} {last}" if first and last else first or last or "a new lead"


def due_line(*, sdr_time_zone: str, policy: str, due: datetime) -> str:
    """Return the line of an assignment message saying by when the first touch is due (``due`` in the SDR's
    zone) and under which policy; one per (SDR, policy, due), shared by that SDR's leads of a pass."""
    return (f"First touch due by {due.astimezone(ZoneInfo(sdr_time_zone)):%a %d %b %H:%M} "
            f"({sdr_time_zone}), policy {policy}.\n")


def assignment_words(f: Mapping[str, Any], *, reason: str, sdr_name: str, due_text: str) -> tuple[str, str]:
    """Return the subject and body telling an SDR a lead (its fields ``f``) is theirs and why, ending with
    ``due_text`` (``due_line``)."""
    who = _who(f)
    company = f["company"] or f["email_domain"]
    subject = f"[leadops] New lead for you: {who} ({company})"
    body = (f"Hello {sdr_name},\n\nLead #{f['id']} is yours: {who}, {f['job_title'] or 'title unknown'} at "
            f"{company} ({f['country'] or 'country unknown'}), grade {f['grade']}.\nWhy you: {reason}.\n{due_text}")
    return subject, body


def assignment_message(f: Mapping[str, Any], *, reason: str, sdr_name: str, sdr_time_zone: str, policy: str,
                       due: datetime) -> tuple[str, str]:
    """Return the subject and body telling an SDR a lead (its fields ``f``) is theirs, why, and by when
    (``due`` shown in the SDR's own time zone)."""
    return assignment_words(f, reason=reason, sdr_name=sdr_name,
                            due_text=due_line(sdr_time_zone=sdr_time_zone, policy=policy, due=due))


def unroutable_subject(f: Mapping[str, Any]) -> str:
    """Return the subject of the alert telling a manager a lead could not be routed."""
    return f"[leadops] Lead #{f['id']} could not be routed"


def unroutable_body(manager_name: str, f: Mapping[str, Any], reason: str) -> str:
    """Return the body of the alert telling a manager a lead is in the fallback queue, why, and what to do."""
    return (f"Hello {manager_name},\n\nLead #{f['id']} ({f['company'] or f['email_domain']}, "
            f"{f['country'] or 'country unknown'}) is in the fallback queue: {reason}.\n"
            f"`leadops explain {f['id']}` shows every candidate considered; `leadops reassign {f['id']} "
            f"--to SDR` assigns it by hand.\n")
