"""Weekly report as one self-contained HTML page.

* No external resources at all: no CDN, no web fonts, no links; CSS is inline
  and charts are base64 PNG ``data:`` images, so the page can be mailed, stored
  as a Prefect artifact or opened offline.
* Every piece of text from the report dict goes through :func:`html.escape`.
* Charts are drawn with matplotlib's object-oriented API (``Figure`` +
  ``FigureCanvasAgg``), imported inside the functions: pyplot is never
  imported, so no GUI backend, no global figure registry (no leak, thread-safe)
  and nothing happens at import time.
* Formatting (:mod:`leadops.reporting.numbers`): None -> "—"; rates (fractions 0..1,
  keys with a ``rate``, ``compliance`` or ``share`` word) -> percentage with one decimal;
  hours -> one decimal and " h"; counts and amounts with thousands separators;
  week-over-week changes of rates in percentage points.
* One label per figure (:data:`LABELS`): the same key reads the same everywhere on the
  page and in the flow's artifacts, and figures that differ in kind read differently.
* Every table fits a ~1000 px page: the per-SDR figures are split into an activity and a
  results table; every column of them is in the ``sdr-activity`` CSV.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Mapping, Sequence
from typing import TypeGuard
from datetime import UTC, datetime, timezone
from zoneinfo import ZoneInfo

from leadops.domain.lifecycle import Stage
from leadops.domain.metrics import TOP_STEP
from leadops.reporting.numbers import DASH, count, decimal, percent

__all__ = ["DASH", "LABELS", "OUTCOME_TABLES", "format_change", "format_value", "headline_rows", "label",
           "outcome_rows", "outcome_summary", "render_weekly_report", "report_cells"]

_PALETTE = ("#2f6fb0", "#e07b39", "#3a9a5b", "#b8453c", "#7b5ea7", "#8c8c8c")
_RATE_WORDS = {"rate", "compliance", "share"}


# --------------------------------------------------------------------------- #
# Formatting
# --------------------------------------------------------------------------- #
def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _words(key: str) -> set[str]:
    return set(re.split(r"[^a-z0-9]+", str(key).lower()))


def _is_rate(key: str) -> bool:
    return bool(_words(key) & _RATE_WORDS) or "%" in str(key)


def _is_hours(key: str) -> bool:
    return "hours" in _words(key)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _mapping(value: object) -> Mapping[str, object]:
    """A section of the report that is a name -> value mapping (empty when missing)."""
    return value if isinstance(value, Mapping) else {}


def _rows(value: object) -> list[Mapping[str, object]]:
    """A section of the report that is a list of rows (empty when missing)."""
    return [r for r in value if isinstance(r, Mapping)] if isinstance(value, (list, tuple)) else []


def _values(value: object) -> list[object]:
    """A section of the report that is a list of values (empty when missing)."""
    return list(value) if isinstance(value, (list, tuple)) else []


_ACRONYMS = {
    "mql": "MQL", "mqls": "MQLs", "sal": "SAL", "sals": "SALs", "sql": "SQL", "sqls": "SQLs",
    "sao": "SAO", "saos": "SAOs", "srl": "SRL", "sla": "SLA", "sdr": "SDR", "sdrs": "SDRs", "ae": "AE", "icp": "ICP",
    "p90": "p90", "linkedin": "LinkedIn",
}
#: What each figure is called on the page and in the artifacts. Figures with the same key
#: are the same number (one definition, see the README); different things have different names.
LABELS = {
    # headline and trend
    "leads": "Leads arrived",
    "mqls": "MQLs (of leads arrived)",
    "activities": "SDR activities (touches + meetings)",
    "meetings_booked": "Meetings booked",
    "meetings": "Meetings booked",
    "meetings_held": "Meetings held",
    "future_meetings": "Meetings ahead",
    "saos": "SAOs created",
    "pipeline": "Pipeline created",
    "revenue": "Revenue won",
    "won": "Deals won",
    # per SDR
    "sdr": "SDR",
    "sdr_code": "SDR code",
    "touches": "Touches",
    "activities_per_meeting": "Touches per meeting",
    "meeting_to_sao_rate": "Meeting-to-SAO rate",
    # SLA
    "sla_leads": "Leads with an SLA outcome",
    "first_touch_count": "Leads touched",
    "first_touch_median_hours": "Time to first touch, median",
    "first_touch_p90_hours": "Time to first touch, p90",
    "system_delay_count": "Leads assigned",
    "system_delay_median_hours": "System delay, median",
    "system_delay_p90_hours": "System delay, p90",
    # funnel and SRL
    "rate_from_previous": "From previous step",
    "rate_from_top": "From top",
    "sal": "Reached SAL (funnel's SAL step)",
    "srl": "Sent back by sales (SRL)",
    "srl_rate": "SRL rate",
    # data quality
    "enriched": "Leads enriched",
    "enrich_attempted": "Leads an enrichment was tried for",
    # outcomes
    "converted": "Converted",
    "conversion_rate": "Conversion rate",
    "ci_95": "95% interval",
}
#: what each funnel step is called on the page (its value in the rows is the stage's value)
_STEP_LABELS: dict[str, str] = {
    TOP_STEP: "Leads", Stage.MQL: "MQL", Stage.SAL: "SAL", Stage.SQL: "SQL", Stage.OPPORTUNITY: "SAO (opportunity)",
    Stage.WON: "Won",
}


def label(key: str) -> str:
    """Return the label people read for a metric key (:data:`LABELS`, else ``"sla_met"`` -> ``"SLA met"``)."""
    if key in LABELS:
        return LABELS[key]
    words = [_ACRONYMS.get(w.lower(), w) for w in str(key).replace("_", " ").split()]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


_label = label


def format_value(key: str, value: object) -> str:
    """Return the display text (not yet HTML-escaped) of ``value`` in column/metric ``key``.

    Rates as percentages ('76.6%'), hours with one decimal and ' h', counts and amounts with
    thousands separators ('104,500'), anything missing or not finite as '—'.
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if _is_number(value):
        if _is_rate(key):
            return percent(value)
        if _is_hours(key):
            return f"{decimal(value)} h"
        if isinstance(value, int) or float(value).is_integer():
            return count(value)
        return decimal(value)
    return str(value)


