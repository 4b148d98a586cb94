"""`leadops seed` against a real SQLite database: deterministic, idempotent, realistic enough."""
from __future__ import annotations

import csv
import io
import json
from collections import Counter
from contextlib import suppress
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadops import seed as seedmod
from leadops.config import load_rules
from leadops.db import models as m
from leadops.db.migrate import upgrade
from leadops.db.session import get_engine

REPO = Path(__file__).resolve().parents[2]
ANCHOR = date(2026, 3, 12)  # a Thursday: the current ISO week is 2026-03-09 .. 2026-03-15
TABLES = (m.Sdr, m.Account, m.Lead, m.LeadStageChange, m.Assignment, m.SlaClock, m.SlaEvent, m.Activity,
          m.Opportunity)


@pytest.fixture(scope="module")
def rules():
    return load_rules(REPO / "config")


def run_seed(root: Path, rules, seed: int = 42, anchor: date = ANCHOR) -> tuple[str, Path, dict]:
    """Migrate a fresh database under ``root``, seed it; returns (url, inbox dir, summary)."""
    root.mkdir(parents=True, exist_ok=True)
    url = "sqlite:///" + str(root / "t.db")
    upgrade(url)
    inbox = root / "inbox"
    with Session(get_engine(url)) as session:
        summary = seedmod.seed(session, rules, inbox, seed=seed, anchor=anchor)
        session.commit()
    return url, inbox, summary


def counts(url: str) -> dict[str, int]:
    with Session(get_engine(url)) as s:
        return {t.__tablename__: s.scalar(select(func.count()).select_from(t)) for t in TABLES}


def lead_rows(url: str) -> list[tuple]:
    with Session(get_engine(url)) as s:
        return s.execute(select(m.Lead.email, m.Lead.lifecycle_stage, m.Lead.score, m.Lead.arrived_at,
                                m.Lead.updated_at, m.Sdr.code).join(m.Sdr, m.Lead.owner_sdr_id == m.Sdr.id)
                         .order_by(m.Lead.email)).all()


def activity_rows(url: str) -> list[tuple]:
    with Session(get_engine(url)) as s:
        return s.execute(select(m.Activity.external_key, m.Activity.kind, m.Activity.outcome,
                                m.Activity.occurred_at, m.Activity.scheduled_for).order_by(m.Activity.external_key)).all()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, rules):
    """One default seed (seed 42, fixed anchor) shared by the read-only tests."""
    return run_seed(tmp_path_factory.mktemp("seed"), rules)


def inbox_emails(inbox: Path) -> list[tuple[str, str]]:
    """Return (file name, raw email) for every parseable data row of every lead file of the inbox."""
    out = []
    for path in sorted(inbox.iterdir()):
        if path.name.startswith("events-"):
            continue  # engagement export, not leads
        if path.suffix == ".jsonl":
            for line in path.read_text(encoding="utf-8").splitlines():
                with suppress(json.JSONDecodeError):
                    out.append((path.name, json.loads(line)["email"]))
            continue
        if path.name.startswith("salon-"):
            text, delim = path.read_bytes().decode("cp1252"), ";"
        elif path.name.startswith("outbound-"):
            text, delim = path.read_text(encoding="utf-8"), "\t"
        else:
            text, delim = path.read_text(encoding="utf-8-sig"), ","
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
        next(reader)
        out.extend((path.name, row[0]) for row in reader)
    return out


# --------------------------------------------------------------------------- determinism and idempotency


def test_same_seed_and_anchor_give_identical_files_and_rows(tmp_path, rules, seeded):
    url_a, inbox_a, _ = seeded
    url_b, inbox_b, _ = run_seed(tmp_path / "b", rules)
    names = sorted(p.name for p in inbox_a.iterdir())
    assert names == sorted(p.name for p in inbox_b.iterdir())
    for name in names:
        assert (inbox_a / name).read_bytes() == (inbox_b / name).read_bytes(), name
    assert lead_rows(url_a) == lead_rows(url_b)
    assert activity_rows(url_a) == activity_rows(url_b)
    assert counts(url_a) == counts(url_b)


