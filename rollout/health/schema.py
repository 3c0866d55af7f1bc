"""The health room's tables: gate evaluations, alerts, remediations and their corrections (the events
table is ``rollout.events``)."""

from __future__ import annotations

import math
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, Column, DateTime, Index, Integer, MetaData, String, Table, Text,
                        select)
from sqlalchemy.engine import Engine

metadata = MetaData()


def jsonable(value: Any) -> Any:
    """Plain JSON types, for a JSON column or a JSON response: mappings with text keys, lists,
    datetimes as ISO text, Decimals and numpy scalars as Python numbers, NaN/inf as None, anything
    else as its text. The one conversion of the project (the stores, the gate, the UI's API)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        try:
            value = value.item()
        except (ValueError, TypeError):
            return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
_id = BigInteger().with_variant(Integer, "sqlite")

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

def init_schema(db: Engine) -> None:
    """The gate and alert tables, once per database in this process (``flags.create_tables``)."""
    from ..flags import create_tables

    create_tables(db, metadata)


def as_utc(value: datetime) -> datetime:
    """A stored time as an aware UTC datetime (SQLite keeps the UTC wall time, drops the zone)."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def recent_rows(db: Engine, table: Table, order: str, limit: int, run_id: str | None,
                time_columns: tuple[str, ...]) -> list[dict]:
    """The newest ``limit`` rows of a history table (optionally one run's), times as ISO strings."""
    c = table.c
    query = select(table).order_by(c[order].desc(), c.id.desc()).limit(limit)
    if run_id:
        query = query.where(c.run_id == run_id)
    with db.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for row in rows:
        for key in time_columns:
            row[key] = as_utc(row[key]).isoformat() if row[key] else None
    return rows
