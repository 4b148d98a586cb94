"""Weekly HTML report and spreadsheet-safe CSV."""

from __future__ import annotations

import csv
import html as htmllib
import re
import subprocess
import sys
from datetime import datetime, UTC
from decimal import Decimal
from pathlib import Path

import pytest

from leadops.domain.metrics import LeadFact, QualityFact, funnel, quality, sla_by, sla_summary
from leadops.domain.outcomes import group_rate
from leadops.reporting.csv_safe import neutralize, write_csv
from leadops.reporting.html import DASH, format_value, render_weekly_report

HOSTILE = "<script>alert(1)</script>"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def outcome_row(group, leads, converted, **extra):
    """One row of an outcome table as leadops.services.outcomes writes it."""
    g = group_rate(group, leads, converted)
    return {"group": group, "leads": leads, "converted": converted, "conversion_rate": g.rate, "ci_low": g.ci_low,
            "ci_high": g.ci_high, **extra}


def make_outcomes(**overrides):
    """The ``outcomes`` of a report: 30 leads of 8 weeks, 6 converted, a hostile rule and SDR name among them."""
    outcomes = {
        "evaluated_at": datetime(2026, 11, 8, 23, tzinfo=UTC), "min_age_days": 14,
        "since": datetime(2026, 9, 13, 22, tzinfo=UTC), "until": datetime(2026, 11, 8, 23, tzinfo=UTC),
        "arrived_by": datetime(2026, 10, 25, 23, tzinfo=UTC), "converted_stages": ["sql", "opportunity", "won"],
        "leads": 30, "converted": 6, "overall": outcome_row("All leads", 30, 6),
        "score_basis": {"handoff": 20, "current": 0, "not_handed_off": 10},
        "by_band": [outcome_row("0-20", 10, 0), outcome_row("60-80", 12, 2), outcome_row("80-100", 8, 4)],
        "by_grade": [outcome_row("A1", 8, 4), outcome_row("B2", 12, 2), outcome_row("D4", 10, 0)],
        "by_rule": [outcome_row(HOSTILE, 20, 6), outcome_row("(not routed)", 10, 0)],
        "by_sdr": [outcome_row("alice", 19, 6, sdr_code="alice"), outcome_row(HOSTILE, 1, 0, sdr_code="x"),
                   outcome_row("(not routed)", 10, 0, sdr_code="")],
        "notes": ["Converted: reached sql, opportunity, won at any time so far."],
    }
    outcomes.update(overrides)
    return outcomes


def make_report(**overrides):
    t0 = datetime(2026, 11, 3, 10, tzinfo=UTC)
    leads = [
        LeadFact(1, "web_form", t0, "sal", frozenset({"mql", "sal"}), None, "alice", t0, t0, True),
        LeadFact(2, "web_form", t0, "new", frozenset(), None, None, None, None, None),
    ]
    report = {
        "week": "2026-W45",
        "previous_week": "2026-W44",
        "period_start": datetime(2026, 11, 1, 23, tzinfo=UTC),
        "period_end": datetime(2026, 11, 8, 23, tzinfo=UTC),
        "time_zone": "Europe/Paris",
        "headline": {"leads": 120, "mqls": 40, "meetings_booked": 9, "sla_compliance": 0.875, "pipeline": 15000.0},
        "headline_previous": {"leads": 100, "mqls": 44, "meetings_booked": 9, "sla_compliance": 0.9, "pipeline": None},
        "funnel": funnel(leads),
        "sdr_rows": [
            {"sdr": "alice", "calls": 7, "connect_rate": 4 / 7, "reply_rate": None, "meetings_booked": 2, "saos": 1},
            {"sdr": HOSTILE, "calls": 0, "connect_rate": None, "reply_rate": 0.5, "meetings_booked": 1, "saos": 0},
            {"sdr": "R$ 1 $x$ & co", "calls": 1, "connect_rate": 0.0, "reply_rate": None, "meetings_booked": 0, "saos": 0},
        ],
        "sla": sla_summary(leads),
        "sla_by_sdr": sla_by([f for f in leads if f.owner], "owner"),
        "sla_by_source": sla_by(leads, "source"),
        "first_touch_hours": [0.2, 0.5, 1.0, 1.5, 3.0, 8.0],
        "trend": [
            {"week": f"2026-W{w}", "leads": 100 + w, "mqls": 30 + w % 5, "meetings": 8, "saos": 3}
            for w in range(38, 46)
        ],
        "disqualification_reasons": [{"reason": "out_of_icp", "count": 3, "share": 0.75},
                                     {"reason": HOSTILE, "count": 1, "share": 0.25}],
        "quality": quality([QualityFact("web_form", 150, 6), QualityFact("csv_upload", 0, 0)], 30, 40),
        "outcomes": make_outcomes(),
    }
    report.update(overrides)
    return report


