"""Flag state, the source of truth: one versioned row plus an append-only audit log, in SQL.

PostgreSQL in production, SQLite as the embedded default (SQLAlchemy 2 Core, same code). Every
change is a compare-and-set on the version: of two writers that read the same version exactly
one wins, and both attempts are written to the audit log (``applied`` / ``conflict``), as are
refused ones (``refused``), each with actor, reason, and the state before and after.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from .db import as_engine, ensure_schema, flag_audit, rollout_state, schema_transaction
from .stages import InvalidTransition, Snapshot


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


class FlagStore:
    def __init__(self, db: Engine | str, on_change: Callable[[Snapshot], object] | None = None):
        """``on_change`` is called with each applied snapshot (e.g. to publish it to Redis)."""
        self.db = as_engine(db)
        self.on_change = on_change

    def init(self, actor: str = "system") -> Snapshot:
        """Upgrade the schema (``db.ensure_schema``: once per process) and seed the initial state
        (stage 0, seed defaults) if absent. Safe for replicas starting at once: the upgrade and the
        seed are each done under the schema lock (``schema_transaction``), so one of them upgrades
        and seeds and the others find it done."""
        try:
            ensure_schema(self.db)
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
