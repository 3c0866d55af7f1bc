"""The health verbs of ``ocr-migrate``: report (tables, JSON or a self-contained HTML file), gate
(evaluate now and store), gates (history), alerts, monitor (a live terminal dashboard, the seed's
monitor_deployment.sh) and simulate (write scenario traffic into the events table)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import typer
from rich.table import Table

from presentation.formatting import safe
from .common import (EXIT_CONFIG, EXIT_GATE_FAIL, EXIT_GATE_INCONCLUSIVE, EXIT_UNAVAILABLE, Output, OutputOpt,
                     console, error_line, fail)

commands = typer.Typer()


def metrics_db(output: Output):
    """The metrics database (the flag database's URL), its schema at head (this command's start)."""
    from sqlalchemy.exc import DBAPIError

    from rollout.db import ensure_schema, make_db
    from rollout.settings import get_settings

    db = make_db(get_settings().sqlalchemy_url)
    try:
        ensure_schema(db)  # an empty report on a fresh install, not an error
    except DBAPIError as exc:
        fail(output, EXIT_UNAVAILABLE, "metrics_store_unavailable", error_line(exc))
    return db


def current_state():
    from rollout.flags import FlagStore, StoreUnavailableError
    from rollout.settings import get_settings

    try:
        store = FlagStore(get_settings().sqlalchemy_url)
        return store.init()
    except StoreUnavailableError:
        return None


def service_health(url: str | None) -> dict | None:
    import httpx

    from rollout.settings import get_settings

    settings = get_settings()
    url = url or f"http://{settings.service_host}:{settings.service_port}"
    try:
        data = httpx.get(f"{url.rstrip('/')}/health", timeout=3).json()
    except (httpx.HTTPError, ValueError) as exc:
        return {"url": url, "status": "unreachable", "detail": {"error": str(exc)[:200]}}
    return {"url": url, "status": data.get("status", "unknown"), "detail": data}


def _pct(value):
    return "-" if value is None else f"{value:.1%}"


def _ms(value):
    return "-" if value is None else f"{value:.0f}"


def engine_table(stats: list, title: str) -> Table:
    table = Table(title=title)
    for column in ("engine", "stage", "docs", "success", "p50 ms", "p95 ms", "p99 ms", "confidence", "fallback",
                   "shadow agreement", "errors"):
        table.add_column(column, justify="left" if column in ("engine", "errors") else "right")
    for st in stats:
        table.add_row(st.engine, "-" if st.stage is None else str(st.stage), str(st.documents), _pct(st.success_rate),
                      _ms(st.duration_ms["p50"]), _ms(st.duration_ms["p95"]), _ms(st.duration_ms["p99"]),
                      "-" if st.confidence_mean is None else f"{st.confidence_mean:.2f}", _pct(st.fallback_rate),
                      _pct(st.shadow_agreement), ", ".join(f"{k} {v}" for k, v in st.errors_by_class.items()))
    return table


def comparison_table(comparison: dict | None) -> Table | None:
    if not comparison or not comparison["metrics"]:
        return None
    table = Table(title=f"{comparison['canary']} vs {comparison['baseline']} (95 % intervals), volume "
                        + ", ".join(f"{k} {v}" for k, v in comparison["volume"].items()))
    for column in ("figure", comparison["baseline"], comparison["canary"], "delta", "95 % CI"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for m in comparison["metrics"]:
        fmt = (lambda v: f"{v:.0f} ms") if m["unit"] == "ms" else (lambda v: f"{v:.3f}")
        table.add_row(m["name"], fmt(m["baseline"]), fmt(m["canary"]), fmt(m["delta"]),
                      f"[{fmt(m['ci_low'])}, {fmt(m['ci_high'])}]")
    return table


def kind_table(kinds: list[dict]) -> Table | None:
    """Per upload kind (``windows.kind_figures``): each engine's documents, error rate and p95; None
    when no event in the window has a kind (all recorded before kinds were)."""
    if not any(k["kind"] for k in kinds):
        return None
    engines = sorted({e for k in kinds for e in k["engines"]})
    table = Table(title="per upload kind: documents, error rate, p95 of the successful reads")
    table.add_column("kind")
    table.add_column("docs", justify="right")
    for eng in engines:
        table.add_column(eng, justify="right")
    for k in kinds:
        cells = []
        for eng in engines:
            f = k["engines"].get(eng)
            cells.append(f"{f['documents']} · {_pct(f['error_rate'])} · {_ms(f['duration_p95'])} ms" if f else "")
        table.add_row(safe(k["kind"] or "-"), str(k["documents"]), *cells)
    return table


def cost_table(ledger: dict) -> Table:
    """The cost ledger (``ledger.cost_ledger``) per day and stage, and its total."""
    currency = ledger["currency"]
    price = ledger["price_per_page"]
    table = Table(title="what the migration saves: pages needed, read by Google (shadow), avoided, saved"
                        + (f"; Document AI at {price} {currency}/page" if price else
                           "; no price set (OCR_MIGRATE_DOCUMENTAI_PRICE_PER_PAGE): pages only"))
    for column in ("day (UTC)", "stage", "docs", "needed", "google (shadow)", "tesseract", "ksef", "saved pages",
                   "google cost", "saved"):
        table.add_column(column, justify="left" if column.startswith("day") else "right")

    def add(day: str, stage, row: dict, style: str | None = None) -> None:
        money = (lambda v: f"{v} {currency}" if v is not None else "–")  # noqa: E731
        table.add_row(day, "" if stage is None else str(stage), str(row["documents"]), str(row["pages_needed"]),
                      f"{row['google_pages']} ({row['google_shadow_pages']})", str(row["avoided_by"]["tesseract"]),
                      str(row["avoided_by"]["ksef"]), str(row["pages_saved"]), money(row["google_cost"]),
                      money(row["saved"]), style=style)

    for row in ledger["rows"]:
        add(row["day"], row["stage"], row)
    add("total", None, ledger["total"], style="bold")
    return table


def health_figures(hours: float = 1.0) -> dict:
    """The last hour per engine, the latest gate and open alerts; the error instead when the
    metrics database cannot be read (the service's own health is still worth showing)."""
    from sqlalchemy.exc import DBAPIError

    from rollout.db import ensure_schema, make_db
    from rollout.health.alerts import AlertStore
    from rollout.health.gates import gate_history
    from rollout.settings import get_settings
    from rollout.health.windows import last_hours, window_metrics

    try:
        db = make_db(get_settings().sqlalchemy_url)
        ensure_schema(db)
        start, end = last_hours(hours)
        latest = gate_history(db, limit=1)
        return {"hours": hours, "engines": [s.as_dict() for s in window_metrics(db, start, end)],
                "latest_gate": latest[0] if latest else None,
                "open_alerts": AlertStore(db, notifiers=[]).recent(20, open_only=True)}
    except DBAPIError as exc:
        return {"error": error_line(exc)}


def print_health_figures(figures: dict) -> None:
    from rollout.health.windows import WindowStats

    if "error" in figures:
        console.print(f"[red]metrics store unavailable[/]: {safe(figures['error'])}")
        return
    stats = [WindowStats(**{k: v for k, v in s.items() if k not in ("success_rate", "error_rate", "fallback_rate")})
             for s in figures["engines"]]
    console.print(engine_table(stats, f"last {figures['hours']:g} h"))
    gate_row = figures["latest_gate"]
    if gate_row:
        console.print(f"latest gate ({gate_row['evaluated_at'][:19]}, stage {gate_row['stage']}): "
                      f"[bold]{safe(gate_row['verdict'])}[/] — {safe(gate_row['reason'])}")
    for alert in figures["open_alerts"]:
        console.print(f"[{'red' if alert['severity'] == 'critical' else 'yellow'}]{safe(alert['severity'])}[/]: "
                      f"{safe(alert['message'])} — {safe(alert['recommendation'])}")


@commands.command()
def report(hours: float = typer.Option(1.0, min=0.01, help="the window: the last N hours"),
           by_stage: bool = typer.Option(False, "--by-stage", help="one row per engine and stage"),
           html: Path = typer.Option(None, "--html", help="also write a self-contained HTML report here"),
           output: Output = OutputOpt) -> None:
    """Per-engine figures for the last N hours (the ksef engine's volume among them), the engine
    comparison with confidence intervals, figures per upload kind, and what the migration saved (pages per day and stage;
    money when OCR_MIGRATE_DOCUMENTAI_PRICE_PER_PAGE is set); --html FILE writes plots over time,
    gate history and alerts too."""
    from sqlalchemy.exc import DBAPIError

    from rollout.settings import get_settings
    from rollout.health.comparison import compare_engines
    from rollout.health.ledger import cost_ledger
    from rollout.health.windows import kind_figures, last_hours, window_metrics

    db = metrics_db(output)
    start, end = last_hours(hours)
    settings = get_settings()
    price, currency = settings.documentai_price_per_page, settings.documentai_price_currency
    try:
        stats = window_metrics(db, start, end, by_stage)
        comparison = compare_engines(db, start, end)
        cost = cost_ledger(db, start, end, price, currency)
        kinds = kind_figures(db, start, end)
        if html:
            from rollout.health.overview import health_snapshot
            from presentation.report import write_html

            state = current_state()
            write_html(health_snapshot(db, hours, state, end=end, price_per_page=price, currency=currency),
                       html)
    except DBAPIError as exc:
        fail(output, EXIT_UNAVAILABLE, "metrics_store_unavailable", error_line(exc))
    except OSError as exc:
        fail(output, EXIT_CONFIG, "cannot_write_report", f"{html}: {exc}")
    if output is Output.json:
        print(json.dumps({"start": start.isoformat(), "end": end.isoformat(), "hours": hours,
                          "engines": [s.as_dict() for s in stats], "comparison": comparison, "cost": cost,
                          "kinds": kinds, "html": str(html) if html else None}))
        return
    console.print(engine_table(stats, f"last {hours:g} h ({start:%Y-%m-%d %H:%M} – {end:%H:%M} UTC)"))
    if not stats:
        console.print("no OCR events in this window")
    table = comparison_table(comparison)
    if table is not None:
        console.print(table)
    table = kind_table(kinds)
    if table is not None:
        console.print(table)
    if cost["rows"]:
        console.print(cost_table(cost))
    if html:
        console.print(f"HTML report: {html}")


@commands.command()
def gate(hours: float = typer.Option(1.0, min=0.01, help="the window: the last N hours"),
         since: str = typer.Option(None, help="or: from this ISO time (e.g. when the stage started)"),
         stage: int = typer.Option(None, help="only events of this stage (default: all in the window)"),
         thresholds: str = typer.Option("{}", help='JSON overrides, e.g. {"max_error_rate": 0.03}'),
         run_id: str = typer.Option("cli", help="recorded with the evaluation"),
         store: bool = typer.Option(True, help="store the evaluation and raise/resolve alerts"),
         output: Output = OutputOpt) -> None:
    """Evaluate the health gate now: PASS (exit 0), FAIL (exit 8) or INCONCLUSIVE (exit 9)."""
    from datetime import timedelta

    from rollout.settings import get_settings
    from rollout.health.alerts import notifiers_from
    from rollout.health.gates import FAIL, PASS
    from rollout.health.judge import judge
    from rollout.health.thresholds import ThresholdError, Thresholds

    try:
        limits = Thresholds.from_mapping(json.loads(thresholds))
    except (ThresholdError, json.JSONDecodeError, TypeError) as exc:
        fail(output, EXIT_CONFIG, "invalid_thresholds", str(exc))
    end = datetime.now(timezone.utc)
    try:
        start = datetime.fromisoformat(since) if since else end - timedelta(hours=hours)
    except ValueError:
        fail(output, EXIT_CONFIG, "invalid_time", f"--since {since!r}: expected an ISO time")
    if start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    db = metrics_db(output)
    state = current_state()
    settings = get_settings()
    judged = judge(db, start, end, limits, stage=stage, run_id=run_id, store=store,
                   percentage=state.percentage if state else None,
                   notifiers=notifiers_from(settings.alert_webhook_url, settings.alert_webhook_retries))
    result, raised = judged.result, judged.raised
    if output is Output.json:
        print(json.dumps({**result.as_dict(), "alerts_raised": raised}, default=str))
    else:
        colour = {PASS: "green", FAIL: "red"}.get(result.verdict, "yellow")
        console.print(f"[bold {colour}]{result.verdict}[/]: {safe(result.reason)}")
        table = Table("check", "verdict", "value", "threshold", "detail")
        for c in result.checks:
            table.add_row(c.name, c.verdict, "-" if c.value is None else f"{c.value:.4g}",
                          "-" if c.threshold is None else f"{c.threshold:g}", safe(c.detail))
        console.print(table)
        for alert in raised:
            console.print(f"[{'red' if alert['severity'] == 'critical' else 'yellow'}]{safe(alert['severity'])}[/]: "
                          f"{safe(alert['message'])} — {safe(alert['recommendation'])}")
    if result.verdict != PASS:
        raise typer.Exit(EXIT_GATE_FAIL if result.verdict == FAIL else EXIT_GATE_INCONCLUSIVE)


@commands.command()
def gates(limit: int = typer.Option(20, min=1, max=1000), output: Output = OutputOpt) -> None:
    """Gate history, newest first."""
    from rollout.health.gates import gate_history

    rows = gate_history(metrics_db(output), limit=limit)
    if output is Output.json:
        print(json.dumps(rows, default=str))
        return
    table = Table("when", "stage", "verdict", "canary/baseline docs", "reason", title="gate evaluations")
    for r in rows:
        table.add_row(r["evaluated_at"][:19], str(r["stage"]), safe(r["verdict"]),
                      f"{r['canary_documents']}/{r['baseline_documents']}", safe(r["reason"]))
    console.print(table)


@commands.command()
def corrections(stage: int | None = typer.Option(None, "--stage", min=0, max=6, help="of this stage only"),
                limit: int = typer.Option(200, min=1, max=100_000), output: Output = OutputOpt) -> None:
    """Corrections published by remediation after a failed stage, newest first: the documents the
    open-source engine served whose Document AI re-read differs (and those needing review)."""
    from rollout.remediation import corrections as load, remediations, summary_line

    db = metrics_db(output)
    rows = load(db, stage, limit)
    if output is Output.json:
        print(json.dumps(rows, default=str))
        return
    for run in remediations(db, 5):
        console.print(safe(f"{(run['started_at'] or '')[:19]}  {summary_line(run)}"))
    table = Table("when", "stage", "request", "kind", "status", "fields changed", "published", title="corrections")
    for r in rows:
        fields = r["fields"] or {}
        changed = fields.get("reason") if r["status"] == "needs_review" else ", ".join(
            f"{name}: {v.get('served')!s:.20} → {v.get('corrected')!s:.20}" for name, v in sorted(fields.items()))
        table.add_row((r["created_at"] or "")[:19], str(r["stage"]), safe(r["request_id"]), safe(r["kind"] or ""),
                      safe(r["status"]), safe(changed or ""), "yes" if r["published"] else "no")
    console.print(table)


@commands.command()
def alerts(limit: int = typer.Option(20, min=1, max=1000), open_only: bool = typer.Option(False, "--open"),
           output: Output = OutputOpt) -> None:
    """Alerts, newest first (--open: unresolved only)."""
    from rollout.health.alerts import AlertStore

    rows = AlertStore(metrics_db(output), notifiers=[]).recent(limit, open_only)
    if output is Output.json:
        print(json.dumps(rows, default=str))
        return
    table = Table("raised", "severity", "message", "recommendation", "seen", "resolved", title="alerts")
    for r in rows:
        table.add_row(r["raised_at"][:19], safe(r["severity"]), safe(r["message"]), safe(r["recommendation"]),
                      str(r["count"]),
                      (r["resolved_at"] or "")[:19])
    console.print(table)


@commands.command()
def monitor(refresh: float = typer.Option(5.0, min=0.2, help="seconds between refreshes"),
            duration: float = typer.Option(0, min=0, help="stop after this many seconds (0: until Ctrl-C)"),
            hours: float = typer.Option(1.0, min=0.01, help="the window shown"),
            url: str = typer.Option(None, help="the OCR service (default http://OCR_MIGRATE_SERVICE_HOST:PORT)"),
            output: Output = OutputOpt) -> None:
    """A live dashboard: deployment status, health per engine, comparison, service, gates, alerts.
    With --output json, one JSON snapshot per refresh (one per line)."""
    from rich.live import Live
    from sqlalchemy.exc import DBAPIError

    from rollout.settings import get_settings
    from presentation.dashboard import render_dashboard
    from rollout.health.overview import health_snapshot

    db = metrics_db(output)
    settings = get_settings()

    def snapshot() -> dict:
        try:
            return health_snapshot(db, hours, current_state(), service_health(url),
                                   price_per_page=settings.documentai_price_per_page,
                                   currency=settings.documentai_price_currency)
        except DBAPIError as exc:  # keep monitoring through a database blip
            return {"error": error_line(exc)}

    stop_at = time.monotonic() + duration if duration else None
    if output is Output.json:
        while True:
            print(json.dumps(snapshot(), default=str), flush=True)
            if stop_at and time.monotonic() + refresh > stop_at:
                return
            time.sleep(refresh)
    with Live(console=console, auto_refresh=False, screen=False) as live:
        while True:
            data = snapshot()
            live.update(render_dashboard(data) if "error" not in data else f"[red]metrics store: {data['error']}",
                        refresh=True)
            if stop_at and time.monotonic() + refresh > stop_at:
                return
            time.sleep(refresh)


@commands.command()
def simulate(scenario: str = typer.Option("aa", help="aa | errors | slow | low_confidence | missing"),
             documents: int = typer.Option(1000, min=1, max=5_000_000, help="served documents to write"),
             percentage: int = typer.Option(None, min=0, max=100, help="open-source share (default: current)"),
             minutes: float = typer.Option(60, min=0.1, help="spread over the last N minutes"),
             shadow: float = typer.Option(0.1, min=0, max=1, help="share of reads with a shadow comparison"),
             seed: int = typer.Option(None), output: Output = OutputOpt) -> None:
    """Write simulated traffic for a scenario into the events table (tests, demos, gate drills)."""
    from datetime import timedelta

    import numpy as np

    from rollout.events import EventWriter
    from rollout.settings import get_settings
    from rollout.health.simulate import SCENARIOS

    if scenario not in SCENARIOS:
        fail(output, EXIT_CONFIG, "unknown_scenario", f"{scenario!r}; known: {', '.join(SCENARIOS)}")
    state = current_state()
    pct = percentage if percentage is not None else (state.percentage if state else 0)
    stage = state.stage if state else 0
    end = datetime.now(timezone.utc)
    events = SCENARIOS[scenario].events(documents, pct, end - timedelta(minutes=minutes), timedelta(minutes=minutes),
                                        stage, np.random.default_rng(seed), shadow_share=shadow)
    settings = get_settings()
    metrics_db(output)
    writer = EventWriter(settings.sqlalchemy_url, settings.spool_path)
    for event in events:
        writer.record(event)
    writer.flush()
    spooled = writer.spool_depth()
    summary = {"scenario": scenario, "events": len(events), "percentage": pct, "stage": stage,
               "written": writer.written, "spooled": spooled}
    if output is Output.json:
        print(json.dumps(summary))
    else:
        console.print(f"{scenario}: {len(events)} events at {pct} % ({SCENARIOS[scenario].description}); "
                      f"written {writer.written}, spooled {spooled}")
