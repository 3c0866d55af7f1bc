"""The database: the engine factory, the schema lock, every table, and the schema's migrations.

PostgreSQL in production, SQLite as the embedded default (SQLAlchemy 2 Core, the same code). The
schema changes only through the Alembic migrations in ``rollout/migrations/versions``, applied by
``upgrade`` (``ocr-migrate db upgrade``), which the service, the DAGs' first task, the demo and the
tests run at start. Nothing creates or alters a table on a request's, a poke's or a gate's path:
those assume the schema is at head, and ``ocr-migrate db current`` says whether it is.

A database made before the migrations (by ``create_all``, and columns the events writer added
by hand) has no version table: the first two migrations adopt it, creating only what it
lacks (``tests/db_fixtures``: one from before ``ocr_events.engine_version``, one from the last
commit before Alembic; on SQLite and PostgreSQL).
"""

from __future__ import annotations

import logging
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import (JSON, BigInteger, Boolean, Column, DateTime, Float, Index, Integer, MetaData, String, Table,
                        Text, create_engine, text)
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)
metadata = MetaData()
_id = BigInteger().with_variant(Integer, "sqlite")

# ------------------------------------------------------------------------------- flags

rollout_state = Table(
    "rollout_state", metadata,
    Column("id", Integer, primary_key=True),  # always 1: one rollout per deployment
    Column("version", Integer, nullable=False),
    Column("stage", Integer, nullable=False),
    Column("percentage", Integer, nullable=False),
    Column("flags", JSON, nullable=False),
    Column("maintenance_reason", Text, nullable=False, default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
)

flag_audit = Table(
    "flag_audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),  # applied | conflict | refused
    Column("version_before", Integer),
    Column("version_after", Integer),
    Column("before", JSON),
    Column("after", JSON),
    Column("reason", Text, nullable=False),
)


# ------------------------------------------------------------------------------- events

ocr_events = Table(
    "ocr_events", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("event_id", String(32), nullable=False, unique=True),  # makes replays idempotent
    Column("request_id", String(64), nullable=False),
    Column("user_bucket", String(16)),  # salted hash of the user/tenant id, never the id itself
    Column("engine", String(16), nullable=False),
    Column("engine_version", String(64)),  # e.g. '5.5.4 (tesserocr)': the Tesseract version and how it ran
    # the writer's clock against the database's when it recorded the event (database - writer, ms):
    # what lets a gate see events a skewed clock dated outside (or inside) its window
    Column("clock_offset_ms", Integer),
    # what the customer sent (ocr_engines.documents.upload_kind: digital, scan, photo, fax, xml), so
    # that figures and gates can be read per kind (a photo reads worse than a digital PDF)
    Column("kind", String(16)),
    Column("stage", Integer, nullable=False),
    Column("percentage", Integer, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("success", Boolean, nullable=False),
    Column("error_class", String(64)),
    Column("confidence", Float),
    Column("pages", Integer),
    Column("fallback", Boolean, nullable=False, default=False),
    Column("shadow", Boolean, nullable=False, default=False),
    Column("shadow_agreement", Float),
    Column("field_agreement", JSON),
    Index("ix_ocr_events_engine_at", "engine", "at"),
    # Window figures (health.windows, the gates' samples) read a time range and only these columns: on
    # PostgreSQL that is an index-only scan of one contiguous slice of this index, so the cost follows
    # the window, not the table (bench/bench_windows.py: a 1-hour window of ~1 400 events takes ~3 ms
    # in the server and p95 ~13 ms end to end at 10 M rows, as at 1 M). Shadow rows' agreement figures
    # still come from the heap. Pages written since the last (auto)vacuum are read from the heap too.
    # SQLite gets a plain index on ``at``.
    Index("ix_ocr_events_at_covering", "at",
          postgresql_include=["engine", "stage", "shadow", "success", "fallback", "duration_ms", "confidence",
                              "error_class", "kind"]),
)

# ------------------------------------------------------------------------------- health

gate_evaluations = Table(
    "gate_evaluations", metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("evaluated_at", DateTime(timezone=True), nullable=False),
    Column("run_id", String(250)),            # the Airflow run (or CLI/monitor) that asked
    Column("stage", Integer),
    Column("percentage", Integer),
    Column("canary", String(16), nullable=False),
    Column("baseline", String(16)),
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("window_end", DateTime(timezone=True), nullable=False),
    Column("verdict", String(16), nullable=False),  # PASS | FAIL | INCONCLUSIVE
    Column("reason", Text, nullable=False),
    Column("canary_documents", Integer, nullable=False),
    Column("baseline_documents", Integer, nullable=False),
    Column("checks", JSON, nullable=False),
    Column("figures", JSON, nullable=False),
    Column("thresholds", JSON, nullable=False),
    Index("ix_gate_evaluations_at", "evaluated_at"),
    Index("ix_gate_evaluations_run", "run_id", "evaluated_at"),
)

alerts = Table(
    "alerts", metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False),       # de-duplication key, e.g. error_rate:tesseract
    Column("severity", String(16), nullable=False),   # warning | critical
    Column("source", String(32), nullable=False),     # gate | monitor | ...
    Column("message", Text, nullable=False),
    Column("recommendation", Text, nullable=False),
    Column("stage", Integer),
    Column("raised_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("count", Integer, nullable=False, default=1),
    Column("resolved_at", DateTime(timezone=True)),
    Column("notified", Boolean, nullable=False, default=False),
    Column("details", JSON),
    Index("ix_alerts_open", "key", "resolved_at"),
    Index("ix_alerts_raised", "severity", "raised_at"),
)


# Remediation (rollout.remediation): after a stage FAILs or is rejected, every document the
# open-source engine served during it is re-read with Document AI; one row per remediation run,
# one per document whose result changed (or that nobody could re-read: needs review).
ocr_remediations = Table(
    "ocr_remediations", metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("run_id", String(250)),                 # the Airflow run (or CLI) that remediated
    Column("stage", Integer),
    Column("percentage", Integer, nullable=False),  # the failed stage's
    Column("cause", String(32), nullable=False),    # gate | golden | rejected | post-cutover
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("window_end", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),  # NULL while it runs
    Column("served", Integer, nullable=False, default=0),     # documents the open-source engine served
    Column("retained", Integer, nullable=False, default=0),   # of them, still kept (retention)
    Column("reread", Integer, nullable=False, default=0),     # re-read by Document AI
    Column("corrected", Integer, nullable=False, default=0),  # whose result changed
    Column("published", Integer, nullable=False, default=0),  # corrections delivered to the webhook
    Column("needs_review", Integer, nullable=False, default=0),  # could not be re-read (Google off, gone)
    Column("failed", Integer, nullable=False, default=0),     # re-reads that failed
    Column("details", JSON),
    Index("ix_ocr_remediations_at", "started_at"),
)

ocr_corrections = Table(
    "ocr_corrections", metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("remediation_id", _id, nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("stage", Integer),
    Column("percentage", Integer),
    Column("kind", String(16)),
    Column("served_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),   # corrected | needs_review
    Column("fields", JSON, nullable=False),         # {field: {served, corrected, status}} that changed
    Column("corrected_result", JSON),               # Document AI's whole result (None: needs review)
    Column("published", Boolean, nullable=False, default=False),  # the corrections webhook took it
    Index("ix_ocr_corrections_request", "remediation_id", "request_id", unique=True),
    Index("ix_ocr_corrections_at", "created_at"),
)

gx_validations = Table(
    "gx_validations", metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("evaluated_at", DateTime(timezone=True), nullable=False),
    Column("run_id", String(250)),          # the Airflow run (or CLI) that asked
    Column("stage", Integer),
    Column("suite", String(100), nullable=False),
    Column("success", Boolean),             # NULL: not validated (e.g. no shadow sample)
    Column("evaluated_expectations", Integer, nullable=False),
    Column("successful_expectations", Integer, nullable=False),
    Column("unsuccessful_expectations", Integer, nullable=False),
    Column("documents", Integer, nullable=False),
    Column("results", JSON, nullable=False),  # failing expectations with observed values, figures
    Column("data_docs_path", Text),
    Index("ix_gx_validations_at", "evaluated_at"),
    Index("ix_gx_validations_run", "run_id", "evaluated_at"),
)



# ------------------------------------------------------------------------------- engine

# Every database call is bounded: a server that does not answer a connection within
# CONNECT_TIMEOUT_S, or runs a statement past STATEMENT_TIMEOUT_MS, is an error the callers
# handle (spool, last-known-good flags, a typed CLI error), not a hang. A server that accepted the
# connection and then froze (SIGSTOP, a stalled disk) enforces nothing: the event writer and the
# flag reader watch their own calls for that (``EventWriter.stalled``, ``FlagReader.status``).
CONNECT_TIMEOUT_S = 5
STATEMENT_TIMEOUT_MS = 15_000
POOL_TIMEOUT_S = 10


def make_db(url: str) -> Engine:
    """The SQLAlchemy Engine (``db``) for a flag or metrics database URL, with the bounds above."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return create_engine(url, pool_pre_ping=True, connect_args={"timeout": CONNECT_TIMEOUT_S})
    if url.startswith("postgresql"):
        return create_engine(url, pool_pre_ping=True, pool_timeout=POOL_TIMEOUT_S, connect_args={
            "connect_timeout": CONNECT_TIMEOUT_S,
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={STATEMENT_TIMEOUT_MS // 3}",
            "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3})
    return create_engine(url, pool_pre_ping=True)


# Every schema set-up (flags, events, gates and alerts, GX) in any process takes this lock first.
SCHEMA_LOCK_KEY = 0x6F63725F6D696772  # b"ocr_migr"


@contextmanager
def schema_transaction(db: Engine, lock_timeout: str | None = None) -> Iterator[Connection]:
    """A transaction in which one process at a time sets a schema up. Without it, replicas starting
    together on a fresh database both found a table missing and both created it: the second failed
    (PostgreSQL: a unique violation in its catalog, or 'already exists'; SQLite: 'already exists').
    PostgreSQL: a transaction-scoped advisory lock (released by the commit, waited for up to the
    connection's lock_timeout); SQLite: BEGIN IMMEDIATE, the database's write lock (waited for up
    to its busy timeout), taken before the check, since DDL alone would not begin a transaction.
    ``lock_timeout`` (PostgreSQL): wait that long for the lock, and lift the statement timeout
    within the transaction (a migration's index build is not a request's statement)."""
    with db.begin() as conn:
        if conn.dialect.name == "postgresql":
            if lock_timeout:
                conn.execute(text("SELECT set_config('lock_timeout', :t, true), set_config('statement_timeout', '0', "
                                  "true)"), {"t": lock_timeout})
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


# ------------------------------------------------------------------------------- migrations

MIGRATIONS = Path(__file__).resolve().with_name("migrations")
# Our own version table, not Alembic's default ``alembic_version``: the metrics database may be a
# schema Airflow's own migrations (also Alembic) share.
VERSION_TABLE = "ocr_migrate_version"
# A migration can rebuild an index of the events table: not bounded by the request path's statement
# timeout; replicas starting together wait this long for the one that upgrades.
UPGRADE_LOCK_TIMEOUT = "120s"


def alembic_config(connection: Connection | None = None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest migration's revision."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current(db: Engine | str) -> str | None:
    """The revision the database is at (None: never upgraded)."""
    with as_engine(db).connect() as conn:
        return migration_context(conn).get_current_revision()


def migration_context(conn: Connection):
    """Alembic's view of a connection's database, with our version table."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})


def upgrade(db: Engine | str, revision: str = "head") -> tuple[str | None, str | None]:
    """Apply the migrations the database lacks, in one transaction under the schema lock (replicas
    starting together: one upgrades, the others wait and find it done). Returns (before, after)."""
    db = as_engine(db)
    out = _migrate(db, "upgrade", revision)
    _upgraded.add(db)
    return out


def downgrade(db: Engine | str, revision: str) -> tuple[str | None, str | None]:
    """Undo migrations down to ``revision`` ('base': none left, every table of ours dropped), as
    ``upgrade`` does them: one transaction, under the schema lock. Returns (before, after)."""
    db = as_engine(db)
    _upgraded.discard(db)
    return _migrate(db, "downgrade", revision)


def _migrate(db: Engine, direction: str, revision: str) -> tuple[str | None, str | None]:
    from alembic import command

    with schema_transaction(db, lock_timeout=UPGRADE_LOCK_TIMEOUT) as conn:
        before = migration_context(conn).get_current_revision()
        getattr(command, direction)(alembic_config(conn), revision)
        after = migration_context(conn).get_current_revision()
    if before != after:
        log.warning("database %s: %s %s -> %s", db.url.render_as_string(hide_password=True), direction, before,
                    after)
    return before, after


_upgraded: weakref.WeakSet[Engine] = weakref.WeakSet()


def ensure_schema(db: Engine) -> None:
    """``upgrade`` once per database (``db``) in this process: what a process's start (the
    service, a CLI command, ``FlagStore.init``) calls; a second call is a set lookup."""
    if db not in _upgraded:
        upgrade(db)


def as_engine(db: Engine | str) -> Engine:
    """``db`` itself, or the Engine of a URL (``make_db``): what every store takes."""
    return make_db(db) if isinstance(db, str) else db
