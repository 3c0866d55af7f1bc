"""The OCR HTTP service (FastAPI, default port 8001).

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

import asyncio
import hmac
import inspect
import logging
import os
import re
import socket
import sys
import tempfile
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPBearer
from starlette.requests import ClientDisconnect
from starlette.concurrency import run_in_threadpool

from ocr_engines import DocumentError, EngineError
from ocr_engines.errors import UnreadableDocumentError

from rollout import stages
from rollout.events import bounded_request_id
from rollout.actions import ACTIONS
from rollout.flags import StoreUnavailableError
from rollout.health.judge import service_status
from .pipeline import SCRATCH_DIR, OcrPipeline, RequestRefused
from rollout.router import RequestContext

log = logging.getLogger(__name__)

API_KEY = APIKeyHeader(name="X-API-Key", scheme_name="ApiKey", auto_error=False,
                       description="A client key may read documents; an admin key may also change flags.")
BEARER = HTTPBearer(scheme_name="Bearer", auto_error=False, description="The same keys as a bearer token.")


def _header(name: str, description: str) -> dict:
    return {"name": name, "in": "header", "required": False, "schema": {"type": "string"}, "description": description}


OCR_OPENAPI = {
    "security": [{"ApiKey": []}, {"Bearer": []}],
    "parameters": [
        _header("X-User-Id", "The user the invoice belongs to: routing is sticky per user."),
        _header("X-Tenant-Id", "The tenant, when routing is by tenant (or no user id is known)."),
        _header("X-Request-Id", "Your id for this request (one is made otherwise); it is in the response "
                "and in the recorded events."),
    ],
    "requestBody": {"required": True, "content": {
        **{ctype: {"schema": {"type": "string", "format": "binary"}}
           for ctype in ("application/pdf", "image/png", "image/jpeg", "image/tiff")},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"},
            "user_id": {"type": "string"}, "tenant_id": {"type": "string"}}}},
    }},
}

GIL_SWITCH_INTERVAL_S = 0.001

EXTENSIONS = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg", "image/tiff": ".tif",
              "application/xml": ".xml", "text/xml": ".xml"}


@dataclass
class ServiceLimits:
    max_upload_bytes: int = 40 * 1024 * 1024
    max_concurrency: int = 2
    max_queue: int = 16
    # An upload must arrive whole within upload_timeout_s, and after its first upload_grace_s at
    # upload_min_bytes_per_s at least: a client that trickles its body holds a connection, never a
    # place in the work queue (places are taken once the upload is complete).
    upload_timeout_s: float = 120.0
    upload_grace_s: float = 5.0
    upload_min_bytes_per_s: int = 8 * 1024
    max_uploads_per_key: int = 8  # uploads one API key may have in progress at once

    @property
    def max_places_per_key(self) -> int:
        """Work-queue places (running or waiting) one API key may hold: half of them, so that one
        client (``X-User-Id`` is the client's word, the API key is not) never shuts out the others."""
        return max(1, (self.max_concurrency + self.max_queue) // 2)


class Admission:
    """A bounded work queue: ``max_concurrency`` in flight, ``max_queue`` waiting, the rest
    refused; at most ``max_places_per_key`` of them per API key, and ``max_uploads_per_key``
    uploads in progress per key (uploads take no place in the queue)."""

    def __init__(self, limits: ServiceLimits):
        self.limits = limits
        self.waiting = 0
        self.in_flight = 0
        self.uploading = 0
        self._places: dict[str, int] = {}
        self._uploads: dict[str, int] = {}
        self._lock = threading.Lock()
        self._semaphore: asyncio.Semaphore | None = None

    def try_upload(self, key: str) -> bool:
        with self._lock:
            if self._uploads.get(key, 0) >= self.limits.max_uploads_per_key:
                return False
            self._uploads[key] = self._uploads.get(key, 0) + 1
            self.uploading += 1
            return True

    def uploaded(self, key: str) -> None:
        with self._lock:
            self._uploads[key] -= 1
            self.uploading -= 1
            if not self._uploads[key]:
                del self._uploads[key]

    def try_enter(self, key: str = "") -> bool:
        with self._lock:
            if self.in_flight + self.waiting >= self.limits.max_concurrency + self.limits.max_queue:
                return False
            if self._places.get(key, 0) >= self.limits.max_places_per_key:
                return False
            self.waiting += 1
            self._places[key] = self._places.get(key, 0) + 1
            return True

    def _leave(self, key: str) -> None:
        self._places[key] -= 1
        if not self._places[key]:
            del self._places[key]

    def abandon(self, key: str = "") -> None:
        """Leave the queue without running (e.g. the client went away while waiting)."""
        with self._lock:
            self.waiting -= 1
            self._leave(key)

    async def run(self, fn, *args, timing: dict | None = None, key: str = ""):
        """Await ``fn(*args)`` once admitted; ``timing`` gets queue and run seconds."""
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.limits.max_concurrency)
        started = False
        queued_at = time.perf_counter()
        try:
            async with self._semaphore:
                with self._lock:
                    self.waiting -= 1
                    self.in_flight += 1
                started = True
                run_at = time.perf_counter()
                try:
                    return await fn(*args)
                finally:
                    if timing is not None:
                        timing["queue"], timing["run"] = run_at - queued_at, time.perf_counter() - run_at
                    with self._lock:
                        self.in_flight -= 1
                        self._leave(key)
        finally:
            if not started:  # cancelled while waiting (the client went away)
                self.abandon(key)


class Metrics:
    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("ocr_requests_total", "OCR requests by serving engine and outcome",
                                ["engine", "outcome"], registry=self.registry)
        self.duration = Histogram("ocr_request_seconds", "OCR request duration", ["engine"], registry=self.registry,
                                  buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64))
        self.fallbacks = Counter("ocr_fallbacks_total", "Documents served by the other engine", registry=self.registry)
        self.in_flight = Gauge("ocr_in_flight", "Documents being read", registry=self.registry)
        self.queued = Gauge("ocr_queued", "Documents waiting", registry=self.registry)
        self.spool = Gauge("ocr_event_spool_depth", "Events waiting on disk for the database",
                           registry=self.registry)
        self.flags_version = Gauge("ocr_flags_version", "Flag snapshot version served", registry=self.registry)
        self.events_lost = Counter("ocr_events_lost", "Answered documents whose event could not be kept (database "
                                   "down and the spool's disk refusing, beyond what memory holds)",
                                   registry=self.registry)
        self.events_lost_seen = 0


