"""One invoice through the control plane: route, read, fall back, shadow, record.

The HTTP service is a thin layer over ``OcrPipeline.process``; everything that decides which
engine reads a document and what gets recorded lives here, testable without HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import mmh3

from ocr_engines import DocumentError, Engine, EngineError, ExtractionResult
from ocr_engines.base import FaultInjectingEngine
from ocr_engines.capture import upload_kind
from ocr_engines.errors import EngineUnavailableError, OcrError, UnreadableDocumentError
from ocr_engines.ksef import looks_like_xml
from ocr_engines.compare import compare

from rollout.events import EventWriter, OcrEvent, user_bucket
from rollout.router import GOOGLE, KSEF, OPENSOURCE, Decision, RequestContext, decide
from rollout.stages import Snapshot

log = logging.getLogger(__name__)


def live_only(engine):
    """The engine without an injected fault (``OCR_MIGRATE_FAULT_INJECTION``): a drill fails live
    reads only, so the stage's health gate sees it and rolls back, while the shadow comparison
    and the golden gate keep judging the engine itself."""
    return engine.inner if isinstance(engine, FaultInjectingEngine) else engine


# Documents live only while they are read: memory-backed /dev/shm where it exists, else the temp dir.
SCRATCH_DIR = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _keep(path: Path) -> Path:
    """A second name for ``path`` in a directory of its own, that outlives the original's."""
    keep = Path(tempfile.mkdtemp(prefix="shadow-", dir=SCRATCH_DIR)) / path.name
    try:
        os.link(path, keep)
    except OSError:  # another file system, or links not allowed
        shutil.copyfile(path, keep)
    return keep


class RequestRefused(Exception):
    """Maintenance mode: the caller should retry after ``decision.retry_after_s``."""

    def __init__(self, decision: Decision):
        super().__init__(decision.reason)
        self.decision = decision


class CircuitBreaker:
    """Stops sending documents to an unwell engine, for ``cooldown_s``; then lets one request
    through to probe it (half-open): a success closes it, a failure re-opens it.

    It opens on ``failures`` engine-health failures in a row (no success between them) from at
    least ``min_requests`` distinct requests, the first of them at most ``window_s`` ago. Only
    engine-health failures count (``EngineError.engine_health``: timeouts, 5xx, unavailable,
    crashes): a document the engine cannot read is that document's error, so one client's blank
    or broken uploads cannot move every other user to the other engine. Distinct requests keep
    one client re-sending one request id from opening it; the window keeps failures hours apart
    from adding up; "in a row" keeps a busy service's sporadic timeouts from opening it.
    """

    def __init__(self, failures: int = 5, cooldown_s: float = 30.0, min_requests: int = 3,
                 window_s: float = 60.0, clock=time.monotonic):
        self.failures, self.cooldown_s, self.clock = failures, cooldown_s, clock
        self.min_requests, self.window_s = min_requests, window_s
        self._recent: list[tuple[float, str]] = []  # (when, request id) of the failures in a row
        self._opened_at: float | None = None
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self._opened_at >= self.cooldown_s else "open"

    def allow(self) -> bool:
        return self.state != "open"

    def success(self) -> None:
        with self._lock:
            self._recent, self._opened_at = [], None

    def failure(self, request_id: str = "", engine_health: bool = True) -> None:
        if not engine_health:
            return
        with self._lock:
            now = self.clock()
            if self._opened_at is not None:
                self._opened_at = now  # a failed half-open probe restarts the cooldown
                return
            self._recent = [(t, r) for t, r in self._recent if now - t <= self.window_s] + [(now, request_id)]
            if len(self._recent) >= self.failures and len({r for _, r in self._recent}) >= self.min_requests:
                self._opened_at = now


@dataclass
class PipelineConfig:
    shadow_percentage: int = 10  # of requests, when enable_accuracy_comparison is on
    confidence_floor: float = 0.8  # open-source results below it are re-read by Google while it is on
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0
    breaker_min_requests: int = 3
    breaker_window_s: float = 60.0


@dataclass
class ServedRead:
    """What the pipeline served for one request: the routing decision, the result, the engine that
    read it, and why another engine did when it fell back."""
    decision: Decision
    result: ExtractionResult
    engine: str
    fallback: str | None = None  # why another engine served it
    attempts: list[dict] = field(default_factory=list)
    engine_s: float = 0.0  # time spent in engine reads (all attempts), the rest is the service's
    kind: str | None = None  # what was uploaded (ocr_engines.capture.upload_kind)

    def as_dict(self) -> dict:
        # the API's envelope (staging's api_compatibility suite holds it to these keys): the kind
        # is recorded with the events, not answered
        return {"engine": self.engine, "decision": self.decision.as_dict(), "fallback": self.fallback,
                "result": self.result.to_dict()}


