"""What an assignment implies besides the SDR: the fields routing matches on, the SLA policy, and the words
that tell the SDR (or the managers, when nobody can take the lead).

Pure: the caller passes the lead's column values, the roster person's name and time zone, and
the due instant it computed on that person's business calendar.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar
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


def _who(f: Mapping[str, Any]) -> str:
    return " ".join(x for x in (f["first_name"], f["last_name"]) if x) or "a new lead"


def assignment_message(f: Mapping[str, Any], *, reason: str, sdr_name: str, sdr_time_zone: str, policy: str,
                       due: datetime) -> tuple[str, str]:
    """Return the subject and body telling an SDR a lead (its fields ``f``) is theirs, why, and by when
    (``due`` shown in the SDR's own time zone)."""
    who = _who(f)
    company = f["company"] or f["email_domain"]
    subject = f"[leadops] New lead for you: {who} ({company})"
    body = (f"Hello {sdr_name},\n\nLead #{f['id']} is yours: {who}, {f['job_title'] or 'title unknown'} at "
            f"{company} ({f['country'] or 'country unknown'}), grade {f['grade']}.\n"
            f"Why you: {reason}.\nFirst touch due by {due.astimezone(ZoneInfo(sdr_time_zone)):%a %d %b %H:%M} "
            f"({sdr_time_zone}), policy {policy}.\n")
    return subject, body


def unroutable_subject(f: Mapping[str, Any]) -> str:
    """Return the subject of the alert telling a manager a lead could not be routed."""
    return f"[leadops] Lead #{f['id']} could not be routed"


def unroutable_body(manager_name: str, f: Mapping[str, Any], reason: str) -> str:
    """Return the body of the alert telling a manager a lead is in the fallback queue, why, and what to do."""
    return (f"Hello {manager_name},\n\nLead #{f['id']} ({f['company'] or f['email_domain']}, "
            f"{f['country'] or 'country unknown'}) is in the fallback queue: {reason}.\n"
            f"`leadops explain {f['id']}` shows every candidate considered; `leadops reassign {f['id']} "
            f"--to SDR` assigns it by hand.\n")
