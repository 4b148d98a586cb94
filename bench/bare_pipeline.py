"""The bare baseline of bench/pipeline.py: the lead pipeline's stages done by plain Python, without
Prefect and without Great Expectations, into the same schema (same tables, same rows).

Definition (what "bare" means in bench/RESULTS.md):
- intake: the file read with ``csv`` in chunks of 20,000 rows; each row normalized with leadops'
  pure domain functions (``leadops.domain.normalize``: email, names, phone, country, company key,
  title -> seniority and department); the row checks of the ``leads_intake`` suite written as
  plain ``if``s (missing or invalid email, disposable domain, unknown country, unknown source);
  dedupe by exact email against the database and the file, then fuzzy person + company within a
  business domain with ``leadops.domain.dedupe.best_match``; accounts by domain (and by company
  name for personal addresses); leads, quarantine rows, merges, merge touches and the "new" stage
  rows stored with bulk inserts (COPY on PostgreSQL, executemany on SQLite);
- enrichment: one lookup per distinct business domain (the offline CSV as a dict, or one HTTP GET
  per domain to the loopback provider from a thread pool of the same size as leadops'); lookups,
  per-field records and one UPDATE per domain;
- scoring: ``leadops.domain.scoring_frame.score_frame`` and ``breakdowns`` on frames of 20,000
  leads; scores, history rows and MQL/disqualified transitions written in bulk;
- routing: ``leadops.domain.routing.route_lead`` per MQL against SDR states built once; SLA due
  times with ``leadops.domain.business_time.add_business_seconds`` (one calendar per SDR);
  assignments, clocks, "started" events and outbox rows inserted in bulk, owners updated in bulk;
- notification: the same number of messages leadops sends in one pass (its outbox delivers
  at most 500 per run) written as .eml files, then marked sent in one statement.
Left out, because the generated file never needs them: filling blanks of a merged lead, nurture
transitions (every lead arrives now), the hold-for-owner policy, retries and circuit breakers.
"""
from __future__ import annotations

import csv
import hashlib
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, UTC
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, bindparam, select, text

DELIVER_LIMIT = 500  # leadops.notify.outbox.deliver's default: messages sent per pipeline run
CHUNK = 20_000
COLUMNS = {"Email": "email", "First Name": "first_name", "Last Name": "last_name", "Company": "company",
           "Job Title": "job_title", "Phone": "phone", "Country": "country", "Source": "source"}


def run(path: Path, url: str, config: Path, var_dir: Path, enrich: str, base_url: str | None = None,
        firmo_csv: Path | None = None, concurrency: int = 8) -> dict[str, Any]:
    """Run the five stages on ``path`` into the database at ``url``; returns counts and seconds per stage."""
    from leadops.config import load_rules
    from leadops.db.session import get_engine

    rules = load_rules(config)
    engine = get_engine(url)
    now = datetime.now(UTC)
    out: dict[str, Any] = {"stages": {}}
    for stage, fn in (("ingest", lambda c: intake(c, path, rules, now)),
                      ("enrich", lambda c: enrichment(c, enrich, base_url, firmo_csv, concurrency, now)),
                      ("score", lambda c: scoring(c, rules, now)),
                      ("route", lambda c: routing(c, rules, now)),
                      ("deliver", lambda c: deliver(c, var_dir / "outbox"))):
        t = time.perf_counter()
        with engine.begin() as conn:
            out.update(fn(conn))
        out["stages"][stage] = time.perf_counter() - t
    return out


# --------------------------------------------------------------------------- intake


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _normalize(fields: dict[str, str | None], rules: Any, now: datetime) -> dict[str, Any]:
    """Return the lead row of one record (the columns leadops stores), with ``reasons`` when it fails a check."""
    from leadops.domain import normalize as nz

    em = nz.normalize_email(fields["email"])
    country = nz.normalize_country(fields["country"])
    seniority, department = nz.title_to_seniority_department(fields["job_title"])
    source = (fields["source"] or rules.sources.default_source).lower().replace(" ", "_").replace("-", "_")
    reasons = []
    if em.email is None:
        reasons.append("email is missing or not a valid address")
    elif em.is_disposable:
        reasons.append("email uses a disposable-address domain")
    if fields["country"] and not country:
        reasons.append("country is not a recognized country name or ISO code")
    if source not in rules.sources.lead_sources:
        reasons.append(f"unknown lead source {source!r}")
    return {
        "reasons": reasons, "email": em.email, "email_domain": em.domain, "is_free_email": em.is_free,
        "is_competitor": (em.domain or "") in rules.scoring.competitor_domains,
        "is_hand_raiser": source in rules.scoring.hand_raiser_sources, "do_not_contact": False,
        "first_name": nz.normalize_person_name(fields["first_name"]),
        "last_name": nz.normalize_person_name(fields["last_name"]), "company": fields["company"],
        "company_key": nz.company_key(fields["company"]), "job_title": fields["job_title"], "seniority": seniority,
        "department": department, "phone": nz.normalize_phone(fields["phone"], country), "country": country,
        "language": None, "campaign": None, "source": source, "arrived_at": now,
    }


