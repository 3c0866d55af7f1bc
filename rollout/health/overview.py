"""The health snapshot: one dict with everything the report, the terminal monitor and the Airflow
UI page show — rollout state, window figures per engine, the engine comparison, figures over
time, gate history and alerts (and, when given, the OCR service's own /health), and the cost
ledger (pages per engine, what Google was paid for, what the migration saved), figures per upload
kind, and the stage timeline (stages, gate verdicts, rollbacks, remediations)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy.engine import Engine

from ..stages import Snapshot
from .alerts import AlertStore
from .comparison import compare_engines
from .gates import gate_history
from .ledger import cost_ledger
from .timeline import stage_timeline
from .windows import bucket_for_span, data_span, kind_figures, window_metrics, window_series


def bucket_seconds(hours: float) -> int:
    """About 30-60 points per plot over a whole window of ``hours``, on a round bucket size."""
    return bucket_for_span(hours * 3600)


def health_snapshot(db: Engine, hours: float, state: Snapshot | None, service: dict | None = None,
                    end: datetime | None = None, gates: int = 20, alerts: int = 20,
                    price_per_page: Decimal | None = None, currency: str = "USD") -> dict:
    """``price_per_page`` (the operator's setting, ``documentai_price_per_page``) puts money into
    the cost ledger; without it the ledger counts pages."""
    end = end or datetime.now(timezone.utc)
    start = end - timedelta(hours=hours)
    # the plots' buckets fit the traffic actually in the window: a 10-minute run seen in a 24-hour
    # window is a line of 10-second buckets, not one dot per engine
    span = data_span(db, start, end)
    bucket_s = bucket_for_span((span[1] - span[0]).total_seconds()) if span else bucket_seconds(hours)
    return {
        "generated_at": datetime.now(timezone.utc).isoformat(),
        "window": {"start": start.isoformat(), "end": end.isoformat(), "hours": hours},
        "state": state.as_dict() if state else None,
        "engines": [s.as_dict() for s in window_metrics(db, start, end)],
        "comparison": compare_engines(db, start, end),
        "kinds": kind_figures(db, start, end),
        "series": window_series(db, start, end, bucket_s),
        "bucket_seconds": bucket_s,
        "timeline": stage_timeline(db, start, end, span),
        "gates": gate_history(db, limit=gates),
        "alerts": AlertStore(db, notifiers=[]).recent(limit=alerts),
        "service": service,
        "cost": cost_ledger(db, start, end, price_per_page, currency),
    }