def test_a_different_seed_gives_different_data(rules):
    a = seedmod.generate(42, ANCHOR, rules)
    b = seedmod.generate(43, ANCHOR, rules)
    assert {pl.email for pl in a.leads} != {pl.email for pl in b.leads}
    assert [f.content for f in a.inbox_files] != [f.content for f in b.inbox_files]


def test_rerun_is_idempotent(tmp_path, rules):
    url, inbox, first = run_seed(tmp_path, rules)
    before = counts(url)
    files = {p.name: p.read_bytes() for p in inbox.iterdir()}
    _, _, second = run_seed(tmp_path, rules)
    assert counts(url) == before
    assert {k: v for k, v in second["inserted"].items() if k != "sdrs"} == dict.fromkeys(
        [k for k in first["inserted"] if k != "sdrs"], 0)
    assert {p.name: p.read_bytes() for p in inbox.iterdir()} == files


def test_generate_does_not_depend_on_global_random(rules):
    import random

    random.seed(1)
    a = seedmod.generate(7, ANCHOR, rules, n_leads=200)
    random.seed(2)
    b = seedmod.generate(7, ANCHOR, rules, n_leads=200)
    assert [f.content for f in a.inbox_files] == [f.content for f in b.inbox_files]
    assert [pl.fields for pl in a.leads] == [pl.fields for pl in b.leads]


# --------------------------------------------------------------------------- realism


def test_history_counts_are_in_expected_ranges(seeded):
    url, _, summary = seeded
    c = counts(url)
    assert 1900 <= c["leads"] + summary["inbox_new"] <= 2100
    assert 1600 <= c["leads"] <= 1800
    assert c["sdrs"] == 18
    with Session(get_engine(url)) as s:
        # routing takes MQLs only: a lead has an owner and one assignment exactly when it became an MQL
        owned = set(s.scalars(select(m.Lead.id).where(m.Lead.owner_sdr_id.is_not(None))))
        were_mql = set(s.scalars(select(m.LeadStageChange.lead_id).where(m.LeadStageChange.to_stage == "mql")))
        assigned = s.scalars(select(m.Assignment.lead_id)).all()
    assert owned == were_mql == set(assigned) and len(assigned) == len(owned) > 1000
    assert c["sla_events"] >= c["sla_clocks"] > 500
    assert c["lead_stage_history"] > c["leads"]
    with Session(get_engine(url)) as s:
        owners = s.execute(select(m.Sdr.code, m.Sdr.role).join(m.Lead, m.Lead.owner_sdr_id == m.Sdr.id)
                           .distinct()).all()
        assert len(owners) == 11 and {role for _, role in owners} == {"sdr"}
        stages = dict(s.execute(select(m.Lead.lifecycle_stage, func.count()).group_by(m.Lead.lifecycle_stage)).all())
        # no "mql" required: on a Thursday anchor every history MQL had its first touch before the cutoff
        assert {"new", "sal", "sql", "opportunity", "won", "lost", "nurture", "disqualified"} <= set(stages)
        reasons = set(s.scalars(select(m.Lead.disqualified_reason).where(m.Lead.disqualified_reason.is_not(None))))
        assert {"competitor", "student", "out_of_icp", "not_interested", "no_budget", "bad_data"} <= reasons
        # as the sweep leaves them: a late first touch meets its clock late, after its breach step
        assert "met" in set(s.scalars(select(m.SlaClock.status)))
        assert set(s.scalars(select(m.SlaEvent.step))) >= {"started", "reminder", "breach", "met"}
        assert s.scalar(select(func.count()).where(m.SlaClock.status == "met",
                                                   m.SlaClock.elapsed_seconds > m.SlaClock.target_seconds)) > 0
        assert set(s.scalars(select(m.SlaClock.policy))) == {"mql", "hand-raiser", "a-grade-mql"}
        # routing.yaml's assign_new_accounts, as a routing pass applies it: an account is claimed by the SDR
        # its first routed lead went to, and an account none of whose leads was routed has no owner
        first_sdr: dict[int, int] = {}
        for account_id, sdr_id in s.execute(select(m.Lead.account_id, m.Assignment.sdr_id)
                                            .join(m.Assignment, m.Assignment.lead_id == m.Lead.id)
                                            .where(m.Lead.account_id.is_not(None))
                                            .order_by(m.Assignment.assigned_at, m.Assignment.id)):
            first_sdr.setdefault(account_id, sdr_id)
        owned_accounts = dict(s.execute(select(m.Account.id, m.Account.owner_sdr_id)
                                        .where(m.Account.owner_sdr_id.is_not(None))).tuples().all())
        assert owned_accounts == first_sdr and len(owned_accounts) > 100
        assert s.scalar(select(func.count()).where(m.Lead.is_competitor)) > 0
        assert s.scalar(select(func.count()).where(m.Lead.is_free_email)) > 50
        assert s.scalar(select(func.count()).where(m.Lead.enrichment_status == "miss")) > 0


