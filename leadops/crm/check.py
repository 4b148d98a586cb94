"""`leadops crm check`: can each connector reach its CRM with its credentials, and whose owners map to SDRs."""
from __future__ import annotations

from typing import Any

from leadops.crm.credentials import CredentialsError
from leadops.crm.http import CrmError
from leadops.crm.mapping import owner_codes


def check_connectors(names: list[str] | None = None) -> list[dict[str, Any]]:
    """Return one result per connector: ok, and a one-line detail (owners mapped, or what failed; never a secret)."""
    from leadops.config import get_settings, load_rules_cached
    from leadops.crm.connection import connect

    s = get_settings()
    rules = load_rules_cached(s.config_dir)
    configured = {c.name: c for c in rules.sources.crm}
    unknown = sorted(set(names or ()) - set(configured))
    if unknown:
        raise ValueError(f"unknown connector(s) {', '.join(unknown)} (sources.yaml crm: has "
                         f"{', '.join(configured) or 'none'})")
    out = []
    for name, cfg in configured.items():
        if names and name not in names:
            continue
        try:
            conn = connect(cfg, s.database_url)
            owners = conn.owners()
        except (CredentialsError, CrmError) as exc:
            out.append({"connector": name, "kind": cfg.kind, "ok": False, "detail": str(exc)})
            continue
        mapped = owner_codes(name, rules.roster.people, owners)
        sdrs = sorted(p.code for p in rules.roster.people if p.role == "sdr" and p.code not in mapped.values())
        out.append({"connector": name, "kind": cfg.kind, "ok": True,
                    "detail": f"{len(owners)} CRM owner(s), {len(set(mapped.values()))} mapped to people of sdrs.yaml"
                              + (f"; SDRs without a CRM owner: {', '.join(sdrs)}" if sdrs else "")})
    return out


def resend_failed(names: list[str] | None = None) -> dict[str, int]:
    """Queue again the write-backs that failed for good, per connector (all, or ``names``); returns connector ->
    updates queued again. They go at the next crm-sync; a record changed in the CRM since is still not overwritten."""
    from leadops.config import get_settings, load_rules_cached
    from leadops.db.unit_of_work import SqlUnitOfWork

    s = get_settings()
    configured = [c.name for c in load_rules_cached(s.config_dir).sources.crm]
    unknown = sorted(set(names or ()) - set(configured))
    if unknown:
        raise ValueError(f"unknown connector(s) {', '.join(unknown)} (sources.yaml crm: has "
                         f"{', '.join(configured) or 'none'})")
    out = {}
    with SqlUnitOfWork(s.database_url) as uow:
        for name in names or configured:
            out[name] = uow.outbox.requeue_failed(name)
    return out
