"""The health snapshot: one dict with everything the report, the terminal monitor and the Airflow
UI page show — rollout state, window figures per engine, the engine comparison, figures over
time, gate history and alerts (and, when given, the OCR service's own /health), and the cost
ledger (pages per engine, what Google was paid for, what the migration saved)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy.engine import Engine

from ..stages import Snapshot
from .alerts import AlertStore
from .comparison import compare_engines
from .gates import ensure_tables, gate_history
from .ledger import cost_ledger
from .windows import window_metrics, window_series


def bucket_seconds(hours: float) -> int:
    """About 30-60 points per plot, on a round bucket size."""
    for size in (60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86400):
        if hours * 3600 / size <= 60:
            return size
    return 86400


def health_snapshot(db: Engine, hours: float, state: Snapshot | None, service: dict | None = None,
                    end: datetime | None = None, gates: int = 20, alerts: int = 20,
                    price_per_page: Decimal | None = None, currency: str = "USD") -> dict:
    """``price_per_page`` (the operator's setting, ``documentai_price_per_page``) puts money into
    the cost ledger; without it the ledger counts pages."""
    end = end or datetime.now(timezone.utc)
    start = end - timedelta(hours=hours)
    ensure_tables(db)
    return {
        "generated_at": datetime.now(timezone.utc).isoformat(),
        "window": {"start": start.isoformat(), "end": end.isoformat(), "hours": hours},
        "state": state.as_dict() if state else None,
        "engines": [s.as_dict() for s in window_metrics(db, start, end)],
        "comparison": compare_engines(db, start, end),
        "series": window_series(db, start, end, bucket_seconds(hours)),
        "gates": gate_history(db, limit=gates),
        "alerts": AlertStore(db, notifiers=[]).recent(limit=alerts),
        "service": service,
        "cost": cost_ledger(db, start, end, price_per_page, currency),
    }
