"""`ocr-migrate db`: the database's schema, as Alembic migrations (``rollout/migrations``).

``upgrade`` is what the service, the DAGs' first task, the demo and a deployment run at start;
``current`` says where a database stands. Both read the flag database's URL from the settings
(``OCR_MIGRATE_DATABASE_URL``; default the embedded SQLite file) unless ``--url`` names another.
"""

from __future__ import annotations

import json

import typer

from .common import EXIT_UNAVAILABLE, Output, OutputOpt, console, error_line, fail

commands = typer.Typer(no_args_is_help=True, help="the database's schema: upgrade it, see where it stands")
UrlOpt = typer.Option(None, "--url", help="a database URL (default: the settings' flag and metrics database)")


def _url(url: str | None) -> str:
    from rollout.settings import get_settings

    return url or get_settings().sqlalchemy_url


@commands.command()
def upgrade(url: str | None = UrlOpt, revision: str = typer.Option("head", help="the revision to reach"),
            output: Output = OutputOpt):
    """Apply the migrations the database lacks (a database made before them is adopted in place),
    then seed the rollout state at stage 0 if there is none. Safe for replicas at once."""
    from sqlalchemy.exc import SQLAlchemyError

    from rollout.db import make_db, upgrade as run
    from rollout.flags import FlagStore, StoreUnavailableError

    db = make_db(_url(url))
    try:
        before, after = run(db, revision)
        snap = FlagStore(db).init() if revision == "head" else None
    except (SQLAlchemyError, StoreUnavailableError) as exc:
        fail(output, EXIT_UNAVAILABLE, "database_unavailable", error_line(exc))
    out = {"before": before, "after": after, "upgraded": before != after,
           "rollout_state_version": snap.version if snap else None}
    if output is Output.json:
        print(json.dumps(out))
    else:
        console.print(f"schema {before or 'none'} -> {after}" if before != after else f"schema at {after}, nothing "
                      "to do")


@commands.command()
def current(url: str | None = UrlOpt, output: Output = OutputOpt):
    """The database's schema revision and the code's newest (exit 7 when it cannot be read)."""
    from sqlalchemy.exc import SQLAlchemyError

    from rollout.db import current as revision, head, make_db

    try:
        at = revision(make_db(_url(url)))
    except SQLAlchemyError as exc:
        fail(output, EXIT_UNAVAILABLE, "database_unavailable", error_line(exc))
    out = {"current": at, "head": head(), "up_to_date": at == head()}
    if output is Output.json:
        print(json.dumps(out))
    else:
        console.print(f"schema {at or 'none'} (the code's newest: {out['head']})"
                      + ("" if out["up_to_date"] else " — run `ocr-migrate db upgrade`"))