@pytest.fixture(scope="module")
def page() -> str:
    return render_weekly_report(make_report())


# --------------------------------------------------------------------------- #
# HTML
# --------------------------------------------------------------------------- #
def test_report_is_a_complete_html_page(page):
    assert page.startswith("<!DOCTYPE html>")
    assert "</html>" in page
    assert '<meta charset="utf-8">' in page
    assert "2026-W45" in page and "2026-W44" in page and "Europe/Paris" in page


def test_report_has_no_external_resources_at_all(page):
    lowered = page.lower()
    assert "http://" not in lowered
    assert "https://" not in lowered
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", lowered)
    assert "@import" not in lowered
    assert "url(" not in lowered
    assert "<link" not in lowered
    assert "<script" not in lowered  # neither ours nor the hostile SDR's


def test_report_escapes_hostile_names(page):
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "R$ 1 $x$ &amp; co" in page


def test_report_embeds_charts_as_inline_images(page):
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 4  # funnel, per-SDR bars, first-touch histogram, trend
    assert all(len(i) > 1000 for i in images)


def test_report_shows_dash_for_none_and_percentages_with_one_decimal(page):
    assert DASH in page
    assert "57.1%" in page  # alice connect rate 4/7
    assert "87.5%" in page  # headline SLA compliance
    assert "−2.5 pp" in page or "-2.5 pp" in page  # 87.5% vs 90.0%
    assert "+20" in page  # leads 120 vs 100


def test_empty_report_renders_without_charts_or_errors():
    page = render_weekly_report({"week": "2026-W45"})
    assert "No data for this week." in page
    assert "data:image/png" not in page
    assert "http" not in page.lower()


def test_none_rates_render_as_dash_not_zero():
    page = render_weekly_report(make_report(sdr_rows=[{"sdr": "bob", "connect_rate": None}], funnel=funnel([])))
    assert re.search(r"<td[^>]*>" + DASH + "</td>", page)
    assert "0.0%" not in page.split("SDRs")[1].split("Follow-up SLA")[0]


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("connect_rate", None, DASH),
        ("connect_rate", 0.0, "0.0%"),
        ("connect_rate", 4 / 7, "57.1%"),
        ("sla_compliance", 1.0, "100.0%"),
        ("share", 0.25, "25.0%"),
        ("rate_from_top", 0.1, "10.0%"),
        ("calls", 1234, "1,234"),
        ("pipeline", 15000.0, "15,000"),
        ("activities_per_meeting", 9.5, "9.5"),
        ("first_touch_median_hours", 2.54, "2.5 h"),
        ("sdr", "alice", "alice"),
    ],
)
def test_format_value(key, value, expected):
    assert format_value(key, value) == expected


def test_importing_the_html_module_does_not_import_pyplot():
    code = "import sys, leadops.reporting.html; print('matplotlib.pyplot' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT).stdout.split()
    assert out == ["False", "False"]


