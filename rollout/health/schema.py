"""Reading the health room's tables (``rollout.db`` defines them, with every other table): JSON
values for their columns, stored times as UTC, a history table's newest rows."""

from __future__ import annotations

import math
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.engine import Engine


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
