"""Makes the fixture databases of ``tests/test_db.py`` with the code of an OLD checkout: they are
what that code left behind, not what today's code thinks it left.

  git worktree add /tmp/old 72f567b^   # before ocr_events.engine_version (and clock_offset_ms, kind)
  PYTHONPATH=/tmp/old .venv/bin/python tests/db_fixtures/make.py pre-engine-version
  git worktree add /tmp/pre c101075    # the last commit before Alembic
  PYTHONPATH=/tmp/pre .venv/bin/python tests/db_fixtures/make.py pre-alembic

Each run writes ``NAME.sqlite.sql`` (sqlite3 .dump) and ``NAME.postgresql.sql`` (pg_dump, plain
SQL, no owner) beside this file: the schema that code created, the seeded flag state, one audit
row and three events."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import create_engine, insert, inspect, text

from rollout import events, flags, stages
from rollout.health import golden_gate, schema

HERE = Path(__file__).resolve().parent
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/"


def populate(url: str) -> None:
    store = flags.FlagStore(url)
    store.init(actor="fixture")
    store.apply("set-percentage", "fixture", "a stage before the upgrade", lambda snap: stages.move_to(snap, 10))
    events.EventWriter(store.db, Path(tempfile.mkdtemp()) / "spool.jsonl").init_schema()
    schema.init_schema(store.db)
    golden_gate.init_schema(store.db)
    present = {c["name"] for c in inspect(store.db).get_columns("ocr_events")}
    at = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    rows = [dict(at=at + timedelta(seconds=i), event_id=f"fixture-{i}", request_id=f"req-{i}", user_bucket="b",
                 engine=engine, stage=1, percentage=10, duration_ms=400 + i, success=True, confidence=0.9,
                 pages=1, fallback=False, shadow=False)
            for i, engine in enumerate(("tesseract", "documentai", "tesseract"))]
    with store.db.begin() as conn:
        conn.execute(insert(events.ocr_events), [{k: v for k, v in r.items() if k in present} for r in rows])
    store.db.dispose()


def main(name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fixture.db"
        populate(f"sqlite:///{path}")
        dump = subprocess.run(["sqlite3", str(path), ".dump"], check=True, capture_output=True, text=True).stdout
        (HERE / f"{name}.sqlite.sql").write_text(dump, encoding="utf-8")
    database = f"ocr_fixture_{name.replace('-', '_')}"
    admin = create_engine(PG + "postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{database}"'))
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    try:
        populate(PG + database)
        dump = subprocess.run(["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "--no-owner", "--no-privileges",
                               database], check=True, capture_output=True, text=True).stdout
        (HERE / f"{name}.postgresql.sql").write_text(dump, encoding="utf-8")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}"'))


if __name__ == "__main__":
    main(sys.argv[1])