def test_rendering_does_not_import_pyplot():
    code = (
        "import sys, json; from leadops.reporting.html import render_weekly_report;"
        "render_weekly_report({'week': 'W', 'first_touch_hours': [1.0, 2.0]});"
        "print('matplotlib.pyplot' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT).stdout.split()
    assert out == ["False"]


# --------------------------------------------------------------------------- #
# CSV
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "value, expected",
    [
        ('=HYPERLINK("http://evil.example","click")', '\'=HYPERLINK("http://evil.example","click")'),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("＝1+1", "'＝1+1"),
        # the first non-space character decides: spreadsheets that trim spaces on import see =1+1
        (" =1+1", "' =1+1"),
        ("\u00a0 @SUM(A1)", "'\u00a0 @SUM(A1)"),
        # a formula after a list separator: French/German Excel splits 'x;=1+1' into x | =1+1
        ("x;=1+1", "x;'=1+1"),
        ("x; =1+1", "x;' =1+1"),
        ("x,=1+1", "x,'=1+1"),
        ("x,+1", "x,'+1"),
        ("x;-1", "x;'-1"),
        ("x;@SUM(A1)", "x;'@SUM(A1)"),
        ("x\t=1+1", "x\t'=1+1"),
        ("x\n=1+1", "x\n'=1+1"),
        ("=1;=2", "'=1;'=2"),
        # separators followed by anything else, and '=' inside a segment, are left alone
        ("Dupont; Martin, et al.", "Dupont; Martin, et al."),
        ("a;b=c", "a;b=c"),
        ("x;'=1", "x;'=1"),
        ("Zoë Dupont", "Zoë Dupont"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
        (-2, "-2"),
        (-2.5, "-2.5"),
        (Decimal("-10.50"), "-10.50"),
        (42, "42"),
        (True, "true"),
        (float("nan"), ""),
        (datetime(2026, 11, 2, 9, 0, tzinfo=UTC), "2026-11-02T09:00:00+00:00"),
    ],
)
def test_neutralize(value, expected):
    assert neutralize(value) == expected


def test_write_csv_round_trip(tmp_path):
    rows = [
        {"sdr": "Zoë", "note": '=HYPERLINK("http://evil.example","x")', "delta": -2, "rate": 0.5},
        {"sdr": "+1", "note": "-2+3", "delta": -2.5},
        {"sdr": "@SUM", "note": 'multi\nline, "quoted"', "delta": None, "rate": None},
    ]
    path = write_csv(tmp_path / "out.csv", rows)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    with path.open(encoding="utf-8-sig", newline="") as fh:
        got = list(csv.reader(fh))
    assert got == [
        ["sdr", "note", "delta", "rate"],
        ["Zoë", '\'=HYPERLINK("http://evil.example","x")', "-2", "0.5"],
        ["'+1", "'-2+3", "-2.5", ""],
        ["'@SUM", 'multi\nline, "quoted"', "", ""],
    ]


def test_no_cell_of_a_csv_gives_a_formula_in_a_semicolon_locale(tmp_path):
    """Read back as French Excel does (split on ';' as well as ','): no piece starts with a formula character
    once spaces are trimmed, and the piece a user sees still carries the text after its quote."""
    hostile = ["x;=1+1", " =1+1", "a, @SUM(A1)", "b;+1;-2", "=cmd|' /C calc'!A0", "n\t=1"]
    path = write_csv(tmp_path / "fr.csv", [{"note": v} for v in hostile])
    text = path.read_text(encoding="utf-8-sig")
    pieces = [p.strip(' "') for line in text.splitlines() for p in re.split(r"[;,\t]", line)]
    assert not [p for p in pieces if p[:1] in ("=", "+", "-", "@")]
    assert "'=1+1" in pieces and "'+1" in pieces and "'-2" in pieces


def test_write_csv_with_explicit_columns_and_hostile_header(tmp_path):
    path = write_csv(tmp_path / "cols.csv", [{"a": 1, "b": 2, "=x": "y"}], columns=["b", "=x", "missing"])
    with path.open(encoding="utf-8-sig", newline="") as fh:
        got = list(csv.DictReader(fh))
    assert got == [{"b": "2", "'=x": "y", "missing": ""}]


def test_write_csv_without_rows_writes_header_only(tmp_path):
    path = write_csv(tmp_path / "empty.csv", [], columns=["sdr", "calls"])
    assert path.read_bytes() == b"\xef\xbb\xbfsdr,calls\r\n"


# --------------------------------------------------------------------------- #
# One label per figure, numbers for people, time zone, notices, width
# --------------------------------------------------------------------------- #
def test_no_data_notice_is_absent_when_every_section_has_data(page):
    assert 'class="empty"' not in page


def test_each_empty_section_has_its_own_notice_and_the_rest_still_shows():
    page = render_weekly_report(make_report(funnel=funnel([]), sdr_rows=[], disqualification_reasons=[],
                                            quality=quality([], 3, 4)))
    notices = re.findall(r'<p class="empty">([^<]*)</p>', page)
    assert notices == ["No lead arrived this week.", "No SDR activity or opportunity this week.",
                       "No lead of this week was disqualified.", "No file or API batch was ingested this week."]
    assert "75.0%" in page.split("<h2>Data quality</h2>")[1]  # the enrichment match rate is still there


def _outcome_table(page: str, title: str) -> list[list[str]]:
    part = page.split("<h2>Outcomes</h2>", 1)[1].split("</section>", 1)[0]
    table = part.split(f"<h3>{title}</h3>", 1)[1].split("</table>", 1)[0]
    return [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table) if "<td" in row]


def test_outcomes_show_each_group_with_its_rate_and_interval_names_escaped(page):
    bands = _outcome_table(page, "By score band")
    assert bands[0] == ["0-20", "10", "0", "0.0%", f"0.0%–{100 * group_rate('', 10, 0).ci_high:.1f}%"]
    assert bands[-1][:4] == ["80-100", "8", "4", "50.0%"]
    rules = _outcome_table(page, "By routing rule (first assignment)")
    assert rules[0][0] == "&lt;script&gt;alert(1)&lt;/script&gt;" and rules[1][0] == "(not routed)"
    sdrs = _outcome_table(page, "By SDR (first assignment)")
    assert [r[0] for r in sdrs] == ["alice", "&lt;script&gt;alert(1)&lt;/script&gt;", "(not routed)"]
    assert sdrs[1][1:4] == ["1", "0", "0.0%"]  # one lead: shown, with its wide interval
    part = page.split("<h2>Outcomes</h2>", 1)[1].split("</section>", 1)[0]
    assert "30 leads, 6 converted (20.0%, 95% interval" in htmllib.unescape(part)