def format_change(key: str, current: object, previous: object) -> str:
    """Return the week-over-week change of a figure ('▲ +8', '▼ -8.6 pp', '▼ -1.8 h'; '—' if either is missing)."""
    if not (_is_number(current) and _is_number(previous)):
        return DASH
    if not (math.isfinite(current) and math.isfinite(previous)):
        return DASH
    delta = current - previous
    if _is_rate(key):
        text = f"{delta * 100:+.1f} pp"
    elif isinstance(delta, int) or float(delta).is_integer():
        text = f"{delta:+,.0f}"
    else:
        text = f"{delta:+,.1f}"
    if _is_hours(key):
        text += " h"
    arrow = "▲ " if delta > 0 else "▼ " if delta < 0 else ""
    return arrow + text


_format_change = format_change


def headline_rows(current: Mapping[str, object], previous: Mapping[str, object]) -> list[tuple[str, str, str, str]]:
    """Return (label, this week, previous week, change) as text, one tuple per headline figure, in order.

    The HTML page and the flow's markdown artifact both render these, so they read the same.
    """
    return [(label(k), format_value(k, v), format_value(k, previous.get(k)), format_change(k, v, previous.get(k)))
            for k, v in current.items()]


def report_cells(row: Mapping[str, object]) -> dict[str, object]:
    """Return a copy of a report row with every number as text for people (grain: one row).

    Keys stay as they are (artifact columns); values go through :func:`format_value`.
    """
    return {k: format_value(k, v) if _is_number(v) or v is None else v for k, v in row.items()}


#: The outcome tables: (key in the report's ``outcomes``, title, what the first column holds)
OUTCOME_TABLES = (("by_band", "By score band", "Score band"), ("by_grade", "By grade", "Grade"),
                  ("by_rule", "By routing rule (first assignment)", "Routing rule"),
                  ("by_sdr", "By SDR (first assignment)", "SDR"))
_OUTCOME_COLUMNS = ("group", "leads", "converted", "conversion_rate", "ci_95")


def _interval(row: Mapping[str, object]) -> str:
    """'12.3%–45.6%': a row's 95% interval as text ('—' for an empty group)."""
    low, high = row.get("ci_low"), row.get("ci_high")
    return f"{percent(low)}–{percent(high)}" if _is_number(low) and _is_number(high) else DASH


def outcome_rows(rows: object) -> list[tuple[str, str, str, str, str]]:
    """Return (group, leads, converted, conversion rate, 95% interval) as text, one tuple per group of an outcome
    table; the HTML page and the flow's markdown artifact both render these."""
    return [(str(r.get("group", "")), format_value("leads", r.get("leads")), format_value("converted", r.get("converted")),
             format_value("conversion_rate", r.get("conversion_rate")), _interval(r)) for r in _rows(rows)]


