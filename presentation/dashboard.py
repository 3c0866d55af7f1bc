"""The live terminal monitor: one rich renderable from a health snapshot dict.

Pure rendering over the same snapshot as :mod:`presentation.report` — refresh it with
``rich.live.Live(render_dashboard(data))`` / ``live.update(render_dashboard(new_data))``. Strings
from the snapshot are wrapped in :class:`rich.text.Text`, never parsed as console markup.
"""

from __future__ import annotations

import json
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ocr_engines.normalize import strip_controls

from .formatting import (
    KEY_FLAGS,
    NO_DATA,
    ci_excludes_zero,
    delta_direction,
    fmt_ci,
    fmt_delta,
    fmt_int,
    fmt_ms,
    fmt_pct,
    fmt_score,
    fmt_time,
    fmt_value,
    is_num,
)

VERDICT_STYLE = {"PASS": "bold green", "FAIL": "bold red", "INCONCLUSIVE": "bold yellow"}
SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow"}
MAX_ALERTS = 6
MAX_FIELDS = 5


def _or_dash(value: Any) -> str:
    return NO_DATA if value is None else str(value)


def _t(value: Any, style: str = "") -> Text:
    """Plain text (never parsed as markup), without control characters or bidi overrides."""
    return Text(NO_DATA if value is None else strip_controls(str(value)), style=style)


def _deployment(data: dict) -> Panel:
    state = data.get("state") or {}
    flags = state.get("flags") or {}
    window = data.get("window") or {}
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    stage, pct = state.get("stage"), state.get("percentage")
    grid.add_row("Stage", Text.assemble((f"{NO_DATA if stage is None else stage}", "bold cyan"), "  ",
                                        (f"{NO_DATA if pct is None else pct} % open source", "cyan"),
                                        f"   flag version {NO_DATA if state.get('version') is None else state['version']}"))
    maintenance = flags.get("maintenance_mode")
    reason = state.get("maintenance_reason")
    if maintenance or reason:
        grid.add_row("Maintenance", Text.assemble(("ON", "bold white on red"), " ", (strip_controls(str(reason or "")), "red")))
    else:
        grid.add_row("Maintenance", Text("off", style="green"))
    flag_text = Text(no_wrap=True, overflow="ellipsis")
    for name in KEY_FLAGS:
        if name == "maintenance_mode" or name not in flags:
            continue
        on = flags.get(name)
        if flag_text.plain:
            flag_text.append("\n")
        flag_text.append("● " if on else "○ ", style="green" if on else "dim")
        flag_text.append(name, style="" if on else "dim")
    grid.add_row("Flags", flag_text if flag_text.plain else Text(NO_DATA))
    hours = window.get("hours")
    grid.add_row("Window", Text(f"{hours:g} h" if is_num(hours) else NO_DATA)
                 + Text(f"  to {fmt_time(window.get('end'))}", style="dim"))
    return Panel(grid, title="Deployment", title_align="left", border_style="cyan")


def _service(data: dict) -> Panel:
    svc = data.get("service")
    if not svc:
        return Panel(Text("no service probe", style="dim italic"), title="OCR service", title_align="left")
    status = str(svc.get("status") or "unknown")
    healthy = status.lower() in ("healthy", "ok", "up")
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("Status", Text(status, style="bold green" if healthy else "bold red"))
    grid.add_row("URL", _t(svc.get("url")))
    detail = svc.get("detail")
    if isinstance(detail, dict):
        for key, value in list(detail.items())[:6]:
            text = value if isinstance(value, (str, int, float, bool)) or value is None else json.dumps(
                value, default=str)
            if isinstance(text, str) and len(text) > 60:
                text = text[:57] + "..."
            grid.add_row(Text(str(key), style="dim"), _t(text))
    elif detail is not None:
        grid.add_row("Detail", _t(detail))
    return Panel(grid, title="OCR service", title_align="left", border_style="green" if healthy else "red")


def _engines(data: dict) -> Panel:
    rows = data.get("engines") or []
    if not rows:
        return Panel(Text("no reads in the window", style="dim italic"), title="Health per engine",
                     title_align="left")
    table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
    for name, justify in (("Engine", "left"), ("Docs", "right"), ("Success", "right"), ("p50", "right"),
                          ("p95", "right"), ("Conf.", "right"), ("Fallback", "right"), ("Top error", "left")):
        table.add_column(name, justify=justify, no_wrap=name != "Top error", overflow="ellipsis")
    for row in rows:
        d = row.get("duration_ms") or {}
        sr = row.get("success_rate")
        style = "" if not is_num(sr) else ("green" if sr >= 0.98 else "yellow" if sr >= 0.95 else "red")
        errors = row.get("errors_by_class") or {}
        top = max(errors.items(), key=lambda kv: kv[1] or 0) if errors else None
        table.add_row(Text(str(row.get("engine")), style="bold"), fmt_int(row.get("documents")),
                      Text(fmt_pct(sr, 2), style=style), fmt_ms(d.get("p50")), fmt_ms(d.get("p95")),
                      fmt_score(row.get("confidence_mean")), fmt_pct(row.get("fallback_rate")),
                      Text(f"{top[0]} ×{top[1]}" if top else NO_DATA))
    return Panel(table, title="Health per engine", title_align="left")


