"""One interface over both CRMs for the sync: what to read, how an engagement becomes an activity, how to write.

:func:`connect` resolves a connector's credentials (Prefect block or environment), builds its rate limiters —
shared by every worker through the database on PostgreSQL, per process otherwise — and its client.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Protocol

from leadops.crm.config import HubSpotConnector, SalesforceConnector
from leadops.crm.mapping import (
    HUBSPOT_ACTIVITY_PROPERTIES, SALESFORCE_ACTIVITY_FIELDS, WHO_PREFIX, ActivityFact, hubspot_activity,
    read_properties, salesforce_activity,
)
from leadops.crm.records import CrmRecord, RecordResult
from leadops.db.repositories.enrichment import limiter_for
from leadops.providers.limits import RateLimiter

#: records per Bulk API 2.0 update job of a large Salesforce write-back (one job, a few requests, per chunk)
BULK_JOB = 10_000
#: the link kept from a HubSpot Leads-object record's contact to the lead (engagements point at contacts)
CONTACT_OF_LEAD = "contact_of_lead"


class Connection(Protocol):
    cfg: Any
    origin: str  # where records come from, for provenance (no secret)
    lead_objects: list[str]
    activity_objects: list[str]
    person_objects: ClassVar[list[str]]  # objects an engagement can point to

    def records(self, obj: str, since: datetime | None) -> Iterator[list[CrmRecord]]: ...
    def activities(self, obj: str, since: datetime | None) -> Iterator[list[tuple[CrmRecord, list[str]]]]: ...
    def activity(self, obj: str, record: CrmRecord) -> ActivityFact | None: ...
    def owner_property(self, obj: str) -> str: ...
    def write_batch(self, pending: int) -> int: ...
    def owners(self) -> dict[str, str]: ...
    def read_modified_at(self, obj: str, ids: Sequence[str]) -> dict[str, datetime]: ...
    def update(self, obj: str, updates: Mapping[str, Mapping[str, Any]]) -> list[RecordResult]: ...
    def usage(self) -> dict[str, Any]: ...
    def redact(self, text: str) -> str: ...


class HubSpotConnection:
    """A HubSpot portal through :class:`leadops.crm.hubspot.HubSpotClient`."""

    # engagements are associated with contacts: read as contacts, or as the contacts of Leads-object records
    person_objects: ClassVar[list[str]] = ["contacts", CONTACT_OF_LEAD]

    def __init__(self, cfg: HubSpotConnector, client: Any) -> None:
        self.cfg, self.client = cfg, client
        self.origin = cfg.base_url.rstrip("/") + "/crm/v3/objects"
        self.lead_objects: list[str] = list(cfg.objects)
        self.activity_objects: list[str] = list(cfg.activities)

    def records(self, obj: str, since: datetime | None) -> Iterator[list[CrmRecord]]:
        if obj != "leads":
            return self.client.search_modified(obj, read_properties(self.cfg, obj), since, page_size=self.cfg.page_size)
        return self._lead_objects(since)

    def _lead_objects(self, since: datetime | None) -> Iterator[list[CrmRecord]]:
        """Yield pages of Leads-object records, each carrying its contact's properties (a HubSpot lead holds the
        qualification; the person, email included, is its associated contact) and its own write-back properties."""
        own = list(self.cfg.write_back.fields.values())
        person = read_properties(self.cfg, "contacts")
        for page in self.client.search_modified("leads", own, since, page_size=self.cfg.page_size):
            linked = self.client.associations("leads", "contacts", [r.id for r in page])
            contacts = self.client.read_records("contacts", sorted({c for ids in linked.values() for c in ids}), person)
            out = []
            for r in page:
                c = next((contacts[i] for i in linked.get(r.id, []) if i in contacts), None)
                base = dict(c.properties) if c else {}
                out.append(CrmRecord("leads", r.id, r.modified_at, {**base, **{p: r.properties.get(p) for p in own}},
                                     {"contacts": [c.id]} if c else {}))
            yield out

    def activities(self, obj: str, since: datetime | None) -> Iterator[list[tuple[CrmRecord, list[str]]]]:
        for page in self.client.search_modified(obj, list(HUBSPOT_ACTIVITY_PROPERTIES[obj]), since,
                                                page_size=self.cfg.page_size):
            linked = self.client.associations(obj, "contacts", [r.id for r in page])
            yield [(r, linked.get(r.id, [])) for r in page]

    def activity(self, obj: str, record: CrmRecord) -> ActivityFact | None:
        return hubspot_activity(obj, record)

    def owner_property(self, obj: str) -> str:
        return "hubspot_owner_id"

    def write_batch(self, pending: int) -> int:
        """Return how many records a write-back call takes: batch/update's 100 (or less, as configured)."""
        return int(self.cfg.write_back.batch_size)

    def owners(self) -> dict[str, str]:
        return dict(self.client.owners())

    def read_modified_at(self, obj: str, ids: Sequence[str]) -> dict[str, datetime]:
        return dict(self.client.read_modified_at(obj, ids))

    def update(self, obj: str, updates: Mapping[str, Mapping[str, Any]]) -> list[RecordResult]:
        text = {i: {k: None if v is None else str(v) for k, v in props.items()} for i, props in updates.items()}
        return list(self.client.update(obj, text))

    def usage(self) -> dict[str, Any]:
        t = self.client.transport
        return {"requests": dict(t.requests), "throttled": dict(t.throttled),
                "allowance_per_second": {"default": self.cfg.requests_per_10s / 10, "search": self.cfg.search_per_second}}

    def redact(self, text: str) -> str:
        return str(self.client.transport.redact(text))


