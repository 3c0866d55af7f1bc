"""The stage timeline strip (``rollout.health.timeline``) as data for the ``timeline`` macro of
``templates/macros.html``: one SVG strip over the timeline's span — the stages as bars (their
percentage written in them), the gate verdicts as markers above (PASS / FAIL / INCONCLUSIVE, the
golden gate's too), each rollback as a red line through the strip, and the remediations as bars
below with their "re-read N, corrected M, published K" summary. The template only writes the
elements, so every text (reasons come from people and from the tables) is escaped there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .formatting import parse_time

WIDTH = 960
LEFT, RIGHT = 16, 16
GATE_Y, STAGE_Y, STAGE_H, ROLLBACK_Y, REMEDIATION_Y, AXIS_Y = 20, 36, 28, 80, 88, 114
HEIGHT = 134
VERDICT_CLASS = {"PASS": "pass", "FAIL": "fail", "INCONCLUSIVE": "inconclusive"}
TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600,
              86400, 2 * 86400, 7 * 86400)


def _stage_fill(percentage: Any) -> str:
    """Light to dark orange with the share of traffic on the open-source engine; grey at 0 %."""
    if not isinstance(percentage, (int, float)) or percentage <= 0:
        return "#d0d5dd"
    share = min(float(percentage), 100.0) / 100
    light, dark = (253, 224, 196), (196, 85, 10)
    r, g, b = (round(lo + (hi - lo) * share) for lo, hi in zip(light, dark))
    return f"#{r:02x}{g:02x}{b:02x}"


def timeline_model(timeline: dict | None, width: int = WIDTH) -> dict[str, Any]:
    """The strip's geometry: ``stages`` (x, w, label, fill, tip), ``gates`` (x, cls, letter, tip),
    ``rollbacks`` (x, label, tip), ``remediations`` (x, w, label, label_x, anchor, tip), ``ticks``."""
    model: dict[str, Any] = {"width": width, "height": HEIGHT, "left": LEFT, "right": width - RIGHT,
                             "gate_y": GATE_Y, "stage_y": STAGE_Y, "stage_h": STAGE_H,
                             "rollback_y": ROLLBACK_Y, "remediation_y": REMEDIATION_Y, "axis_y": AXIS_Y, "empty": True,
                             "stages": [], "gates": [], "rollbacks": [], "remediations": [], "ticks": []}
    span = (timeline or {}).get("span") or {}
    t0, t1 = parse_time(span.get("start")), parse_time(span.get("end"))
    if t0 is None or t1 is None or t1 <= t0:
        return model
    model["empty"] = False
    pw = width - LEFT - RIGHT
    total = (t1 - t0).total_seconds()

    def x_of(value: Any, default: datetime) -> float:
        at = parse_time(value) or default
        return LEFT + min(max((at - t0).total_seconds() / total, 0.0), 1.0) * pw

    def when(value: Any) -> str:
        at = parse_time(value)
        return at.strftime("%Y-%m-%d %H:%M:%S") if at else "?"

    for s in timeline.get("stages") or []:
        x0, x1 = x_of(s.get("began"), t0), x_of(s.get("ended"), t1)
        if x1 - x0 < 0.5 and s.get("ended") is not None:
            continue  # over before the strip begins
        pct = s.get("percentage")
        until = "now" if s.get("ended") is None else when(s.get("ended"))
        model["stages"].append({
            "x": x0, "w": max(x1 - x0, 1.0), "fill": _stage_fill(pct), "label": f"{pct} %",
            "show_label": x1 - x0 >= 34, "current": s.get("ended") is None,
            "tip": f"{pct} % (stage {s.get('stage')}): {when(s.get('began'))} → {until} — {s.get('action')}, "
                   f"{s.get('actor')}: {s.get('reason')}"})
    for g in timeline.get("gates") or []:
        verdict = str(g.get("verdict") or "")
        count = f" ×{g.get('count')} ({when(g.get('first'))} → {when(g.get('last'))})" if (g.get("count") or 1) > 1 else ""
        model["gates"].append({
            "x": x_of(g.get("last"), t1), "cls": VERDICT_CLASS.get(verdict, "unknown"), "verdict": verdict,
            "letter": verdict[:1] or "?", "golden": False,
            "tip": f"gate {verdict} at {g.get('percentage')} %, {when(g.get('last'))}{count}: {g.get('reason')}"})
    for x in timeline.get("golden") or []:
        verdict = str(x.get("verdict") or "")
        model["gates"].append({
            "x": x_of(x.get("at"), t1), "cls": VERDICT_CLASS.get(verdict, "unknown"), "verdict": verdict,
            "letter": "G", "golden": True,
            "tip": f"golden gate {verdict} ({x.get('suite')}, {x.get('documents')} documents), {when(x.get('at'))}"})
    model["gates"].sort(key=lambda g: (g["cls"] == "fail", g["x"]))  # a FAIL is drawn on top
    for r in timeline.get("rollbacks") or []:
        model["rollbacks"].append({"x": x_of(r.get("at"), t1), "label": f"rollback {r.get('from')} → {r.get('to')} %",
                                   "tip": f"rollback {r.get('from')} % → {r.get('to')} %, {when(r.get('at'))} "
                                          f"({r.get('action')}, {r.get('actor')}): {r.get('reason')}"})
    for r in timeline.get("remediations") or []:
        x0, x1 = x_of(r.get("started_at"), t0), x_of(r.get("finished_at"), t1)
        label = f"remediation: {r.get('summary')}"
        right_room = model["right"] - x1
        anchor, label_x = ("start", x1 + 6) if right_room >= 6.2 * len(label) or right_room >= x0 - LEFT \
            else ("end", x0 - 6)
        model["remediations"].append({
            "x": x0, "w": max(x1 - x0, 4.0), "label": label, "label_x": label_x, "anchor": anchor,
            "tip": f"remediation of {r.get('percentage')} % ({r.get('cause')}), {when(r.get('started_at'))} → "
                   f"{when(r.get('finished_at')) if r.get('finished_at') else 'running'}: {r.get('summary')}; "
                   f"{r.get('served')} served by the open-source engine, {r.get('retained')} kept"})
    step = next((s for s in TICK_STEPS if total / s <= 8), TICK_STEPS[-1])
    fmt = "%H:%M:%S" if step < 60 else ("%H:%M" if total < 86400 else "%m-%d %H:%M")
    first = int(t0.timestamp() // step + 1) * step
    for seconds in range(first, int(t1.timestamp()) + 1, step):
        at = datetime.fromtimestamp(seconds, t0.tzinfo)
        model["ticks"].append({"x": x_of(at, t0), "label": at.strftime(fmt)})
    utc = t0.utcoffset() is not None and t0.utcoffset().total_seconds() == 0
    model["xlabel"] = f"{when(span.get('start'))} → {when(span.get('end'))}" + (" UTC" if utc else "")
    return model
