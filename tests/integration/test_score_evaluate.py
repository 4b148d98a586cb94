"""Outcome feedback on a real database (SQLite and PostgreSQL): `leadops score evaluate` and its service.

A hand-made history: leads with their stage moves, their score history (the score at hand-off and a later,
inflated one), their assignments (a held decision first, a reassignment later) and an opportunity. Every
expected figure below is counted from that scenario (``LEADS``), not written down.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from leadops.db.models import Assignment, Lead, LeadStageChange, Opportunity, ScoreHistory, Sdr
from leadops.db.unit_of_work import SqlUnitOfWork
from leadops.services.outcomes import evaluate_outcomes
from leadops.services.report import sdr_labels

NOW = datetime(2026, 11, 23, 9, tzinfo=UTC)
SDRS = {"a.silva": "Ana Silva", "b.khan": "Bilal Khan"}
NAMES = {**SDRS, None: "(not routed)"}
CONVERTED = {"sql", "opportunity", "won"}


@dataclass(frozen=True)
class Spec:
    """One seeded lead: when it arrived, its score at hand-off (None: none stored) and now, the stages it moved into
    from its hand-off on, its first assignment's rule and SDR, and whether it has an opportunity."""

    name: str
    days_ago: float
    handoff: tuple[float, str] | None
    current: tuple[float | None, str | None]
    path: tuple[str, ...] = ()
    rule: str | None = None
    sdr: str | None = None
    routed: bool = False
    opportunity: bool = False

    @property
    def converted(self) -> bool:
        return bool(CONVERTED & set(self.path)) or self.opportunity

    @property
    def judged_by(self) -> tuple[float | None, str | None]:
        """The score the lead should be judged by: at hand-off when one is stored, else its current one."""
        return self.handoff or self.current

    @property
    def old_enough(self) -> bool:
        return self.days_ago >= 14


def _cohort(days_ago: float, tag: str) -> list[Spec]:
    return [
        Spec(f"e1{tag}", days_ago, (85, "A1"), (97, "A1"), ("mql", "sal", "sql"), "enterprise", "b.khan", True),
        Spec(f"e2{tag}", days_ago, (82, "A1"), (90, "A1"), ("mql", "sal", "sql", "lost"), "enterprise", "b.khan", True),
        Spec(f"e3{tag}", days_ago, (81, "A2"), (81, "A2"), ("mql", "sal", "recycled"), "enterprise", "b.khan", True),
        # scored 45 when handed to sales; the conversation that followed lifted it to 95
        Spec(f"e4{tag}", days_ago, (45, "C2"), (95, "A1"), ("mql", "sal", "sql"), "enterprise", "b.khan", True),
        Spec(f"s1{tag}", days_ago, (65, "B2"), (66, "B2"), ("mql", "sal"), "smb", "a.silva", True),
        Spec(f"s2{tag}", days_ago, (62, "B3"), (70, "B2"), ("mql", "sal"), "smb", "a.silva", True, opportunity=True),
    ]


#: two cohorts alike (40 and 30 days old), then leads that each take another path
LEADS = [
    *_cohort(40, "a"), *_cohort(30, "b"),
    Spec("m1", 20, None, (88, "A1"), ("mql", "sal", "sql"), "enterprise", "b.khan", True),  # no score stored then
    Spec("h1", 20, (70, "B1"), (72, "B1"), ("mql",), None, "a.silva", True),  # assigned by hand: no rule
    Spec("r1", 20, (55, "C1"), (90, "A1"), (), "smb", "a.silva", True),  # assigned with no stage move stored
    Spec("u1", 20, None, (10, "D4")),  # never handed to sales
    Spec("b1", 14, None, (30, "C4")),  # exactly 14 days old: old enough
    Spec("y1", 5, (90, "A1"), (99, "A1"), ("mql", "sal", "sql"), "enterprise", "b.khan", True),  # too young
]