def _chunks(path: Path):
    """Yield lists of (row number, raw dict, cleaned fields) of ``CHUNK`` records."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        names = [COLUMNS.get(h, h) for h in header]
        chunk = []
        for n, cells in enumerate(reader, start=2):
            raw = dict(zip(header, cells, strict=True))  # the generated file is rectangular
            chunk.append((n, raw, {k: (v.strip() or None) for k, v in zip(names, cells, strict=True)}))
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def _sql(sql: str, *times: str, expanding: str | None = None):
    """Return ``text(sql)`` with the named parameters typed as leadops' UTC datetimes (stored the same way as
    the ORM stores them: naive UTC text on SQLite) and ``expanding`` as an IN list."""
    from leadops.db.models import UTCDateTime

    params = [bindparam(t, type_=UTCDateTime()) for t in times]
    if expanding:
        params.append(bindparam(expanding, expanding=True))
    return text(sql).bindparams(*params)


def _ids(conn: Connection, sql: str, keys: list, size: int = 2000) -> dict:
    """Return key -> id for ``keys`` by ``sql`` (selecting key, id with an expanding ``:keys`` IN list)."""
    stmt = _sql(sql, expanding="keys")
    out = {}
    for i in range(0, len(keys), size):
        out.update(dict(conn.execute(stmt, {"keys": keys[i:i + size]}).all()))
    return out


def intake(conn: Connection, path: Path, rules: Any, now: datetime) -> dict[str, int]:
    """Read, normalize, check, dedupe and store ``path``; returns rows_read, inserted, merged, quarantined."""
    from leadops.db.bulk import bulk_insert, refresh_statistics
    from leadops.db.models import Activity, IngestBatch, Lead, LeadMerge, LeadStageChange, Quarantine
    from leadops.domain import dedupe

    batch_id = conn.execute(IngestBatch.__table__.insert().values(
        source="default", origin=str(path), content_hash=_sha256(path), status="running", started_at=now)).inserted_primary_key[0]
    counts = {"rows_read": 0, "inserted": 0, "merged": 0, "quarantined": 0}
    accounts: dict[str, int] = {}  # domain -> id, and "name:<key>" -> id
    pool: dict[str, list] = {}  # business domain -> people (fuzzy dedupe candidates)
    threshold = rules.sources.fuzzy_match_threshold
    for chunk in _chunks(path):
        counts["rows_read"] += len(chunk)
        held, good = [], []
        for n, raw, fields in chunk:
            row = _normalize(fields, rules, now)
            (held if row["reasons"] else good).append((n, raw, row))
        bulk_insert(conn, Quarantine.__table__, [
            dict(ingest_batch_id=batch_id, source="default", origin=str(path), source_row=n, raw=raw,
                 reasons=row["reasons"], status="open", created_at=now) for n, raw, row in held])
        counts["quarantined"] += len(held)
        known = _ids(conn, "SELECT email, id FROM leads WHERE email IN :keys", sorted({r["email"] for _, _, r in good}))
        new_domains = sorted({r["email_domain"] for _, _, r in good if not r["is_free_email"]} - pool.keys())
        for d in new_domains:
            pool[d] = []
        for i in range(0, len(new_domains), 2000):
            for lid, d, first, last, key in conn.execute(
                    select(Lead.id, Lead.email_domain, Lead.first_name, Lead.last_name, Lead.company_key)
                    .where(Lead.email_domain.in_(new_domains[i:i + 2000]))):
                p = dedupe.person(lid, d, first, last, key)
                if p is not None:
                    pool[d].append(p)
        _accounts(conn, good, accounts, now)
        pending: dict[str, dict[str, Any]] = {}
        merges = []
        for n, raw, row in good:
            target = known.get(row["email"]) or (row["email"] if row["email"] in pending else None)
            matched = "email"
            me = None if row["is_free_email"] else dedupe.person(None, row["email_domain"], row["first_name"],
                                                                 row["last_name"], row["company_key"])
            if target is None and me is not None:
                hit = dedupe.best_match(me, pool.get(row["email_domain"], ()), threshold)
                if hit is not None:
                    target, matched = hit[0], f"fuzzy {hit[1]:.0f}"
            if target is not None:
                merges.append((n, raw, row, target, matched))
                continue
            del row["reasons"]
            pending[row["email"]] = dict(row, ingest_batch_id=batch_id, source_row=n, lifecycle_stage="new",
                                         stage_changed_at=now, created_at=now, updated_at=now,
                                         account_id=accounts.get(row["email_domain"]) or accounts.get(f"name:{row['company_key']}"))
            if me is not None:
                pool[row["email_domain"]].append(dedupe.Person(row["email"], me.domain, me.name, me.company))
        bulk_insert(conn, Lead.__table__, list(pending.values()))
        if conn.dialect.name == "postgresql" and len(pending) >= 1000:
            # as leadops does: without fresh statistics PostgreSQL plans the next chunk's look-ups by
            # email as sequential scans (the 1M-lead baseline ran for 20 minutes in its intake)
            refresh_statistics(conn, len(pending), Lead.__table__)
        ids = _ids(conn, "SELECT email, id FROM leads WHERE email IN :keys", list(pending))
        for people in (pool[d] for d in {r["email_domain"] for r in pending.values() if not r["is_free_email"]}):
            people[:] = [dedupe.Person(ids.get(p.key, p.key), p.domain, p.name, p.company) for p in people]
        resolve = lambda t, ids=ids: ids[t] if isinstance(t, str) else t  # noqa: E731 - an email of this chunk or a lead id
        bulk_insert(conn, LeadMerge.__table__, [
            dict(lead_id=resolve(t), ingest_batch_id=batch_id, source_row=n, fields_filled=[], matched_by=m, raw=raw,
                 merged_at=now) for n, raw, row, t, m in merges])
        bulk_insert(conn, Activity.__table__, [
            dict(lead_id=resolve(t), kind="web", outcome=row["source"], occurred_at=now, sdr_id=None, scheduled_for=None,
                 detail=f"merged touch from {path.name} row {n}", external_key=f"merge:{batch_id}:{n}")
            for n, raw, row, t, m in merges])
        bulk_insert(conn, LeadStageChange.__table__, [
            dict(lead_id=ids[e], from_stage=None, to_stage="new", changed_at=now,
                 cause=f"arrived from {r['source']} (batch {batch_id}, row {r['source_row']})") for e, r in pending.items()])
        counts["inserted"] += len(pending)
        counts["merged"] += len(merges)
    conn.execute(IngestBatch.__table__.update().where(IngestBatch.id == batch_id).values(
        status="done", finished_at=now, **counts))
    return counts


def _accounts(conn: Connection, good: list, accounts: dict[str, int], now: datetime) -> None:
    """Add to ``accounts`` the chunk's business domains (existing or created) and company-name keys."""
    from leadops.db.models import Account

    names = {}
    for _, _, r in good:
        if not r["is_free_email"] and r["email_domain"] not in accounts:
            names.setdefault(r["email_domain"], (r["company"], r["company_key"]))
    if not names:
        return
    accounts.update(_ids(conn, "SELECT domain, id FROM accounts WHERE domain IN :keys", sorted(names)))
    new = [dict(domain=d, name=c, name_key=k, created_at=now) for d, (c, k) in names.items() if d not in accounts]
    if new:
        conn.execute(Account.__table__.insert(), new)
        accounts.update(_ids(conn, "SELECT domain, id FROM accounts WHERE domain IN :keys", [a["domain"] for a in new]))
    for d, (_, k) in names.items():
        if k:
            accounts.setdefault(f"name:{k}", accounts[d])