def _outcome_period(outcomes: Mapping[str, object], tz: object) -> str:
    since, until = outcomes.get("since"), outcomes.get("until")
    return f"from {_local(since, tz) if since else 'the first lead'} to {_local(until, tz) if until else 'now'}"


def outcome_summary(outcomes: Mapping[str, object], tz: object) -> str:
    """The sentence that introduces the outcome tables (which leads, how old, the overall rate), or says that no
    lead is old enough in the period."""
    if not outcomes.get("leads"):
        return (f"No lead is old enough in this period: none arrived {_outcome_period(outcomes, tz)} at least "
                f"{outcomes.get('min_age_days')} days before {_local(outcomes.get('evaluated_at'), tz)}.")
    overall = _mapping(outcomes.get("overall"))
    return (f"Leads that arrived {_outcome_period(outcomes, tz)} and at least {outcomes.get('min_age_days')} days "
            f"before {_local(outcomes.get('evaluated_at'), tz)}, that is by {_local(outcomes.get('arrived_by'), tz)}: "
            f"{format_value('leads', outcomes.get('leads'))} leads, {format_value('converted', outcomes.get('converted'))} "
            f"converted ({format_value('conversion_rate', overall.get('conversion_rate'))}, 95% interval "
            f"{_interval(overall)}).")


def _zone(tz: object) -> ZoneInfo | timezone:
    try:
        return ZoneInfo(str(tz)) if tz else UTC
    except (ValueError, KeyError):
        return UTC


def _local(value: object, tz: object) -> str:
    """'2026-11-30 00:00 (UTC+01:00)': an instant (datetime or ISO text) in the report's time zone."""
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return text
    if not isinstance(value, datetime):
        return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # the database stores UTC
    local = value.astimezone(_zone(tz))
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} (UTC{offset[:3]}:{offset[3:]})"


# --------------------------------------------------------------------------- #
# HTML building blocks
# --------------------------------------------------------------------------- #
def _columns(rows: Sequence[Mapping[str, object]], first: Sequence[str] = ()) -> list[str]:
    cols: list[str] = [c for c in first if any(c in r for r in rows)]
    for row in rows:
        for key in row:
            if key not in cols:
                cols.append(key)
    return cols


NO_DATA = "No data for this week."


def _empty(notice: str) -> str:
    return f'<p class="empty">{_e(notice)}</p>'