def seed(session, now: datetime = NOW) -> None:
    """Write ``LEADS`` as of ``now`` and commit."""
    sdrs = {code: Sdr(code=code, name=name, email=f"{code}@example.com") for code, name in SDRS.items()}
    session.add_all(sdrs.values())
    session.flush()
    for spec in LEADS:
        arrived = now - timedelta(days=spec.days_ago)
        handoff = arrived + timedelta(hours=1)
        stage = spec.path[-1] if spec.path else ("sal" if spec.routed else "nurture")
        lead = Lead(email=f"{spec.name}@acme.example", email_domain="acme.example", source="web_form",
                    lifecycle_stage=stage, arrived_at=arrived, score=spec.current[0], grade=spec.current[1])
        session.add(lead)
        session.flush()
        def scored(score: float, grade: str, at: datetime, lead_id: int = lead.id) -> None:
            session.add(ScoreHistory(lead_id=lead_id, model_version="v1", fit_score=0, engagement_score=0, score=score,
                                     grade=grade, scored_at=at))

        if spec.handoff:
            scored(20.0, "D4", arrived)  # lower at arrival: the last score at or before the hand-off is the one judged
            # at the move to MQL; a lead with no stage move is handed off by its assignment, 10 minutes later
            scored(*spec.handoff, handoff if spec.path else handoff - timedelta(minutes=30))
        if spec.handoff is None or spec.current != spec.handoff:
            scored(*spec.current, handoff + timedelta(days=3))  # after the conversation
        previous = "new"
        for i, to in enumerate(spec.path):
            session.add(LeadStageChange(lead_id=lead.id, from_stage=previous, to_stage=to, cause="test",
                                        changed_at=handoff + timedelta(days=i)))
            previous = to
        if spec.routed:
            session.add(Assignment(lead_id=lead.id, status="held", rule="held-for-owner", reason="held", active=False,
                                   assigned_at=handoff))
            session.flush()
            session.add(Assignment(lead_id=lead.id, sdr_id=sdrs[spec.sdr].id, kind="initial" if spec.rule else "manual",
                                   status="assigned", rule=spec.rule, reason="test", active=spec.name[0] != "e",
                                   assigned_at=handoff + timedelta(minutes=10)))
            if spec.name[0] == "e":  # reassigned later: the first assignment is the one judged
                session.flush()
                other = "a.silva" if spec.sdr == "b.khan" else "b.khan"
                session.add(Assignment(lead_id=lead.id, sdr_id=sdrs[other].id, kind="reassign", status="assigned",
                                       rule="sla-reassign", reason="breach", active=True,
                                       assigned_at=handoff + timedelta(days=2)))
        if spec.opportunity:
            session.add(Opportunity(lead_id=lead.id, sdr_id=sdrs[spec.sdr].id, created_at=handoff + timedelta(days=5)))
    session.commit()


def band(score: float | None) -> str:
    return "unscored" if score is None else "100+" if score >= 100 else f"{int(score // 20) * 20}-{int(score // 20) * 20 + 20}"


def expected(specs, key) -> dict[str, tuple[int, int]]:
    """group -> (leads, converted) of ``specs`` grouped by ``key``."""
    leads, won = Counter(), Counter()
    for s in specs:
        leads[key(s)] += 1
        won[key(s)] += s.converted
    return {g: (leads[g], won[g]) for g in leads}


def table(rows) -> dict[str, tuple[int, int]]:
    return {r["group"]: (r["leads"], r["converted"]) for r in rows}


OLD = [s for s in LEADS if s.old_enough]


@pytest.fixture
def seeded(session):
    seed(session)
    return SqlUnitOfWork.around(session)


def test_outcomes_count_the_old_enough_leads_by_band_grade_rule_and_sdr(seeded):
    out = evaluate_outcomes(seeded, now=NOW, labels=sdr_labels(seeded))
    assert (out.leads, out.converted) == (len(OLD), sum(s.converted for s in OLD))
    assert out.overall["conversion_rate"] == pytest.approx(out.converted / out.leads, abs=1e-4)
    assert table(out.by_band) == expected(OLD, lambda s: band(s.judged_by[0]))
    assert table(out.by_grade) == expected(OLD, lambda s: s.judged_by[1] or "(no grade)")
    assert table(out.by_rule) == expected(OLD, lambda s: s.rule or "(no rule)" if s.routed else "(not routed)")
    assert table(out.by_sdr) == expected(OLD, lambda s: NAMES[s.sdr])
    assert {r["group"]: r["sdr_code"] for r in out.by_sdr} == {"Ana Silva": "a.silva", "Bilal Khan": "b.khan",
                                                               "(not routed)": ""}
    for rows in (out.by_band, out.by_grade, out.by_rule, out.by_sdr, [out.overall]):
        for r in rows:
            assert r["conversion_rate"] == pytest.approx(r["converted"] / r["leads"], abs=1e-4)
            assert r["ci_low"] <= r["conversion_rate"] <= r["ci_high"]
    assert out.score_basis == {"handoff": sum(1 for s in OLD if s.routed and s.handoff),
                               "current": sum(1 for s in OLD if s.routed and not s.handoff),
                               "not_handed_off": sum(1 for s in OLD if not s.routed)}
    assert any("current score is used" in n for n in out.notes)


def test_a_lead_is_placed_by_its_score_at_hand_off_not_its_inflated_current_score(seeded):
    out = evaluate_outcomes(seeded, now=NOW)
    inflated = [s for s in OLD if s.handoff and band(s.handoff[0]) != band(s.current[0])]
    assert inflated  # the scenario has such leads
    by_band = table(out.by_band)
    by_current = expected(OLD, lambda s: band(s.current[0]))
    assert by_band != by_current  # judging by the current score would give other figures
    assert by_band["40-60"][1] >= sum(1 for s in inflated if band(s.handoff[0]) == "40-60" and s.converted) > 0


