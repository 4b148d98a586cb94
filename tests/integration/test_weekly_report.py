"""The weekly report built from a small hand-made week agrees with itself.

One definition per figure (headline MQLs = the funnel's MQL step, the SRL box's SAL = the
funnel's SAL step), SDRs by name, a no-data notice only on empty sections, numbers for
people and the period in the company time zone (America/New_York here, not UTC nor Paris).
"""
from __future__ import annotations

import csv
import html as htmllib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from leadops.db.models import Activity, Assignment, IngestBatch, Lead, LeadStageChange, Opportunity, ScoreHistory, Sdr
from leadops.db.unit_of_work import SqlUnitOfWork
from leadops.domain.metrics import iso_week_bounds
from leadops.services.report import build_weekly_report

TZ = "America/New_York"
WEEK = "2026-W45"  # Monday 2 November 2026, the day after New York left daylight saving time
START, END = iso_week_bounds(WEEK, TZ)
TUESDAY = START + timedelta(days=1, hours=10)

#: (stage now, stages it went through): hand-counted below.
LEADS = [
    ("sal", ["mql", "sal"]),
    ("sql", ["sql"]),  # a demo request accepted straight to SQL: an MQL and a SAL all the same
    ("recycled", ["mql", "sal", "recycled"]),  # sent back by sales: the one SRL
    ("new", []),
    ("disqualified", ["mql", "disqualified"]),
    ("opportunity", ["opportunity"]),
]
MQLS, SALS, SRLS = 5, 4, 1  # funnel steps: reached the step or a later one

#: Leads for the Outcomes section, arrived three weeks before the week (old enough at its end): the first
#: assignment's rule and SDR, the score and grade at hand-off (a later, inflated score is stored too) and the
#: stages moved into. A rule name that a spreadsheet would run and a page would parse as markup.
HOSTILE_RULE = "=1+1 <b>smb</b>"
OLD_LEADS = [
    ("enterprise", "b.khan", 85.0, "A1", ["mql", "sal", "sql"]),
    ("enterprise", "b.khan", 82.0, "A1", ["mql", "sal", "sql", "opportunity"]),
    ("enterprise", "b.khan", 81.0, "A2", ["mql", "sal", "recycled"]),
    (HOSTILE_RULE, "a.silva", 45.0, "C2", ["mql", "sal"]),
    (None, None, 15.0, "D4", []),  # never handed to sales
]
OLD_ARRIVAL = START - timedelta(weeks=3) + timedelta(days=1, hours=10)
#: arrived too late (13 days before the week's end) and too early (before the 8 weeks) to count
NOT_JUDGED = [END - timedelta(days=13), START - timedelta(weeks=8)]


def _add_week(session, *, with_batch: bool = True) -> dict[str, Sdr]:
    sdrs = {code: Sdr(code=code, name=name, email=f"{code}@example.com")
            for code, name in (("a.silva", "Ana Silva"), ("a.silva2", "Ana Silva"), ("b.khan", "Bilal Khan"),
                               ("c.ndiaye", "Coumba Ndiaye"))}
    session.add_all(sdrs.values())
    session.flush()
    leads = []
    for i, (stage, path) in enumerate(LEADS):
        lead = Lead(email=f"p{i}@acme.example", email_domain="acme.example", source="web_form",
                    lifecycle_stage=stage, arrived_at=TUESDAY, owner_sdr_id=sdrs["a.silva"].id,
                    disqualified_reason="student" if stage == "disqualified" else None, enrichment_status="enriched")
        session.add(lead)
        session.flush()
        previous = "new"
        for to in path:
            session.add(LeadStageChange(lead_id=lead.id, from_stage=previous, to_stage=to, cause="test",
                                        changed_at=TUESDAY))
            previous = to
        leads.append(lead)
    acts = [("a.silva", "call", "connected"), ("a.silva", "email", "replied"), ("b.khan", "call", "meeting_booked"),
            ("b.khan", "meeting", "held"), ("a.silva2", "linkedin", None)]
    session.add_all(Activity(lead_id=leads[0].id, sdr_id=sdrs[code].id, kind=kind, outcome=outcome,
                             occurred_at=TUESDAY) for code, kind, outcome in acts)
    session.add(Opportunity(lead_id=leads[5].id, sdr_id=sdrs["b.khan"].id, created_at=TUESDAY, amount=104500.0))
    # a deal won this week by an SDR with no activity this week
    session.add(Opportunity(lead_id=leads[5].id, sdr_id=sdrs["c.ndiaye"].id, created_at=START - timedelta(days=30),
                            stage="won", amount=2000.0, closed_at=TUESDAY))
    _add_old_leads(session, sdrs)
    if with_batch:
        session.add(IngestBatch(source="web_form", origin="webform.csv", content_hash="h" * 64, status="done",
                                rows_read=40, quarantined=1, started_at=TUESDAY))
    session.flush()
    return sdrs


