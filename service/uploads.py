"""POST /v1/ocr: an invoice (multipart ``file`` or a raw body with its content type) and a user or
tenant id (``X-User-Id`` / ``X-Tenant-Id`` headers or form fields) → the extraction result and
which engine served it. The upload is streamed to a scratch file, size-capped and bounded in time,
before the document takes a place in the work queue (``admission``)."""

from __future__ import annotations

import asyncio
import logging
import re
import tempfile
import time
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from ocr_engines import DocumentError, EngineError
from ocr_engines.errors import UnreadableDocumentError

from rollout.events import bounded_request_id
from rollout.flags import StoreUnavailableError
from rollout.router import RequestContext
from .admission import ServiceLimits
from .pipeline import SCRATCH_DIR, RequestRefused
from .state import ServiceState, client_key, error

log = logging.getLogger(__name__)


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

EXTENSIONS = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg", "image/tiff": ".tif",
              "application/xml": ".xml", "text/xml": ".xml"}


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