def test_outcomes_without_an_old_enough_lead_say_so():
    page = render_weekly_report(make_report(outcomes=make_outcomes(leads=0, converted=0, by_band=[], by_grade=[],
                                                                    by_rule=[], by_sdr=[])))
    notices = re.findall(r'<p class="empty">([^<]*)</p>', page)
    assert len(notices) == 1 and notices[0].startswith("No lead is old enough in this period: none arrived from ")
    assert "at least 14 days before 2026-11-09 00:00 (UTC+01:00)" in notices[0]


@pytest.mark.parametrize("tz, offset", [("Asia/Kolkata", "+05:30"), ("America/New_York", "-05:00"),
                                        ("Europe/Paris", "+01:00")])
def test_period_and_footer_are_shown_in_the_company_time_zone(tz, offset):
    page = render_weekly_report(make_report(time_zone=tz))
    footer = page.split("<footer>", 1)[1].split("</footer>", 1)[0]
    assert re.findall(r"UTC([+-]\d\d:\d\d)", footer) == [offset, offset]
    assert tz in footer and "+00:00" not in footer.replace(f"UTC{offset}", "")


def test_headline_rows_use_the_pages_labels_and_formats():
    from leadops.reporting.html import headline_rows

    rows = headline_rows({"mqls": 1234, "pipeline": 104500.0, "sla_compliance": 0.766, "first_touch_median_hours": 6.32},
                         {"mqls": 1000, "pipeline": None, "sla_compliance": 0.8, "first_touch_median_hours": 8.1})
    assert rows == [("MQLs (of leads arrived)", "1,234", "1,000", "▲ +234"),
                    ("Pipeline created", "104,500", DASH, DASH),
                    ("SLA compliance", "76.6%", "80.0%", "▼ -3.4 pp"),
                    ("Time to first touch, median", "6.3 h", "8.1 h", "▼ -1.8 h")]


def test_report_cells_format_every_number_for_people():
    from leadops.reporting.html import report_cells

    assert report_cells({"sdr": "Ana", "calls": 104500, "pipeline": 104500.0, "connect_rate": 0.766,
                         "reply_rate": None, "activities_per_meeting": 9.25}) == {
        "sdr": "Ana", "calls": "104,500", "pipeline": "104,500", "connect_rate": "76.6%",
        "reply_rate": DASH, "activities_per_meeting": "9.2"}


def test_figures_of_different_kinds_have_different_labels():
    from leadops.reporting.html import LABELS, label

    aliases = {"meetings": "meetings_booked"}  # the trend's name for the same figure
    keys = [k for k in LABELS if k not in aliases]
    assert len({label(k) for k in keys}) == len(keys)
    assert label("meetings") == label("meetings_booked")
    # the funnel's SAO step (of this week's leads) is not the headline's SAOs created this week
    assert label("saos") != "SAO (opportunity)"


def test_no_table_has_more_columns_than_fit_the_page():
    from leadops.domain.metrics import ActivityFact, OpportunityFact, activity_by_sdr, results_by_sdr

    t0 = datetime(2026, 11, 3, 10, tzinfo=UTC)
    acts = [ActivityFact("Ana Silva", k, o, t0) for k, o in (("call", "connected"), ("email", "replied"),
                                                              ("call", "meeting_booked"), ("meeting", "held"))]
    results = results_by_sdr(acts, [OpportunityFact("Ana Silva", t0, "open", 5000.0)])
    rows = [{"sdr": s, "sdr_code": "a.silva", **r, **results[s]} for s, r in activity_by_sdr(acts).items()]
    page = render_weekly_report(make_report(sdr_rows=rows))
    for table in re.findall(r"<table.*?</table>", page):
        header = re.search(r"<thead><tr>(.*?)</tr></thead>", table)
        if header:
            assert len(re.findall(r"<th>", header.group(1))) <= 9, header.group(1)
    sdrs = page.split("<h2>SDRs</h2>")[1].split("</section>")[0]
    assert "a.silva" not in sdrs.split('<p class="note">')[0]  # the name, not the code
    assert ">Ana Silva<" in sdrs and "Meeting-to-SAO rate" in sdrs and "5,000" in sdrs
