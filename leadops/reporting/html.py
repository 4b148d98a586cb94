"""Weekly report as one self-contained HTML page.

* No external resources at all: no CDN, no web fonts, no links; CSS is inline
  and charts are base64 PNG ``data:`` images, so the page can be mailed, stored
  as a Prefect artifact or opened offline.
* Every piece of text from the report dict goes through :func:`html.escape`.
* Charts are drawn with matplotlib's object-oriented API (``Figure`` +
  ``FigureCanvasAgg``), imported inside the functions: pyplot is never
  imported, so no GUI backend, no global figure registry (no leak, thread-safe)
  and nothing happens at import time.
* Formatting: None -> "—"; rates (fractions 0..1, keys with a ``rate``,
  ``compliance`` or ``share`` word) -> percentage with one decimal; hours -> one
  decimal and " h"; week-over-week changes of rates in percentage points.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Mapping, Sequence

__all__ = ["DASH", "format_value", "render_weekly_report"]

DASH = "—"
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


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_ACRONYMS = {
    "mql": "MQL", "mqls": "MQLs", "sal": "SAL", "sals": "SALs", "sql": "SQL", "sqls": "SQLs",
    "sao": "SAO", "saos": "SAOs", "srl": "SRL", "sal": "SAL", "sla": "SLA", "sdr": "SDR", "sdrs": "SDRs", "ae": "AE", "icp": "ICP",
}
_STEP_LABELS = {
    "leads": "Leads", "mql": "MQL", "sal": "SAL", "sql": "SQL", "opportunity": "Opportunity (SAO)", "won": "Won",
}


def _label(key: str) -> str:
    """Human label for a metric key: ``"sla_compliance"`` -> ``"SLA compliance"``."""
    words = [_ACRONYMS.get(w.lower(), w) for w in str(key).replace("_", " ").split()]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def format_value(key: str, value: object) -> str:
    """Display text (not yet HTML-escaped) for ``value`` in column/metric ``key``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if _is_number(value):
        if _is_rate(key):
            return f"{value * 100:.1f}%"
        if "hours" in _words(key):
            return f"{value:.1f} h"
        if isinstance(value, int):
            return f"{value:,}"
        if math.isinf(value):
            return DASH
        if float(value).is_integer():
            return f"{value:,.0f}"
        return f"{value:,.1f}"
    return str(value)


def _format_change(key: str, current: object, previous: object) -> str:
    if not (_is_number(current) and _is_number(previous)):
        return DASH
    delta = current - previous  # type: ignore[operator]
    if _is_rate(key):
        text = f"{delta * 100:+.1f} pp"
    elif isinstance(delta, int):
        text = f"{delta:+,}"
    elif float(delta).is_integer():
        text = f"{delta:+,.0f}"
    else:
        text = f"{delta:+,.1f}"
    arrow = "▲ " if delta > 0 else "▼ " if delta < 0 else ""
    return arrow + text


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


