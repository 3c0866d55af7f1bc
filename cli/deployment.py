"""The seed's manage_deployment verbs on ``ocr-migrate``: status, advance, rollback, enable,
disable, maintenance-on/off, disable-google, set-flag, set-percentage, restore (each an action of
``rollout.actions``), history, explain; and serve and health (the OCR service).

Every write records an actor and a reason; a refused change (a percentage of 150, an unknown
flag, a rollback below stage 0) changes nothing, is audited, and exits 6.
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path

import typer
from rich.table import Table

from presentation.formatting import safe
from .common import (EXIT_CONFIG, EXIT_DEGRADED, EXIT_REFUSED, EXIT_UNAVAILABLE, Output, OutputOpt, console,
                     error_line, fail)

commands = typer.Typer()


def default_actor() -> str:
    try:
        return os.environ.get("OCR_MIGRATE_ACTOR") or getpass.getuser()
    except (KeyError, OSError):
        return "cli"


ActorOpt = typer.Option(None, "--actor", help="who makes the change (default: $OCR_MIGRATE_ACTOR or the login)")
ReasonOpt = typer.Option(..., "--reason", help="why: kept in the audit log")
ExpectOpt = typer.Option(None, "--expect-version", min=0,
                         help="the state version you decided on (see `status`): from any other version the "
                              "change is refused as a conflict (exit 6, audited), so two operators cannot both move")


def _store(output: Output):
    from rollout.distribution import publish
    from rollout.flags import FlagStore, StoreUnavailableError
    from rollout.settings import get_settings

    settings = get_settings()
    store = FlagStore(settings.sqlalchemy_url, on_change=lambda snap: publish(settings.redis_url, snap))
    try:
        store.init()
    except StoreUnavailableError as exc:
        fail(output, EXIT_UNAVAILABLE, "flag_store_unavailable", str(exc))
    return store


def _show(snapshot, output: Output, title: str = "rollout state") -> None:
    data = snapshot.as_dict()
    if output is Output.json:
        print(json.dumps(data))
        return
    table = Table(title=f"{title}: stage {data['stage']} ({data['percentage']} % open source), "
                        f"version {data['version']}")
    table.add_column("flag")
    table.add_column("value")
    for name, value in data["flags"].items():
        table.add_row(name, safe(value))
    if data["maintenance_reason"]:
        table.add_row("maintenance_reason", safe(data["maintenance_reason"]))
    console.print(table)


def _write(action: str, actor: str | None, reason: str, output: Output, expect_version: int | None = None, /,
           **params) -> None:
    """``actions.apply_action`` with the CLI's errors and output."""
    from rollout.actions import apply_action
    from rollout.flags import ConcurrentUpdateError, StoreUnavailableError
    from rollout.stages import InvalidTransition

    store = _store(output)
    try:
        snap = apply_action(store, action, actor or default_actor(), reason, expect_version=expect_version,
                            **params)
    except InvalidTransition as exc:
        fail(output, EXIT_REFUSED, "refused", str(exc))
    except ConcurrentUpdateError as exc:
        fail(output, EXIT_REFUSED, "concurrent_update", str(exc))
    except StoreUnavailableError as exc:
        fail(output, EXIT_UNAVAILABLE, "flag_store_unavailable", str(exc))
    _show(snap, output, title=action)


@commands.command()
def status(output: Output = OutputOpt) -> None:
    """The current stage, percentage and flags."""
    _show(_store(output).snapshot(), output)


@commands.command()
def advance(percentage: int = typer.Option(None, help="go to this percentage instead of the next stage"),
            actor: str = ActorOpt, reason: str = ReasonOpt,
            expect_version: int = ExpectOpt, output: Output = OutputOpt) -> None:
    """Move to the next stage (5 → 15 → 35 → 60 → 85 → 100 %) or to a given percentage."""
    _write("advance", actor, reason, output, expect_version, percentage=percentage)


@commands.command()
def rollback(actor: str = ActorOpt, reason: str = ReasonOpt,
            expect_version: int = ExpectOpt, output: Output = OutputOpt) -> None:
    """Back to the previous stage."""
    _write("rollback", actor, reason, output, expect_version)