def test_the_interval_narrows_as_a_rate_holds_over_more_leads(seeded):
    one = evaluate_outcomes(seeded, now=NOW, since=NOW - timedelta(days=35), until=NOW - timedelta(days=25))
    two = evaluate_outcomes(seeded, now=NOW, since=NOW - timedelta(days=45), until=NOW - timedelta(days=25))
    assert two.leads == 2 * one.leads and two.converted == 2 * one.converted  # the same cohort twice
    for a, b in ((one.overall, two.overall), (table_row(one.by_rule, "enterprise"), table_row(two.by_rule, "enterprise"))):
        assert a["conversion_rate"] == b["conversion_rate"]
        assert b["ci_high"] - b["ci_low"] < a["ci_high"] - a["ci_low"]


def table_row(rows, group):
    return next(r for r in rows if r["group"] == group)


def test_the_age_and_the_period_select_the_leads(seeded):
    assert evaluate_outcomes(seeded, now=NOW, min_age_days=0).leads == len(LEADS)  # the young lead too
    assert evaluate_outcomes(seeded, now=NOW, min_age_days=21).leads == sum(1 for s in LEADS if s.days_ago >= 21)
    assert evaluate_outcomes(seeded, now=NOW, until=NOW - timedelta(days=35)).leads == \
        sum(1 for s in LEADS if s.days_ago > 35)
    empty = evaluate_outcomes(seeded, now=NOW, since=NOW - timedelta(days=10))
    assert empty.leads == 0 and empty.by_band == [] and empty.notes[-1].startswith("No lead is old enough in the period")


# --------------------------------------------------------------------------- the command


@pytest.fixture
def cli_env(monkeypatch, settings, session):
    seed(session, datetime.now(UTC))
    monkeypatch.setenv("LEADOPS_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LEADOPS_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("LEADOPS_CONFIG_DIR", str(settings.config_dir))
    monkeypatch.setenv("LEADOPS_EXPECTATIONS_DIR", str(settings.expectations_dir))


def invoke(*args):
    from typer.testing import CliRunner

    from leadops.cli import app

    return CliRunner().invoke(app, ["score", "evaluate", *args])


def test_score_evaluate_prints_the_four_tables_and_the_full_structure_as_json(cli_env):
    done = invoke("--json")
    assert done.exit_code == 0, done.output
    out = json.loads(done.stdout)
    assert (out["leads"], out["converted"]) == (len(OLD), sum(s.converted for s in OLD))
    assert out["min_age_days"] == 14 and out["converted_stages"] == ["sql", "opportunity", "won"]
    assert table(out["by_rule"]) == expected(OLD, lambda s: s.rule or "(no rule)" if s.routed else "(not routed)")
    assert table(out["by_sdr"]) == expected(OLD, lambda s: NAMES[s.sdr])

    text = invoke()
    assert text.exit_code == 0, text.output
    assert text.stdout.startswith(f"{len(OLD)} leads arrived from the first lead to now")
    for header in ("Score band", "Grade", "Routing rule", "SDR"):
        assert f"\n  {header} " in text.stdout
    enterprise = table_row(out["by_rule"], "enterprise")
    line = next(x for x in text.stdout.splitlines() if x.strip().startswith("enterprise "))
    assert line.split()[1:4] == [str(enterprise["leads"]), str(enterprise["converted"]),
                                 f"{100 * enterprise['conversion_rate']:.1f}%"]


def test_score_evaluate_says_when_no_lead_is_old_enough(cli_env):
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    done = invoke("--since", (datetime.now(UTC) - timedelta(days=3)).date().isoformat(), "--until", tomorrow)
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("No lead is old enough in the period: none arrived from ")
    as_json = json.loads(invoke("--since", (datetime.now(UTC) - timedelta(days=3)).isoformat(), "--json").stdout)
    assert as_json["leads"] == 0 and as_json["by_band"] == []


@pytest.mark.parametrize("args, message", [
    (["--since", "banana"], "--since 'banana': expected a date such as 2026-11-20 or an ISO 8601 instant"),
    (["--until", "2026-13-01"], "--until '2026-13-01': expected a date"),
    (["--min-age-days", "-1"], "--min-age-days -1: expected 0 or more days"),
    (["--since", "2026-11-20", "--until", "2026-11-01"], "--since 2026-11-20 is not before --until 2026-11-01"),
])
def test_score_evaluate_refuses_a_bad_argument_in_one_line(monkeypatch, settings, args, message):
    monkeypatch.setenv("LEADOPS_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LEADOPS_CONFIG_DIR", str(settings.config_dir))
    done = invoke(*args)
    assert done.exit_code == 2
    assert done.stderr.startswith(f"leadops: error: {message}") and len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""
