"""What the CRM clients hand to the sync: records as read, and the outcome of each record of a write."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class CrmRecord:
    """One CRM record as read (grain: one object record).

    ``object`` is the CRM's object name as configured ("contacts", "calls"; "Lead", "Task"), ``id`` its CRM id,
    ``modified_at`` its timezone-aware modification stamp (HubSpot ``lastmodifieddate`` /
    ``hs_lastmodifieddate``, Salesforce ``SystemModstamp``), ``properties`` the requested properties as the CRM
    returned them (text or None; numbers and booleans as the CRM's JSON text), ``associations`` the ids of
    associated records by object ("contacts": [...]) when the client read them.
    """

    object: str
    id: str
    modified_at: datetime
    properties: dict[str, str | None]
    associations: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordResult:
    """The outcome of writing one record (grain: one record of a batch write).

    ``ok`` when the CRM applied it; otherwise ``error`` is one line from the CRM (code and message, never a
    token) and ``retryable`` says whether sending it again later may succeed (a rate limit, an outage, a
    record lock) or not (a missing property, an invalid value, a deleted record). ``modified_at`` is the
    record's new modification stamp when the CRM returned it.
    """

    id: str
    ok: bool
    error: str | None = None
    retryable: bool = False
    modified_at: datetime | None = None