@commands.command()
def enable(actor: str = ActorOpt, reason: str = ReasonOpt,
            expect_version: int = ExpectOpt, output: Output = OutputOpt) -> None:
    """100 % open source."""
    _write("enable", actor, reason, output, expect_version)


@commands.command()
def disable(actor: str = ActorOpt, reason: str = ReasonOpt,
            expect_version: int = ExpectOpt, output: Output = OutputOpt) -> None:
    """Everyone back to Google."""
    _write("disable", actor, reason, output, expect_version)


@commands.command("maintenance-on")
def maintenance_on(actor: str = ActorOpt, reason: str = ReasonOpt,
            expect_version: int = ExpectOpt, output: Output = OutputOpt) -> None:
    """Refuse OCR requests with 503 + Retry-After; the reason is shown to callers."""
    _write("maintenance-on", actor, reason, output, expect_version)


@commands.command("maintenance-off")
def maintenance_off(actor: str = ActorOpt, reason: str = ReasonOpt,
            expect_version: int = ExpectOpt, output: Output = OutputOpt) -> None:
    """Serve OCR requests again."""
    _write("maintenance-off", actor, reason, output, expect_version)


@commands.command("disable-google")
def disable_google(force: bool = typer.Option(False, help="even below 100 % (audited as forced)"),
                   actor: str = ActorOpt, reason: str = ReasonOpt,
            expect_version: int = ExpectOpt, output: Output = OutputOpt) -> None:
    """Switch Google Cloud off (refused unless open source serves 100 %)."""
    _write("disable-google", actor, reason, output, expect_version, force=force)


@commands.command("set-flag")
def set_flag(name: str = typer.Argument(..., help="a seed flag, e.g. enable_accuracy_comparison"),
             value: bool = typer.Argument(..., help="true or false"),
             actor: str = ActorOpt, reason: str = ReasonOpt,
            expect_version: int = ExpectOpt, output: Output = OutputOpt) -> None:
    """Turn a plain on/off flag on or off (stage-bound flags have their own verbs)."""
    _write("set-flag", actor, reason, output, expect_version, name=name, value=value)


@commands.command("set-percentage")
def set_percentage(percentage: int = typer.Argument(..., help="a whole percentage, 0-100"),
                   actor: str = ActorOpt, reason: str = ReasonOpt,
                   expect_version: int = ExpectOpt, output: Output = OutputOpt) -> None:
    """Move to exactly this percentage, up or down (Google on again below 100 %)."""
    _write("set-percentage", actor, reason, output, expect_version, percentage=percentage)


@commands.command()
def restore(backup: Path = typer.Option(..., "--backup", exists=True, dir_okay=False,
                                        help="a pre-cutover backup written by the migration"),
            actor: str = ActorOpt, reason: str = ReasonOpt,
            expect_version: int = ExpectOpt, output: Output = OutputOpt) -> None:
    """Put back the rollout state saved in a backup (what rollback_cutover.sh runs)."""
    from rollout.stages import InvalidTransition, restore_check

    try:
        state = json.loads(_read_backup(backup))["state"]
        restore_check(state)
    except (OSError, ValueError, KeyError, TypeError, InvalidTransition) as exc:
        fail(output, EXIT_REFUSED, "invalid_backup", f"{backup}: {exc}")
    _write("restore", actor, reason, output, expect_version, state=state)


MAX_BACKUP_BYTES = 16 * 1024 * 1024  # a pre-cutover backup is a few hundred KiB


