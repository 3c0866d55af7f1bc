"""Flag state, the source of truth: one versioned row plus an append-only audit log, in SQL.

PostgreSQL in production, SQLite as the embedded default (SQLAlchemy 2 Core, same code). Every
change is a compare-and-set on the version: of two writers that read the same version exactly
one wins, and both attempts are written to the audit log (``applied`` / ``conflict``), as are
refused ones (``refused``), each with actor, reason, and the state before and after.
"""

from __future__ import annotations

import json
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import (JSON, Column, DateTime, Integer, MetaData, String, Table, Text, create_engine, insert,
                        select, text, update)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from .stages import InvalidTransition, Snapshot

metadata = MetaData()

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


class ConcurrentUpdateError(RuntimeError):
    """Another writer changed the state since it was read; re-read and decide again."""


class StoreUnavailableError(RuntimeError):
    """The flag database cannot be reached."""


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    outcome: str
    version_before: int | None
    version_after: int | None
    before: dict | None
    after: dict | None
    reason: str


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
def schema_transaction(db: Engine) -> Iterator[Connection]:
    """A transaction in which one process at a time sets a schema up. Without it, replicas starting
    together on a fresh database both found a table missing and both created it: the second failed
    (PostgreSQL: a unique violation in its catalog, or 'already exists'; SQLite: 'already exists').
    PostgreSQL: a transaction-scoped advisory lock (released by the commit, waited for up to the
    connection's lock_timeout); SQLite: BEGIN IMMEDIATE, the database's write lock (waited for up
    to its busy timeout), taken before the check, since DDL alone would not begin a transaction."""
    with db.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


def create_schema(db: Engine, tables: MetaData | Table) -> None:
    """Create those of ``tables`` that do not exist yet, in a ``schema_transaction``: the check and
    the CREATEs of one process see every table another process committed before them."""
    with schema_transaction(db) as conn:
        if isinstance(tables, Table):
            tables.create(conn, checkfirst=True)
        else:
            tables.create_all(conn)


_set_up: weakref.WeakKeyDictionary[Engine, set[MetaData]] = weakref.WeakKeyDictionary()


def create_tables(db: Engine, tables: MetaData) -> None:
    """``tables.create_all(db)`` once per database (``db``) in this process: a sensor that pokes
    every minute through the one cached engine of its URL (``metrics_db`` in the Airflow plugin)
    sets the schema up on its first look, not on every look. A failed attempt is tried again."""
    done = _set_up.setdefault(db, set())
    if tables not in done:
        create_schema(db, tables)
        done.add(tables)


