"""The health report: one self-contained HTML page rendered from a health snapshot dict.

Pure rendering: no database access; the only I/O is :func:`write_html`. The page carries its own
CSS and draws its plots as inline SVG (no scripts, fonts or CDN), so it opens offline and can be
mailed or attached to an Airflow task as is. Every string taken from the snapshot is HTML-escaped —
the values come from a database that users' traffic writes into.

Snapshot shape (all keys present; lists may be empty; numbers may be None): ``generated_at``,
``window`` {start, end, hours}, ``state`` {stage, percentage, version, maintenance_reason, flags},
``engines`` (``WindowStats.as_dict()`` rows), ``comparison`` (None or {baseline, canary, volume,
metrics, fields}), ``series`` (per engine and time bucket), ``gates`` and ``alerts`` (newest first),
``service`` (None or {url, status, detail}), and ``cost`` (optional: the cost ledger of
``ledger.cost_ledger``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

# ---------------------------------------------------------------------------------------------
# Formatting helpers (shared with the terminal dashboard)
# ---------------------------------------------------------------------------------------------

NO_DATA = "–"

#: Metrics where a larger value is worse (used to say whether a significant delta is good or bad).
LOWER_IS_BETTER = ("error", "duration", "fallback", "latency", "missing", "extra")

#: The plots over time: (metric key in ``series`` rows, title, unit).
PLOTS: tuple[tuple[str, str, str], ...] = (
    ("duration_p50", "Processing time p50", "ms"),
    ("duration_p95", "Processing time p95", "ms"),
    ("success_rate", "Success rate", "ratio"),
    ("confidence_mean", "Mean confidence", "score"),
)

#: Flags shown in the compact status lines (the report shows all flags).
KEY_FLAGS = ("use_opensource_ocr", "gradual_rollout_enabled", "disable_google_cloud", "maintenance_mode",
             "force_opensource_for_testing")

ENGINE_COLOURS = {"documentai": "#1f77b4", "google": "#1f77b4", "tesseract": "#ff7f0e"}
PALETTE = ("#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22")


def is_num(value: Any) -> bool:
    """A finite int/float/Decimal (not a bool): what the formatters and plots accept as a number."""
    if isinstance(value, Decimal):
        return value.is_finite()
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def fmt_int(value: Any) -> str:
    return f"{int(value):,}" if is_num(value) else NO_DATA


def fmt_pct(value: Any, digits: int = 1) -> str:
    return f"{value * 100:.{digits}f} %" if is_num(value) else NO_DATA


def fmt_ms(value: Any) -> str:
    return f"{value:,.0f} ms" if is_num(value) else NO_DATA


def fmt_score(value: Any) -> str:
    return f"{value:.3f}" if is_num(value) else NO_DATA


def fmt_p(value: Any) -> str:
    if not is_num(value):
        return NO_DATA
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _is_score(name: str) -> bool:
    return "confidence" in name or "agreement" in name


def fmt_value(value: Any, unit: str | None, name: str = "") -> str:
    """A metric value in its unit: ratios as percentages (confidence-like scores as 0.000), ms as ms."""
    if not is_num(value):
        return NO_DATA
    if unit == "ms":
        return fmt_ms(value)
    if unit == "ratio":
        return fmt_score(value) if _is_score(name) else fmt_pct(value, 2)
    if unit == "score":
        return fmt_score(value)
    return f"{value:,.4g}"


def fmt_delta(value: Any, unit: str | None, name: str = "") -> str:
    """A signed difference: percentage points for rates, ms for times."""
    if not is_num(value):
        return NO_DATA
    if unit == "ms":
        return f"{value:+,.0f} ms"
    if unit == "ratio":
        return f"{value:+.3f}" if _is_score(name) else f"{value * 100:+.2f} pp"
    if unit == "score":
        return f"{value:+.3f}"
    return f"{value:+,.4g}"


def fmt_ci(low: Any, high: Any, unit: str | None, name: str = "") -> str:
    if not (is_num(low) and is_num(high)):
        return NO_DATA
    return f"[{fmt_delta(low, unit, name)}, {fmt_delta(high, unit, name)}]"


def ci_excludes_zero(low: Any, high: Any) -> bool | None:
    """True when the 95 % CI of a delta lies wholly on one side of zero; None without a CI."""
    if not (is_num(low) and is_num(high)):
        return None
    return low > 0 or high < 0


def delta_direction(name: str, delta: Any, low: Any, high: Any) -> str:
    """'better', 'worse' (the CI excludes zero, in the good or bad direction) or 'ns' / 'n/a'."""
    excl = ci_excludes_zero(low, high)
    if excl is None or not is_num(delta):
        return "n/a"
    if not excl:
        return "ns"
    worse_if_up = any(part in name for part in LOWER_IS_BETTER)
    return "worse" if (delta > 0) == worse_if_up else "better"


def fmt_time(value: Any) -> str:
    """ISO timestamp → 'YYYY-MM-DD HH:MM:SS UTC±..' when it parses; the raw text otherwise."""
    if value is None:
        return NO_DATA
    dt = parse_time(value)
    if dt is None:
        return str(value)
    text = dt.strftime("%Y-%m-%d %H:%M:%S")
    if dt.utcoffset() is not None:
        offset = dt.strftime("%z")
        text += " UTC" if offset in ("+0000", "-0000") else f" {offset}"
    return text


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def engine_colour(engine: str, order: list[str]) -> str:
    if engine in ENGINE_COLOURS:
        return ENGINE_COLOURS[engine]
    others = [e for e in order if e not in ENGINE_COLOURS]
    idx = others.index(engine) if engine in others else len(others)
    return PALETTE[idx % len(PALETTE)]


def engine_order(data: dict) -> list[str]:
    """Engines in a stable order: those of the window table first, then any seen only in the series."""
    seen: list[str] = []
    for row in (data.get("engines") or []):
        name = str(row.get("engine"))
        if name not in seen:
            seen.append(name)
    for row in (data.get("series") or []):
        name = str(row.get("engine"))
        if name not in seen:
            seen.append(name)
    return seen


# ---------------------------------------------------------------------------------------------
# HTML building blocks
# ---------------------------------------------------------------------------------------------

def e(value: Any) -> str:
    """Escape anything for HTML text or a quoted attribute."""
    return escape("" if value is None else str(value), quote=True)


def _table(headers: Iterable[str], rows: list[list[str]], cls: str = "", empty: str = "no data") -> str:
    """A table from already-escaped cell HTML; a 'no data' line when there are no rows."""
    if not rows:
        return f'<p class="nodata">{e(empty)}</p>'
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    cls_attr = f' class="{e(cls)}"' if cls else ""
    return f"<table{cls_attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _num(text: str) -> str:
    return f'<span class="num">{e(text)}</span>'


def _verdict(verdict: Any) -> str:
    v = str(verdict or "").upper()
    cls = {"PASS": "pass", "FAIL": "fail", "INCONCLUSIVE": "inconclusive"}.get(v, "unknown")
    return f'<span class="verdict {cls}">{e(v or NO_DATA)}</span>'


def _badge(on: Any, label: str, value: Any = None) -> str:
    if isinstance(on, bool) or on is None:
        cls = "on" if on else "off"
        state = "on" if on else ("off" if on is False else "?")
    else:
        cls, state = "value", str(on)
    text = f"{label}: {state}" if value is None else f"{label}: {value}"
    return f'<span class="flag {cls}">{e(text)}</span>'


CSS = """
:root { --fg:#1d2330; --muted:#667085; --line:#d0d5dd; --bg:#ffffff; --panel:#f6f7f9;
        --pass:#137333; --pass-bg:#e6f4ea; --fail:#b3261e; --fail-bg:#fce8e6;
        --warn:#8a5a00; --warn-bg:#fef3d6; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: var(--fg); background: var(--bg); margin: 0; padding: 0 24px 48px; }
header { border-bottom: 1px solid var(--line); padding: 16px 0 12px; margin-bottom: 8px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 14px; margin: 16px 0 6px; }
.meta { color: var(--muted); }
.status { display: flex; flex-wrap: wrap; gap: 12px; margin: 10px 0; }
.kpi { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; }
.kpi .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.kpi .value { font-size: 20px; font-weight: 600; }
.flags { display: flex; flex-wrap: wrap; gap: 6px; }
.flag { border-radius: 10px; padding: 1px 9px; font-size: 12px; border: 1px solid var(--line); }
.flag.on { background: var(--pass-bg); color: var(--pass); border-color: #a8dab5; }
.flag.off { background: var(--panel); color: var(--muted); }
.flag.value { background: #e8f0fe; color: #174ea6; border-color: #aecbfa; }
.maint { background: var(--fail-bg); color: var(--fail); border: 1px solid #f4b8b2; border-radius: 6px;
         padding: 8px 12px; margin: 8px 0; font-weight: 600; }
table { border-collapse: collapse; margin: 6px 0 10px; min-width: 40%; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--panel); font-weight: 600; white-space: nowrap; }
td .num, td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
table.checks { margin: 0; min-width: 0; font-size: 12px; }
table.checks th, table.checks td { padding: 2px 6px; }
.verdict { font-weight: 700; border-radius: 4px; padding: 1px 6px; white-space: nowrap; }
.verdict.pass { color: var(--pass); background: var(--pass-bg); }
.verdict.fail { color: var(--fail); background: var(--fail-bg); }
.verdict.inconclusive { color: var(--warn); background: var(--warn-bg); }
.verdict.unknown { color: var(--muted); background: var(--panel); }
.sev { font-weight: 700; text-transform: uppercase; font-size: 12px; }
.sev.critical { color: var(--fail); }
.sev.warning { color: var(--warn); }
tr.critical td { background: #fff6f5; }
tr.resolved td { color: var(--muted); }
.sig.worse { color: var(--fail); font-weight: 600; }
.sig.better { color: var(--pass); font-weight: 600; }
.sig.ns { color: var(--muted); }
.nodata { color: var(--muted); font-style: italic; }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 16px; }
figure { margin: 0; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
figcaption { font-weight: 600; margin: 0 0 4px 4px; }
svg.plot { width: 100%; height: auto; background: #fff; }
svg.plot .axis { stroke: #98a2b3; stroke-width: 1; }
svg.plot .grid { stroke: #eaecf0; stroke-width: 1; }
svg.plot text { font-size: 11px; fill: #475467; font-family: inherit; }
svg.plot polyline { fill: none; stroke-width: 2; stroke-linejoin: round; }
svg.plot circle:hover { stroke: #000; stroke-width: 1.5; }
pre { background: var(--panel); border: 1px solid var(--line); padding: 8px; overflow-x: auto; font-size: 12px; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
"""


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------

def _header(data: dict) -> str:
    state = data.get("state") or {}
    window = data.get("window") or {}
    flags = state.get("flags") or {}
    hours = window.get("hours")
    hours_text = f"{hours:g} h" if is_num(hours) else NO_DATA
    kpis = [("Stage", state.get("stage")), ("Rollout", fmt_pct(state.get("percentage") / 100, 0)
                                             if is_num(state.get("percentage")) else NO_DATA),
            ("Flag version", state.get("version")), ("Window", hours_text)]
    kpi_html = "".join(f'<div class="kpi"><div class="label">{e(label)}</div>'
                       f'<div class="value">{e(NO_DATA if value is None else value)}</div></div>'
                       for label, value in kpis)
    badges = "".join(_badge(value, name) if isinstance(value, bool) or value is None
                     else _badge(value, name, value) for name, value in flags.items())
    maintenance = flags.get("maintenance_mode") or state.get("maintenance_reason")
    maint_html = ""
    if maintenance:
        reason = state.get("maintenance_reason")
        maint_html = (f'<div class="maint">Maintenance mode is ON'
                      f'{": " + e(reason) if reason else ""}</div>')
    return (f"<header><h1>OCR migration — health report</h1>"
            f'<div class="meta">Generated {e(fmt_time(data.get("generated_at")))} · window '
            f'{e(fmt_time(window.get("start")))} → {e(fmt_time(window.get("end")))}</div>'
            f'<div class="status">{kpi_html}</div>{maint_html}'
            f'<div class="flags">{badges or "<span class=nodata>no flags</span>"}</div></header>')


def _engines(data: dict) -> str:
    rows = []
    for row in data.get("engines") or []:
        d = row.get("duration_ms") or {}
        errors = row.get("errors_by_class") or {}
        err_text = ", ".join(f"{k}: {v}" for k, v in sorted(errors.items(), key=lambda kv: -(kv[1] or 0)))
        rows.append([
            f"<strong>{e(row.get('engine'))}</strong>",
            e(NO_DATA if row.get("stage") is None else row.get("stage")),
            _num(fmt_int(row.get("documents"))), _num(fmt_pct(row.get("success_rate"), 2)),
            _num(fmt_pct(row.get("error_rate"), 2)), e(err_text or NO_DATA),
            _num(fmt_ms(d.get("avg"))), _num(fmt_ms(d.get("p50"))), _num(fmt_ms(d.get("p95"))),
            _num(fmt_ms(d.get("p99"))), _num(fmt_ms(d.get("max"))),
            _num(fmt_score(row.get("confidence_mean"))), _num(fmt_score(row.get("confidence_p05"))),
            _num(fmt_pct(row.get("fallback_rate"), 2)),
            _num(f"{fmt_int(row.get('shadow_documents'))} / {fmt_pct(row.get('shadow_agreement'))}"),
        ])
    headers = ["Engine", "Stage", "Docs", "Success", "Errors", "Errors by class", "Avg", "p50", "p95",
               "p99", "Max", "Conf. mean", "Conf. p05", "Fallback", "Shadow n / agreement"]
    return ("<section id=engines><h2>Engines in the window</h2>"
            + _table(headers, rows, cls="engines", empty="no reads in the window") + "</section>")


def _comparison(data: dict) -> str:
    comp = data.get("comparison")
    if not comp:
        return ("<section id=comparison><h2>Canary vs baseline</h2>"
                '<p class="nodata">no comparison — the canary or the baseline has no data in the window</p>'
                "</section>")
    baseline, canary = comp.get("baseline"), comp.get("canary")
    volume = comp.get("volume") or {}
    rows = []
    for m in comp.get("metrics") or []:
        name, unit = str(m.get("name") or ""), m.get("unit")
        low, high = m.get("ci_low"), m.get("ci_high")
        excl = ci_excludes_zero(low, high)
        direction = delta_direction(name, m.get("delta"), low, high)
        if excl is None:
            sig = '<span class="sig ns">no CI</span>'
        elif excl:
            sig = f'<span class="sig {direction}">yes — {e(direction)}</span>'
        else:
            sig = '<span class="sig ns">no (includes 0)</span>'
        rows.append([e(name), e(unit or ""), _num(fmt_value(m.get("baseline"), unit, name)),
                     _num(fmt_value(m.get("canary"), unit, name)), _num(fmt_delta(m.get("delta"), unit, name)),
                     _num(fmt_ci(low, high, unit, name)), sig])
    metrics = _table(["Metric", "Unit", f"Baseline ({e(baseline)})", f"Canary ({e(canary)})", "Δ canary − baseline",
                      "95 % CI of Δ", "CI excludes 0"], rows, cls="comparison")
    frows = []
    for f in comp.get("fields") or []:
        frows.append([e(f.get("field")), _num(fmt_int(f.get("n"))), _num(fmt_pct(f.get("agreement"))),
                      _num(f"[{fmt_pct(f.get('ci_low'))}, {fmt_pct(f.get('ci_high'))}]"
                           if is_num(f.get("ci_low")) and is_num(f.get("ci_high")) else NO_DATA),
                      _num(fmt_int(f.get("missing"))), _num(fmt_int(f.get("extra"))),
                      _num(fmt_p(f.get("mcnemar_p")))])
    fields = _table(["Field", "n", "Agreement", "95 % CI", "Missing in canary", "Extra in canary",
                     "McNemar p"], frows, cls="fields", empty="no shadow reads with field agreement")
    vol = " · ".join(f"{e(k)}: {e(fmt_int(v))}" for k, v in volume.items()) or NO_DATA
    return (f"<section id=comparison><h2>Canary ({e(canary)}) vs baseline ({e(baseline)})</h2>"
            f'<p class="meta">Documents in the window — {vol}. A delta is significant when its 95 % '
            f"confidence interval excludes zero.</p>{metrics}<h3>Per-field agreement (shadow reads)</h3>"
            f"{fields}</section>")


def _nice_step(span: float, target: int) -> float:
    raw = span / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= mult * mag:
            return mult * mag
    return 10 * mag


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(lo) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
    step = _nice_step(hi - lo, target)
    start = math.floor(lo / step) * step
    ticks, v = [], start
    while v < hi + step * 0.5 and len(ticks) < 50:
        ticks.append(round(v, 10))
        v += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _tick_label(value: float, unit: str) -> str:
    if unit == "ratio":
        return f"{value * 100:.0f} %" if abs(value * 100 - round(value * 100)) < 1e-6 else f"{value * 100:.1f} %"
    if unit == "ms":
        return f"{value / 1000:g} s" if value >= 10000 else f"{value:,g}"
    return f"{value:g}"


def _point_label(value: float, unit: str, metric: str) -> str:
    if unit == "ratio":
        return fmt_pct(value, 2)
    if unit == "ms":
        return fmt_ms(value)
    return fmt_score(value)


def render_plot(series: list[dict], metric: str, title: str, unit: str, engines: list[str],
                width: int = 640, height: int = 280) -> str:
    """One line per engine of ``series`` rows' ``metric`` over their ``bucket``, as an inline <svg>."""
    left, right, top, bottom = 64, 36, 34, 40
    pw, ph = width - left - right, height - top - bottom
    by_engine: dict[str, list[tuple[Any, float, dict]]] = {}
    buckets: list[Any] = []
    for row in series:
        value = row.get(metric)
        bucket = row.get("bucket")
        if bucket not in buckets:
            buckets.append(bucket)
        if is_num(value):
            by_engine.setdefault(str(row.get("engine")), []).append((bucket, float(value), row))
    svg_open = (f'<svg class="plot" data-metric="{e(metric)}" viewBox="0 0 {width} {height}" width="{width}" '
                f'height="{height}" role="img" aria-label="{e(title)}">')
    if not by_engine:
        return (f'{svg_open}<title>{e(title)}: no data</title>'
                f'<rect class="frame" x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#eaecf0"/>'
                f'<text x="{left + pw / 2:.1f}" y="{top + ph / 2:.1f}" text-anchor="middle">no data</text></svg>')

    # x: time when every bucket parses, else the order of appearance.
    times = {b: parse_time(b) for b in buckets}
    use_time = all(t is not None for t in times.values())
    if use_time:
        try:
            xs = {b: times[b].timestamp() for b in buckets}
        except (TypeError, ValueError, OverflowError):
            use_time = False
    if not use_time:
        order = sorted(buckets, key=lambda b: str(b))
        xs = {b: float(i) for i, b in enumerate(order)}
    xmin, xmax = min(xs.values()), max(xs.values())

    def sx(x: float) -> float:
        return left + (pw / 2 if xmax == xmin else (x - xmin) / (xmax - xmin) * pw)

    values = [v for pts in by_engine.values() for _, v, _ in pts]
    lo, hi = min(values), max(values)
    if unit == "ratio":
        lo, hi = max(0.0, min(lo, hi - 0.05)), (min(1.0, max(hi, lo + 0.05)) if hi <= 1 else hi)
    elif unit == "ms":
        lo = 0.0
    elif unit == "score":
        lo = max(0.0, lo - 0.02)
        hi = min(1.0, hi + 0.02) if hi <= 1 else hi
    yticks = nice_ticks(lo, hi, 5)
    ymin, ymax = yticks[0], yticks[-1]
    if unit in ("ratio", "score"):
        ymin = max(ymin, 0.0)
        ymax = min(ymax, 1.0) if hi <= 1 else ymax
        yticks = [t for t in yticks if ymin - 1e-9 <= t <= ymax + 1e-9]
        if ymax == ymin:
            ymax = ymin + 1.0

    def sy(y: float) -> float:
        return top + ph - (y - ymin) / (ymax - ymin) * ph

    parts = [svg_open, f"<title>{e(title)}</title>"]
    # grid and y axis
    for t in yticks:
        y = sy(t)
        parts.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{e(_tick_label(t, unit))}</text>')
    parts.append(f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}"/>')
    parts.append(f'<line class="axis" x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}"/>')
    unit_label = {"ms": "ms", "ratio": "%", "score": "score"}.get(unit, unit)
    parts.append(f'<text x="12" y="{top + ph / 2:.1f}" text-anchor="middle" '
                 f'transform="rotate(-90 12 {top + ph / 2:.1f})">{e(unit_label)}</text>')
    # x ticks: at most ~6 of the buckets
    ordered = sorted(buckets, key=lambda b: xs[b])
    step = max(1, math.ceil(len(ordered) / 6))
    span_days = (xmax - xmin) / 86400 if use_time else 0
    for b in ordered[::step]:
        x = sx(xs[b])
        if use_time:
            label = times[b].strftime("%m-%d %H:%M" if span_days >= 1 else "%H:%M")
        else:
            label = str(b)
        parts.append(f'<line class="axis" x1="{x:.1f}" y1="{top + ph}" x2="{x:.1f}" y2="{top + ph + 4}"/>')
        parts.append(f'<text x="{x:.1f}" y="{top + ph + 16}" text-anchor="middle">{e(label)}</text>')
    xlabel = "time (bucket start" + (", UTC" if use_time and times[ordered[0]].utcoffset() is not None
                                     and times[ordered[0]].utcoffset().total_seconds() == 0 else "") + ")"
    parts.append(f'<text x="{left + pw / 2:.1f}" y="{height - 6}" text-anchor="middle">{e(xlabel)}</text>')
    # lines, points, legend
    legend_x = left
    for name in [n for n in engines if n in by_engine] + [n for n in by_engine if n not in engines]:
        colour = engine_colour(name, engines)
        pts = sorted(by_engine[name], key=lambda p: xs[p[0]])
        coords = " ".join(f"{sx(xs[b]):.1f},{sy(v):.1f}" for b, v, _ in pts)
        parts.append(f'<polyline class="series" data-engine="{e(name)}" stroke="{colour}" points="{coords}"/>')
        for b, v, row in pts:
            when = times[b].strftime("%Y-%m-%d %H:%M") if use_time else str(b)
            tip = f"{name} · {when} · {title}: {_point_label(v, unit, metric)} (n={fmt_int(row.get('documents'))})"
            parts.append(f'<circle cx="{sx(xs[b]):.1f}" cy="{sy(v):.1f}" r="3" fill="{colour}">'
                         f"<title>{e(tip)}</title></circle>")
        parts.append(f'<rect x="{legend_x}" y="10" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{legend_x + 16}" y="20">{e(name)}</text>')
        legend_x += 28 + 7 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def _plots(data: dict) -> str:
    series = data.get("series") or []
    engines = engine_order(data)
    figs = "".join(f"<figure><figcaption>{e(title)}</figcaption>"
                   f"{render_plot(series, metric, title, unit, engines)}</figure>"
                   for metric, title, unit in PLOTS)
    note = "" if series else '<p class="nodata">no time series in the window</p>'
    return f'<section id=plots><h2>Over time, per engine</h2>{note}<div class="plots">{figs}</div></section>'


def _checks(checks: list[dict]) -> str:
    if not checks:
        return f'<span class="nodata">{NO_DATA}</span>'
    rows = [[e(c.get("name")), _verdict(c.get("verdict")), _num(_check_value(c.get("value"))),
             _num(_check_value(c.get("threshold"))), e(c.get("detail") or "")] for c in checks]
    return _table(["Check", "Verdict", "Value", "Threshold", "Detail"], rows, cls="checks")


def _check_value(value: Any) -> str:
    if value is None:
        return NO_DATA
    if is_num(value):
        return f"{value:.4g}"
    return str(value)


def _gates(data: dict) -> str:
    rows = []
    for g in data.get("gates") or []:
        stage = g.get("stage")
        pct = g.get("percentage")
        rows.append([e(g.get("id")), _num(fmt_time(g.get("evaluated_at"))),
                     e(f"{NO_DATA if stage is None else stage} ({NO_DATA if pct is None else pct} %)"),
                     _verdict(g.get("verdict")), e(g.get("reason") or ""),
                     _num(fmt_int(g.get("canary_documents"))), _num(fmt_int(g.get("baseline_documents"))),
                     _checks(g.get("checks") or [])])
    return ("<section id=gates><h2>Gate history</h2>"
            + _table(["#", "Evaluated", "Stage (%)", "Verdict", "Reason", "Canary n", "Baseline n", "Checks"],
                     rows, cls="gates", empty="no gate evaluations yet") + "</section>")


def _alerts(data: dict) -> str:
    rows, classes = [], []
    for a in data.get("alerts") or []:
        sev = str(a.get("severity") or "").lower()
        resolved = bool(a.get("resolved"))
        classes.append(" ".join(c for c in (sev if sev in ("critical", "warning") else "",
                                             "resolved" if resolved else "") if c))
        rows.append([f'<span class="sev {e(sev)}">{e(sev or NO_DATA)}</span>', e(a.get("key")),
                     e(a.get("message")), e(a.get("recommendation") or ""), _num(fmt_int(a.get("count"))),
                     _num(fmt_time(a.get("raised_at"))), _num(fmt_time(a.get("last_seen_at"))),
                     "resolved" if resolved else "<strong>open</strong>"])
    if not rows:
        return '<section id=alerts><h2>Alerts</h2><p class="nodata">no alerts</p></section>'
    head = "".join(f"<th>{h}</th>" for h in ("Severity", "Key", "Message", "Recommendation", "Count",
                                             "Raised", "Last seen", "State"))
    body = "".join(f'<tr class="{e(cls)}">' + "".join(f"<td>{c}</td>" for c in row) + "</tr>"
                   for cls, row in zip(classes, rows))
    return (f'<section id=alerts><h2>Alerts</h2><table class="alerts"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></section>")


def _money(value: Any, currency: Any) -> str:
    return NO_DATA if value is None else f"{value} {currency or ''}".strip()


def _cost(data: dict) -> str:
    """The cost ledger (``ledger.cost_ledger``): per day and stage, then the window's total."""
    ledger = data.get("cost")
    if not ledger:
        return ""
    currency = ledger.get("currency")

    def cells(label_day: str, stage: Any, row: dict) -> list[str]:
        avoided = row.get("avoided_by") or {}
        return [e(label_day), e(NO_DATA if stage is None else stage), _num(fmt_int(row.get("documents"))),
                _num(fmt_int(row.get("pages_needed"))),
                _num(f"{fmt_int(row.get('google_pages'))} ({fmt_int(row.get('google_shadow_pages'))})"),
                _num(fmt_int(avoided.get("tesseract"))), _num(fmt_int(avoided.get("ksef"))),
                _num(fmt_int(row.get("pages_saved"))), _num(_money(row.get("google_cost"), currency)),
                _num(_money(row.get("saved"), currency))]

    rows = [cells(r.get("day"), r.get("stage"), r) for r in ledger.get("rows") or []]
    if rows:
        rows.append([f"<strong>{c}</strong>" for c in cells("total", None, ledger.get("total") or {})])
    headers = ["Day (UTC)", "Stage", "Docs", "Pages needed", "Google pages (shadow)", "Avoided: Tesseract",
               "Avoided: KSeF XML", "Pages saved", "Google cost", "Saved"]
    price = ledger.get("price_per_page")
    note = (f"Document AI at {e(price)} {e(currency)} per page (setting documentai_price_per_page)." if price
            else "No Document AI price is set: pages only. Set OCR_MIGRATE_DOCUMENTAI_PRICE_PER_PAGE to the "
                 "contracted price per page to see the money.")
    return ("<section id=cost><h2>What the migration saves</h2>"
            "<p>Pages needed: every request's pages, once. Google pages: every page Document AI read and "
            f"billed, shadow reads included. Saved: needed minus Google. {note}</p>"
            + _table(headers, rows, cls="cost", empty="no reads in the window") + "</section>")


def _service(data: dict) -> str:
    svc = data.get("service")
    if not svc:
        return '<section id=service><h2>OCR service</h2><p class="nodata">no service probe</p></section>'
    status = str(svc.get("status") or "unknown")
    cls = "pass" if status.lower() in ("healthy", "ok", "up") else "fail"
    try:
        detail = json.dumps(svc.get("detail"), indent=2, sort_keys=True, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        detail = str(svc.get("detail"))
    return (f'<section id=service><h2>OCR service</h2><p>{e(svc.get("url") or NO_DATA)} — '
            f'<span class="verdict {cls}">{e(status)}</span></p><pre>{e(detail)}</pre></section>')


def render_html(data: dict) -> str:
    """The whole report as one self-contained HTML document (UTF-8, inline CSS and SVG, no scripts)."""
    state = data.get("state") or {}
    title = f"OCR migration health — stage {state.get('stage', NO_DATA)} ({state.get('percentage', NO_DATA)} %)"
    body = "".join((_header(data), _engines(data), _comparison(data), _cost(data), _plots(data), _gates(data),
                    _alerts(data), _service(data)))
    return ("<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(title)}</title><style>{CSS}</style></head>"
            f"<body>{body}<footer>Rendered from the health snapshot of {e(fmt_time(data.get('generated_at')))}."
            "</footer></body></html>\n")


def write_html(data: dict, path: str | Path) -> Path:
    """Render and write the report as UTF-8; returns the path written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(data), encoding="utf-8")
    return path