# --------------------------------------------------------------------------- enrichment


def _offline_table(firmo_csv: Path) -> dict[str, dict[str, Any]]:
    from leadops.providers.base import employee_band

    with firmo_csv.open(newline="", encoding="utf-8") as fh:
        return {r["domain"]: {"legal_name": r["legal_name"], "industry": r["industry"],
                              "employee_count": int(r["employee_count"]),
                              "employee_band": employee_band(int(r["employee_count"])), "country": r["country"],
                              "hq_city": r["hq_city"]} for r in csv.DictReader(fh)}


def _http_lookup(base_url: str, key: str):
    """Return a thread-safe lookup(domain) -> (status, fields) against the Clearbit-shaped loopback provider."""
    import threading

    import requests

    from leadops.providers.base import employee_band

    local = threading.local()

    def lookup(domain: str) -> tuple[str, dict[str, Any]]:
        if not hasattr(local, "s"):
            local.s = requests.Session()
            local.s.headers["Authorization"] = f"Bearer {key}"
        for _ in range(4):
            r = local.s.get(f"{base_url}/v2/companies/find", params={"domain": domain}, timeout=10)
            if r.status_code == 404:
                return "miss", {}
            if r.status_code == 200:
                j = r.json()
                n = (j.get("metrics") or {}).get("employees")
                return "hit", {k: v for k, v in {
                    "legal_name": j.get("legalName") or j.get("name"), "industry": (j.get("category") or {}).get("industry"),
                    "employee_count": n, "employee_band": employee_band(n),
                    "country": (j.get("geo") or {}).get("countryCode"), "hq_city": (j.get("geo") or {}).get("city"),
                }.items() if v is not None}
            time.sleep(0.05)
        return "error", {}

    return lookup