def test_activities_cover_last_week_and_current_week(seeded):
    url, _, _ = seeded
    history_start, week_start, cutoff = seedmod.week_bounds(ANCHOR)
    with Session(get_engine(url)) as s:
        times = s.scalars(select(m.Activity.occurred_at)).all()
        assert all(t.tzinfo is not None and history_start <= t <= cutoff for t in times)
        last_week = sum(week_start - timedelta(weeks=1) <= t < week_start for t in times)
        assert 0.10 < last_week / len(times) < 0.25
        assert any(t >= week_start for t in times)
        kinds = dict(s.execute(select(m.Activity.kind, func.count()).group_by(m.Activity.kind)).all())
        assert set(kinds) == {"call", "email", "linkedin", "meeting", "web"}
        assert s.scalar(select(func.count()).where(m.Activity.kind == "web", m.Activity.sdr_id.is_not(None))) == 0
        future = s.scalars(select(m.Activity.scheduled_for).where(m.Activity.outcome == "scheduled")).all()
        assert future and all(t > cutoff for t in future)
        held = s.scalar(select(func.count()).where(m.Activity.kind == "meeting", m.Activity.outcome == "held"))
        opps = s.execute(select(m.Opportunity.amount, m.Opportunity.stage, m.Opportunity.closed_at,
                                m.Opportunity.ae_id)).all()
        assert 0.2 <= len(opps) / held <= 0.4
        assert all(5_000 <= a <= 120_000 and ae is not None for a, _, _, ae in opps)
        assert any(st == "won" and closed for _, st, closed, _ in opps)
        assert all((st == "open") == (closed is None) for _, st, closed, _ in opps)


# --------------------------------------------------------------------------- inbox files


def test_inbox_has_one_file_per_source(seeded):
    _, inbox, summary = seeded
    stamp = ANCHOR.strftime("%Y%m%d")
    assert sorted(p.name for p in inbox.iterdir()) == sorted(
        f"{n}-{stamp}.{ext}" for n, ext in [("webform", "csv"), ("demo-requests", "csv"), ("salon", "csv"),
                                            ("webinar", "jsonl"), ("outbound", "csv"), ("whitepaper", "csv"),
                                            ("events", "csv")])
    assert 280 <= summary["inbox_rows"] <= 380


def test_salon_file_is_windows_1252_with_semicolons(seeded):
    _, inbox, _ = seeded
    raw = next(inbox.glob("salon-*.csv")).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    rows = list(csv.reader(io.StringIO(raw.decode("cp1252"), newline=""), delimiter=";"))
    assert rows[0] == ["Courriel", "Prénom", "Nom", "Société", "Fonction", "Pays", "Téléphone", "Date"]
    assert all(len(r) == 8 for r in rows)
    assert any(";" in r[3] for r in rows[1:])
    assert {"France", "Belgique"} <= {r[5] for r in rows[1:]}
    assert all(len(r[7]) == 10 and r[7][2] == "/" for r in rows[1:])


def test_demo_requests_have_a_bom_and_whitepaper_an_embedded_newline(seeded):
    _, inbox, _ = seeded
    assert next(inbox.glob("demo-requests-*.csv")).read_bytes().startswith(b"\xef\xbb\xbf")
    text = next(inbox.glob("whitepaper-*.csv")).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert any("\n" in field for row in rows for field in row)
    assert any(r[3].startswith("=HYPERLINK(") for r in rows)
    outbound = next(inbox.glob("outbound-*.csv")).read_text(encoding="utf-8").splitlines()
    assert outbound[0] == "E-mail\tPrénom\tNom\tEntreprise\tPoste\tPays"