def _add_old_leads(session, sdrs: dict[str, Sdr]) -> None:
    for i, (rule, sdr, score, grade, path) in enumerate(OLD_LEADS):
        handoff = OLD_ARRIVAL + timedelta(hours=1)
        # a lead handed to sales is scored 99 (A1) after the conversation: its current score
        now = (99.0, "A1") if path else (score, grade)
        lead = Lead(email=f"old{i}@globex.example", email_domain="globex.example", source="web_form",
                    lifecycle_stage=path[-1] if path else "nurture", arrived_at=OLD_ARRIVAL, score=now[0], grade=now[1])
        session.add(lead)
        session.flush()
        session.add_all([ScoreHistory(lead_id=lead.id, model_version="v1", fit_score=0, engagement_score=0, score=score,
                                      grade=grade, scored_at=handoff),
                         ScoreHistory(lead_id=lead.id, model_version="v1", fit_score=0, engagement_score=0, score=now[0],
                                      grade=now[1], scored_at=handoff + timedelta(days=4))])
        previous = "new"
        for to in path:
            session.add(LeadStageChange(lead_id=lead.id, from_stage=previous, to_stage=to, cause="test", changed_at=handoff))
            previous = to
        if sdr:
            session.add(Assignment(lead_id=lead.id, sdr_id=sdrs[sdr].id, status="assigned", rule=rule, reason="test",
                                   assigned_at=handoff))
    for j, at in enumerate(NOT_JUDGED):
        lead = Lead(email=f"notjudged{j}@globex.example", email_domain="globex.example", source="web_form",
                    lifecycle_stage="sql", arrived_at=at, score=50.0, grade="B2")
        session.add(lead)
        session.flush()
        session.add(LeadStageChange(lead_id=lead.id, from_stage="new", to_stage="sql", cause="test", changed_at=at))


def _text(fragment: str) -> str:
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", fragment))


def _section(page: str, title: str) -> str:
    return page.split(f"<h2>{title}</h2>", 1)[1].split("</section>", 1)[0]


def _row_value(fragment: str, label: str) -> str:
    """The first cell after the row header or first cell reading ``label``."""
    m = re.search(r"<t[hd][^>]*>" + re.escape(htmllib.escape(label)) + r"</t[hd]><td[^>]*>([^<]*)</td>", fragment)
    assert m, f"no row {label!r}"
    return m.group(1)


def _build(session, week, out):
    return build_weekly_report(SqlUnitOfWork.around(session), week, TZ, out)


@pytest.fixture
def week_report(session, tmp_path):
    _add_week(session)
    res = _build(session, WEEK, tmp_path)
    return res, Path(res.html_path).read_text(encoding="utf-8")


def test_headline_mqls_are_the_funnels_mql_step(week_report):
    res, page = week_report
    step = {r["step"]: r["count"] for r in res.funnel}
    assert res.headline["mqls"] == step["mql"] == MQLS
    assert res.headline["leads"] == step["leads"] == len(LEADS)
    headline_mqls = _row_value(_section(page, "Headline"), "MQLs (of leads arrived)")
    assert headline_mqls == _row_value(_section(page, "Funnel"), "MQL") == str(MQLS)


def test_the_srl_boxs_sal_is_the_funnels_sal_step(week_report):
    _, page = week_report
    funnel = _section(page, "Funnel")
    assert _row_value(funnel, "Reached SAL (funnel's SAL step)") == _row_value(funnel, "SAL") == str(SALS)
    assert _row_value(funnel, "Sent back by sales (SRL)") == str(SRLS)
    assert _row_value(funnel, "SRL rate") == "25.0%"


