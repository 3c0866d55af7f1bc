"""One row per processed document in ``ocr_events``, written off the request path.

``EventWriter.record()`` only appends to an in-memory queue; a background thread writes batches
in one transaction each. When the database is unavailable, batches go to a local spool file
(JSON lines, fsynced) and are replayed in order when it is back; while the spool is not empty,
new events queue behind it, so the table receives events in the order they happened and none is
lost, and none is stored twice: each event carries a unique id and replays skip ids already stored
(a batch whose commit succeeded but whose acknowledgement was lost comes back through the spool).
The raw user id never leaves the process: events carry a salted hash of it.

An event in memory would die with its process (a SIGKILL, the OOM killer, a crash) after the
service had answered 200 for it, so ``record()`` also appends it to this writer's journal on disk
before it returns; the writer deletes a journal segment once its events are in the database (or
the spool). A writer that starts finds the journals of writers that ended without closing (their
lock is free) and moves their events to its spool: the event ids make that replay idempotent.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from .db import as_engine, ensure_schema, ocr_events

log = logging.getLogger(__name__)

# Events neither the database nor the spool takes wait in memory up to this many times the queue
# limit (100 000 events of ~1 KiB: ~200 MiB at worst) before they are counted as lost.
MEMORY_FACTOR = 2
CLOCK_CHECK_S = 30.0  # how often the writer measures its clock against the database's


REQUEST_ID_MAX = 64  # the column's length
_PLAIN_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,%d}" % REQUEST_ID_MAX)


def bounded_request_id(raw: str | None) -> str:
    """A client's X-Request-Id as stored and answered: kept when it is 1-64 plain characters,
    else a digest of it ('sha-' + 40 hex; the same id always maps to the same digest), and a new
    id when there is none. An id the column cannot hold would cost its document its event."""
    if not raw:
        return uuid.uuid4().hex
    if _PLAIN_REQUEST_ID.fullmatch(raw):
        return raw
    return "sha-" + hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def user_bucket(user_or_tenant: str | None, salt: str = "ocr-migrate") -> str | None:
    if not user_or_tenant:
        return None
    return hashlib.sha256(f"{salt}:{user_or_tenant}".encode()).hexdigest()[:16]


@dataclass
class OcrEvent:
    request_id: str
    engine: str
    stage: int
    percentage: int
    duration_ms: int
    success: bool
    user_bucket: str | None = None
    error_class: str | None = None
    confidence: float | None = None
    pages: int | None = None
    fallback: bool = False
    shadow: bool = False
    shadow_agreement: float | None = None
    field_agreement: dict | None = None
    engine_version: str | None = None  # the result's (none for a failed read)
    clock_offset_ms: int | None = None  # set by the writer at record(): its clock's offset to the database's
    kind: str | None = None  # the upload's kind (ocr_engines.documents.upload_kind)
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self):
        if len(self.request_id) > REQUEST_ID_MAX:  # any caller: the edge bounds clients' ids already
            self.request_id = bounded_request_id(self.request_id)
        if self.engine_version and len(self.engine_version) > 64:  # a long processor version: the column's length
            self.engine_version = self.engine_version[:64]

    def to_row(self) -> dict:
        return dict(self.__dict__)  # (asdict deep-copies: ten times the GIL time in the web process)

    def to_json(self) -> str:
        row = self.to_row()
        row["at"] = self.at.isoformat()
        return json.dumps(row)

    @classmethod
    def from_json(cls, line: str) -> "OcrEvent":
        row = json.loads(line)
        row["at"] = datetime.fromisoformat(row["at"])
        return cls(**row)


def database_now(conn) -> datetime:
    """The database's ``CURRENT_TIMESTAMP``, timezone-aware (SQLite's is UTC text without a zone)."""
    from sqlalchemy import func, select

    now = conn.execute(select(func.current_timestamp())).scalar_one()
    if isinstance(now, str):
        now = datetime.fromisoformat(now)
    return now if now.tzinfo else now.replace(tzinfo=timezone.utc)


class EventWriter:
    def __init__(self, db: Engine | str, spool_path: Path, batch_size: int = 500, flush_s: float = 0.5,
                 max_queue: int = 100_000, retry_s: float = 1.0, stall_s: float = 3.0, probe_s: float = 2.0,
                 now=None):
        """``stall_s``: a write to the database unanswered for this long is a stalled database
        (a frozen server answers no timeout): new events go to the spool, not to memory.
        ``probe_s``: with nothing written for this long, the writer asks the database ``SELECT 1``,
        so that its health is known while the service is idle too (0: never)."""
        self.db = as_engine(db)
        self.spool_path = Path(spool_path)
        self.spool_path.parent.mkdir(parents=True, exist_ok=True)
        self.batch_size, self.flush_s, self.max_queue, self.retry_s = batch_size, flush_s, max_queue, retry_s
        self._queue: deque[OcrEvent] = deque()
        self._lock = threading.Lock()
        self._spool_lock = threading.Lock()  # appends vs the replay's rename of the spool file
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.db_ok = True
        self.written = 0
        self.rejected = 0
        self._statement = None
        self.stall_s, self.probe_s = stall_s, probe_s
        self._writing_since: float | None = None  # monotonic start of the database write in progress
        self.last_write_at: float | None = None  # monotonic time of the last write (or probe) that succeeded
        # This writer's journal: <spool stem>.journal-<id>.<n> segments, and a .lock file held (flock)
        # for the writer's life, so another writer can tell a live journal from a dead one's.
        self.journal_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._journal_fd: int | None = None  # the open segment, created at the first record()
        self._journal_seq = 0
        self._journal_lock: int | None = None
        self._sealed_pending = 0  # sealed segments whose events are not yet stored or spooled
        self._kept_segments: list[Path] = []  # sealed segments whose events wait in memory (spool unwritable)
        self.journal_errors = 0
        # This process's clock against the database's (ms, database - here), measured at start and
        # every CLOCK_CHECK_S; ``now`` is this process's clock.
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.clock_offset_ms: int | None = None
        self._clock_checked_at = 0.0
        # Events that could not be kept (database down and the spool's disk full, beyond what
        # memory may hold), torn spool lines set aside, and whether the spool took its last write.
        self.lost = 0
        self.torn = 0
        self.spool_ok = True
        self.loop_errors = 0
        # Told (new, total) whenever events are lost: the service raises its critical alert there.
        self.on_lost = None

    def init_schema(self) -> None:
        """The schema at head (``db.ensure_schema``: the migrations, once per process), as at the
        service's start; replicas starting at once are safe."""
        ensure_schema(self.db)

    # ---------------------------------------------------------------- request path

    def record(self, event: OcrEvent) -> None:
        """Never blocks on the database; an overfull queue, or one behind a stalled write,
        goes to the spool (on disk) rather than piling up in memory or being dropped. A queued
        event is in this writer's journal on disk when this returns: the caller may answer 200."""
        if event.clock_offset_ms is None:
            event.clock_offset_ms = self.clock_offset_ms
        line = (event.to_json() + "\n").encode()
        with self._lock:
            if len(self._queue) < self.max_queue and not self.stalled:
                self._journal(line)
                self._queue.append(event)
                if len(self._queue) >= self.batch_size:
                    self._wake.set()
                return
            batch = [*self._queue, event]
            self._queue.clear()
        if not self._spool(batch):
            self._keep_in_memory(batch)

    @property
    def can_keep(self) -> bool:
        """Whether an event recorded now can be kept: the database takes writes or the spool does."""
        return (self.db_ok and not self.stalled) or self.spool_ok

    def _keep_in_memory(self, batch: list[OcrEvent]) -> None:
        """Events neither the database nor the spool took: back to the head of the queue (retried
        at the next flush) while memory allows MEMORY_FACTOR x max_queue; beyond that they are lost
        and counted (/health, /metrics ``ocr_events_lost_total``)."""
        with self._lock:
            room = max(0, MEMORY_FACTOR * self.max_queue - len(self._queue))
            kept, dropped = batch[:room], batch[room:]
            self._queue.extendleft(reversed(kept))
            if dropped:
                self.lost += len(dropped)
        if dropped:
            log.critical("%d events lost: the events database is down and the spool %s cannot be written "
                         "(%d lost since start)", len(dropped), self.spool_path, self.lost)
            if self.on_lost is not None:
                self.on_lost(len(dropped), self.lost)

    def _journal(self, line: bytes) -> None:
        """Append one event to the open journal segment (under ``_lock``). One write() to an
        O_APPEND file, no fsync: the data is then in the kernel's page cache, which outlives the
        process (SIGKILL, OOM kill, a crash of the interpreter), and that is the failure this
        journal is for. A machine crash can lose the last seconds the kernel had not written back;
        an fsync per event would cover that at the price of a disk flush per request, ~10-1000x
        this append (bench/bench_events.py prints both). The spool, written rarely, is fsynced."""
        try:
            if self._journal_fd is None:
                if self._journal_lock is None:  # the lock first: a segment is never seen without it
                    fd = os.open(self._journal_path("lock"), os.O_RDWR | os.O_CREAT, 0o600)
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    self._journal_lock = fd
                self._journal_fd = os.open(self._journal_path(self._journal_seq),
                                           os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            view = memoryview(line)
            while view:
                view = view[os.write(self._journal_fd, view):]
        except OSError as exc:  # a full disk must not fail the request: the event still queues
            if not self.journal_errors:
                log.error("events journal %s not writable (%s): events in memory are lost if this process dies",
                          self._journal_path(self._journal_seq), exc)
            self.journal_errors += 1

    def _journal_path(self, part: int | str) -> Path:
        return self.spool_path.with_name(f"{self.spool_path.stem}.journal-{self.journal_id}.{part}")

    def _seal_journal(self) -> Path | None:
        """Close the open segment (under ``_lock``, with the queue drained): the next event opens
        a new one. Returns the sealed segment, to delete once its events are stored or spooled."""
        if self._journal_fd is None:
            return None
        os.close(self._journal_fd)
        self._journal_fd = None
        sealed = self._journal_path(self._journal_seq)
        self._journal_seq += 1
        self._sealed_pending += 1
        return sealed

    def _drop_sealed(self, sealed: Path | None) -> None:
        if sealed is not None:
            sealed.unlink(missing_ok=True)
            with self._lock:
                self._sealed_pending -= 1

    def adopt_orphaned_journals(self) -> int:
        """Move the events of journals whose writer ended without closing (its lock is free: the
        process is gone) to this writer's spool, in order, and delete those journals. Returns
        the number of events adopted; replaying them adds nothing the database already has."""
        adopted = 0
        for lock_path in sorted(self.spool_path.parent.glob(f"{self.spool_path.stem}.journal-*.lock")):
            if lock_path == self._journal_path("lock"):
                continue
            try:
                fd = os.open(lock_path, os.O_RDWR)
            except FileNotFoundError:
                continue  # adopted by another writer meanwhile
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its writer is alive
                prefix = lock_path.name[:-len("lock")]
                segments = sorted((p for p in lock_path.parent.glob(prefix + "*") if p.suffix != ".lock"),
                                  key=lambda p: int(p.name[len(prefix):]) if p.name[len(prefix):].isdigit() else -1)
                events = []
                for segment in segments:
                    for line in segment.read_bytes().splitlines():
                        try:
                            events.append(OcrEvent.from_json(line.decode()))
                        except (ValueError, TypeError, KeyError):  # a line cut by the death: never answered
                            log.warning("skipped a torn line in %s", segment)
                if events and not self._spool(events):  # fsynced before the journal goes
                    continue  # the disk refuses: the journal stays for a later round or start
                for segment in segments:
                    segment.unlink(missing_ok=True)
                lock_path.unlink(missing_ok=True)
                if events:
                    log.warning("adopted %d events from %s, the journal of an events writer that ended without "
                                "closing; they are replayed from the spool", len(events), prefix.rstrip("."))
                adopted += len(events)
            finally:
                os.close(fd)
        return adopted

    def _release_journal(self) -> None:
        """After the last flush: with nothing left in memory, remove the journal and its lock."""
        with self._lock:
            if self._queue or self._sealed_pending or self._journal_lock is None:
                return  # events still only in memory (a flush still running): the journal stays for adoption
            if self._journal_fd is not None:
                os.close(self._journal_fd)
                self._journal_fd = None
                self._journal_path(self._journal_seq).unlink(missing_ok=True)
            self._journal_path("lock").unlink(missing_ok=True)
            os.close(self._journal_lock)
            self._journal_lock = None

    @property
    def stalled(self) -> bool:
        """A database write has been waiting for an answer longer than ``stall_s``."""
        since = self._writing_since
        return since is not None and time.monotonic() - since > self.stall_s

    # ---------------------------------------------------------------- status

    def spool_depth(self) -> int:
        """Events waiting on disk, including a batch being replayed right now."""
        with self._spool_lock:
            total = 0
            for path in (self.spool_path, self._replaying_path):
                if path.exists():
                    with path.open("rb") as fh:
                        total += sum(1 for _ in fh)
            return total

    def queued(self) -> int:
        return len(self._queue)

    # ---------------------------------------------------------------- background

    def measure_clock(self) -> int | None:
        """This process's clock offset to the database's ``CURRENT_TIMESTAMP`` (ms, database minus
        here, read at the middle of the round trip); None when the database does not answer."""
        self._clock_checked_at = time.monotonic()
        try:
            before = self.now()
            with self.db.connect() as conn:
                db_now = database_now(conn)
            after = self.now()
        except DBAPIError:
            return self.clock_offset_ms
        self.clock_offset_ms = int(round((db_now - (before + (after - before) / 2)).total_seconds() * 1000))
        return self.clock_offset_ms

    def start(self) -> "EventWriter":
        """Start writing in the background; first take over what a killed predecessor left."""
        self.measure_clock()
        self.adopt_orphaned_journals()
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
        self._thread.start()
        return self

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop after writing (or spooling) everything queued."""
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout_s)
        self.flush()
        self._release_journal()

    def _run(self) -> None:
        """The writer's loop: nothing it meets ends it (a full disk, a torn spool, a bug): events
        stay queued or spooled and the next round retries."""
        while not self._stop.is_set():
            self._wake.wait(self.flush_s if self.db_ok and self.spool_ok else self.retry_s)
            self._wake.clear()
            try:
                self.flush()
                last = self.last_write_at
                if self.probe_s and not self._queue and (last is None or time.monotonic() - last >= self.probe_s):
                    self._probe()
                if time.monotonic() - self._clock_checked_at >= CLOCK_CHECK_S:
                    self.measure_clock()
            except Exception:  # noqa: BLE001 (logged; the loop must outlive it)
                self.loop_errors += 1
                log.exception("event writer round failed (%d so far); retrying in %.1f s", self.loop_errors,
                              self.retry_s)
                self._stop.wait(self.retry_s)

    def _probe(self) -> None:
        """``SELECT 1`` under the same stall watch as a write."""
        self._writing_since = time.monotonic()
        try:
            with self.db.connect() as conn:
                conn.execute(text("SELECT 1"))
        except DBAPIError:
            self.db_ok = False
        else:
            self.db_ok = True
            self.last_write_at = time.monotonic()
        finally:
            self._writing_since = None

    @property
    def _replaying_path(self) -> Path:
        return self.spool_path.with_suffix(".replaying")

    def flush(self) -> None:
        """Replay the spool first (order), then write the queue in batches; spool what cannot be
        written. The journal segment that held the queue is deleted once every event of it is in
        the database or the spool."""
        if (self.spool_path.exists() or self._replaying_path.exists()) and not self._replay():
            self._spool_queue()
            return
        with self._lock:
            events = list(self._queue)
            self._queue.clear()
            sealed = self._seal_journal()
        for start in range(0, len(events), self.batch_size):
            if not self._insert(events[start:start + self.batch_size]):
                if not self._spool(events[start:]):
                    self._hold(events[start:], sealed)
                    return
                break
        self._drop_sealed(sealed)
        self._drop_kept_segments()

    def _hold(self, events: list[OcrEvent], sealed: Path | None) -> None:
        """Neither the database nor the spool took ``events``: they go back to memory, and their
        journal segment stays on disk until they are stored (a process killed meanwhile leaves it
        to the next writer's adoption)."""
        self._keep_in_memory(events)
        if sealed is not None:
            self._kept_segments.append(sealed)
            with self._lock:
                self._sealed_pending -= 1

    def _drop_kept_segments(self) -> None:
        """Every event is stored or spooled now: the segments held for them can go."""
        while self._kept_segments:
            self._kept_segments.pop().unlink(missing_ok=True)

    def _insert(self, batch: list[OcrEvent]) -> bool:
        self._writing_since = time.monotonic()
        try:
            return self._insert_batch(batch)
        finally:
            self._writing_since = None

    def _insert_batch(self, batch: list[OcrEvent]) -> bool:
        try:
            with self.db.begin() as conn:
                conn.execute(self._insert_ignoring_duplicates(), [e.to_row() for e in batch])
        except (IntegrityError, DataError):
            # The database is up but refuses a row (e.g. a schema that changed under us): one
            # bad event must not hold back every later one in the spool for ever.
            return self._insert_one_by_one(batch)
        except DBAPIError as exc:
            if self.db_ok:
                log.warning("events database unavailable (%s); spooling to %s", str(exc.orig).splitlines()[0][:120],
                            self.spool_path)
            self.db_ok = False
            return False
        self.db_ok = True
        self.written += len(batch)
        self.last_write_at = time.monotonic()
        return True

    def _insert_one_by_one(self, batch: list[OcrEvent]) -> bool:
        """Store what the database accepts; set aside the events it refuses, with its reason,
        in ``<spool>.rejected`` (JSON lines) for a person to look at."""
        for event in batch:
            try:
                with self.db.begin() as conn:
                    conn.execute(self._insert_ignoring_duplicates(), [event.to_row()])
            except (IntegrityError, DataError) as exc:
                reason = str(exc.orig).splitlines()[0][:300]
                log.error("events database refused event %s (%s); set aside in %s", event.event_id, reason,
                          self.rejected_path)
                with self._spool_lock, self.rejected_path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"reason": reason, "event": json.loads(event.to_json())}) + "\n")
                self.rejected += 1
            except DBAPIError:
                return False  # down after all: the caller spools the batch (stored rows are no-ops on replay)
            else:
                self.written += 1
        self.db_ok = True
        return True

    @property
    def rejected_path(self) -> Path:
        return self.spool_path.with_suffix(".rejected")

    def _insert_ignoring_duplicates(self):
        """A batch whose commit succeeded but whose acknowledgement was lost (the database died
        in between) is spooled and replayed: the event id turns that replay into a no-op.
        Built once: the writer runs in the web process, and every ms it holds the GIL is a ms
        the event loop may wait."""
        if self._statement is None:
            self._statement = self._build_insert()
        return self._statement

    def _build_insert(self):
        if self.db.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        elif self.db.dialect.name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        else:
            return insert(ocr_events)
        return dialect_insert(ocr_events).on_conflict_do_nothing(index_elements=["event_id"])

    def _spool_queue(self) -> None:
        with self._lock:
            batch = list(self._queue)
            self._queue.clear()
            sealed = self._seal_journal()
        if batch and not self._spool(batch):
            self._hold(batch, sealed)
            return
        self._drop_sealed(sealed)
        self._drop_kept_segments()

    def _spool(self, batch: list[OcrEvent]) -> bool:
        """Append ``batch`` to the spool, fsynced; False when the disk refuses (full, read-only):
        the caller keeps the events. A refused append may leave a cut last line: the replay sets
        such a line aside."""
        try:
            with self._spool_lock, self.spool_path.open("a", encoding="utf-8") as fh:
                fh.write("".join(e.to_json() + "\n" for e in batch))
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            if self.spool_ok:
                log.error("events spool %s not writable (%s): events wait in memory", self.spool_path, exc)
            self.spool_ok = False
            return False
        self.spool_ok = True
        return True

    @property
    def torn_path(self) -> Path:
        return self.spool_path.with_suffix(".torn")

    def _spooled_events(self, path: Path) -> list[OcrEvent]:
        """The events of a spool file; a line that is not one (cut by a full disk or a crash mid-
        append, or damaged) is set aside in ``<spool>.torn`` and counted, never the end of the rest.
        A cut line is not a lost event: an append the disk refused keeps its events in memory, and
        a process killed mid-append left them in its journal."""
        events, torn = [], []
        for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                events.append(OcrEvent.from_json(line))
            except (ValueError, TypeError, KeyError):
                torn.append(line)
        if torn:
            self.torn += len(torn)
            log.error("%d torn line(s) in the events spool set aside in %s", len(torn), self.torn_path)
            try:
                with self.torn_path.open("a", encoding="utf-8") as fh:
                    fh.write("".join(line + "\n" for line in torn))
            except OSError:
                pass  # counted in torn all the same
        return events

    def _replay(self) -> bool:
        """Write the spool to the database in order; True when it is empty afterwards."""
        replaying = self._replaying_path
        with self._spool_lock:
            if not replaying.exists():  # (it does after a crash mid-replay: that file goes first)
                os.replace(self.spool_path, replaying)  # new spooling goes to a fresh file meanwhile
        events = self._spooled_events(replaying)
        for start in range(0, len(events), self.batch_size):
            if not self._insert(events[start:start + self.batch_size]):
                # Keep what is left, in order, ahead of anything spooled since (the replaying
                # file stays as it is when even that cannot be written: the next round retries).
                rest = "".join(e.to_json() + "\n" for e in events[start:])
                with self._spool_lock:
                    newer = self.spool_path.read_text(encoding="utf-8") if self.spool_path.exists() else ""
                    tmp = self.spool_path.with_suffix(".tmp")
                    try:
                        tmp.write_text(rest + newer, encoding="utf-8")
                    except OSError:
                        tmp.unlink(missing_ok=True)
                        return False
                    os.replace(tmp, self.spool_path)
                    replaying.unlink()
                return False
        replaying.unlink()
        log.info("replayed %d spooled events", len(events))
        return not self.spool_path.exists() or self._replay()
