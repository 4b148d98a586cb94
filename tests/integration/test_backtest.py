"""`leadops routing backtest` on the sample: fairness per pool among the members eligible for each lead, per rule,
two candidate files side by side, and bad arguments (SQLite and PostgreSQL)."""
from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from datetime import date

import pytest
from sqlalchemy import select, text, update
from typer.testing import CliRunner

from leadops import cli
from leadops.db.models import Assignment, Sdr
from leadops.db.session import session_scope
from leadops.db.unit_of_work import SqlUnitOfWork
from leadops.services.backtest import backtest, day_start
from tests.conftest import PG_URL, ROOT

ANCHOR = date(2026, 11, 23)
SINCE = "2026-10-01"  # before the sample's first lead: every routed lead of the sample is replayed


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, rules):
    """The sample (`leadops seed`: leads routed by the real router, every decision stored), seeded once per
    backend for the module: SQLite, and a schema of its own on PostgreSQL. Tests that change it put it back."""
    from leadops.db.migrate import upgrade
    from leadops.db.session import get_engine
    from leadops.seed import seed

    root = tmp_path_factory.mktemp("backtest")
    schema = f"leadops_bt_{uuid.uuid4().hex[:8]}"
    with get_engine(PG_URL).begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    urls = {"sqlite": f"sqlite:///{root / 'sample.db'}",
            "postgresql": f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"}
    for url in urls.values():
        upgrade(url)
        with session_scope(url) as session:
            seed(session, rules, root / "inbox", anchor=ANCHOR)
            session.commit()
    yield urls
    for url in urls.values():
        get_engine(url).dispose()
    with get_engine(PG_URL).begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(params=["sqlite", "postgresql"])
def sample(request, seeded, tmp_path):
    """Settings on the seeded sample of one backend."""
    from leadops.config import get_settings

    return get_settings(database_url=seeded[request.param], var_dir=tmp_path / "var", config_dir=ROOT / "config",
                        expectations_dir=ROOT / "expectations")


def replay(settings, rules, routing=None, **kw) -> dict:
    with session_scope(settings.database_url) as session:
        report = backtest(SqlUnitOfWork.around(session), routing or rules.routing,
                          day_start(SINCE, settings.company_time_zone), settings.company_time_zone,
                          in_force=rules.routing, **kw)
        session.rollback()
    return asdict(report)


def leadops(settings, monkeypatch, *args: str):
    monkeypatch.setenv("LEADOPS_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LEADOPS_CONFIG_DIR", str(ROOT / "config"))
    monkeypatch.setenv("LEADOPS_EXPECTATIONS_DIR", str(ROOT / "expectations"))
    monkeypatch.setenv("LEADOPS_VAR_DIR", str(settings.var_dir))
    return CliRunner().invoke(cli.app, ["routing", "backtest", "--since", SINCE, *args])


def test_replaying_the_rules_in_force_gives_back_each_pool_as_it_happened(sample, rules):
    out = replay(sample, rules)
    assert out["leads"] > 500 and out["changed"] == 0 and out["simulated"] == out["actual"]
    pools = [p for p, f in out["pools"].items() if f["leads"]]
    assert pools, "the sample routes leads through pools"
    for pool in out["pools"]:
        assert out["pools"][pool] == out["actual_pools"][pool], pool  # members, got, expected, fairness
    actual_rules = {r["rule"]: r for r in out["actual_rules"]}
    for row in out["rules"]:
        assert row["leads"] == row["assigned"] + row["held"] + row["unroutable"]
        if row["assigned"]:
            assert actual_rules[row["rule"]]["assigned"] == row["assigned"]
            assert actual_rules[row["rule"]]["fairness"] == row["fairness"]
    for pool in pools:
        figures = out["pools"][pool]
        # a pool is judged on its own leads: those of the rules that route to it
        fed = sum(r["assigned"] for r in out["rules"] if r["to"] == f"pool {pool}")
        assert figures["leads"] == fed == sum(m["got"] for m in figures["per_member"])
        assert sum(m["expected"] for m in figures["per_member"]) == pytest.approx(fed, abs=0.05)
        counted = [m["ratio"] for m in figures["per_member"] if m["counted"]]
        if len(counted) >= 2 and min(counted) > 0:
            assert figures["fairness"] == pytest.approx(max(counted) / min(counted), rel=0.01)


def test_a_rotation_that_gave_a_pool_s_leads_to_one_member_shows_that_pool_unfair(sample, rules, monkeypatch):
    rule = next(r for r in rules.routing.rules if r.to.pool and r.name == "france-benelux")
    pool = rule.to.pool
    before = replay(sample, rules)
    assert before["actual_pools"][pool]["leads"] > 0
    one, *others = rules.routing.pools[pool].members
    with session_scope(sample.database_url) as session:  # what happened: every lead of the rule went to one
        real = session.execute(select(Assignment.id, Assignment.sdr_id).where(Assignment.rule == rule.name)).all()
        session.execute(update(Assignment).where(Assignment.rule == rule.name).values(
            sdr_id=session.scalar(select(Sdr.id).where(Sdr.code == one))))
        session.commit()
    try:
        after, printed = replay(sample, rules), leadops(sample, monkeypatch)
    finally:
        with session_scope(sample.database_url) as session:  # the module's sample, as it was
            for assignment_id, sdr_id in real:
                session.execute(update(Assignment).where(Assignment.id == assignment_id).values(sdr_id=sdr_id))
            session.commit()
    assert after["pools"] == before["pools"]  # the candidate's replay does not depend on who got the leads
    happened = after["actual_pools"][pool]
    rows = {m["sdr"]: m for m in happened["per_member"]}
    assert rows[one]["got"] == happened["leads"] == before["actual_pools"][pool]["leads"]
    assert rows[one]["ratio"] > 1 and all(rows[o]["got"] == 0 and rows[o]["ratio"] == 0 for o in others)
    assert happened["unbounded"] == any(rows[o]["counted"] for o in others) and happened["fairness"] is None
    # side by side in the text: the candidate's figure, then inf as it happened
    assert printed.exit_code == 0, printed.output
    line = next(x for x in printed.stdout.splitlines() if x.startswith(f"  {pool} "))
    assert line.split("|")[-1].split() == [str(happened["leads"]), "inf"]
    assert line.split("|")[1].split()[0] == str(after["pools"][pool]["leads"])


def test_two_candidate_files_side_by_side_per_pool_and_per_rule(sample, rules, monkeypatch, tmp_path):
    a, b = tmp_path / "A.yaml", tmp_path / "B.yaml"
    text = (ROOT / "config" / "routing.yaml").read_text(encoding="utf-8")
    a.write_text(text, encoding="utf-8")
    # B: the france-benelux territory goes to one member of the france pool, not through its rotation
    old = "to: {pool: france}}\n  - {name: dach"
    assert old in text
    b.write_text(text.replace(old, "to: {sdr: s.dubois}}\n  - {name: dach"), encoding="utf-8")
    proc = leadops(sample, monkeypatch, "--rules", str(a), "--against", str(b), "--json")
    assert proc.exit_code == 0, proc.output
    out = json.loads(proc.stdout)
    assert out["rules_file"] == str(a) and out["against"]["rules_file"] == str(b)
    a_rules = {r["rule"]: r for r in out["rules"]}
    b_rules = {r["rule"]: r for r in out["against"]["rules"]}
    assert a_rules["france-benelux"]["to"] == "pool france" and b_rules["france-benelux"]["to"] == "sdr s.dubois"
    assert b_rules["france-benelux"]["fairness"] is None and b_rules["france-benelux"]["assigned"] > 0
    # the france pool only gets, under B, what the other rules routing to it give it
    assert out["against"]["pools"]["france"]["leads"] == sum(
        r["assigned"] for r in out["against"]["rules"] if r["to"] == "pool france")
    assert out["pools"]["france"]["leads"] >= a_rules["france-benelux"]["assigned"] > 0
    for side in (out, out["against"]):
        assert sum(side["simulated"].values()) + side["unroutable"] + side["held"] == out["leads"]
    # the text puts both files and what happened in columns, per pool and per rule
    human = leadops(sample, monkeypatch, "--rules", str(a), "--against", str(b))
    assert human.exit_code == 0, human.output
    lines = human.stdout.splitlines()
    assert any("A.yaml" in x and "B.yaml" in x and "as it happened" in x for x in lines)
    row = next(x for x in lines if x.startswith("  france-benelux "))
    assert "pool france" in row.split("|")[1] and "sdr s.dubois" in row.split("|")[2]


def test_the_minimum_expected_decides_who_is_counted(sample, rules):
    low, high = replay(sample, rules, min_expected=0.5), replay(sample, rules, min_expected=10_000)
    for pool, figures in high["pools"].items():
        assert figures["fairness"] is None and not any(m["counted"] for m in figures["per_member"])
        assert all(m["counted"] == (m["expected"] >= 0.5) for m in low["pools"][pool]["per_member"]
                   if abs(m["expected"] - 0.5) > 0.01)  # expected is rounded in the report


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("args", "says"), [
    (["--rules", "{missing}"], "--rules {missing}: no such file"),
    (["--against", "{missing}"], "--against {missing}: no such file"),
    (["--rules", "{bad_yaml}"], "{bad_yaml}: not valid YAML"),
    (["--against", "{bad_rules}"], "{bad_rules}: rules.0.to"),
    (["--rules", "{ghost}"], "{ghost}: pools.france.members = 's.ghost': not a code in sdrs.yaml"),
    (["--min-expected", "0"], "--min-expected 0: expected leads must be above 0"),
    (["--since", "last tuesday"], "--since 'last tuesday' is not a date"),
])
def test_bad_arguments_end_in_one_line_and_exit_2(settings, monkeypatch, tmp_path, args, says):
    files = {"missing": tmp_path / "nowhere.yaml", "bad_yaml": tmp_path / "bad.yaml",
             "bad_rules": tmp_path / "rules.yaml", "ghost": tmp_path / "ghost.yaml"}
    files["bad_yaml"].write_text("rules: [ {name: x\n", encoding="utf-8")
    files["bad_rules"].write_text("rules:\n  - {name: x, to: {pool: a, sdr: b}}\npools: {a: {members: [s.dubois]}}\n",
                                  encoding="utf-8")
    files["ghost"].write_text((ROOT / "config" / "routing.yaml").read_text(encoding="utf-8")
                              .replace("s.moreau", "s.ghost"), encoding="utf-8")
    named = {k: str(v) for k, v in files.items()}
    proc = leadops(settings, monkeypatch, *[a.format(**named) for a in args])
    assert proc.exit_code == 2, proc.output
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("leadops: error: "), proc.stderr
    assert says.format(**named) in lines[0]
    assert proc.stdout == ""


