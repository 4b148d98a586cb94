"""From CRM records to leadops rows, and from owners to SDRs: pure functions, no IO.

* A contact or lead becomes a :class:`~leadops.intake.reading.rows.RawRow` (``raw``: the CRM properties as read
  plus ``_crm_id``; ``fields``: the lead fields of the connector's ``columns``), so it goes through the same
  intake as a file row (normalization, the GX row suite, dedupe, quarantine with reasons).
* An engagement (HubSpot call, email, meeting, task; Salesforce Task, Event) becomes an activity (kind,
  outcome, when) or ``None`` when it is not a touch yet (an open task, a meeting not held).
* CRM owners map to SDR codes by the id in sdrs.yaml (``crm_ids``), else by email.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from leadops.crm.config import HubSpotConnector, SalesforceConnector
from leadops.crm.records import CrmRecord
from leadops.domain.normalize import clean_text
from leadops.intake.reading.rows import RawRow

Connector = HubSpotConnector | SalesforceConnector

#: the modification property the HubSpot search sorts and filters on, per object
HUBSPOT_ACTIVITY_PROPERTIES: dict[str, tuple[str, ...]] = {
    "calls": ("hs_timestamp", "hubspot_owner_id", "hs_call_title", "hs_call_disposition", "hs_call_status",
              "hs_call_direction"),
    "emails": ("hs_timestamp", "hubspot_owner_id", "hs_email_subject", "hs_email_direction", "hs_email_status"),
    "meetings": ("hs_timestamp", "hubspot_owner_id", "hs_meeting_title", "hs_meeting_start_time",
                 "hs_meeting_outcome"),
    "tasks": ("hs_timestamp", "hubspot_owner_id", "hs_task_subject", "hs_task_type", "hs_task_status",
              "hs_task_completion_date"),
}
SALESFORCE_ACTIVITY_FIELDS: dict[str, tuple[str, ...]] = {
    "Task": ("WhoId", "OwnerId", "Subject", "TaskSubtype", "Type", "Status", "IsClosed", "ActivityDate",
             "CompletedDateTime", "CreatedDate"),
    "Event": ("WhoId", "OwnerId", "Subject", "StartDateTime", "EndDateTime", "CreatedDate"),
}
#: Salesforce id prefixes of the objects an activity's WhoId points to
WHO_PREFIX = {"00Q": "Lead", "003": "Contact"}


@dataclass(frozen=True)
class ActivityFact:
    """One CRM engagement as a leadops activity (grain: one CRM activity record)."""

    kind: str  # call | email | linkedin | meeting | task
    outcome: str | None
    occurred_at: datetime
    scheduled_for: datetime | None
    detail: str


def columns_for(cfg: Connector, obj: str) -> dict[str, str]:
    """Return CRM property -> lead field for ``obj`` of ``cfg`` (Salesforce Contacts have their own)."""
    if isinstance(cfg, SalesforceConnector) and obj == "Contact":
        return cfg.contact_columns
    return cfg.columns


def read_properties(cfg: Connector, obj: str) -> list[str]:
    """Return the CRM properties to read for ``obj``: the mapped ones, the source property and the write-back ones."""
    props = [*columns_for(cfg, obj), *([cfg.source_property] if cfg.source_property else []),
             *cfg.write_back.fields.values()]
    return list(dict.fromkeys(props))


def lead_row(record: CrmRecord, cfg: Connector, row_number: int, default_source: str) -> RawRow:
    """Return one contact/lead record as an intake row (grain: one CRM record)."""
    raw: dict[str, Any] = dict(record.properties.items())
    raw["_crm_id"] = record.id
    fields = {field: clean_text(raw.get(prop)) for prop, field in columns_for(cfg, record.object).items()}
    source = cfg.source or default_source
    if cfg.source_property:
        value = clean_text(raw.get(cfg.source_property))
        source = cfg.source_values.get(value or "", source)
    fields["source"] = fields.get("source") or source
    if cfg.campaign and not fields.get("campaign"):
        fields["campaign"] = cfg.campaign
    return RawRow(row_number, {k: v for k, v in fields.items() if v is not None}, raw)


def seen_values(record: CrmRecord, cfg: Connector) -> dict[str, str | None]:
    """Return the write-back properties' values as the CRM holds them (property -> text)."""
    return {prop: record.properties.get(prop) for prop in cfg.write_back.fields.values()}


