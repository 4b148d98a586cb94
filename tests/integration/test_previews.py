"""Previews (--dry-run) of routing and the SLA sweep, and leads named by email, on both databases.

A preview runs the real service in a transaction that is rolled back: it must leave every table
exactly as it was and show the decisions the real run then makes.
"""
import json
import subprocess
import sys
from datetime import datetime, timedelta, UTC
from pathlib import Path

import pytest
from sqlalchemy import func, select

from leadops.db.models import Assignment, Base, Lead, Notification, Sdr
from leadops.db.preview import PreviewCommitted, outbox_size, preview_scope
from leadops.db.session import get_engine
from leadops.db.unit_of_work import SqlUnitOfWork
from leadops.services.enrich import enrich_pending
from leadops.intake.files import ingest_file
from leadops.services.lookup import find_lead_id, parse_lead_ref
from leadops.services.route import route_pending
from leadops.services.score import score_open_leads
from leadops.services.sla import enforce
from tests.conftest import ROOT
from tests.e2e.test_demo_cli import LEADOPS, env_for

MONDAY_10_PARIS = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LATE = MONDAY_10_PARIS + timedelta(hours=2, minutes=1)  # past reminder, breach and reassignment (200%)
CSV = (
    "Email,First Name,Last Name,Company,Job Title,Country,Source\n"
    "lea@atelier-numerique.fr,Léa,Martin,Atelier Numérique SAS,DSI,France,demo_request\n"
    "jane.doe@acme.de,Jane,Doe,Acme GmbH,CTO,Germany,demo_request\n"
    "sam@northwind.co.uk,Sam,Hale,Northwind Ltd,Head of IT,United Kingdom,demo_request\n"
    "tom@example-nowhere.fr,Tom,Petit,Nowhere,Stagiaire,France,white_paper\n"
)


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order: what "writes nothing" is checked against."""
    with get_engine(url).connect() as conn:
        return {t.name: [tuple(r) for r in conn.execute(select(t).order_by(*(t.primary_key.columns or t.columns)))]
                for t in Base.metadata.sorted_tables}


@pytest.fixture
def scored(session, settings, rules, roster):
    """Leads ingested, enriched and scored (MQLs waiting for routing), committed."""
    settings.inbox_dir.mkdir(parents=True)
    (settings.inbox_dir / "webform.csv").write_text(CSV, encoding="utf-8")
    ingest_file(SqlUnitOfWork.around(session), settings.inbox_dir / "webform.csv", rules, settings)
    enrich_pending(SqlUnitOfWork.around(session), rules)
    score_open_leads(SqlUnitOfWork.around(session), rules, now=MONDAY_10_PARIS)
    session.commit()


@pytest.fixture
def routed(scored, session, settings, rules):
    """The MQLs routed on Monday 10:00 Paris, with open first-touch clocks, committed."""
    summary = route_pending(SqlUnitOfWork.around(session), rules, settings.company_time_zone, now=MONDAY_10_PARIS)
    session.commit()
    assert summary.assigned >= 2
    return summary


def lead_id_of(session, email):
    return session.scalar(select(Lead.id).where(Lead.email == email))


# --------------------------------------------------------------------------- the preview unit of work


def test_sla_preview_writes_nothing_and_shows_what_the_real_sweep_then_does(session, settings, rules, routed):
    tz = settings.company_time_zone
    before = snapshot(settings.database_url)
    with preview_scope(settings.database_url) as preview:
        queued_before = outbox_size(preview)
        shown = enforce(SqlUnitOfWork.around(preview), rules, tz, now=LATE)
        messages = outbox_size(preview) - queued_before
    assert snapshot(settings.database_url) == before  # no row added, changed or removed, outbox included

    lea = lead_id_of(session, "lea@atelier-numerique.fr")
    steps = [(a["lead_id"], a["step"]) for a in shown.actions]
    assert (lea, "reminder") in steps and (lea, "breach") in steps and (lea, "reassign") in steps
    moved = next(a for a in shown.actions if a["lead_id"] == lea and a["step"] == "reassign")
    assert moved["to"] and moved["to"] != moved["sdr"]
    assert shown.reassigned >= 1 and messages > shown.notifications_queued  # + the new owners' assignment emails

    notes_before = session.scalar(select(func.count()).select_from(Notification))
    real = enforce(SqlUnitOfWork.around(session), rules, tz, now=LATE)
    session.commit()
    assert real.actions == shown.actions
    assert (real.reminded, real.breached, real.reassigned, real.notifications_queued) == (
        shown.reminded, shown.breached, shown.reassigned, shown.notifications_queued)
    assert session.scalar(select(func.count()).select_from(Notification)) - notes_before == messages
    owner = session.scalar(select(Sdr.code).join(Lead, Lead.owner_sdr_id == Sdr.id).where(Lead.id == lea))
    assert owner == moved["to"]


def test_route_preview_writes_nothing_and_shows_what_the_real_pass_then_does(session, settings, rules, scored):
    tz = settings.company_time_zone
    before = snapshot(settings.database_url)
    with preview_scope(settings.database_url) as preview:
        shown = route_pending(SqlUnitOfWork.around(preview), rules, tz, now=MONDAY_10_PARIS)
    assert snapshot(settings.database_url) == before
    assert shown.assigned >= 2

    real = route_pending(SqlUnitOfWork.around(session), rules, tz, now=MONDAY_10_PARIS)
    session.commit()
    assert real.assignments == shown.assignments and real.not_assigned == shown.not_assigned
    owners = dict(session.execute(select(Lead.id, Sdr.code).join(Sdr, Sdr.id == Lead.owner_sdr_id)).all())
    assert {a["lead_id"]: a["sdr"] for a in shown.assignments} == owners


def test_preview_refuses_a_commit_by_the_session_or_on_its_connection(settings, roster):
    before = snapshot(settings.database_url)
    for commit in (lambda s: s.commit(), lambda s: s.connection().commit()):
        with preview_scope(settings.database_url) as preview:
            preview.execute(Sdr.__table__.delete())
            with pytest.raises(PreviewCommitted, match="a dry run tried to commit"):
                commit(preview)
        assert snapshot(settings.database_url) == before


# --------------------------------------------------------------------------- leads named by email


def test_a_lead_is_found_by_its_email_normalized_as_intake_does(session, scored):
    jane = lead_id_of(session, "jane.doe@acme.de")
    uow = SqlUnitOfWork.around(session)
    assert find_lead_id(uow, parse_lead_ref("  <Jane.Doe@ACME.de> ")) == jane
    assert find_lead_id(uow, parse_lead_ref(str(jane))) == jane
    assert find_lead_id(uow, parse_lead_ref("john.doe@acme.de")) is None
    with pytest.raises(ValueError, match="neither a lead id nor an email"):
        parse_lead_ref("jane doe")


# --------------------------------------------------------------------------- the command


def leadops(settings, *args: str, **env_extra: str) -> subprocess.CompletedProcess:
    env = env_for(settings.var_dir.parent, LEADOPS_DATABASE_URL=settings.database_url,
                  LEADOPS_VAR_DIR=str(settings.var_dir), **env_extra)
    return subprocess.run([LEADOPS, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.stderr.startswith("leadops: error: ") and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    return proc.stderr


def test_run_sla_dry_run_prints_each_step_writes_nothing_and_matches_the_real_sweep(session, settings, rules, routed):
    before = snapshot(settings.database_url)
    proc = leadops(settings, "run", "sla", "--now", LATE.isoformat(), "--dry-run", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    shown = json.loads(proc.stdout)
    assert snapshot(settings.database_url) == before
    assert shown["dry_run"] is True and shown["reassigned"] >= 1 and shown["messages"] > 0

    text = leadops(settings, "run", "sla", "--now", LATE.isoformat(), "--dry-run")
    assert text.returncode == 0, text.stderr[-2000:]
    moved = next(a for a in shown["actions"] if a["step"] == "reassign" and a["to"])
    assert f"{moved['sdr']} -> {moved['to']}" in text.stdout
    assert f"{shown['messages']} messages would be queued" in text.stdout

    real = enforce(SqlUnitOfWork.around(session), rules, settings.company_time_zone, now=LATE)
    session.commit()
    assert json.loads(json.dumps(real.actions)) == shown["actions"]


def test_route_dry_run_prints_each_lead_and_sdr_and_the_real_route_does_the_same(session, settings, scored):
    before = snapshot(settings.database_url)
    proc = leadops(settings, "route", "--dry-run", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    shown = json.loads(proc.stdout)
    assert snapshot(settings.database_url) == before
    assert shown["dry_run"] is True and shown["assigned"] >= 2 and shown["messages"] >= shown["assigned"]

    text = leadops(settings, "route", "--dry-run")
    a = shown["assignments"][0]
    assert f"lead {a['lead_id']:<8} -> {a['sdr']:<12} rule {a['rule']}" in text.stdout

    real = leadops(settings, "route", "--json")
    assert real.returncode == 0, real.stderr[-2000:]
    assert json.loads(real.stdout)["assignments"] == shown["assignments"]


def test_route_dry_run_syncs_the_roster_first_as_the_real_route_does(session, settings, scored, tmp_path):
    import shutil

    import yaml

    cfg = tmp_path / "config"
    shutil.copytree(ROOT / "config", cfg)
    roster = yaml.safe_load((cfg / "sdrs.yaml").read_text(encoding="utf-8"))
    for person in roster["people"]:
        if person["code"] == "s.lefevre":  # routing on the committed roster gives him a lead
            person["active"] = False
    (cfg / "sdrs.yaml").write_text(yaml.safe_dump(roster, allow_unicode=True), encoding="utf-8")
    before = snapshot(settings.database_url)
    proc = leadops(settings, "route", "--dry-run", "--json", LEADOPS_CONFIG_DIR=str(cfg))
    assert proc.returncode == 0, proc.stderr[-2000:]
    shown = json.loads(proc.stdout)
    assert snapshot(settings.database_url) == before
    assert shown["roster"]["deactivated"] == 1 and "s.lefevre" not in {a["sdr"] for a in shown["assignments"]}

    real = leadops(settings, "route", "--json", LEADOPS_CONFIG_DIR=str(cfg))
    assert real.returncode == 0, real.stderr[-2000:]
    done = json.loads(real.stdout)
    assert done["assignments"] == shown["assignments"] and done["roster"] == shown["roster"]


def test_explain_and_reassign_take_an_email(session, settings, routed):
    jane = lead_id_of(session, "jane.doe@acme.de")
    proc = leadops(settings, "explain", "Jane.Doe@Acme.DE", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["lead_id"] == jane and out["decisions"] and out["timeline"]

    owner_before = session.scalar(select(Lead.owner_sdr_id).where(Lead.id == jane))
    proc = leadops(settings, "reassign", "jane.doe@acme.de", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    moved = json.loads(proc.stdout)
    session.rollback()  # end this session's read transaction: see what the command committed
    owner = session.scalar(select(Sdr.code).join(Lead, Lead.owner_sdr_id == Sdr.id).where(Lead.id == jane))
    assert moved["lead_id"] == jane and moved["sdr"] == owner
    assert session.scalar(select(Lead.owner_sdr_id).where(Lead.id == jane)) != owner_before


def test_unknown_lead_or_sdr_is_one_line_exit_2_and_changes_nothing(session, settings, routed):
    before = snapshot(settings.database_url)
    proc = leadops(settings, "explain", "john.doe@acme.de")
    assert proc.returncode == 2 and "no lead has the email john.doe@acme.de" in one_line_error(proc)
    proc = leadops(settings, "explain", "999999")
    assert proc.returncode == 2 and "no lead has the id 999999" in one_line_error(proc)
    proc = leadops(settings, "reassign", "jane doe")
    assert proc.returncode == 2 and "'jane doe'" in one_line_error(proc)
    proc = leadops(settings, "reassign", "jane.doe@acme.de", "--to", "s.nobody")
    err = one_line_error(proc)
    assert proc.returncode == 2 and "--to 's.nobody'" in err and "s.dubois" in err
    assert snapshot(settings.database_url) == before
    assert session.scalar(select(func.count()).select_from(Assignment).where(Assignment.kind == "manual")) == 0


# --------------------------------------------------------------------------- refused before Prefect


PROBE = """
import json, sys
from leadops.cli import app
code = None
try:
    app(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "prefect": sorted(m for m in sys.modules if m == "prefect" or m.startswith("leadops.flows"))}))
"""


def probe(tmp_path: Path, *args: str) -> tuple[dict, str]:
    """Run the command in a Python process that then reports its exit code and whether Prefect was imported."""
    env = env_for(tmp_path)
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_a_future_now_is_refused_without_force_before_prefect_starts(tmp_path):
    future = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    out, err = probe(tmp_path, "run", "sla", "--now", future)
    assert out == {"code": 2, "prefect": []}
    assert err.startswith("leadops: error: --now ") and "future" in err and "--dry-run" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("bad,why", [("2026-13-40T10:00:00+01:00", "not an ISO 8601 instant"),
                                     ("2026-11-20T18:00:00", "needs a UTC offset")])
def test_a_bad_now_is_refused_before_prefect_starts(tmp_path, bad, why):
    out, err = probe(tmp_path, "run", "sla", "--now", bad)
    assert out == {"code": 2, "prefect": []}
    assert err.startswith(f"leadops: error: --now {bad!r}") and why in err


def test_a_dry_run_with_a_future_now_runs_without_prefect(tmp_path):
    future = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    out, err = probe(tmp_path, "run", "sla", "--now", future, "--dry-run", "--json")
    assert out == {"code": 0, "prefect": []}, err[-2000:]