def test_trend_and_headline_agree_for_the_week(week_report):
    _, page = week_report
    trend = _section(page, "Trend")
    row = re.search(r"<tr><td>" + WEEK + r"</td>(.*?)</tr>", trend).group(1)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
    headline = _section(page, "Headline")
    assert cells == [_row_value(headline, "Leads arrived"), _row_value(headline, "MQLs (of leads arrived)"),
                     _row_value(headline, "Meetings booked"), _row_value(headline, "SAOs created")]


def test_sdrs_show_by_name_with_the_code_only_where_two_share_a_name(week_report, tmp_path):
    res, page = week_report
    sdrs = _text(_section(page, "SDRs"))
    assert "Bilal Khan" in sdrs and "Ana Silva (a.silva)" in sdrs and "Ana Silva (a.silva2)" in sdrs
    assert "b.khan" not in page  # a unique name needs no code
    assert "Ana Silva (a.silva)" in _text(_section(page, "Follow-up SLA"))  # the owner, by name too
    with open(Path(res.csv_paths[0]), encoding="utf-8-sig", newline="") as fh:
        rows = {r["sdr_code"]: r for r in csv.DictReader(fh)}
    assert rows["b.khan"]["sdr"] == "Bilal Khan"  # the CSV keeps the code to join on


def test_no_data_notice_appears_only_on_empty_sections(session, tmp_path):
    _add_week(session, with_batch=False)
    page = Path(_build(session, WEEK, tmp_path).html_path).read_text(encoding="utf-8")
    notices = re.findall(r'<p class="empty">([^<]*)</p>', page)
    assert notices == ["No file or API batch was ingested this week."]  # the only thing missing
    assert "Leads enriched" in _text(_section(page, "Data quality"))  # the rest of the section still shows


def test_a_week_with_data_has_no_no_data_notice(week_report):
    _, page = week_report
    assert 'class="empty"' not in page


def test_an_empty_week_says_so_in_each_section(session, tmp_path):
    page = Path(_build(session, "2026-W30", tmp_path).html_path).read_text(encoding="utf-8")
    for title in ("Funnel", "SDRs", "Outcomes", "Disqualification reasons", "Data quality"):
        assert 'class="empty"' in _section(page, title), title
    assert "No lead is old enough in this period" in _text(_section(page, "Outcomes"))


def test_numbers_are_formatted_for_people(week_report):
    _, page = week_report
    headline = _section(page, "Headline")
    assert _row_value(headline, "Pipeline created") == "104,500"
    assert "e+0" not in page.split("<body>", 1)[1].split("data:image", 1)[0]
    assert _row_value(_section(page, "Data quality"), "All sources") == "40"


def test_period_and_footer_are_in_the_company_time_zone(week_report):
    _, page = week_report
    footer = _text(page.split("<footer>", 1)[1].split("</footer>", 1)[0])
    offsets = re.findall(r"UTC([+-]\d\d:\d\d)", footer)
    expected = [dt.astimezone(ZoneInfo(TZ)).strftime("%z") for dt in (START, END)]
    assert offsets == [f"{o[:3]}:{o[3:]}" for o in expected] == ["-05:00", "-05:00"]
    assert "2026-11-02 00:00" in footer and "2026-11-09 00:00" in footer and TZ in footer


def test_a_dst_week_shows_each_bound_with_its_own_offset(session, tmp_path):
    # 2026-W44 in New York: Monday 26 October is still EDT (-04:00), the next Monday EST (-05:00).
    page = Path(_build(session, "2026-W44", tmp_path).html_path).read_text(encoding="utf-8")
    footer = _text(page.split("<footer>", 1)[1].split("</footer>", 1)[0])
    assert re.findall(r"UTC([+-]\d\d:\d\d)", footer) == ["-04:00", "-05:00"]


def test_build_rejects_a_malformed_week_before_writing_anything(session, tmp_path):
    with pytest.raises(ValueError, match=r"^week = 'banana': expected an ISO week such as 2026-W47$"):
        _build(session, "banana", tmp_path / "reports")
    assert not (tmp_path / "reports").exists()


def test_period_bounds_are_those_of_the_week_in_the_zone():
    assert datetime(2026, 11, 2, 5, tzinfo=UTC) == START


