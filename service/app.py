"""The OCR HTTP service (FastAPI, default port 8001): ``create_app`` joins the routers — uploads
(``uploads``), health and metrics (``monitoring``), flag changes (``admin``) — over the state and
auth of ``state`` and the work queue of ``admission``; ``build_service`` wires it from settings.

POST /v1/ocr — an invoice (multipart ``file`` or a raw body with its content type) and a user or
tenant id (``X-User-Id`` / ``X-Tenant-Id`` headers or form fields) → the extraction result and
which engine served it. GET /health, GET /metrics (Prometheus), /docs (OpenAPI). Admin endpoints
under /v1/admin change flags like the CLI does. API keys in ``X-API-Key`` (or ``Authorization:
Bearer``): client keys may process documents, admin keys may also change flags; keys are
compared in constant time. Uploads above the size limit get 413; when ``max_concurrency``
documents are being read and ``max_queue`` wait, further requests get 429 with Retry-After
instead of queueing without bound.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .admin import admin_router
from .admission import Admission, ServiceLimits
from .monitoring import monitoring
from .pipeline import OcrPipeline
from .state import Metrics, ServiceState, http_error, invalid_body
from .uploads import uploads

__all__ = ["ServiceLimits", "build_service", "create_app"]

log = logging.getLogger(__name__)

GIL_SWITCH_INTERVAL_S = 0.001


def create_app(pipeline: OcrPipeline, reader, client_keys: dict[str, str], admin_keys: dict[str, str],
               limits: ServiceLimits | None = None, store=None, writer=None, on_shutdown=None) -> FastAPI:
    """``reader`` gives .get()/.status() of the flag snapshot; ``store`` (FlagStore) enables the admin API."""
    if not (client_keys or admin_keys):
        raise ValueError("the OCR service needs API keys (OCR_MIGRATE_CLIENT_API_KEYS / OCR_MIGRATE_ADMIN_API_KEYS)")
    limits = limits or ServiceLimits()

    @asynccontextmanager
    async def lifespan(app):
        # Background threads (event writer, flag refresh) hold the GIL for up to the switch
        # interval whenever the event loop wakes up: 5 ms by default, 1 ms here (p99 overhead,
        # bench/bench_service.py).
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(switch_interval, GIL_SWITCH_INTERVAL_S))
        try:
            yield
        finally:
            sys.setswitchinterval(switch_interval)
            if on_shutdown:
                on_shutdown()

    app = FastAPI(title="OCR migration service", version="1", lifespan=lifespan,
                  description="Reads invoices with Google Document AI or Tesseract, per the rollout flags.")
    app.state.service = ServiceState(pipeline, reader, client_keys, admin_keys, limits, Admission(limits), Metrics(),
                                     store, writer)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_body)
    for router in (uploads, monitoring, admin_router()):
        app.include_router(router)
    return app


def build_service(settings) -> FastAPI:
    """The service with everything wired from settings: flag store + reader, event writer,
    engines (Document AI only when configured), pipeline."""
    from rollout.distribution import FlagReader, publish
    from rollout.events import EventWriter
    from rollout.flags import FlagStore
    from rollout.health.alerts import EventLossAlarm, notifiers_from
    from .pipeline import PipelineConfig

    client_keys, admin_keys = settings.parse_keys(settings.client_api_keys), settings.parse_keys(settings.admin_api_keys)
    if not (client_keys or admin_keys):  # before starting anything
        raise ValueError("the OCR service needs API keys (OCR_MIGRATE_CLIENT_API_KEYS / OCR_MIGRATE_ADMIN_API_KEYS)")
    readers: list[FlagReader] = []

    def changed(snap):
        publish(settings.redis_url, snap)
        for r in readers:  # this instance serves its own change at once, others within refresh_s
            r.refresh()

    store = FlagStore(settings.sqlalchemy_url, on_change=changed)
    store.init()
    reader = FlagReader(store, settings.redis_url, refresh_s=settings.flag_refresh_s).start()
    readers.append(reader)
    writer = EventWriter(settings.sqlalchemy_url, settings.spool_path)
    writer.init_schema()
    loss_alarm = EventLossAlarm(writer.db, notifiers_from(settings.alert_webhook_url, settings.alert_webhook_retries),
                                f"{socket.gethostname()}:{os.getpid()}").start()
    writer.on_lost = loss_alarm
    writer.start()
    engines = _engines(settings)
    retention, stop_purge = _retention(settings)
    pipeline = OcrPipeline(reader.get, engines, writer, PipelineConfig(
        shadow_percentage=settings.shadow_percentage, confidence_floor=settings.confidence_floor,
        breaker_failures=settings.breaker_failures, breaker_cooldown_s=settings.breaker_cooldown_s,
        breaker_min_requests=settings.breaker_min_requests, breaker_window_s=settings.breaker_window_s),
        retention=retention)

    def shutdown():
        stop_purge.set()
        pipeline.close()
        reader.stop()
        writer.close()
        loss_alarm.stop()
        engines["tesseract"].close()

    limits = ServiceLimits(settings.limits().max_bytes, settings.max_concurrency, settings.max_queue,
                           upload_timeout_s=settings.upload_timeout_s, upload_grace_s=settings.upload_grace_s,
                           upload_min_bytes_per_s=settings.upload_min_bytes_per_s,
                           max_uploads_per_key=settings.max_uploads_per_key)
    return create_app(pipeline, reader, client_keys, admin_keys, limits, store=store, writer=writer,
                      on_shutdown=shutdown)


def _engines(settings) -> dict:
    """The engines the settings ask for, warmed up: Tesseract in its worker pool, KSeF XML,
    Document AI when configured (a failure to reach it is logged, the service starts without
    it), each wrapped for fault injection when the settings say so."""
    from ocr_engines import OcrError, get_engine
    from ocr_engines.pool import PooledEngine

    engines = {"tesseract": PooledEngine("tesseract", workers=settings.max_concurrency,
                                         deadline_s=settings.engine_deadline_s, **settings.engine_options("tesseract")),
               "ksef": get_engine("ksef", **settings.engine_options("ksef"))}  # e-invoices (XML): no OCR
    if settings.documentai_project and settings.documentai_processor_id:
        try:
            engines["documentai"] = get_engine("documentai", **settings.engine_options("documentai"))
        except OcrError as exc:
            log.error("Document AI not available: %s", exc.message)
    if settings.fault_injection:
        from ocr_engines.base import FaultInjectingEngine

        name, rate = settings.fault_injection.split(":")
        if name in engines:
            log.warning("FAULT INJECTION: %s of %s reads will fail", rate, name)
            engines[name] = FaultInjectingEngine(engines[name], float(rate))
    for engine in engines.values():
        engine.warm_up()
    return engines


def _retention(settings):
    """(the remediation store or None, the event that stops its purge thread): with remediation
    on, what is past its retention goes, whether or not a stage ever fails."""
    from rollout.remediation import PURGE_EVERY_S, retention_from

    retention = retention_from(settings)
    stop_purge = threading.Event()
    if retention is not None:
        log.warning("remediation on: documents the open-source engine serves are kept in %s for %g h",
                    retention.root, settings.retention_hours)

        def purge_loop():
            while True:
                try:
                    retention.purge()
                except Exception:  # noqa: BLE001 (logged; the next round tries again)
                    log.exception("retention purge failed")
                if stop_purge.wait(min(PURGE_EVERY_S, retention.retention_s)):
                    return

        threading.Thread(target=purge_loop, name="retention-purge", daemon=True).start()
    return retention, stop_purge