class SalesforceConnection:
    """A Salesforce org through :class:`leadops.crm.salesforce.SalesforceClient`."""

    person_objects: ClassVar[list[str]] = ["Lead", "Contact"]

    def __init__(self, cfg: SalesforceConnector, client: Any) -> None:
        self.cfg, self.client = cfg, client
        self.origin = str(client.transport.base_url) + f"/services/data/v{cfg.api_version}/sobjects"
        self.lead_objects: list[str] = list(cfg.objects)
        self.activity_objects: list[str] = list(cfg.activities)

    def records(self, obj: str, since: datetime | None) -> Iterator[list[CrmRecord]]:
        return self.client.query_modified(obj, read_properties(self.cfg, obj), since, where=self.cfg.where.get(obj))

    def activities(self, obj: str, since: datetime | None) -> Iterator[list[tuple[CrmRecord, list[str]]]]:
        read = set(self.cfg.objects)
        for page in self.client.query_modified(obj, list(SALESFORCE_ACTIVITY_FIELDS[obj]), since, where="WhoId != null"):
            # a WhoId of an object leadops does not read (a Contact when only Leads are read) is about no lead
            yield [(r, [who] if (who := r.properties.get("WhoId")) and WHO_PREFIX.get(who[:3]) in read else [])
                   for r in page]

    def activity(self, obj: str, record: CrmRecord) -> ActivityFact | None:
        return salesforce_activity(obj, record)

    def owner_property(self, obj: str) -> str:
        return "OwnerId"

    def write_batch(self, pending: int) -> int:
        """Return how many records a write-back call takes: sObject Collections' 200, or one Bulk API 2.0 job of up
        to BULK_JOB records when more than ``bulk_above`` are pending."""
        return BULK_JOB if pending > self.cfg.bulk_above else int(self.cfg.write_back.batch_size)

    def owners(self) -> dict[str, str]:
        return dict(self.client.users())

    def read_modified_at(self, obj: str, ids: Sequence[str]) -> dict[str, datetime]:
        return dict(self.client.read_modified_at(obj, ids))

    def update(self, obj: str, updates: Mapping[str, Mapping[str, Any]]) -> list[RecordResult]:
        results = list(self.client.update(obj, updates, bulk_above=self.cfg.bulk_above))
        # sObject Collections do not return the new stamp: read it, so the next write compares against our own write
        done = [r.id for r in results if r.ok and r.modified_at is None]
        stamps = self.client.read_modified_at(obj, done) if done else {}
        return [RecordResult(r.id, r.ok, r.error, r.retryable, stamps.get(r.id, r.modified_at)) for r in results]

    def usage(self) -> dict[str, Any]:
        t = self.client.transport
        return {"requests": dict(t.requests), "throttled": dict(t.throttled),
                "allowance_per_second": {"default": self.cfg.requests_per_second},
                "daily_api_usage": self.client.api_usage}

    def redact(self, text: str) -> str:
        return str(self.client.transport.redact(text))


def connect(cfg: HubSpotConnector | SalesforceConnector, database_url: str | None = None, **client_options: Any) -> Connection:
    """Return a connection to ``cfg``'s CRM; raises CredentialsError (one line, no secret) when credentials are missing.

    ``database_url``: on PostgreSQL, the rate limits are shared with every worker using that database.
    ``client_options`` go to the client (``sleep``, ``limiters`` in tests)."""
    from leadops.crm.credentials import hubspot_auth, salesforce_auth

    if isinstance(cfg, HubSpotConnector):
        from leadops.crm.hubspot import HubSpotClient

        auth = hubspot_auth(cfg.name, cfg.credentials_block, cfg.token_env)
        client_options.setdefault("limiters", {
            "default": limiter_for(database_url, f"crm:{cfg.name}", cfg.requests_per_10s / 10),
            "search": limiter_for(database_url, f"crm:{cfg.name}:search", cfg.search_per_second)})
        hs_client = HubSpotClient(cfg.name, cfg.base_url, auth, timeout=cfg.timeout_seconds,
                               max_retries=cfg.max_retries, **client_options)
        return HubSpotConnection(cfg, hs_client)
    from leadops.crm.salesforce import SalesforceClient

    sf_auth = salesforce_auth(cfg.name, cfg.credentials_block, cfg.instance_url, cfg.env_prefix)
    client_options.setdefault("limiters", {"default": limiter_for(database_url, f"crm:{cfg.name}", cfg.requests_per_second)})
    client = SalesforceClient(cfg.name, sf_auth, api_version=cfg.api_version, daily_reserve=cfg.daily_reserve,
                              timeout=cfg.timeout_seconds, max_retries=cfg.max_retries, **client_options)
    return SalesforceConnection(cfg, client)


__all__ = ["Connection", "HubSpotConnection", "RateLimiter", "SalesforceConnection", "connect"]