def enrichment(conn: Connection, enrich: str, base_url: str | None, firmo_csv: Path | None, concurrency: int,
               now: datetime) -> dict[str, int]:
    """Look every pending business domain up once and update its leads; returns enriched / not_enriched / skipped."""
    from leadops.db.bulk import bulk_insert
    from leadops.db.models import EnrichmentLookup, EnrichmentRecord
    from workload import FIRMO_KEY

    skipped = conn.execute(_sql("UPDATE leads SET enrichment_status = 'skipped', enriched_at = :t "
                                "WHERE enrichment_status IS NULL AND is_free_email", "t"), {"t": now}).rowcount
    per_domain = dict(conn.execute(text("SELECT email_domain, count(*) FROM leads WHERE enrichment_status IS NULL "
                                        "GROUP BY email_domain")).all())
    if enrich == "offline":
        table = _offline_table(firmo_csv)
        answers = [(d, *(("hit", table[d]) if d in table else ("miss", {}))) for d in sorted(per_domain)]
    else:
        lookup = _http_lookup(base_url, FIRMO_KEY)
        with ThreadPoolExecutor(concurrency) as pool:
            answers = [(d, *a) for d, a in zip(sorted(per_domain), pool.map(lookup, sorted(per_domain)), strict=True)]
    provider = "offline" if enrich == "offline" else "firmo"
    bulk_insert(conn, EnrichmentLookup.__table__, [dict(domain=d, provider=provider, status=s, error=None, fetched_at=now)
                                                   for d, s, _ in answers])
    bulk_insert(conn, EnrichmentRecord.__table__, [dict(domain=d, provider=provider, field=k, value=v, confidence=0.9,
                                                        fetched_at=now) for d, s, f in answers for k, v in f.items()])
    conn.execute(_sql("UPDATE leads SET enrichment_status = :s, enriched_at = :t, industry = :i, employee_count = :c, "
                      "employee_band = :b WHERE email_domain = :d AND enrichment_status IS NULL", "t"),
                 [{"s": "enriched" if s == "hit" else s, "t": now, "i": f.get("industry"), "c": f.get("employee_count"),
                   "b": f.get("employee_band"), "d": d} for d, s, f in answers])
    enriched = sum(per_domain[d] for d, s, _ in answers if s == "hit")
    return {"enriched": enriched, "not_enriched": sum(per_domain.values()) - enriched, "enrichment_skipped": skipped}


# --------------------------------------------------------------------------- scoring