def test_an_sdr_with_results_but_no_activity_made_zero_calls_not_no_data(week_report):
    _, page = week_report
    activity = page.split("<h3>Activity</h3>", 1)[1].split("</table>", 1)[0]
    row = re.search(r"<tr><td>Coumba Ndiaye</td>(.*?)</tr>", activity).group(1)
    # the first two cells after the name; the row goes on (emails, reply rate, ...)
    cells = dict(zip(("calls", "connect_rate"), re.findall(r"<td[^>]*>([^<]*)</td>", row), strict=False))
    assert cells == {"calls": "0", "connect_rate": "—"}  # 0 calls; a rate over 0 calls has no value
    assert _row_value(_section(page, "Headline"), "Revenue won") == "2,000"


# --------------------------------------------------------------------------- outcomes


def _outcome_rows(page: str, title: str) -> dict[str, list[str]]:
    table = _section(page, "Outcomes").split(f"<h3>{htmllib.escape(title)}</h3>", 1)[1].split("</table>", 1)[0]
    rows = [re.findall(r"<td[^>]*>([^<]*)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", table) if "<td" in r]
    return {htmllib.unescape(r[0]): r[1:] for r in rows}


def _expected_outcomes(key) -> dict[str, list[str]]:
    """group -> [leads, converted, rate] of OLD_LEADS grouped by ``key``, as the page shows them."""
    groups: dict[str, list[int]] = {}
    for lead in OLD_LEADS:
        n = groups.setdefault(key(lead), [0, 0])
        n[0] += 1
        n[1] += bool({"sql", "opportunity", "won"} & set(lead[4]))
    return {g: [str(n), str(c), f"{100 * c / n:.1f}%"] for g, (n, c) in groups.items()}


def test_outcomes_show_the_old_enough_leads_by_rule_sdr_and_score_at_hand_off(week_report):
    res, page = week_report
    rules = _outcome_rows(page, "By routing rule (first assignment)")
    assert {g: r[:3] for g, r in rules.items()} == _expected_outcomes(lambda lead: lead[0] or "(not routed)")
    sdrs = _outcome_rows(page, "By SDR (first assignment)")
    names = {"b.khan": "Bilal Khan", "a.silva": "Ana Silva (a.silva)", None: "(not routed)"}  # two Ana Silvas
    assert {g: r[:3] for g, r in sdrs.items()} == _expected_outcomes(lambda lead: names[lead[1]])
    grades = _outcome_rows(page, "By grade")
    assert {g: r[:3] for g, r in grades.items()} == _expected_outcomes(lambda lead: lead[3])  # not the later A1
    for low, high in (re.fullmatch(r"([\d.]+)%–([\d.]+)%", r[3]).groups() for r in rules.values()):
        assert float(low) < float(high)
    converted = sum(1 for lead in OLD_LEADS if {"sql", "opportunity"} & set(lead[4]))
    assert (res.outcomes["leads"], res.outcomes["converted"]) == (len(OLD_LEADS), converted)
    summary = _text(_section(page, "Outcomes"))
    assert f"{len(OLD_LEADS)} leads, {converted} converted ({100 * converted / len(OLD_LEADS):.1f}%" in summary
    assert "<b>" not in _section(page, "Outcomes")  # the rule's name is text, not markup


def test_the_outcomes_csv_neutralizes_formulas_and_keeps_the_sdr_code(week_report):
    res, _ = week_report
    path = Path(res.csv_paths[-1])
    assert path.name == f"outcomes-{WEEK}.csv"
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["table"] == "overall" and rows[0]["leads"] == str(len(OLD_LEADS))
    rules = {r["group"]: r for r in rows if r["table"] == "routing_rule"}
    assert "'" + HOSTILE_RULE in rules and HOSTILE_RULE not in rules  # shown as text by a spreadsheet
    sdr = next(r for r in rows if r["table"] == "sdr" and r["sdr_code"] == "b.khan")
    assert sdr["group"] == "Bilal Khan" and sdr["leads"] == str(sum(1 for lead in OLD_LEADS if lead[1] == "b.khan"))
    assert float(sdr["ci_low"]) <= float(sdr["conversion_rate"]) <= float(sdr["ci_high"])
