"""One connector's sync, as the crm-sync flow and `leadops crm sync` run it: read, then (after the pipeline's
enrich, score and route) write back.

:func:`read` maps the CRM's owners to SDRs, reads each lead object, then each activity object (activities link to
the leads read first). :func:`write_back` plans the changed decisions into the outbox and delivers them.
Both return plain outcomes (no Prefect, no SQL): the flow turns them into artifacts.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from leadops.config import Rules, Settings
from leadops.crm import writeback
from leadops.crm.connection import Connection
from leadops.crm.http import CrmError
from leadops.crm.mapping import owner_codes
from leadops.crm.read import ObjectOutcome, read_activities, read_leads
from leadops.db.unit_of_work import UnitOfWorkFactory
from leadops.intake.stages import Check


@dataclass
class ReadOutcome:
    """A connector's read in one sync: per object, the owners it mapped, and the first error (grain: object)."""

    connector: str
    objects: list[ObjectOutcome] = field(default_factory=list)
    owners_mapped: int = 0
    owners_unmapped: int = 0
    usage: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class WriteBackOutcome:
    """A connector's write-back in one sync (grain: one CRM record update)."""

    connector: str
    plan: writeback.PlanReport | None = None
    delivery: writeback.DeliveryReport | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _owner_map(units: UnitOfWorkFactory, conn: Connection, rules: Rules) -> tuple[dict[str, str], dict[str, int]]:
    """Return (CRM owner id -> SDR code, SDR code -> SDR id)."""
    codes = owner_codes(conn.cfg.name, rules.roster.people, conn.owners())
    with units() as uow:
        ids = uow.crm.sdr_ids()
    return codes, ids


def read(units: UnitOfWorkFactory, conn: Connection, rules: Rules, settings: Settings, *,
         flow_run_id: str | None = None, check: Check | None = None) -> ReadOutcome:
    """Read ``conn``'s lead objects, then its activity objects, each since its watermark; returns the outcome.

    A CRM error stops the object it happened in (its watermark kept) and the objects after it; what was stored
    stays."""
    out = ReadOutcome(conn.cfg.name)
    try:
        codes, ids = _owner_map(units, conn, rules)
    except CrmError as exc:
        out.error = conn.redact(str(exc))
        out.usage = conn.usage()
        return out
    owners = {oid: ids[code] for oid, code in codes.items() if code in ids}
    out.owners_mapped = len(owners)
    out.owners_unmapped = len({p.code for p in rules.roster.people if p.role == "sdr"} - set(codes.values()))
    for obj in conn.lead_objects:
        o = read_leads(units, conn, obj, rules, settings, flow_run_id=flow_run_id, check=check)
        out.objects.append(o)
        if o.error:
            out.error = o.error
            break
    else:
        for obj in conn.activity_objects:
            o = read_activities(units, conn, obj, owners)
            out.objects.append(o)
            if o.error:
                out.error = o.error
                break
    out.usage = conn.usage()
    return out


def write_back(units: UnitOfWorkFactory, conn: Connection, rules: Rules) -> WriteBackOutcome:
    """Plan and deliver ``conn``'s write-back; returns the outcome (CrmAuthError propagates: the run must stop)."""
    out = WriteBackOutcome(conn.cfg.name)
    if not conn.cfg.write_back.enabled:
        return out
    try:
        codes, _ = _owner_map(units, conn, rules)
        owner_ids = {code: oid for oid, code in sorted(codes.items())}
        out.plan = writeback.plan(units, conn.cfg.name, conn.lead_objects, conn.cfg.write_back.fields, owner_ids)
        out.delivery = writeback.deliver(units, conn)
    except CrmError as exc:
        out.error = conn.redact(str(exc))
    out.usage = conn.usage()
    return out


def watermark_text(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "(none: first read)"