def test_webinar_file_has_exactly_one_invalid_line(seeded):
    _, inbox, _ = seeded
    bad = 0
    for line in next(inbox.glob("webinar-*.jsonl")).read_text(encoding="utf-8").splitlines():
        try:
            assert set(json.loads(line)) == {"email", "first_name", "last_name", "company", "job_title", "country",
                                             "created_at"}
        except json.JSONDecodeError:
            bad += 1
    assert bad == 1


def test_inbox_contains_dirt_and_duplicates(seeded):
    url, inbox, _ = seeded
    rows = inbox_emails(inbox)
    raw = [e for _, e in rows]
    for dirty in ("", "jean.dupont@", "marie@@acme.fr", "pas un email"):
        assert dirty in raw
    assert any(e.endswith(("@yopmail.com", "@mailinator.com")) for e in raw)
    assert any(e != e.strip() for e in raw)
    everything = b"".join(p.read_bytes() for p in inbox.iterdir())
    assert b"Narnia" in everything and b"<script>" in everything
    normalized = [(f, e.strip().casefold()) for f, e in rows if e.strip()]
    by_email: dict[str, set[str]] = {}
    for f, e in normalized:
        by_email.setdefault(e, set()).add(f)
    assert sum(len(files) > 1 for files in by_email.values()) >= 5  # same person in two files
    assert any(e != e.casefold() for _, e in rows if "@" in e and e.strip().casefold() in by_email)
    with Session(get_engine(url)) as s:
        history = set(s.scalars(select(m.Lead.email)))
    assert len(history & set(by_email)) >= 3  # returning history leads must merge


def test_inbox_arrivals_are_inside_the_current_week():
    rules = load_rules(REPO / "config")
    plan = seedmod.generate(42, ANCHOR, rules)
    webinar = next(f for f in plan.inbox_files if f.name.startswith("webinar-"))
    from datetime import datetime

    stamps = []
    for line in webinar.content.decode().splitlines():
        with suppress(json.JSONDecodeError):
            stamps.append(datetime.fromisoformat(json.loads(line)["created_at"]))
    assert all(plan.week_start <= t < plan.cutoff + timedelta(hours=8) for t in stamps)


# --------------------------------------------------------------------------- firmographics


def test_committed_firmographics_equals_the_generator_output():
    committed = (REPO / "leadops" / "data" / "firmographics.csv").read_text(encoding="utf-8")
    assert committed == seedmod.firmographics_csv()


def test_firmographics_shape(tmp_path):
    path = seedmod.write_firmographics(tmp_path / "f.csv")
    rows = list(csv.DictReader(path.open(encoding="utf-8", newline="")))
    assert 140 <= len(rows) <= 170
    assert len({r["domain"] for r in rows}) == len(rows)
    assert {r["employee_band"] for r in rows} <= {"1-10", "11-50", "51-200", "201-1000", "1001-5000", "5001+"}
    assert all(r["linkedin_url"].startswith("linkedin.com/company/") for r in rows)
    industries = {"Software", "IT Services", "Financial Services", "Manufacturing", "Retail", "Healthcare",
                  "Telecommunications", "Logistics", "Energy", "Education", "Public Sector"}
    assert {r["industry"] for r in rows} == industries


def test_about_ten_percent_of_lead_companies_are_unknown_to_firmographics(seeded, rules):
    plan = seedmod.generate(42, ANCHOR, rules)
    listed = {c.domain for c in plan.companies if c.listed}
    used = {pl.account_domain for pl in plan.leads if pl.account_domain}
    share = len(used - listed) / len(used)
    assert 0.05 <= share <= 0.15