def scoring(conn: Connection, rules: Any, now: datetime) -> dict[str, int]:
    """Score every unscored open lead with the domain's vectorized scorer; returns scored and promoted_mql."""
    from leadops.db.bulk import bulk_insert
    from leadops.db.models import LeadStageChange, ScoreHistory
    from leadops.domain.normalize import DISPOSABLE_EMAIL_DOMAINS
    from leadops.domain.scoring_frame import breakdowns, score_frame

    sr = rules.scoring
    ids = [i for (i,) in conn.execute(text("SELECT id FROM leads WHERE scored_at IS NULL AND lifecycle_stage = 'new' "
                                           "ORDER BY id"))]
    cols = ("id", "industry", "employee_band", "revenue_band", "country", "seniority", "department", "source", "job_title",
            "email_domain", "is_free_email", "is_competitor", "do_not_contact", "is_hand_raiser", "lifecycle_stage",
            "arrived_at")
    scored_n = promoted = 0
    for i in range(0, len(ids), CHUNK):
        part = ids[i:i + CHUNK]
        stmt = _sql(f"SELECT {', '.join(cols)} FROM leads WHERE id IN :keys", expanding="keys")  # noqa: S608 - constant columns
        leads = pd.DataFrame(conn.execute(stmt, {"keys": part}).all(), columns=cols).set_index("id")
        for c in ("is_free_email", "is_competitor", "do_not_contact", "is_hand_raiser"):
            leads[c] = leads[c].astype(bool)
        leads["is_disposable_email"] = leads["email_domain"].isin(DISPOSABLE_EMAIL_DOMAINS)
        leads["bounced"] = False
        stmt = _sql("SELECT lead_id, outcome, occurred_at FROM activities WHERE kind = 'web' AND lead_id IN :keys",
                    expanding="keys")
        touches = pd.DataFrame(conn.execute(stmt, {"keys": part}).all(), columns=["lead_id", "kind", "at"])
        arrival = pd.DataFrame({"lead_id": leads.index, "kind": leads["source"].to_numpy(), "at": leads["arrived_at"].to_numpy()})
        events = pd.concat([arrival, touches], ignore_index=True)
        events["at"] = pd.to_datetime(events["at"], utc=True)
        s = score_frame(leads, events, sr, now)
        parts = breakdowns(s, leads, sr)
        rows = list(zip(s.index.tolist(), s["fit"].tolist(), s["engagement"].tolist(), s["total"].tolist(), s["grade"].tolist(),
                        strict=True))
        conn.execute(_sql("UPDATE leads SET fit_score = :f, engagement_score = :e, score = :s, grade = :g, "
                          "score_version = :v, scored_at = :t WHERE id = :id", "t"),
                     [{"id": lid, "f": f, "e": e, "s": t, "g": g, "v": sr.version, "t": now} for lid, f, e, t, g in rows])
        bulk_insert(conn, ScoreHistory.__table__, [
            dict(lead_id=lid, model_version=sr.version, fit_score=f, engagement_score=e, score=t, grade=g,
                 breakdown=parts[lid], scored_at=now, flow_run_id=None) for lid, f, e, t, g in rows])
        competitor = leads["is_competitor"] | leads["email_domain"].isin(sr.competitor_domains)
        to_mql = ~competitor & (leads["is_hand_raiser"] | (s["total"] >= sr.mql_threshold))
        moves = [(lid, "disqualified", "competitor domain") for lid in leads.index[competitor]]
        moves += [(lid, "mql", "hand-raiser fast-track (demo or contact-sales request)" if hand else
                   f"score {t:g} crossed the MQL threshold {sr.mql_threshold:g}")
                  for lid, hand, t in zip(leads.index[to_mql], leads["is_hand_raiser"][to_mql], s["total"][to_mql], strict=True)]
        if moves:
            conn.execute(_sql("UPDATE leads SET lifecycle_stage = :to, stage_changed_at = :t, disqualified_reason = :r "
                              "WHERE id = :id", "t"),
                         [{"id": int(lid), "to": to, "t": now, "r": "competitor" if to == "disqualified" else None}
                          for lid, to, _ in moves])
        bulk_insert(conn, LeadStageChange.__table__, [dict(lead_id=int(lid), from_stage="new", to_stage=to, cause=why,
                                                           changed_at=now) for lid, to, why in moves])
        scored_n += len(rows)
        promoted += int(to_mql.sum())
    return {"scored": scored_n, "promoted_mql": promoted}


# --------------------------------------------------------------------------- routing