def test_a_pool_of_everyone_with_a_star_is_a_valid_candidate(settings, rules, roster, monkeypatch, tmp_path):
    star = tmp_path / "star.yaml"
    star.write_text("pools:\n  all: {members: ['*']}\nrules:\n  - {name: all, to: {pool: all}}\n", encoding="utf-8")
    proc = leadops(settings, monkeypatch, "--rules", str(star), "--json")
    assert proc.exit_code == 0, proc.output
    out = json.loads(proc.stdout)
    active = sorted(p.code for p in rules.roster.people if p.role == "sdr" and p.active)
    assert sorted(out["pools"]["all"]["members"]) == active


def test_backtest_rules_option_keeps_its_old_name(sample, rules, monkeypatch, tmp_path):
    a = tmp_path / "routing.yaml"
    a.write_text((ROOT / "config" / "routing.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    new, old = (leadops(sample, monkeypatch, option, str(a), "--json") for option in ("--rules", "--config"))
    assert new.exit_code == old.exit_code == 0, new.output + old.output
    assert json.loads(new.stdout) == json.loads(old.stdout)


def test_leads_that_left_the_open_stages_free_their_sdr_s_open_lead_cap(sample, rules):
    from leadops.config import RoutingRules

    one = next(p for p in rules.roster.people if p.code == "s.dubois")
    alone = RoutingRules.model_validate({"rules": [{"name": "alone", "to": {"sdr": one.code}}]})
    out = replay(sample, rules, alone)
    # more leads than the open-lead cap: those qualified, disqualified or nurtured meanwhile no longer count
    assert out["simulated"][one.code] > one.open_cap
    assert out["simulated"][one.code] + out["unroutable"] + out["held"] == out["leads"]