@dataclass
class ServiceState:
    """What the routes serve with, on ``app.state.service`` (``service_state`` hands it to them)."""

    pipeline: OcrPipeline
    reader: object  # .get() / .status() of the flag snapshot (distribution.FlagReader)
    client_keys: dict[str, str]
    admin_keys: dict[str, str]
    limits: ServiceLimits
    admission: Admission
    metrics: Metrics
    store: object = None  # FlagStore: the admin API's writes (None: read-only instance)
    writer: object = None  # EventWriter
    all_keys: dict[str, str] = field(init=False)  # client and admin keys: either may read documents

    def __post_init__(self):
        self.all_keys = {**self.client_keys, **self.admin_keys}


def service_state(request: Request) -> ServiceState:
    return request.app.state.service


State = Annotated[ServiceState, Depends(service_state)]


def _key_name(presented: str | None, keys: dict[str, str]) -> str | None:
    presented = presented or ""
    found = None
    for secret, name in keys.items():  # constant time per key, and every key is tried
        if hmac.compare_digest(presented.encode(), secret.encode()):
            found = name
    return found


def _presented(headers) -> str | None:
    authorization = headers.get("authorization")
    return headers.get("x-api-key") or (authorization[7:] if authorization and authorization.startswith("Bearer ")
                                        else None)


