"""The plots over time of the health report, as data for the ``plot`` macro of ``templates/macros.html``.

:func:`plot_model` does the arithmetic (scales, ticks, labels, tooltips); the template only writes
the SVG elements, so every text in the plot is escaped by the one autoescaping environment.
"""

from __future__ import annotations

import math
from typing import Any

from .formatting import engine_colour, fmt_int, fmt_ms, fmt_pct, fmt_score, is_num, parse_time

WIDTH, HEIGHT = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 36, 34, 40


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


def _point_label(value: float, unit: str) -> str:
    if unit == "ratio":
        return fmt_pct(value, 2)
    if unit == "ms":
        return fmt_ms(value)
    return fmt_score(value)


def plot_model(series: list[dict], metric: str, title: str, unit: str, engines: list[str],
               width: int = WIDTH, height: int = HEIGHT) -> dict[str, Any]:
    """One line per engine of ``series`` rows' ``metric`` over their ``bucket``: the frame, the axes'
    ticks, and per engine its colour, polyline points, point tooltips and legend position."""
    pw, ph = width - LEFT - RIGHT, height - TOP - BOTTOM
    model: dict[str, Any] = {"metric": metric, "title": title, "width": width, "height": height,
                             "left": LEFT, "top": TOP, "pw": pw, "ph": ph, "lines": []}
    by_engine: dict[str, list[tuple[Any, float, dict]]] = {}
    buckets: list[Any] = []
    for row in series:
        value = row.get(metric)
        bucket = row.get("bucket")
        if bucket not in buckets:
            buckets.append(bucket)
        if is_num(value):
            by_engine.setdefault(str(row.get("engine")), []).append((bucket, float(value), row))
    if not by_engine:
        return model

    # x: time when every bucket parses, else the order of appearance.
    times = {b: parse_time(b) for b in buckets}
    use_time = all(t is not None for t in times.values())
    if use_time:
        try:
            xs = {b: times[b].timestamp() for b in buckets}
        except (TypeError, ValueError, OverflowError):
            use_time = False
    if not use_time:
        xs = {b: float(i) for i, b in enumerate(sorted(buckets, key=lambda b: str(b)))}
    xmin, xmax = min(xs.values()), max(xs.values())

    def sx(x: float) -> float:
        return LEFT + (pw / 2 if xmax == xmin else (x - xmin) / (xmax - xmin) * pw)

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
        return TOP + ph - (y - ymin) / (ymax - ymin) * ph

    model["yticks"] = [{"y": sy(t), "label": _tick_label(t, unit)} for t in yticks]
    model["unit_label"] = {"ms": "ms", "ratio": "%", "score": "score"}.get(unit, unit)
    ordered = sorted(buckets, key=lambda b: xs[b])
    step = max(1, math.ceil(len(ordered) / 6))  # at most ~6 x ticks
    span_days = (xmax - xmin) / 86400 if use_time else 0
    tick_format = "%m-%d %H:%M" if span_days >= 1 else ("%H:%M:%S" if use_time and xmax - xmin < 600 else "%H:%M")
    model["xticks"] = [{"x": sx(xs[b]), "label": times[b].strftime(tick_format)
                        if use_time else str(b)} for b in ordered[::step]]
    first = times[ordered[0]] if use_time else None
    utc = first is not None and first.utcoffset() is not None and first.utcoffset().total_seconds() == 0
    model["xlabel"] = "time (bucket start" + (", UTC" if utc else "") + ")"
    legend_x = LEFT
    for name in [n for n in engines if n in by_engine] + [n for n in by_engine if n not in engines]:
        pts = sorted(by_engine[name], key=lambda p: xs[p[0]])
        points = []
        for b, v, row in pts:
            when = times[b].strftime("%Y-%m-%d %H:%M") if use_time else str(b)
            points.append({"x": sx(xs[b]), "y": sy(v), "tip": f"{name} · {when} · {title}: "
                           f"{_point_label(v, unit)} (n={fmt_int(row.get('documents'))})"})
        model["lines"].append({"engine": name, "colour": engine_colour(name, engines), "points": points,
                               "legend_x": legend_x})
        legend_x += 28 + 7 * len(name)
    return model