def _table(
    rows: Sequence[Mapping[str, object]],
    columns: Sequence[str] | None = None,
    headers: Mapping[str, str] | None = None,
    empty: str = NO_DATA,
) -> str:
    if not rows:
        return _empty(empty)
    columns = list(columns) if columns is not None else _columns(rows)
    headers = headers or {}
    head = "".join(f"<th>{_e(headers.get(c, _label(c)))}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c)
            css = ' class="num"' if _is_number(value) or value is None else ""
            cells.append(f"<td{css}>{_e(format_value(c, value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _kv_table(data: Mapping[str, object], empty: str = NO_DATA) -> str:
    if not data:
        return _empty(empty)
    rows = "".join(
        f'<tr><th scope="row">{_e(_label(k))}</th><td class="num">{_e(format_value(k, v))}</td></tr>'
        for k, v in data.items()
        if not isinstance(v, (Mapping, list, tuple))
    )
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def _section(title: str, *parts: str) -> str:
    return f"<section><h2>{_e(title)}</h2>{''.join(parts)}</section>"


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _present(rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> list[str]:
    """The columns of ``columns`` that some row has (a report dict may carry fewer figures)."""
    return [c for c in columns if any(c in r for r in rows)]


# --------------------------------------------------------------------------- #
# Charts (matplotlib OO API, Agg canvas, no pyplot)
# --------------------------------------------------------------------------- #
def _new_figure(width: float = 7.0, height: float = 3.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="chart" alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _chart(draw, alt: str, width: float = 7.0, height: float = 3.0) -> str:
    import matplotlib

    # Names from the CRM may contain "$": never let mathtext interpret them.
    with matplotlib.rc_context({"text.parse_math": False, "font.size": 9, "axes.spines.top": False,
                                "axes.spines.right": False}):
        fig = _new_figure(width, height)
        draw(fig)
        return _png(fig, alt)


def MaxNLocator(**kwargs):  # noqa: N802 - lazy import keeps matplotlib out of module import
    from matplotlib.ticker import MaxNLocator as _MaxNLocator

    return _MaxNLocator(**kwargs)


def _num(value: object) -> float:
    return float(value) if _is_number(value) else 0.0


def _funnel_chart(rows: Sequence[Mapping[str, object]]) -> str:
    if not rows or not any(_num(r.get("count")) for r in rows):
        return ""

    def draw(fig):
        ax = fig.add_subplot()
        steps = [_STEP_LABELS.get(str(r.get("step", "")), str(r.get("step", ""))) for r in rows][::-1]
        counts = [_num(r.get("count")) for r in rows][::-1]
        bars = ax.barh(steps, counts, color=_PALETTE[0])
        tags = [format_value("rate_from_top", r.get("rate_from_top")) for r in rows][::-1]
        ax.bar_label(bars, labels=[f"{count(c)}  ({t})" for c, t in zip(counts, tags, strict=True)], padding=3)
        ax.set_xlim(0, max(counts) * 1.25 or 1)
        ax.set_title("Funnel (count, share of leads)")

    return _chart(draw, "Funnel chart", height=2.8)


def _sdr_chart(rows: Sequence[Mapping[str, object]]) -> str:
    rows = [r for r in rows if "sdr" in r]
    if not rows:
        return ""

    def draw(fig):
        ax = fig.add_subplot()
        names = [str(r["sdr"]) for r in rows]
        x = range(len(names))
        width = 0.38
        booked = [_num(r.get("meetings_booked")) for r in rows]
        saos = [_num(r.get("saos")) for r in rows]
        ax.bar([i - width / 2 for i in x], booked, width, label="Meetings booked", color=_PALETTE[0])
        ax.bar([i + width / 2 for i in x], saos, width, label=label("saos"), color=_PALETTE[1])
        tilt = len(names) > 5  # names are longer than codes: tilt them before they overlap
        ax.set_xticks(list(x), names, rotation=30 if tilt else 0, ha="right" if tilt else "center")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(frameon=False)
        ax.set_title("Meetings booked and SAOs created per SDR")

    return _chart(draw, "Meetings booked and SAOs created per SDR", width=max(7.0, 0.6 * len(rows) + 2))


def _histogram(hours: Sequence[object]) -> str:
    values = [float(h) for h in hours if _is_number(h) and math.isfinite(h)]
    if not values:
        return ""

    def draw(fig):
        ax = fig.add_subplot()
        ax.hist(values, bins=min(20, max(5, len(values) // 3)), color=_PALETTE[2])
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("hours from assignment to first touch")
        ax.set_ylabel("leads")
        ax.set_title("Time to first touch")

    return _chart(draw, "Time to first touch histogram")


_TREND_SERIES = ("leads", "mqls", "meetings", "saos")


def _trend_chart(trend: Sequence[Mapping[str, object]]) -> str:
    if not trend:
        return ""

    def draw(fig):
        ax = fig.add_subplot()
        weeks = [str(t.get("week", "")) for t in trend]
        for color, series in zip(_PALETTE, _TREND_SERIES, strict=False):  # more colours than series
            ax.plot(weeks, [_num(t.get(series)) for t in trend], marker="o", label=_label(series), color=color)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        fig.legend(loc="outside lower center", ncols=4, frameon=False)
        ax.tick_params(axis="x", labelrotation=30)
        ax.set_title("Week over week")

    return _chart(draw, "Week-over-week trend")


# --------------------------------------------------------------------------- #
# Page
# --------------------------------------------------------------------------- #
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:#1d2330;background:#fff;margin:0 auto;max-width:1040px;padding:24px;line-height:1.4}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.2em;margin:28px 0 8px;border-bottom:2px solid #e3e7ee;
padding-bottom:4px}h3{font-size:1em;margin:16px 0 4px}.meta{color:#5b6473;font-size:.9em;margin:0 0 8px}
table{border-collapse:collapse;margin:8px 0;font-size:.9em;max-width:100%}th,td{padding:4px 8px;
border-bottom:1px solid #e3e7ee;text-align:left}th{background:#f4f6f9;font-weight:600}
td{overflow-wrap:anywhere}td:first-child{min-width:9em}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap;min-width:0}
table.kv th{background:none;font-weight:normal;color:#5b6473}
img.chart{display:block;max-width:100%;height:auto;margin:8px 0}.empty{color:#5b6473;font-style:italic}
.note{color:#5b6473;font-size:.85em;margin:4px 0}footer{margin-top:32px;color:#8a93a3;font-size:.8em}
"""


def _headline(report: Mapping[str, object]) -> str:
    current = _mapping(report.get("headline"))
    previous = _mapping(report.get("headline_previous"))
    if not current:
        return _empty("No headline figures.")
    prev_week = report.get("previous_week") or "previous week"
    rows = "".join(
        f'<tr><th scope="row">{_e(name)}</th><td class="num">{_e(this)}</td>'
        f'<td class="num">{_e(before)}</td><td class="num">{_e(change)}</td></tr>'
        for name, this, before, change in headline_rows(current, previous)
    )
    head = f"<tr><th>Figure</th><th>This week</th><th>{_e(prev_week)}</th><th>Change</th></tr>"
    return f"<table><thead>{head}</thead><tbody>{rows}</tbody></table>"


def _funnel(report: Mapping[str, object]) -> str:
    rows = _rows(report.get("funnel"))
    if not any(_num(r.get("count")) for r in rows):
        return _empty("No lead arrived this week.")
    shown = [{**r, "step": _STEP_LABELS.get(str(r.get("step")), r.get("step"))} for r in rows]
    parts = [
        _note("Leads that arrived this week, counted at every step up to the furthest one each has reached "
              "so far; the headline's MQLs are the MQL step."),
        _table(shown, _columns(rows, ("step", "count", "rate_from_previous", "rate_from_top"))),
        _funnel_chart(rows),
    ]
    srl = _mapping(report.get("sales_rejected"))
    if srl:
        parts.append("<h3>Sales-rejected leads (SRL)</h3>")
        parts.append(_kv_table(srl))
    return "".join(parts)


#: The per-SDR figures, split in two tables so that each fits the page; the CSV has them all.
_SDR_ACTIVITY = ("sdr", "calls", "connect_rate", "emails", "reply_rate", "linkedin", "touches", "meetings_booked",
                 "activities_per_meeting")
_SDR_RESULTS = ("sdr", "meetings_held", "future_meetings", "saos", "meeting_to_sao_rate", "pipeline", "won",
                "revenue")


def _sdrs(rows: Sequence[Mapping[str, object]], week: object) -> str:
    if not rows:
        return _empty("No SDR activity or opportunity this week.")
    parts = ["<h3>Activity</h3>", _table(rows, _present(rows, _SDR_ACTIVITY))]
    results = _present(rows, _SDR_RESULTS)
    if len(results) > 1:
        parts += ["<h3>Results</h3>", _table(rows, results)]
    parts.append(_note(f"Calls and emails by outcome, no-shows and SDR codes: sdr-activity-{week}.csv."))
    parts.append(_sdr_chart(rows))
    return "".join(parts)


def _quality(q: Mapping[str, object]) -> str:
    if not q:
        return _empty(NO_DATA)
    parts = []
    sources = q.get("sources")
    if isinstance(sources, list):
        total = q.get("total")
        rows = list(sources)
        if isinstance(total, Mapping) and rows:
            rows.append({"source": "All sources", **total})
        parts.append(_table(rows, _columns(rows, ("source", "rows_read", "quarantined", "quarantine_rate")),
                            empty="No file or API batch was ingested this week."))
    scalars = {k: v for k, v in q.items() if k not in ("sources", "total") and not isinstance(v, (Mapping, list))}
    if scalars:
        parts.append(_kv_table(scalars))
    return "".join(parts)


_SLA_COLUMNS = ("sla_leads", "sla_met", "sla_missed", "sla_compliance", "first_touch_median_hours",
                "first_touch_p90_hours", "system_delay_median_hours", "system_delay_p90_hours")


def _sla_table(rows: Sequence[Mapping[str, object]], key: str, empty: str) -> str:
    return _table(rows, [key, *_present(rows, _SLA_COLUMNS)], empty=empty)


def _outcomes(report: Mapping[str, object]) -> str:
    outcomes = _mapping(report.get("outcomes"))
    if not outcomes:
        return _empty("No outcome figures.")
    tz = report.get("time_zone")
    if not outcomes.get("leads"):
        return _empty(outcome_summary(outcomes, tz))
    notes = [str(n) for n in _values(outcomes.get("notes"))]
    parts = [_note(outcome_summary(outcomes, tz)), *(_note(n) for n in notes),
             _note("Each rate comes with its 95% Wilson interval: a group with few leads has a wide one, so compare "
                   "groups whose intervals do not overlap. Every lead counts once in each table.")]
    for key, title, first in OUTCOME_TABLES:
        rows = [dict(zip(_OUTCOME_COLUMNS, cells, strict=True)) for cells in outcome_rows(outcomes.get(key))]
        parts += [f"<h3>{_e(title)}</h3>", _outcome_table(rows, first)]
    week = report.get("week", "")
    parts.append(_note(f"Every table, with the interval's bounds and SDR codes: outcomes-{week}.csv."))
    return "".join(parts)


def _outcome_table(rows: Sequence[Mapping[str, str]], first: str) -> str:
    headers = {"group": first, "leads": "Leads", "converted": label("converted"),
               "conversion_rate": label("conversion_rate"), "ci_95": label("ci_95")}
    head = "".join(f"<th>{_e(headers[c])}</th>" for c in _OUTCOME_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{_e(r[c])}</td>" if c == "group" else f'<td class="num">{_e(r[c])}</td>'
                                    for c in _OUTCOME_COLUMNS) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _period(report: Mapping[str, object]) -> str:
    """'2026-11-23 00:00 (UTC+01:00) to 2026-11-30 00:00 (UTC+01:00)' in the report's time zone, or ''."""
    tz = report.get("time_zone")
    start, end = report.get("period_start"), report.get("period_end")
    if start is None or end is None:
        return ""
    return f"{_local(start, tz)} to {_local(end, tz)}"


def render_weekly_report(report: Mapping[str, object]) -> str:
    """Render the weekly report dict as a complete, self-contained HTML page (grain: one week).

    Keys (all optional except ``week``): ``week``, ``previous_week``, ``time_zone`` (IANA
    name, the company's), ``period_start`` / ``period_end`` (aware datetimes or ISO text,
    shown in ``time_zone``), ``headline`` and ``headline_previous`` (name -> value),
    ``funnel`` (rows of :func:`leadops.domain.metrics.funnel`), ``sales_rejected``,
    ``sdr_rows`` (one dict per SDR with its display name under ``sdr`` and
    activity/results metrics), ``sla`` (from ``sla_summary``), ``sla_by_sdr`` and
    ``sla_by_source``, ``first_touch_hours`` (floats), ``trend`` (``{week, leads, mqls,
    meetings, saos}`` rows, oldest first), ``outcomes`` (``OutcomeEvaluation.as_dict()`` of
    leadops.services.outcomes: conversion by score band, grade, routing rule and SDR of the leads
    old enough), ``disqualification_reasons`` (rows) and ``quality`` (from
    ``metrics.quality``). A section with no data says so; one with data never does.
    """
    week = report.get("week", "")
    title = f"Weekly lead report — {week}"
    period = _period(report)
    meta = " · ".join(
        f"{name}: {_e(value)}"
        for name, value in (
            ("Week", week),
            ("Period", period),
            ("Time zone", report.get("time_zone")),
            ("Compared with", report.get("previous_week")),
        )
        if value
    )

    sdr_rows = _rows(report.get("sdr_rows"))
    sla = _mapping(report.get("sla"))
    hours = _values(report.get("first_touch_hours"))
    trend = _rows(report.get("trend"))
    reasons = _rows(report.get("disqualification_reasons"))
    quality = _mapping(report.get("quality"))

    body = [
        f"<header><h1>{_e(title)}</h1><p class=\"meta\">{meta}</p></header>",
        _section("Headline", _headline(report)),
        _section("Funnel", _funnel(report)),
        _section("SDRs", _sdrs(sdr_rows, week)),
        _section("Follow-up SLA", _kv_table(sla), _histogram(hours),
                 "<h3>Per SDR</h3>" + _sla_table(_rows(report.get("sla_by_sdr")), "sdr", "No lead of this week "
                                                 "has an owner."),
                 "<h3>Per source</h3>" + _sla_table(_rows(report.get("sla_by_source")), "source",
                                                    "No lead arrived this week.")),
        _section(
            "Trend",
            _trend_chart(trend),
            _table(trend, _columns(trend, ("week", *_TREND_SERIES))),
        ),
        _section("Outcomes", _outcomes(report)),
        _section("Disqualification reasons", _table(reasons, _columns(reasons, ("reason", "count", "share")),
                                                    empty="No lead of this week was disqualified.")),
        _section("Data quality", _quality(quality)),
        "<footer>Generated by leadops for "
        + (f"{_e(week)}: {_e(period)}, {_e(report.get('time_zone') or 'UTC')}" if period else _e(week))
        + ". Figures are of this period; the funnel counts stages reached so far. "
        "— means no data (a rate whose denominator is 0).</footer>",
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