def _read_backup(path: Path) -> str:
    """A backup's text: only a regular file under MAX_BACKUP_BYTES (a device such as /dev/zero
    would be read until memory runs out, a FIFO would hang). Opened without blocking and checked
    on the open file, so that nothing can be swapped in between."""
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > MAX_BACKUP_BYTES:
            raise ValueError(f"{info.st_size} bytes; a backup is at most {MAX_BACKUP_BYTES} bytes")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(MAX_BACKUP_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_BACKUP_BYTES:
        raise ValueError(f"more than {MAX_BACKUP_BYTES} bytes")
    return data.decode("utf-8")


@commands.command()
def history(limit: int = typer.Option(20, min=1, max=1000), output: Output = OutputOpt) -> None:
    """The audit log, newest first."""
    entries = _store(output).history(limit)
    if output is Output.json:
        print(json.dumps([{**e.__dict__, "at": e.at.isoformat()} for e in entries]))
        return
    table = Table(title="flag audit log")
    for column in ("at", "actor", "action", "outcome", "change", "reason"):
        table.add_column(column)
    for e in entries:
        change = ""
        if e.before and e.after:
            change = f"{e.before['percentage']} % → {e.after['percentage']} % (v{e.version_before}→v{e.version_after})"
        table.add_row(e.at.strftime("%Y-%m-%d %H:%M:%S"), safe(e.actor), safe(e.action), safe(e.outcome), change,
                      safe(e.reason))
    console.print(table)


@commands.command()
def explain(user: str = typer.Option(None, "--user", help="user id"),
            tenant: str = typer.Option(None, "--tenant", help="tenant id (used when there is no user id)"),
            output: Output = OutputOpt) -> None:
    """Which engine this user's invoices go to now, and why."""
    from rollout.router import RequestContext, decide

    if not (user or tenant):
        fail(output, EXIT_CONFIG, "missing_id", "give --user or --tenant")
    decision = decide(RequestContext(user, tenant), _store(output).snapshot())
    data = decision.as_dict()
    if output is Output.json:
        print(json.dumps(data))
        return
    who = f"user {user}" if user else f"tenant {tenant}"
    engine = decision.engine or f"refused (retry after {decision.retry_after_s} s)"
    console.print(f"{safe(who)} → [bold]{safe(engine)}[/]: {safe(decision.reason)}")


@commands.command()
def serve(host: str = typer.Option(None, help="default: OCR_MIGRATE_SERVICE_HOST (127.0.0.1)"),
          port: int = typer.Option(None, help="default: OCR_MIGRATE_SERVICE_PORT (8001)"),
          output: Output = OutputOpt) -> None:
    """Start the OCR HTTP service (needs OCR_MIGRATE_CLIENT_API_KEYS / OCR_MIGRATE_ADMIN_API_KEYS)."""
    import uvicorn

    from rollout.flags import StoreUnavailableError
    from service.app import build_service
    from rollout.settings import get_settings

    settings = get_settings()
    try:
        app_ = build_service(settings)
    except ValueError as exc:
        fail(output, EXIT_CONFIG, "invalid_settings", str(exc))
    except StoreUnavailableError as exc:
        fail(output, EXIT_UNAVAILABLE, "flag_store_unavailable", str(exc))
    uvicorn.run(app_, host=host or settings.service_host, port=port or settings.service_port, log_level="info")


def local_components(settings) -> dict:
    """What this machine can check without the service: the flag state in SQL (also the metrics
    database) and Redis, each ``ok`` with its figures or ``down`` with the reason."""
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import SQLAlchemyError

    from rollout.db import current, head, make_db
    from rollout.flags import FlagStore, StoreUnavailableError

    out: dict = {}
    db = make_db(settings.sqlalchemy_url)
    try:
        with db.connect() as conn:
            conn.execute(text("SELECT 1"))
        fresh = not inspect(db).has_table("rollout_state")
        at, newest = current(db), head()
        out["database"] = {"status": "ok" if at == newest else "behind", "schema": at, "head": newest}
        if at != newest:
            out["database"]["error"] = f"schema at {at or 'no revision'}, the code needs {newest}: run " \
                                       "`ocr-migrate db upgrade`"
    except SQLAlchemyError as exc:
        reason = error_line(exc)
        out["database"] = {"status": "down", "error": reason}
        out["flags"] = {"status": "down", "error": reason}
    else:
        if fresh:
            out["flags"] = {"status": "not initialised", "error": "no rollout state yet (`ocr-migrate status` "
                                                                  "creates it at stage 0)"}
        else:
            try:
                snap = FlagStore(db).snapshot()
                out["flags"] = {"status": "ok", "version": snap.version, "stage": snap.stage,
                                "percentage": snap.percentage, "flags": snap.as_dict()["flags"]}
            except StoreUnavailableError as exc:
                out["flags"] = {"status": "down", "error": error_line(exc)}
    if not settings.redis_url:
        out["redis"] = {"status": "not configured"}
    else:
        import redis

        try:
            redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2).ping()
            out["redis"] = {"status": "ok"}
        except redis.RedisError as exc:
            out["redis"] = {"status": "down", "error": str(exc)[:200]}
    return out