def _states(conn: Connection, now: datetime, company_tz: str):
    """Return (SdrState by code, WorkCalendar by code, sdr row by code) as of ``now``."""
    from zoneinfo import ZoneInfo

    from leadops.domain.business_time import WorkCalendar, is_working
    from leadops.domain.routing import SdrState

    sdrs = {r.code: r for r in conn.execute(text("SELECT id, code, name, email, role, time_zone, work_start, work_end, "
                                                 "work_days, holiday_country, daily_cap, open_cap, weight, active, "
                                                 "paired_ae_id FROM sdrs"))}
    codes = {r.id: c for c, r in sdrs.items()}
    ooo = defaultdict(list)
    for sid, a, b in conn.execute(text("SELECT sdr_id, starts_at, ends_at FROM sdr_out_of_office")):
        ooo[codes[sid]].append((_aware(a), _aware(b)))
    midnight = datetime.combine(now.astimezone(ZoneInfo(company_tz)).date(), datetime.min.time(), ZoneInfo(company_tz))
    today = dict(conn.execute(_sql("SELECT sdr_id, count(*) FROM assignments WHERE assigned_at >= :m AND status = 'assigned' "
                                   "GROUP BY sdr_id", "m"), {"m": midnight}).all())
    open_ = dict(conn.execute(text("SELECT owner_sdr_id, count(*) FROM leads WHERE lifecycle_stage IN ('mql', 'sal', 'sql') "
                                   "GROUP BY owner_sdr_id")).all())
    positions = defaultdict(dict)  # SDR id -> pool -> virtual time
    for pool, sid, vt in conn.execute(text("SELECT pool, sdr_id, virtual_time FROM routing_positions")):
        positions[sid][pool] = vt
    import json

    states, cals = {}, {}
    for code, r in sdrs.items():
        if r.role != "sdr":
            continue
        days = r.work_days if isinstance(r.work_days, list) else json.loads(r.work_days)
        cals[code] = WorkCalendar.build(r.time_zone, r.work_start, r.work_end, tuple(days), r.holiday_country,
                                        tuple(ooo[code]))
        states[code] = SdrState(code=code, weight=r.weight, daily_cap=r.daily_cap, open_cap=r.open_cap,
                                assigned_today=today.get(r.id, 0), open_leads=open_.get(r.id, 0), active=bool(r.active),
                                out_of_office=any(a <= now < b for a, b in ooo[code]),
                                working_now=is_working(cals[code], now), paired_ae=codes.get(r.paired_ae_id),
                                positions=dict(positions[r.id]))
    return states, cals, sdrs


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def routing(conn: Connection, rules: Any, now: datetime) -> dict[str, int]:
    """Route every unowned MQL with the domain's router; returns routed and unroutable."""
    from zoneinfo import ZoneInfo

    from leadops.db.bulk import bulk_insert
    from leadops.db.models import Assignment, Notification, SlaClock, SlaEvent
    from leadops.domain.business_time import add_business_seconds
    from leadops.domain.routing import RoutableLead, route_lead, segment_of

    states, cals, sdrs = _states(conn, now, "Europe/Paris")
    by_id = {r.id: c for c, r in sdrs.items()}
    owners = {a: by_id[s] for a, s in conn.execute(text("SELECT id, owner_sdr_id FROM accounts WHERE owner_sdr_id IS NOT NULL"))}
    cols = ("id", "email_domain", "first_name", "last_name", "company", "job_title", "country", "language", "source",
            "campaign", "industry", "employee_band", "grade", "is_hand_raiser", "account_id")
    leads = conn.execute(text(f"SELECT {', '.join(cols)} FROM leads WHERE lifecycle_stage = 'mql' AND owner_sdr_id IS NULL "  # noqa: S608 - constant columns
                              "ORDER BY arrived_at, id")).all()
    routed = unroutable = 0
    new_owners: dict[int, int] = {}
    for i in range(0, len(leads), CHUNK):
        decided = []
        for row in leads[i:i + CHUNK]:
            f = dict(zip(cols, row, strict=True))
            f.update(segment=segment_of(f["employee_band"]), fit_grade=(f["grade"] or "D")[0],
                     is_hand_raiser=bool(f["is_hand_raiser"]))
            d = route_lead(RoutableLead(f["id"], f, owners.get(f["account_id"])), rules.routing, states)
            if d.status != "assigned":
                unroutable += 1
                continue
            if f["account_id"] and f["account_id"] not in owners and rules.routing.assign_new_accounts:
                owners[f["account_id"]] = d.sdr
                new_owners[f["account_id"]] = sdrs[d.sdr].id
            decided.append((f, d))
        bulk_insert(conn, Assignment.__table__, [
            dict(lead_id=f["id"], sdr_id=sdrs[d.sdr].id, ae_id=sdrs[d.ae].id if d.ae else None, previous_sdr_id=None,
                 kind="initial", status="assigned", rule=d.rule, reason=d.reason, candidates=list(d.candidates),
                 active=True, assigned_at=now, ended_at=None, flow_run_id=None) for f, d in decided])
        aid = _ids(conn, "SELECT lead_id, id FROM assignments WHERE active AND lead_id IN :keys", [f["id"] for f, _ in decided])
        clocks = []
        for f, d in decided:
            policy = next((p for p in rules.sla.policies if all(f.get(k) in v for k, v in p.when.items())),
                          rules.sla.policies[-1])
            due = add_business_seconds(cals[d.sdr], now, policy.first_touch)
            clocks.append((f, d, policy, due))
        bulk_insert(conn, SlaClock.__table__, [
            dict(lead_id=f["id"], sdr_id=sdrs[d.sdr].id, assignment_id=aid[f["id"]], policy=p.name, kind="first_touch",
                 target_seconds=p.first_touch, started_at=now, due_at=due, status="open") for f, d, p, due in clocks])
        cid = _ids(conn, "SELECT assignment_id, id FROM sla_clocks WHERE assignment_id IN :keys", list(aid.values()))
        bulk_insert(conn, SlaEvent.__table__, [
            dict(clock_id=cid[aid[f["id"]]], step="started", at=now, detail=f"policy {p.name}, due {due.isoformat()}")
            for f, d, p, due in clocks])
        notes = []
        for f, d, p, due in clocks:
            sdr = sdrs[d.sdr]
            who = " ".join(x for x in (f["first_name"], f["last_name"]) if x) or "a new lead"
            subject = f"[leadops] New lead for you: {who} ({f['company'] or f['email_domain']})"
            body = (f"Hello {sdr.name},\n\nLead #{f['id']} is yours: {who}, {f['job_title'] or 'title unknown'} at "
                    f"{f['company'] or f['email_domain']} ({f['country'] or 'country unknown'}), grade {f['grade']}.\n"
                    f"Why you: {d.reason}.\nFirst touch due by {due.astimezone(ZoneInfo(sdr.time_zone)):%a %d %b %H:%M} "
                    f"({sdr.time_zone}), policy {p.name}.\n")
            notes.append(dict(key=f"assignment:{aid[f['id']]}", kind="assignment", channel="email", recipient=sdr.email,
                              subject=subject, body=body, lead_id=f["id"], status="pending", attempts=0, created_at=now))
        bulk_insert(conn, Notification.__table__, notes)
        if decided:
            conn.execute(text("UPDATE leads SET owner_sdr_id = :s, routing_status = 'assigned' WHERE id = :id"),
                         [{"s": sdrs[d.sdr].id, "id": f["id"]} for f, d in decided])
        routed += len(decided)
    if new_owners:
        conn.execute(text("UPDATE accounts SET owner_sdr_id = :s WHERE id = :id"),
                     [{"s": s, "id": a} for a, s in new_owners.items()])
    conn.execute(text("DELETE FROM routing_positions"))
    rows = [{"p": pool, "s": sdrs[c].id, "v": vt, "t": now} for c, st in states.items() for pool, vt in st.positions.items()]
    if rows:
        conn.execute(_sql("INSERT INTO routing_positions (pool, sdr_id, virtual_time, updated_at) "
                          "VALUES (:p, :s, :v, :t)", "t"), rows)
    return {"routed": routed, "unroutable": unroutable}


# --------------------------------------------------------------------------- notification


def deliver(conn: Connection, folder: Path, limit: int = DELIVER_LIMIT) -> dict[str, int]:
    """Write the oldest ``limit`` pending messages as .eml files and mark them sent; returns notifications_sent."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = conn.execute(text("SELECT id, key, recipient, subject, body FROM notification_outbox WHERE status = 'pending' "
                             "ORDER BY id LIMIT :n"), {"n": limit}).all()
    for _id, key, to, subject, body in rows:
        em = EmailMessage()
        em["From"], em["To"], em["Subject"], em["X-Leadops-Key"] = "leadops@localhost", to, subject, key
        em.set_content(body)
        (folder / (hashlib.sha256(key.encode()).hexdigest()[:16] + ".eml")).write_bytes(bytes(em))
    now = datetime.now(UTC)
    if rows:
        conn.execute(_sql("UPDATE notification_outbox SET status = 'sent', sent_at = :t, attempts = 1 WHERE id = :id", "t"),
                     [{"t": now, "id": r[0]} for r in rows])
    return {"notifications_sent": len(rows)}