def client_key(request: Request) -> str:
    """The name of the request's client (or admin) key; 401 without one."""
    name = _key_name(_presented(request.headers), request.app.state.service.all_keys)
    if name is None:
        raise HTTPException(401, {"error": "unauthorized", "message": "a valid X-API-Key is required"},
                            headers={"WWW-Authenticate": "Bearer"})
    return name


async def admin_key(request: Request, _k: str | None = Security(API_KEY), _b=Security(BEARER)) -> str:
    """The name of the request's admin key; 403 without one. The schemes document the keys in
    OpenAPI; the check reads the headers itself (either header, as ``client_key`` does)."""
    name = _key_name(_presented(request.headers), request.app.state.service.admin_keys)
    if name is None:
        raise HTTPException(403, {"error": "forbidden", "message": "an admin API key is required"})
    return name


Admin = Annotated[str, Depends(admin_key)]


def error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


# Every error body is {"error", "message"}: auth refusals, Starlette's multipart errors (no
# boundary, too many parts), unknown paths and invalid admin bodies alike.
async def http_error(request: Request, exc: StarletteHTTPException):
    detail = exc.detail
    if isinstance(detail, dict) and {"error", "message"} <= detail.keys():
        body = {"error": str(detail["error"]), "message": str(detail["message"])}
    else:
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "upload_too_large"}
        body = {"error": code.get(exc.status_code, f"http_{exc.status_code}"), "message": str(detail)}
    return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def invalid_body(request: Request, exc: RequestValidationError):
    problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'body'}: {e.get('msg')}"
                         for e in exc.errors()[:5])
    return JSONResponse({"error": "invalid_request", "message": problems}, status_code=422)


# ---------------------------------------------------------------- uploads: POST /v1/ocr

uploads = APIRouter()


# The document endpoint reads its headers itself: FastAPI's per-parameter validation cost ~0.35 ms
# a request (bench/bench_service.py); OCR_OPENAPI documents them instead.
@uploads.post("/v1/ocr", summary="Read one invoice", openapi_extra=OCR_OPENAPI)
async def ocr(request: Request):
    received = time.perf_counter()
    state: ServiceState = request.app.state.service
    limits, admission, metrics = state.limits, state.admission, state.metrics
    key = client_key(request)
    x_user_id, x_tenant_id = request.headers.get("x-user-id"), request.headers.get("x-tenant-id")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.max_upload_bytes + 1024 * 64:
        return error(413, "upload_too_large", f"uploads are limited to {limits.max_upload_bytes // 2**20} MiB")
    # The upload first, bounded in time and in number per API key; a place in the work queue
    # only for a complete upload (a slow sender holds a connection, never a place).
    if not admission.try_upload(key):
        return error(429, "busy", f"this API key has {limits.max_uploads_per_key} uploads in progress; retry "
                     "shortly", {"Retry-After": "2"})
    path = None
    try:
        upload_start = time.perf_counter()
        try:
            path, form = await asyncio.wait_for(_save_upload(request, limits), limits.upload_timeout_s)
        except _UploadError as exc:
            return error(exc.status, exc.code, exc.message)
        except TimeoutError:
            return error(408, "upload_too_slow", f"the upload did not arrive within {limits.upload_timeout_s:g} s")
        except ClientDisconnect:  # gone mid-upload: nobody reads an answer
            log.info("client went away during the upload")
            return Response(status_code=499)
        finally:
            admission.uploaded(key)
        if not admission.try_enter(key):
            return error(429, "busy", "too many documents in progress; retry shortly", {"Retry-After": "2"})
        ctx = RequestContext(x_user_id or form.get("user_id"), x_tenant_id or form.get("tenant_id"))
        request_id = bounded_request_id(request.headers.get("x-request-id"))
        timing: dict = {"upload": time.perf_counter() - upload_start}
        try:
            outcome = await admission.run(state.pipeline.process_async, path, ctx, request_id, timing=timing,
                                          key=key)
        except RequestRefused as exc:
            metrics.requests.labels("none", "refused").inc()
            return error(503, "maintenance", exc.decision.reason, {"Retry-After": str(exc.decision.retry_after_s)})
        except (DocumentError, UnreadableDocumentError) as exc:  # the upload's fault, not the engines'
            metrics.requests.labels("none", "bad_document").inc()
            return error(422, exc.code, exc.message)
        except EngineError as exc:
            metrics.requests.labels("none", "engine_error").inc()
            return error(503, exc.code, exc.message, {"Retry-After": "5"})
        except StoreUnavailableError as exc:  # no flag snapshot ever loaded: cannot route safely
            metrics.requests.labels("none", "no_flags").inc()
            return error(503, "flags_unavailable", str(exc), {"Retry-After": "5"})
        metrics.requests.labels(outcome.engine, "ok").inc()
        metrics.duration.labels(outcome.engine).observe(sum(outcome.result.timings_ms.values()) / 1000)
        if outcome.fallback:
            metrics.fallbacks.inc()
        # Server-Timing (W3C): where the time went, for clients, dashboards and the benchmark.
        # engine = the reads themselves; pipeline = engine + routing + fallbacks + event enqueue.
        server_timing = (f"upload;dur={timing['upload'] * 1000:.2f}, queue;dur={timing['queue'] * 1000:.2f}, "
                         f"engine;dur={outcome.engine_s * 1000:.2f}, pipeline;dur={timing['run'] * 1000:.2f}, "
                         f"total;dur={(time.perf_counter() - received) * 1000:.2f}")
        return JSONResponse({"request_id": request_id, **outcome.as_dict()}, headers={"Server-Timing": server_timing})
    finally:
        if path is not None:
            path.unlink(missing_ok=True)