class FlagStore:
    def __init__(self, db: Engine | str, on_change: Callable[[Snapshot], object] | None = None):
        """``on_change`` is called with each applied snapshot (e.g. to publish it to Redis)."""
        self.db = make_db(db) if isinstance(db, str) else db
        self.on_change = on_change

    def init(self, actor: str = "system") -> Snapshot:
        """Create the tables and the initial state (stage 0, seed defaults) if absent. Safe for
        replicas starting at once: the tables and the seed are each set up under the schema lock
        (``schema_transaction``), so one of them creates and seeds and the others find it done."""
        try:
            create_tables(self.db, metadata)
            with self.db.connect() as conn:
                seeded = conn.execute(select(rollout_state.c.id)).first() is not None
            if not seeded:
                with schema_transaction(self.db) as conn:
                    if conn.execute(select(rollout_state.c.id)).first() is None:  # not seeded while we waited
                        initial = Snapshot(version=1)
                        conn.execute(insert(rollout_state).values(id=1, **self._row(initial, actor)))
                        self._audit(conn, actor, "init", "applied", None, initial, "initial state")
        except OperationalError as exc:
            raise StoreUnavailableError(f"flag database unavailable: {_short(exc)}") from None
        return self.snapshot()

    def snapshot(self) -> Snapshot:
        try:
            with self.db.connect() as conn:
                row = conn.execute(select(rollout_state).where(rollout_state.c.id == 1)).mappings().first()
        except OperationalError as exc:
            raise StoreUnavailableError(f"flag database unavailable: {_short(exc)}") from None
        if row is None:
            raise StoreUnavailableError("flag state is not initialised (run `ocr-migrate status` once, or init())")
        return Snapshot.from_dict({**row, "flags": _json(row["flags"])})

    def apply(self, action: str, actor: str, reason: str, change: Callable[[Snapshot], Snapshot],
              based_on: Snapshot | None = None, expect_version: int | None = None) -> Snapshot:
        """Apply ``change`` with compare-and-set on the version it was decided from (``based_on``,
        or ``expect_version``: the version an operator saw and decided on; default: the state read
        now); audit every outcome. A change decided on another version than the current one is a
        conflict: two operators who both saw version N and ran 'advance' move one stage, not two."""
        if not actor.strip():
            raise InvalidTransition("every change needs an actor")
        if not reason.strip():
            raise InvalidTransition("every change needs a reason")
        from .stages import checked_text

        checked_text("actor", actor), checked_text("reason", reason)
        if expect_version is not None and (isinstance(expect_version, bool) or not isinstance(expect_version, int)):
            raise InvalidTransition(f"expect_version must be a whole number, not {expect_version!r}")
        current = self.snapshot()
        base = based_on or current
        if expect_version is not None and expect_version != current.version:
            with self.db.begin() as conn:
                self._audit(conn, actor, action, "conflict", current, None,
                            f"{reason} — decided on version {expect_version}, the state is at {current.version}")
            raise ConcurrentUpdateError(f"{action}: decided on version {expect_version}, but the state is at "
                                        f"version {current.version}; re-read it and decide again")
        try:
            proposed = change(base)
        except InvalidTransition as exc:
            with self.db.begin() as conn:
                self._audit(conn, actor, action, "refused", current, None, f"{reason} — refused: {exc}")
            raise
        new = Snapshot(**{**proposed.__dict__, "version": base.version + 1})
        try:
            with self.db.begin() as conn:
                result = conn.execute(
                    update(rollout_state)
                    .where(rollout_state.c.id == 1, rollout_state.c.version == base.version)
                    .values(**self._row(new, actor)))
                if result.rowcount == 1:
                    self._audit(conn, actor, action, "applied", base, new, reason)
                    applied = True
                else:
                    applied = False
        except OperationalError as exc:
            raise StoreUnavailableError(f"flag database unavailable: {_short(exc)}") from None
        if applied:
            if self.on_change:
                self.on_change(new)
            return new
        with self.db.begin() as conn:
            self._audit(conn, actor, action, "conflict", base, new, f"{reason} — lost to a concurrent change")
        raise ConcurrentUpdateError(f"{action}: the state changed since version {base.version}; re-read and retry")

    def history(self, limit: int = 50) -> list[AuditEntry]:
        with self.db.connect() as conn:
            rows = conn.execute(select(flag_audit).order_by(flag_audit.c.id.desc()).limit(limit)).mappings().all()
        return [AuditEntry(**{**row, "before": _json(row["before"]), "after": _json(row["after"])}) for row in rows]

    @staticmethod
    def _row(snap: Snapshot, actor: str) -> dict:
        return {"version": snap.version, "stage": snap.stage, "percentage": snap.percentage,
                "flags": dict(snap.flags), "maintenance_reason": snap.maintenance_reason,
                "updated_at": datetime.now(timezone.utc), "updated_by": actor}

    @staticmethod
    def _audit(conn, actor, action, outcome, before: Snapshot | None, after: Snapshot | None, reason: str) -> None:
        conn.execute(insert(flag_audit).values(
            at=datetime.now(timezone.utc), actor=actor[:200], action=action[:64], outcome=outcome,
            version_before=before.version if before else None, version_after=after.version if after else None,
            before=before.as_dict() if before else None, after=after.as_dict() if after else None, reason=reason))


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def _short(exc: Exception) -> str:
    return str(getattr(exc, "orig", exc)).splitlines()[0][:200]