def _comparison(data: dict) -> Panel:
    comp = data.get("comparison")
    if not comp:
        return Panel(Text("no comparison — canary or baseline has no data", style="dim italic"),
                     title="Canary vs baseline", title_align="left")
    baseline, canary = str(comp.get("baseline")), str(comp.get("canary"))
    volume = comp.get("volume") or {}
    table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
    table.add_column("Metric", no_wrap=True)
    table.add_column(Text(baseline), justify="right", no_wrap=True, overflow="ellipsis")
    table.add_column(Text(canary), justify="right", no_wrap=True, overflow="ellipsis")
    table.add_column("Δ", justify="right", no_wrap=True, min_width=9)
    table.add_column("95 % CI of Δ", justify="right", no_wrap=True, min_width=20)
    table.add_column("Sig.", no_wrap=True, min_width=6)
    for m in comp.get("metrics") or []:
        name, unit = str(m.get("name") or ""), m.get("unit")
        low, high = m.get("ci_low"), m.get("ci_high")
        direction = delta_direction(name, m.get("delta"), low, high)
        excl = ci_excludes_zero(low, high)
        sig = (Text("no CI", style="dim") if excl is None else Text("ns", style="dim") if not excl
               else Text(direction, style="bold red" if direction == "worse" else "bold green"))
        table.add_row(Text(name), fmt_value(m.get("baseline"), unit, name), fmt_value(m.get("canary"), unit, name),
                      Text(fmt_delta(m.get("delta"), unit, name), style="red" if direction == "worse" else ""),
                      fmt_ci(low, high, unit, name), sig)
    parts: list[RenderableType] = [table]
    fields = sorted((f for f in comp.get("fields") or [] if is_num(f.get("agreement"))),
                    key=lambda f: f["agreement"])[:MAX_FIELDS]
    if fields:
        line = Text("Lowest field agreement: ", style="bold")
        for i, f in enumerate(fields):
            a = f["agreement"]
            line.append(("" if i == 0 else ", ") + f"{f.get('field')} ", style="")
            line.append(fmt_pct(a, 0), style="green" if a >= 0.95 else "yellow" if a >= 0.85 else "red")
            line.append(f" (n={fmt_int(f.get('n'))})", style="dim")
        parts.append(line)
    title = Text(f"Canary {canary} (n={fmt_int(volume.get(canary))}) vs baseline {baseline} "
                 f"(n={fmt_int(volume.get(baseline))})")
    return Panel(Group(*parts), title=title, title_align="left")


def _gate(data: dict) -> Panel:
    gates = data.get("gates") or []
    if not gates:
        return Panel(Text("no gate evaluations yet", style="dim italic"), title="Latest gate", title_align="left")
    g = gates[0]
    verdict = str(g.get("verdict") or NO_DATA).upper()
    style = VERDICT_STYLE.get(verdict, "bold")
    head = Text.assemble((verdict, style), "  ",
                         (f"stage {_or_dash(g.get('stage'))} ({_or_dash(g.get('percentage'))} %)", "bold"),
                         (f"  {fmt_time(g.get('evaluated_at'))}", "dim"),
                         (f"  canary n={fmt_int(g.get('canary_documents'))}", "dim"),
                         (f" baseline n={fmt_int(g.get('baseline_documents'))}", "dim"))
    parts: list[RenderableType] = [head, _t(g.get("reason") or "")]
    checks = g.get("checks") or []
    if checks:
        table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 1), expand=True)
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column(overflow="fold", ratio=1)
        for c in checks:
            cv = str(c.get("verdict") or NO_DATA).upper()
            value, threshold = c.get("value"), c.get("threshold")
            figures = (f"{value:.4g}" if is_num(value) else NO_DATA if value is None else str(value))
            if threshold is not None:
                figures += f" vs {threshold:.4g}" if is_num(threshold) else f" vs {threshold}"
            detail = c.get("detail")
            table.add_row(Text(cv, style=VERDICT_STYLE.get(cv, "")), _t(c.get("name")),
                          Text(figures + (f" — {detail}" if detail else "")))
        parts.append(table)
    return Panel(Group(*parts), title="Latest gate", title_align="left",
                 border_style={"PASS": "green", "FAIL": "red", "INCONCLUSIVE": "yellow"}.get(verdict, ""))


def _alerts(data: dict) -> Panel:
    alerts = data.get("alerts") or []
    if not alerts:
        return Panel(Text("no alerts", style="green"), title="Recent alerts", title_align="left")
    table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
    table.add_column("Sev.", no_wrap=True)
    table.add_column("Last seen", no_wrap=True)
    table.add_column("Message → recommendation", overflow="fold", ratio=1)
    table.add_column("×", justify="right", no_wrap=True)
    open_critical = 0
    for a in alerts[:MAX_ALERTS]:
        sev = str(a.get("severity") or "").lower()
        resolved = bool(a.get("resolved"))
        style = "dim" if resolved else SEVERITY_STYLE.get(sev, "")
        open_critical += sev == "critical" and not resolved
        when = fmt_time(a.get("last_seen_at") or a.get("raised_at"))
        message = Text(strip_controls(str(a.get("message") or "")), style=style)
        if a.get("recommendation"):
            message.append("\n→ " + strip_controls(str(a["recommendation"])), style="dim" if resolved else "bold")
        table.add_row(Text(sev.upper() + (" ✓" if resolved else ""), style=style),
                      Text(when[5:16] if len(when) >= 16 else when, style="dim"), message, fmt_int(a.get("count")))
    more = len(alerts) - MAX_ALERTS
    title = f"Recent alerts ({len(alerts)}{', ' + str(more) + ' more not shown' if more > 0 else ''})"
    return Panel(table, title=title, title_align="left", border_style="red" if open_critical else "yellow")


def render_dashboard(data: dict) -> RenderableType:
    """Deployment + service status side by side, then engine health, comparison, latest gate, alerts."""
    top = Table.grid(expand=True, padding=(0, 1))
    top.add_column(ratio=3)
    top.add_column(ratio=2)
    top.add_row(_deployment(data), _service(data))
    footer = Text(f"snapshot {fmt_time(data.get('generated_at'))}", style="dim", justify="right")
    return Group(top, _engines(data), _comparison(data), _gate(data), _alerts(data), footer)