# ---------------------------------------------------------------- health and metrics

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


# ---------------------------------------------------------------- admin: /v1/admin/flags

REFUSALS = {409: {"description": "refused by the rollout rules, or decided on another version (conflict)"},
            422: {"description": "the body is not valid (types, ranges, unknown fields)"}}


def get_flags(state: State, name: Admin):
    return state.reader.get().as_dict()


async def change(state: ServiceState, action: str, name: str, body: "ChangeBody", /, **params) -> Response:
    """``actions.apply_action`` for an admin: refusals and conflicts 409, no store 503."""
    from rollout.actions import apply_action
    from rollout.flags import ConcurrentUpdateError

    store = state.store
    if store is None:
        return error(503, "read_only", "this service instance has no flag store")
    try:
        snap = await run_in_threadpool(lambda: apply_action(store, action, f"api:{name}", body.reason,
                                                            expect_version=body.expect_version, **params))
    except stages.InvalidTransition as exc:
        return error(409, "refused", str(exc))
    except ConcurrentUpdateError as exc:
        return error(409, "concurrent_update", str(exc))
    except StoreUnavailableError as exc:
        return error(503, "flag_store_unavailable", str(exc), {"Retry-After": "5"})
    return JSONResponse(snap.as_dict())


def _apply(action: str, model: type[ChangeBody]):
    """The route of one action: the body's own fields (beyond ChangeBody's) are the action's
    parameters. Its signature names ``model``, the body FastAPI validates and documents."""
    async def apply(body, state, name):
        return await change(state, action, name, body, **body.model_dump(exclude=set(ChangeBody.model_fields)))

    keyword = inspect.Parameter.KEYWORD_ONLY
    apply.__signature__ = inspect.Signature([inspect.Parameter("body", keyword, annotation=model),
                                             inspect.Parameter("state", keyword, annotation=State),
                                             inspect.Parameter("name", keyword, annotation=Admin)])
    return apply


def admin_router() -> APIRouter:
    """``GET /v1/admin/flags`` and ``POST /v1/admin/flags/<action>`` for every action of the
    registry (``actions.ACTIONS``), made when the app is: an action whose parameters its body
    cannot carry stops the service at start, not at the first request."""
    router = APIRouter(prefix="/v1/admin")
    router.get("/flags", summary="Current rollout state")(get_flags)
    for action, act in ACTIONS.items():
        model = ACTION_BODIES.get(action, ChangeBody)
        given = set(model.model_fields) - set(ChangeBody.model_fields)
        if not given <= set(act.params) <= set(model.model_fields):
            raise RuntimeError(f"the admin API's body for {action} ({model.__name__}) does not give its "
                               f"parameters ({', '.join(act.params) or 'none'})")
        router.post(f"/flags/{action}", name=action.replace("-", "_"), summary=act.summary,
                    responses=REFUSALS)(_apply(action, model))
    return router


