"""What every route shares: the service's state on ``app.state.service`` (``State``), the API key
dependencies (``client_key``; ``Admin``), the Prometheus metrics, and the one error body
``{"error", "message"}`` every refusal has."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from .admission import Admission, ServiceLimits
from .pipeline import OcrPipeline

API_KEY = APIKeyHeader(name="X-API-Key", scheme_name="ApiKey", auto_error=False,
                       description="A client key may read documents; an admin key may also change flags.")
BEARER = HTTPBearer(scheme_name="Bearer", auto_error=False, description="The same keys as a bearer token.")


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
