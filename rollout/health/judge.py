"""Judging health, once: the gate with its alerts, and the OCR service's overall status.

Every caller that judges a window — a stage of the migration DAG, the post-cutover watch, the
monitoring DAG and ``ocr-migrate gate`` — calls :func:`judge`: evaluate the gate
(``gates.evaluate_gate``), store it, and raise and resolve the alerts it implies
(``alerts.alerts_from_gate``), labelled with the stage being judged. :func:`service_status` is the
one rule that turns a service's parts into healthy / degraded / unhealthy (the service's
``/health``), and :func:`is_serving` says which of those serve documents; :func:`overall_status`
adds what an operator's machine sees itself, the database and Redis (``ocr-migrate health``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the gate's statistics (numpy, scipy) load when a gate is judged, not with the service
    from sqlalchemy.engine import Engine

    from .gates import GateResult
    from .thresholds import Thresholds

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"


@dataclass
class Judgement:
    result: "GateResult"
    raised: list[dict] = field(default_factory=list)  # the alerts raised (and notified) by this look


def judge(db: Engine, start: datetime, end: datetime, thresholds: Thresholds | None = None, *,
          percentage: int | None, stage: int | None = None, run_id: str | None = None, notifiers=None,
          source: str = "gate", require_baseline: bool | None = None, store: bool = True) -> Judgement:
    """The gate over ``start`` <= at < ``end`` at ``percentage`` (``stage``: only that stage's
    events), stored with its alerts unless ``store`` is False. ``notifiers``: None = the log."""
    from .alerts import AlertStore, alerts_from_gate
    from .gates import evaluate_gate

    result = evaluate_gate(db, start, end, thresholds, stage=stage, percentage=percentage, run_id=run_id,
                           require_baseline=require_baseline, store=store)
    if not store:
        return Judgement(result)
    raised = AlertStore(db, notifiers).process(alerts_from_gate(result, result.stage), source=source)
    return Judgement(result, raised)


def service_status(*, flag_source: str, redis: str, sql: str, spool_depth: int, breakers: dict[str, str],
                   events_db: str, workers: dict[str, dict], flag_anomaly: str = "", events_lost: int = 0,
                   events_keepable: bool = True) -> str:
    """Unhealthy without any flag snapshot (it cannot route) or while events can be kept neither
    in the database nor in the spool (the balancer then takes the replica out); degraded when
    events were lost (their count is in /health and /metrics), when it serves from a
    last-known-good snapshot, Redis or SQL is down, Redis holds an unusable snapshot, the flag
    reader corrected an anomaly (Redis ahead of the database, the database gone back), events wait in the spool or their database is
    not ok, a circuit breaker is not closed, or an engine has fewer live workers than configured."""
    if flag_source == "none" or not events_keepable:  # cannot route, or cannot keep what it answers for
        return UNHEALTHY
    if (flag_source == "last-known-good" or redis in ("down", "invalid") or sql == "down" or flag_anomaly
            or events_lost
            or spool_depth
            or any(state != "closed" for state in breakers.values()) or events_db != "ok"
            or any(w["live"] < w["configured"] for w in workers.values())):
        return DEGRADED
    return HEALTHY


def is_serving(status: str | None) -> bool:
    """A service whose ``/health`` status is healthy or degraded serves documents (an unhealthy one
    cannot route): what the staging deployers wait for and the suites and smoke check require."""
    return status in (HEALTHY, DEGRADED)


def overall_status(service: str, database: str, redis: str) -> str:
    """``ocr-migrate health``'s verdict from the service's own status (or ``down`` when it cannot
    be reached) and what the operator's machine sees of the database and Redis: unhealthy when the
    service is down or unhealthy or the database is down; healthy when the service is and Redis
    is not down; degraded otherwise."""
    if service in ("down", UNHEALTHY) or database == "down":
        return UNHEALTHY
    if service == HEALTHY and redis != "down":
        return HEALTHY
    return DEGRADED