def page_digest(records: Iterable[CrmRecord]) -> str:
    """Return a stable digest of a page's content (ids, stamps, properties): the page's batch key."""
    import hashlib

    text = json.dumps([[r.object, r.id, r.modified_at.isoformat(), r.properties] for r in records],
                      sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def parse_time(value: str | None) -> datetime | None:
    """Return a CRM timestamp as an aware UTC datetime: ISO 8601 (``Z``, ``+0000`` or ``+00:00``), a bare date, or
    epoch milliseconds; None when empty or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _detail(*parts: str | None) -> str:
    return " - ".join(p for p in parts if p)[:500]


def hubspot_activity(obj: str, record: CrmRecord) -> ActivityFact | None:
    """Return a HubSpot engagement as an activity, or None when it is not a touch (an open task, no time)."""
    p = record.properties
    at = parse_time(p.get("hs_timestamp")) or record.modified_at
    if obj == "calls":
        return ActivityFact("call", (p.get("hs_call_status") or "").lower() or None, at, None,
                            _detail(p.get("hs_call_title"), "HubSpot call"))
    if obj == "emails":
        incoming = (p.get("hs_email_direction") or "").upper() == "INCOMING_EMAIL"
        return ActivityFact("email", "replied" if incoming else "sent", at, None,
                            _detail(p.get("hs_email_subject"), "HubSpot email"))
    if obj == "meetings":
        start = parse_time(p.get("hs_meeting_start_time"))
        return ActivityFact("meeting", (p.get("hs_meeting_outcome") or "").lower() or "scheduled", at, start,
                            _detail(p.get("hs_meeting_title"), "HubSpot meeting"))
    if obj == "tasks":
        if (p.get("hs_task_status") or "").upper() != "COMPLETED":
            return None  # a to-do, not a touch: read again when it is completed (its stamp moves)
        kind = {"CALL": "call", "EMAIL": "email", "LINKED_IN": "linkedin"}.get((p.get("hs_task_type") or "").upper(), "task")
        done = parse_time(p.get("hs_task_completion_date")) or at
        return ActivityFact(kind, "completed", done, None, _detail(p.get("hs_task_subject"), "HubSpot task"))
    raise ValueError(f"unknown HubSpot activity object {obj!r}")


def salesforce_activity(obj: str, record: CrmRecord) -> ActivityFact | None:
    """Return a Salesforce Task or Event as an activity, or None when it is not a touch (an open task)."""
    p = record.properties
    created = parse_time(p.get("CreatedDate")) or record.modified_at
    if obj == "Event":
        start = parse_time(p.get("StartDateTime"))
        return ActivityFact("meeting", "scheduled", created, start, _detail(p.get("Subject"), "Salesforce event"))
    if obj == "Task":
        subtype = (p.get("TaskSubtype") or "").lower()
        kind_of = (p.get("Type") or "").lower()
        kind = ("call" if "call" in (subtype, kind_of) else "email" if "email" in subtype or kind_of == "email"
                else "linkedin" if "linkedin" in subtype else "meeting" if kind_of == "meeting" else "task")
        closed = (p.get("IsClosed") or "").lower() == "true" or (p.get("Status") or "").lower() == "completed"
        if not closed:
            return None  # planned, not done (an open call task is not a touch): read again when it is closed
        at = parse_time(p.get("CompletedDateTime")) or created
        return ActivityFact(kind, (p.get("Status") or "").lower() or None, at, None,
                            _detail(p.get("Subject"), "Salesforce task"))
    raise ValueError(f"unknown Salesforce activity object {obj!r}")


def owner_codes(connector: str, people: Iterable[Any], owners: Mapping[str, str]) -> dict[str, str]:
    """Return CRM owner id -> SDR code: the ids people declare for ``connector`` in sdrs.yaml (``crm_ids``), then
    the owners whose email (case-insensitive) is a person's email."""
    by_email = {str(p.email).lower(): p.code for p in people}
    out = {oid: by_email[email.lower()] for oid, email in owners.items() if email and email.lower() in by_email}
    for p in people:
        oid = (getattr(p, "crm_ids", None) or {}).get(connector)
        if oid:
            out[str(oid)] = p.code
    return out