# ---------------------------------------------------------------- the app

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


class ChangeBody(BaseModel):
    """What every rollout change carries: why, and (optionally) the state version it was decided
    on; from any other version the change is refused as a conflict (409), and audited."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000, description="kept in the audit log")
    expect_version: StrictInt | None = Field(default=None, ge=0, le=2**31 - 1, description="the version you decided on")

    @field_validator("reason")
    @classmethod
    def _storable(cls, value: str) -> str:
        return stages.checked_text("reason", value)


class AdvanceBody(ChangeBody):
    percentage: StrictInt | None = Field(default=None, ge=0, le=100,
                                         description="a whole percentage above the current one; default: next stage")


class DisableGoogleBody(ChangeBody):
    force: StrictBool = Field(default=False, description="even below 100 % (audited as forced)")


class SetPercentageBody(ChangeBody):
    percentage: StrictInt = Field(ge=0, le=100, description="the whole percentage to move to, up or down")


class RestoreBody(ChangeBody):
    state: dict = Field(description="a stored rollout state (a pre-cutover backup's 'state')")


class SetFlagBody(ChangeBody):
    name: str = Field(pattern=r"^[a-z_]{1,40}$", description="a plain on/off flag, e.g. enable_accuracy_comparison")
    value: StrictBool


# the body of each action that takes parameters; the others take a ChangeBody
ACTION_BODIES: dict[str, type[ChangeBody]] = {
    "advance": AdvanceBody, "disable-google": DisableGoogleBody, "set-flag": SetFlagBody,
    "set-percentage": SetPercentageBody, "restore": RestoreBody,
}


class _UploadError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


async def _save_upload(request: Request, limits: ServiceLimits) -> tuple[Path, dict]:
    """The uploaded document in a file of its own (size-capped while streaming; the caller
    deletes it) and any form fields. One file, not a directory: the fewest file-system calls on
    the request path. Slower than ``upload_min_bytes_per_s`` after ``upload_grace_s``: 408."""
    max_bytes = limits.max_upload_bytes
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=10)
        upload = form.get("file")
        if upload is None or not hasattr(upload, "read"):
            raise _UploadError(400, "missing_file", "send the invoice as the multipart field 'file'")
        chunks = _form_chunks(upload)
        suffix = _safe_suffix(upload.filename)
        fields = {k: str(v) for k, v in form.items() if k != "file"}
    else:
        chunks, suffix, fields = request.stream(), EXTENSIONS.get(content_type, ".bin"), {}
    fd, name = tempfile.mkstemp(prefix="ocr-upload-", suffix=suffix, dir=SCRATCH_DIR)
    path, size, started = Path(name), 0, time.monotonic()
    try:
        with open(fd, "wb") as fh:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise _UploadError(413, "upload_too_large", f"uploads are limited to {max_bytes // 2**20} MiB")
                fh.write(chunk)
                elapsed = time.monotonic() - started
                if elapsed > limits.upload_grace_s and size < limits.upload_min_bytes_per_s * elapsed:
                    raise _UploadError(408, "upload_too_slow", f"the upload arrives slower than "
                                       f"{limits.upload_min_bytes_per_s} bytes/s")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, fields


def _safe_suffix(filename: str | None) -> str:
    """The upload's extension for the scratch file, or none: a client's filename may hold NUL,
    slashes or anything else, and only letters and digits reach the file system."""
    suffix = Path((filename or "").replace("\x00", "")).suffix.lower()[:6]
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ""


async def _form_chunks(upload):
    while chunk := await upload.read(1 << 20):
        yield chunk


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
