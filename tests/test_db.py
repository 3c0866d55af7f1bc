"""The schema's migrations (rollout.db, rollout/migrations): ``ocr-migrate db upgrade`` brings a
database made by the code before Alembic, and one from before ``ocr_events.engine_version``, to
the newest revision in place, on SQLite and PostgreSQL; what they held is still there and the
service writes to them. The fixtures are dumps of what the old code made (tests/db_fixtures/make.py)."""

from __future__ import annotations

import json
import sqlite3
import subprocess

import pytest
from sqlalchemy import select, text

from rollout.db import (VERSION_TABLE, current, downgrade, head, make_db, metadata, migration_context, ocr_events,
                        upgrade)
from rollout.events import EventWriter, OcrEvent
from rollout.flags import FlagStore
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "db_fixtures"


def load(fixture: str, dialect: str, url: str) -> None:
    path = FIXTURES / f"{fixture}.{dialect}.sql"
    if dialect == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.executescript(path.read_text(encoding="utf-8"))
    else:
        database = url.rsplit("/", 1)[1]
        subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1",
                        "-f", str(path)], check=True, capture_output=True, timeout=60)


def differences(db) -> list:
    """What the migrated schema lacks or has beyond the models (Alembic's autogenerate comparison)."""
    from alembic.autogenerate import compare_metadata

    with db.connect() as conn:
        return compare_metadata(migration_context(conn), metadata)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    return request.getfixturevalue("pg_empty_url")


@pytest.mark.parametrize("fixture", ["pre-engine-version", "pre-alembic"])
def test_a_database_from_before_upgrades_in_place(fixture, empty_url, cli, tmp_path):
    dialect = "sqlite" if empty_url.startswith("sqlite") else "postgresql"
    load(fixture, dialect, empty_url)
    db = make_db(empty_url)
    assert current(db) is None  # no revision: made by create_all and hand-made ALTERs

    proc = subprocess.run([*cli, "db", "upgrade", "-o", "json"], env={"OCR_MIGRATE_DATABASE_URL": empty_url,
                          "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out == {"before": None, "after": head(), "upgraded": True, "rollout_state_version": 2}
    assert current(db) == head() and differences(db) == []
    if dialect == "postgresql":  # per-kind window figures are an index-only scan again
        with db.connect() as conn:
            definition = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = "
                                           "'ix_ocr_events_at_covering'")).scalar()
        assert "kind)" in definition, definition

    # what it held is still there: the stage, the audit log, the events (new columns NULL)
    store = FlagStore(db)
    assert (store.snapshot().version, store.snapshot().percentage) == (2, 10)
    assert [e.action for e in store.history()] == ["set-percentage", "init"]
    with db.connect() as conn:
        rows = conn.execute(select(ocr_events.c.request_id, ocr_events.c.engine_version, ocr_events.c.kind)
                            .order_by(ocr_events.c.id)).all()
    assert [tuple(r) for r in rows] == [("req-0", None, None), ("req-1", None, None), ("req-2", None, None)]

    # and the service writes to it as to a new one
    writer = EventWriter(db, tmp_path / "spool.jsonl")
    writer.init_schema()
    writer.record(OcrEvent(request_id="after", engine="tesseract", stage=1, percentage=10, duration_ms=300,
                           success=True, engine_version="5.5.4 (tesserocr)", kind="scan"))
    writer.flush()
    with db.connect() as conn:
        assert conn.execute(select(ocr_events.c.engine_version, ocr_events.c.kind).where(
            ocr_events.c.request_id == "after")).one() == ("5.5.4 (tesserocr)", "scan")

    # a second upgrade has nothing to do
    assert upgrade(db) == (head(), head())
    db.dispose()


def test_a_fresh_database_goes_to_the_newest_revision_and_back(empty_url):
    db = make_db(empty_url)
    assert upgrade(db) == (None, head()) and differences(db) == []
    assert downgrade(db, "base") == (head(), None)
    with db.connect() as conn:
        tables = set(conn.dialect.get_table_names(conn))
    assert tables <= {VERSION_TABLE}, tables  # every table of ours is gone
    assert upgrade(db) == (None, head()) and differences(db) == []
    db.dispose()


def test_no_table_is_made_or_altered_outside_the_migrations():
    """The rule, checked on the sources: DDL lives in rollout/migrations only."""
    offenders = []
    for room in ("ocr_engines", "rollout", "service", "cli", "staging", "presentation", "expectations", "plugins",
                 "dags", "scripts"):
        for path in (ROOT / room).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            source = path.read_text(encoding="utf-8")
            offenders += [f"{path.relative_to(ROOT)}: {needle}" for needle in ("create_all(", "ALTER TABLE")
                          if needle in source]
    assert offenders == []