def test_events_export_is_cp1252_with_known_leads_and_three_rows_for_quarantine(seeded, rules):
    from leadops.domain.intake import event_name
    from leadops.intake.activities import ACTIVITY_ALIASES, ACTIVITY_FIELDS
    from leadops.intake.reading.registry import read_lead_file

    _, inbox, summary = seeded
    path = next(inbox.glob("events-*.csv"))
    read = read_lead_file(path, required=("email", "event", "occurred_at"), aliases=ACTIVITY_ALIASES,
                          fields=ACTIVITY_FIELDS)
    assert (read.encoding, read.delimiter) == ("cp1252", ";")
    assert len(read.rows) == summary["activity_export_rows"] == 43
    known = set(rules.scoring.engagement.points)
    unknown = [r for r in read.rows if event_name(r.fields["event"], known) is None]
    assert [r.fields["event"] for r in unknown] == ["Désinscription"]
    assert len({r.fields["event_id"] for r in read.rows}) == 43


# --------------------------------------------------------------------------- agreement with the real rules


@pytest.mark.parametrize("hours_after_cutoff", [0, 8, 23.5])
def test_history_stages_are_what_a_full_rescore_decides_on_the_anchor_day(db_url, tmp_path, rules, hours_after_cutoff):
    """`leadops score --all` on the anchor day (the day `make demo` seeds) moves no history lead:
    the seed promoted, routed and nurtured exactly the leads the scoring rules would."""
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.services.score import score_open_leads

    with Session(get_engine(db_url)) as session:
        seedmod.seed(session, rules, tmp_path / "inbox", anchor=ANCHOR)
        session.commit()
    _, _, cutoff = seedmod.week_bounds(ANCHOR)
    with Session(get_engine(db_url)) as session:
        stages_before = Counter(session.scalars(select(m.Lead.lifecycle_stage)))
        summary = score_open_leads(SqlUnitOfWork.around(session), rules,
                                   now=cutoff + timedelta(hours=hours_after_cutoff), only_changed=False)
        session.flush()
        stages_after = Counter(session.scalars(select(m.Lead.lifecycle_stage)))
        session.rollback()
    assert summary.scored > 300  # the open leads were all rescored ...
    assert summary.stage_changes == {} and stages_after == stages_before  # ... and none moved
    assert stages_before["new"] > 0 and stages_before["nurture"] > 0


def test_stored_history_scores_are_the_real_scorers(seeded, rules):
    """Each history lead holds the score the real scorer gives it at its scored_at (so a rescore
    at that instant changes nothing, and later ones only by the decay of engagement)."""
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.services.score import score_open_leads

    url, _, _ = seeded
    with Session(get_engine(url)) as session:
        at = dict(session.execute(select(m.Lead.id, m.Lead.scored_at)).tuples().all())
        stored = dict(session.execute(select(m.Lead.id, m.Lead.score)).tuples().all())
        open_ids = [i for i, st in session.execute(select(m.Lead.id, m.Lead.lifecycle_stage)).tuples()
                    if st in ("new", "nurture", "sal", "sql")][:40]
        for lead_id in open_ids:  # one pass per lead: each is scored at its own instant
            score_open_leads(SqlUnitOfWork.around(session), rules, now=at[lead_id], lead_ids=[lead_id],
                             only_changed=False)
            rescored = session.scalar(select(m.Lead.score).where(m.Lead.id == lead_id))
            assert rescored == pytest.approx(stored[lead_id], abs=0.01), lead_id
        session.rollback()
    assert len(open_ids) == 40


def test_inbox_files_already_ingested_are_not_written_again(tmp_path, rules):
    """A second seed after the pipeline ingested the files writes none of them (they would only be
    filed in var/processed once more); a file whose batch was rejected is written, to be retried."""
    import hashlib

    url, inbox, first = run_seed(tmp_path, rules)
    files = {p.name: p.read_bytes() for p in inbox.iterdir()}
    rejected = min(files)
    with Session(get_engine(url)) as session:
        for name, content in files.items():
            session.add(m.IngestBatch(source="test", origin=name, content_hash=hashlib.sha256(content).hexdigest(),
                                      status="rejected" if name == rejected else "done"))
        session.commit()
    for p in inbox.iterdir():  # the pipeline moved them away
        p.unlink()
    _, _, second = run_seed(tmp_path, rules)
    assert [p.name for p in inbox.iterdir()] == [rejected]
    assert second["inbox_paths"] == [str(inbox / rejected)]
    assert sorted(second["inbox_already_ingested"]) == sorted(n for n in files if n != rejected)
    assert len(first["inbox_paths"]) == len(files) == 7