class OcrPipeline:
    def __init__(self, snapshot_source, engines: dict[str, Engine], writer: EventWriter | None = None,
                 config: PipelineConfig | None = None, retention=None):
        """``snapshot_source`` is a callable returning the current Snapshot (FlagReader.get).
        ``retention`` (a ``remediation.RetentionStore``, remediation on): keeps each document the
        open-source engine served, with what it served, for a stage that fails to be re-read."""
        self.snapshot_source = snapshot_source
        self.retention = retention
        self.engines = engines
        self.writer = writer
        self.config = config or PipelineConfig()
        cfg = self.config
        self.breakers = {name: CircuitBreaker(cfg.breaker_failures, cfg.breaker_cooldown_s, cfg.breaker_min_requests,
                                              cfg.breaker_window_s) for name in engines}
        self._shadow_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shadow")

    def close(self) -> None:
        self._shadow_pool.shutdown(wait=True)

    def google_allowed(self, snap: Snapshot) -> bool:
        return GOOGLE in self.engines and not snap.flags.get("disable_google_cloud")

    def other(self, engine: str) -> str:
        return OPENSOURCE if engine == GOOGLE else GOOGLE

    def allowed(self, engine: str, snap: Snapshot) -> bool:
        return engine in self.engines and (engine != GOOGLE or self.google_allowed(snap))

    def process(self, path: Path, ctx: RequestContext, request_id: str) -> ServedRead:
        """``process_async`` for callers without an event loop."""
        return asyncio.run(self.process_async(path, ctx, request_id))

    async def process_async(self, path: Path, ctx: RequestContext, request_id: str) -> ServedRead:
        """Route, read (falling back when allowed), record; the engines are awaited, so the
        service's event loop serves other requests meanwhile without a thread per document."""
        snap = self.snapshot_source()
        decision = decide(ctx, snap)
        if decision.engine is None:
            raise RequestRefused(decision)
        if KSEF in self.engines and looks_like_xml(path):
            return await self._structured(path, decision, snap, request_id, user_bucket(ctx.stickiness_key))
        # Told before any engine reads it, the same for both engines: 3-4 ms of CPU on a digital PDF,
        # 10-80 ms on a page image (a photo's outline is looked for at 1000 px), against 1-3 s to read.
        kind = await asyncio.to_thread(upload_kind, path)
        bucket_id = user_bucket(ctx.stickiness_key)
        chosen, fallback = decision.engine, None
        if not self.allowed(chosen, snap) or not self.breakers[chosen].allow():
            alternative = self.other(chosen)
            if self.allowed(alternative, snap):
                fallback = f"{chosen} unavailable (circuit {self.breakers[chosen].state})" \
                    if chosen in self.engines else f"{chosen} not configured"
                chosen = alternative
        if chosen not in self.engines:
            raise EngineUnavailableError(f"the router chose {chosen}, which this instance does not run, "
                                         "and no other engine may serve")
        attempts: list[dict] = []
        result = await self._read(chosen, path, snap, request_id, bucket_id, attempts, fallback is not None, kind)
        if result is None:
            alternative = self.other(chosen)
            if not self.allowed(alternative, snap):
                raise attempts[-1]["exception"]  # typed: the document's error, or the engine's
            fallback = f"{chosen} failed: {attempts[-1]['error']}"
            chosen = alternative
            result = await self._read(chosen, path, snap, request_id, bucket_id, attempts, True, kind)
            if result is None:
                message = f"both engines failed: {attempts[0]['error']}; {attempts[1]['error']}"
                if not any(a["exception"].engine_health for a in attempts):
                    raise UnreadableDocumentError(message)
                raise EngineError(message)
        elif chosen == OPENSOURCE and result.confidence < self.config.confidence_floor and self.google_allowed(snap):
            low = result.confidence
            try:
                google = await self._read(GOOGLE, path, snap, request_id, bucket_id, attempts, True, kind)
            except DocumentError as exc:  # Google refuses what Tesseract read (over its 15 pages): keep the read
                google = None
                result.warnings.append(f"low confidence {low:.2f}, but the re-read by Google could not run: "
                                       f"{exc.code}: {exc.message}")
            if google is not None:
                fallback, chosen, result = f"open-source confidence {low:.2f} < {self.config.confidence_floor}", \
                    GOOGLE, google
        outcome = ServedRead(decision, result, chosen, fallback, attempts,
                             sum(a["seconds"] for a in attempts), kind)
        if chosen == OPENSOURCE and self.retention is not None:
            # before the answer (the caller deletes the upload then); a full disk costs the
            # document's remediation, never the answer
            await asyncio.to_thread(self.retention.keep, request_id, path, outcome, snap)
        if snap.flags.get("enable_accuracy_comparison") and self._sampled(request_id):
            # The caller deletes its upload when the response is sent: the shadow reads its own
            # link to it (a copy across file systems).
            self._shadow_pool.submit(self._shadow, _keep(path), outcome, snap, request_id, bucket_id)
        return outcome

    async def _structured(self, path: Path, decision: Decision, snap: Snapshot, request_id: str,
                          bucket_id) -> ServedRead:
        """A KSeF e-invoice (XML): read exactly by the ksef engine at every stage, never by an OCR
        engine; recorded with engine 'ksef', which the gates leave out of canary and baseline."""
        start = time.perf_counter()
        try:
            result = await self.engines[KSEF].extract_async(path)
        except OcrError as exc:
            self._record(KSEF, snap, request_id, bucket_id, start, None, exc, False, kind="xml")
            raise
        self._record(KSEF, snap, request_id, bucket_id, start, result, None, False, kind="xml")
        seconds = time.perf_counter() - start
        routed = Decision(KSEF, decision.percentage, decision.bucket, note="a KSeF e-invoice: read from its XML, no OCR")
        return ServedRead(routed, result, KSEF, None, [{"engine": KSEF, "error": None, "seconds": seconds}], seconds,
                          "xml")

    async def _read(self, engine: str, path: Path, snap: Snapshot, request_id: str, bucket_id, attempts,
                    fallback: bool, kind: str | None = None) -> ExtractionResult | None:
        start = time.perf_counter()
        try:
            result = await self.engines[engine].extract_async(path)
        except DocumentError:
            raise  # the upload is unusable: no other engine will do better
        except EngineError as exc:
            self.breakers[engine].failure(request_id, exc.engine_health)
            attempts.append({"engine": engine, "error": f"{exc.code}: {exc.message}", "exception": exc,
                             "seconds": time.perf_counter() - start})
            self._record(engine, snap, request_id, bucket_id, start, None, exc, fallback, kind=kind)
            return None
        self.breakers[engine].success()
        attempts.append({"engine": engine, "error": None, "seconds": time.perf_counter() - start})
        self._record(engine, snap, request_id, bucket_id, start, result, None, fallback, kind=kind)
        return result

    def _record(self, engine, snap, request_id, bucket_id, start, result, error, fallback, **extra) -> None:
        if self.writer is None or not snap.flags.get("collect_ocr_metrics", True):
            return
        self.writer.record(OcrEvent(
            request_id=request_id, engine=engine, stage=snap.stage, percentage=snap.percentage,
            duration_ms=int((time.perf_counter() - start) * 1000), success=error is None, user_bucket=bucket_id,
            error_class=type(error).__name__ if error else None,
            confidence=result.confidence if result else None, pages=result.pages if result else None,
            engine_version=result.engine_version if result else None, fallback=fallback, **extra))

    def _sampled(self, request_id: str) -> bool:
        return mmh3.hash(f"shadow:{request_id}", 0, signed=False) % 100 < self.config.shadow_percentage

    def _shadow(self, path: Path, served: ServedRead, snap: Snapshot, request_id: str, bucket_id) -> None:
        """Read with the other engine off the request path and record the field comparison."""
        try:
            self._shadow_read(path, served, snap, request_id, bucket_id)
        finally:
            shutil.rmtree(path.parent, ignore_errors=True)

    def _shadow_read(self, path: Path, served: ServedRead, snap: Snapshot, request_id: str, bucket_id) -> None:
        other = self.other(served.engine)
        if not self.allowed(other, snap):
            return
        start = time.perf_counter()
        try:
            shadow_result: ExtractionResult | Exception = live_only(self.engines[other]).extract(path)
        except Exception as exc:  # a shadow failure is data, never an error for the user
            shadow_result = exc
        control, candidate = (served.result, shadow_result) if served.engine == GOOGLE else (shadow_result,
                                                                                           served.result)
        diff = compare(control, candidate)
        error = shadow_result if isinstance(shadow_result, Exception) else None
        self._record(other, snap, request_id, bucket_id, start,
                     None if error else shadow_result, error, False, shadow=True, kind=served.kind,
                     shadow_agreement=diff.agreement,
                     field_agreement={name: d.status for name, d in diff.fields.items()})
