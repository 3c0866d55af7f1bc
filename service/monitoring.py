"""GET /health (the service's verdict: flags, engines, workers, events, work queue; 503 only
while it cannot serve safely) and GET /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from rollout.flags import StoreUnavailableError
from rollout.health.judge import service_status
from .state import State


monitoring = APIRouter()


@monitoring.get("/health", summary="Service health")
def health(state: State):
    status = state.reader.status()
    writer, admission, limits = state.writer, state.admission, state.limits
    spool = writer.spool_depth() if writer else 0
    breakers = {name: b.state for name, b in state.pipeline.breakers.items()}
    workers = {name: w for name, engine in state.pipeline.engines.items() if (w := engine.workers_status())}
    events_db = "ok" if writer is None else "stalled" if writer.stalled else "ok" if writer.db_ok else "down"
    verdict = service_status(flag_source=status.source, redis=status.redis, sql=status.sql, flag_anomaly=status.anomaly,
                             events_lost=writer.lost if writer else 0,
                             events_keepable=writer.can_keep if writer else True, spool_depth=spool,
                             breakers=breakers, events_db=events_db, workers=workers)
    body = {"status": verdict, "flags": status.as_dict(), "engines": breakers, "workers": workers,
            "events": {"db": events_db, "spool_depth": spool,
                       "queued": writer.queued() if writer else 0,
                       "rejected": writer.rejected if writer else 0,
                       "lost": writer.lost if writer else 0, "torn": writer.torn if writer else 0,
                       "spool": "ok" if not writer or writer.spool_ok else "unwritable",
                       "keepable": writer.can_keep if writer else True,
                       "clock_offset_s": None if not writer or writer.clock_offset_ms is None
                       else round(writer.clock_offset_ms / 1000, 3)},
            "work": {"in_flight": admission.in_flight, "waiting": admission.waiting, "uploading": admission.uploading,
                     "max_concurrency": limits.max_concurrency, "max_queue": limits.max_queue}}
    return JSONResponse(body, status_code=503 if verdict == "unhealthy" else 200)


@monitoring.get("/metrics", summary="Prometheus metrics")
def prometheus(state: State):
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    metrics, writer = state.metrics, state.writer
    metrics.in_flight.set(state.admission.in_flight)
    metrics.queued.set(state.admission.waiting)
    metrics.spool.set(writer.spool_depth() if writer else 0)
    if writer:  # counters only go up: add what was lost since the last scrape
        metrics.events_lost.inc(writer.lost - metrics.events_lost_seen)
        metrics.events_lost_seen = writer.lost
    try:
        metrics.flags_version.set(state.reader.get().version)
    except StoreUnavailableError:
        pass  # no snapshot yet: /health says so
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
