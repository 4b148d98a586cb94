"""`leadops seed`: deterministic, idempotent, realistic, on a real database."""
import hashlib
import json
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from leadops.db.models import Activity, Lead, Opportunity, Sdr
from leadops.domain.metrics import iso_week_bounds, previous_week, week_of
from leadops.seed import firmographics_csv, seed
from tests.conftest import ROOT

ANCHOR = date(2026, 11, 20)


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def seeded(session, settings, rules):
    out = seed(session, rules, settings.inbox_dir, seed=42, anchor=ANCHOR)
    session.commit()
    return out


def test_same_seed_and_anchor_give_identical_files(tmp_path, rules):
    from leadops.seed import generate, write_inbox_files

    a = write_inbox_files(generate(42, ANCHOR, rules), tmp_path / "a")
    b = write_inbox_files(generate(42, ANCHOR, rules), tmp_path / "b")
    c = write_inbox_files(generate(7, ANCHOR, rules), tmp_path / "c")
    assert digest(tmp_path / "a") == digest(tmp_path / "b") and len(a) == len(b) == 6
    assert digest(tmp_path / "a") != digest(tmp_path / "c")
    assert len(c) == 6


def test_rerun_inserts_nothing(session, settings, rules, seeded):
    counts = [session.scalar(select(func.count()).select_from(t)) for t in (Lead, Activity, Opportunity, Sdr)]
    again = seed(session, rules, settings.inbox_dir, seed=42, anchor=ANCHOR)
    session.commit()
    assert all(v == 0 for k, v in again["inserted"].items() if k != "sdrs")
    assert [session.scalar(select(func.count()).select_from(t)) for t in (Lead, Activity, Opportunity, Sdr)] == counts


def test_sample_is_about_2000_leads_over_8_weeks(session, seeded):
    leads = session.scalar(select(func.count()).select_from(Lead))
    assert leads + seeded["inbox_rows"] == pytest.approx(2000, rel=0.05)
    first, last = session.execute(select(func.min(Lead.arrived_at), func.max(Lead.arrived_at))).one()
    assert timedelta(weeks=6) < last - first <= timedelta(weeks=7)
    owners = session.scalars(select(Sdr.code).join(Lead, Lead.owner_sdr_id == Sdr.id).distinct()).all()
    assert len(owners) == 11 and all(c.startswith("s.") for c in owners)
    sources = set(session.scalars(select(Lead.source).distinct()))
    assert {"web_form", "demo_request", "white_paper", "webinar", "trade_show", "outbound_list"} <= sources
    assert session.scalar(select(func.count()).select_from(Lead).where(Lead.is_free_email)) > 0
    assert session.scalar(select(func.count()).select_from(Lead).where(Lead.is_competitor)) > 0
    accented = session.scalar(select(func.count()).select_from(Lead).where(
        Lead.last_name.like("%é%") | Lead.first_name.like("%é%") | Lead.last_name.like("%ü%")))
    assert accented > 10


def test_last_week_has_activities_meetings_saos_and_revenue(session, seeded):
    week = previous_week(week_of(datetime(2026, 11, 20, 12, tzinfo=timezone.utc), "Europe/Paris"))
    start, end = iso_week_bounds(week, "Europe/Paris")
    in_week = (Activity.occurred_at >= start) & (Activity.occurred_at < end)
    kinds = dict(session.execute(select(Activity.kind, func.count()).where(in_week, Activity.sdr_id.is_not(None))
                                 .group_by(Activity.kind)).all())
    assert {"call", "email", "linkedin", "meeting"} <= set(kinds) and kinds["call"] > 50
    assert session.scalar(select(func.count()).select_from(Opportunity)) > 10
    assert session.scalar(select(func.sum(Opportunity.amount)).where(Opportunity.stage == "won")) > 0


def test_inbox_files_are_dirty_in_the_ways_real_exports_are(settings, seeded):
    files = {p.name.split("-")[0]: p for p in settings.inbox_dir.iterdir()}
    salon = files["salon"].read_bytes()
    with pytest.raises(UnicodeDecodeError):
        salon.decode("utf-8")
    assert salon.decode("cp1252").splitlines()[0].startswith("Courriel;Prénom;Nom;Société")
    assert files["demo"].read_bytes().startswith(b"\xef\xbb\xbf")
    assert "\t" in files["outbound"].read_text(encoding="utf-8").splitlines()[0]
    bad = 0
    for line in files["webinar"].read_text(encoding="utf-8").splitlines():
        try:
            json.loads(line)
        except ValueError:
            bad += 1
    assert bad == 1
    assert seeded["inbox_dirty"] > 5 and seeded["inbox_history_duplicates"] > 0 and seeded["inbox_duplicates"] > 0


def test_bundled_firmographics_file_matches_its_generator():
    assert (ROOT / "leadops" / "data" / "firmographics.csv").read_text(encoding="utf-8") == firmographics_csv()