def _table(
    rows: Sequence[Mapping[str, object]],
    columns: Sequence[str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> str:
    if not rows:
        return '<p class="empty">No data for this week.</p>'
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


def _kv_table(data: Mapping[str, object]) -> str:
    if not data:
        return '<p class="empty">No data for this week.</p>'
    rows = "".join(
        f'<tr><th scope="row">{_e(_label(k))}</th><td class="num">{_e(format_value(k, v))}</td></tr>'
        for k, v in data.items()
        if not isinstance(v, (Mapping, list, tuple))
    )
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def _section(title: str, *parts: str) -> str:
    return f"<section><h2>{_e(title)}</h2>{''.join(parts)}</section>"


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
        labels = [_STEP_LABELS.get(str(r.get("step", "")), str(r.get("step", ""))) for r in rows][::-1]
        counts = [_num(r.get("count")) for r in rows][::-1]
        bars = ax.barh(labels, counts, color=_PALETTE[0])
        tags = [format_value("rate_from_top", r.get("rate_from_top")) for r in rows][::-1]
        ax.bar_label(bars, labels=[f"{c:,.0f}  ({t})" for c, t in zip(counts, tags)], padding=3)
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
        ax.bar([i + width / 2 for i in x], saos, width, label="SAOs", color=_PALETTE[1])
        ax.set_xticks(list(x), names, rotation=30 if len(names) > 6 else 0, ha="right" if len(names) > 6 else "center")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(frameon=False)
        ax.set_title("Meetings booked and SAOs per SDR")

    return _chart(draw, "Meetings booked and SAOs per SDR", width=max(7.0, 0.6 * len(rows) + 2))


def _histogram(hours: Sequence[float]) -> str:
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
        for color, series in zip(_PALETTE, _TREND_SERIES):
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
padding-bottom:4px}.meta{color:#5b6473;font-size:.9em;margin:0 0 8px}
table{border-collapse:collapse;margin:8px 0;font-size:.9em}th,td{padding:4px 10px;border-bottom:1px solid #e3e7ee;
text-align:left}th{background:#f4f6f9;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
table.kv th{background:none;font-weight:normal;color:#5b6473}.scroll{overflow-x:auto}
img.chart{display:block;max-width:100%;height:auto;margin:8px 0}.empty{color:#5b6473;font-style:italic}
footer{margin-top:32px;color:#8a93a3;font-size:.8em}
"""


def _headline(report: Mapping[str, object]) -> str:
    current = report.get("headline") or {}
    previous = report.get("headline_previous") or {}
    if not current:
        return '<p class="empty">No headline metrics.</p>'
    prev_week = report.get("previous_week") or "previous week"
    rows = []
    for key, value in current.items():
        prev = previous.get(key)
        rows.append(
            "<tr>"
            f'<th scope="row">{_e(_label(key))}</th>'
            f'<td class="num">{_e(format_value(key, value))}</td>'
            f'<td class="num">{_e(format_value(key, prev))}</td>'
            f'<td class="num">{_e(_format_change(key, value, prev))}</td>'
            "</tr>"
        )
    head = f"<tr><th>Metric</th><th>This week</th><th>{_e(prev_week)}</th><th>Change</th></tr>"
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _quality(q: Mapping[str, object]) -> str:
    if not q:
        return '<p class="empty">No data for this week.</p>'
    parts = []
    sources = q.get("sources")
    if isinstance(sources, list):
        total = q.get("total")
        rows = list(sources)
        if isinstance(total, Mapping) and rows:
            rows.append({"source": "All sources", **total})
        parts.append(_table(rows, _columns(rows, ("source", "rows_read", "quarantined", "quarantine_rate"))))
    scalars = {k: v for k, v in q.items() if k not in ("sources", "total") and not isinstance(v, (Mapping, list))}
    if scalars:
        parts.append(_kv_table(scalars))
    return "".join(parts)


_SLA_COLUMNS = ("sla_leads", "sla_met", "sla_missed", "sla_compliance", "first_touch_median_hours",
                "first_touch_p90_hours", "system_delay_median_hours", "system_delay_p90_hours")


def _sla_table(rows: Sequence[Mapping[str, object]], key: str) -> str:
    cols = [key] + [c for c in _SLA_COLUMNS if any(c in r for r in rows)]
    return f'<div class="scroll">{_table(rows, cols, {"sdr": "SDR"})}</div>'


def render_weekly_report(report: Mapping[str, object]) -> str:
    """Render the weekly report dict as a complete, self-contained HTML page.

    Keys (all optional except ``week``): ``week``, ``previous_week``,
    ``generated_at`` (ISO string), ``time_zone``, ``headline`` and
    ``headline_previous`` (name -> value), ``funnel`` (rows of
    :func:`leadops.domain.metrics.funnel`), ``sdr_rows`` (one dict per SDR with a
    ``sdr`` key and activity/results metrics), ``sla`` (from ``sla_summary``),
    ``first_touch_hours`` (floats), ``trend`` (``{week, leads, mqls, meetings,
    saos}`` rows, oldest first), ``disqualification_reasons`` (rows) and
    ``quality`` (from ``metrics.quality``).
    """
    week = report.get("week", "")
    title = f"Weekly lead report — {week}"
    meta = " · ".join(
        f"{label}: {_e(value)}"
        for label, value in (
            ("Week", week),
            ("Previous week", report.get("previous_week")),
            ("Time zone", report.get("time_zone")),
            ("Generated at", report.get("generated_at")),
        )
        if value
    )

    funnel_rows = list(report.get("funnel") or [])
    sdr_rows = list(report.get("sdr_rows") or [])
    sla = report.get("sla") or {}
    hours = list(report.get("first_touch_hours") or [])
    trend = list(report.get("trend") or [])
    reasons = list(report.get("disqualification_reasons") or [])
    quality = report.get("quality") or {}

    body = [
        f"<header><h1>{_e(title)}</h1><p class=\"meta\">{meta}</p></header>",
        _section("Headline", _headline(report)),
        _section(
            "Funnel",
            _table(
                [{**r, "step": _STEP_LABELS.get(str(r.get("step")), r.get("step"))} for r in funnel_rows],
                _columns(funnel_rows, ("step", "count", "rate_from_previous", "rate_from_top")),
                {"rate_from_previous": "From previous step", "rate_from_top": "From top"},
            ),
            _funnel_chart(funnel_rows),
            _kv_table(report.get("sales_rejected") or {}),
        ),
        _section(
            "SDRs",
            f'<div class="scroll">{_table(sdr_rows, _columns(sdr_rows, ("sdr",)), {"sdr": "SDR"})}</div>',
            _sdr_chart(sdr_rows),
        ),
        _section("Follow-up SLA", _kv_table(sla), _histogram(hours),
                 "<h3>Per SDR</h3>" + _sla_table(report.get("sla_by_sdr") or [], "sdr"),
                 "<h3>Per source</h3>" + _sla_table(report.get("sla_by_source") or [], "source")),
        _section(
            "Trend",
            _trend_chart(trend),
            _table(trend, _columns(trend, ("week", *_TREND_SERIES)), {"mqls": "MQLs", "saos": "SAOs"}),
        ),
        _section("Disqualification reasons", _table(reasons, _columns(reasons, ("reason", "count", "share")))),
        _section("Data quality", _quality(quality)),
        f"<footer>Generated by leadops{(' at ' + _e(report.get('generated_at'))) if report.get('generated_at') else ''}."
        " Rates: — means no data (zero denominator).</footer>",
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