@commands.command()
def health(url: str = typer.Option(None, help="the OCR service (default http://OCR_MIGRATE_SERVICE_HOST:PORT)"),
           output: Output = OutputOpt) -> None:
    """The OCR service's health (flag source, Redis, database, engines, event spool, work queue),
    what this machine sees itself (flags, database, Redis), the last hour's figures per engine, the
    latest gate verdict and the open alerts. A service that cannot be reached is shown as down,
    with everything else. Exit 0 healthy, 10 degraded, 7 unhealthy (the service down or unhealthy,
    or the database down)."""
    import httpx

    from .health import health_figures, print_health_figures
    from rollout.health.judge import HEALTHY, UNHEALTHY, overall_status
    from rollout.settings import get_settings

    settings = get_settings()
    url = url or f"http://{settings.service_host}:{settings.service_port}"
    try:
        response = httpx.get(f"{url.rstrip('/')}/health", timeout=5)
        data = response.json()
        data["service"] = {"url": url, "reachable": True, "status": data.get("status")}
    except (httpx.HTTPError, ValueError) as exc:
        data = {"service": {"url": url, "reachable": False, "status": "down", "error": f"{type(exc).__name__}: {exc}"}}
    data["components"] = local_components(settings)
    data["metrics"] = health_figures()
    data["status"] = overall_status(data["service"]["status"], data["components"]["database"]["status"],
                                    data["components"]["redis"]["status"])
    if output is Output.json:
        print(json.dumps(data, default=str))
    else:
        _print_health(data, url)
        print_health_figures(data["metrics"])
    if data["status"] != HEALTHY:
        raise typer.Exit(EXIT_UNAVAILABLE if data["status"] == UNHEALTHY else EXIT_DEGRADED)


def _print_health(data: dict, url: str) -> None:
    colour = {"healthy": "green", "degraded": "yellow"}.get(data["status"], "red")
    console.print(f"[bold {colour}]{safe(data['status'])}[/] — {safe(url)}")
    table = Table(show_header=False)
    service = data["service"]
    if not service["reachable"]:
        table.add_row("service", f"[red]down[/]: {safe(service['error'])}")
    else:
        table.add_row("service", safe(service["status"]))
        flags = data["flags"]
        table.add_row("service flags", f"v{flags['version']} from {flags['source']} ({flags['age_s']} s old); "
                                       f"redis {flags['redis']}, sql {flags['sql']}")
        table.add_row("engines", ", ".join(f"{k}: circuit {v}" for k, v in data["engines"].items()))
        if data.get("workers"):
            table.add_row("engine workers", ", ".join(
                f"{k}: {w['live']}/{w['configured']} live" + (f", {w['version']}" if w.get("version") else "")
                for k, w in data["workers"].items()))
        table.add_row("events", f"db {data['events']['db']}, spool {data['events']['spool_depth']}, "
                                f"queued {data['events']['queued']}")
        work = data["work"]
        table.add_row("work", f"{work['in_flight']}/{work['max_concurrency']} reading, "
                              f"{work['waiting']}/{work['max_queue']} waiting")
    parts = data["components"]
    flags = parts["flags"]
    table.add_row("flags (database)", f"v{flags['version']}: stage {flags['stage']} ({flags['percentage']} %)"
                  if flags["status"] == "ok" else f"{safe(flags['status'])}: {safe(flags.get('error', ''))}")
    for name in ("database", "redis"):
        part = parts[name]
        table.add_row(name, safe(part["status"]) + (f": {safe(part['error'])}" if part.get("error") else ""))
    console.print(table)
