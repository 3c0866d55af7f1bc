"""An engine that reads documents in worker processes.

OCR is CPU-bound Python plus Tesseract (a child process, or in the worker itself with the
tesserocr backend): run in threads of a web server it holds
the GIL and stalls the event loop (the switch interval is 5 ms), and pdfium may not be used from
two threads at once. ``PooledEngine`` keeps the engine interface and runs ``extract`` in worker
processes, each with its own engine built (and warmed up) once at start.

Each worker owns one end of a pipe and reads one document at a time. A caller checks a worker
out, writes the path, reads the result and checks it back in: from a thread (``extract``) or from
an event loop without any thread (``extract_async`` waits on the pipe with ``add_reader``).
``concurrent.futures.ProcessPoolExecutor`` would add a manager thread and a feeder thread to every
call (measured: +1.4 ms of CPU per document in the web process and a longer latency tail, see
bench/bench_service.py), and after one crashed worker it refuses all further work. Here a worker
that dies (killed by the OOM killer, a crash in a native library) fails only its own document
with ``EngineCrashedError`` and is replaced in the background; one found dead while idle is
replaced before anybody reads with it. When no worker is left and none can start, callers get
``EngineUnavailableError`` rather than waiting. ``workers_status`` gives /health the live count.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import multiprocessing
import os
import threading
from multiprocessing.connection import Connection
from pathlib import Path

from .base import Engine, get_engine
from .errors import EngineCrashedError, EngineUnavailableError, OcrError, OcrTimeoutError
from .result import ExtractionResult

log = logging.getLogger(__name__)

_engine: Engine | None = None


def start_worker(name: str, options: dict) -> None:
    """Process initializer: this process's engine, built and warmed up once (one OpenMP thread:
    parallelism comes from processes). Also used by evaluate's pool and the benchmarks."""
    global _engine
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    _engine = get_engine(name, **options)
    _engine.warm_up()


def worker_engine() -> Engine:
    """The engine ``start_worker`` built in this process."""
    if _engine is None:
        raise RuntimeError("start_worker() has not run in this process")
    return _engine


def _serve(conn: Connection, name: str, options: dict, scratch: str | None = None) -> None:
    """A worker's life: build the engine, say so, then answer one request at a time until the
    parent closes its end. The worker leads a process group of its own (its Tesseract children
    join it) and keeps its temporary files in ``scratch``: whatever kills it, the parent can end
    those children and remove those files (``_Worker.stop``)."""
    try:
        os.setpgid(0, 0)
    except OSError:  # already a group leader
        pass
    if scratch:
        import tempfile

        os.environ["TMPDIR"] = tempfile.tempdir = scratch
    try:
        start_worker(name, options)
    except Exception as exc:  # noqa: BLE001 (reported to the parent, which raises it)
        conn.send(("error", _portable(exc)))
        return
    conn.send(("ready", os.getpid(), _engine.version))
    while True:
        try:
            op, arg = conn.recv()
        except (EOFError, OSError):
            return  # the parent went away
        try:
            reply = ("ok", _engine.extract(Path(arg)) if op == "extract" else None)
        except Exception as exc:  # noqa: BLE001 (every failure goes back typed)
            reply = ("error", _portable(exc))
        conn.send(reply)


def _portable(exc: Exception) -> Exception:
    """The exception itself when it survives pickling, else an EngineError that names it."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001
        return EngineCrashedError(f"{type(exc).__name__}: {exc}")


class _Worker:
    def __init__(self, ctx, name: str, options: dict):
        import tempfile

        self.conn, child = ctx.Pipe()
        self.scratch = tempfile.mkdtemp(prefix=f"ocr-{name}-worker-")
        self.process = ctx.Process(target=_serve, args=(child, name, options, self.scratch), daemon=True,
                                   name=f"ocr-{name}-worker")
        self.process.start()
        child.close()  # only the worker holds its end: a dead worker reads as EOF here
        self.pid: int | None = None
        self.version: str | None = None

    def wait_ready(self) -> None:
        try:
            message = self.conn.recv()
        except (EOFError, OSError):
            self.process.join(5)
            raise EngineCrashedError(f"an engine worker exited while starting (exit code "
                                     f"{self.process.exitcode})") from None
        if message[0] == "error":
            raise message[1]
        _, self.pid, self.version = message

    def unpack(self, message) -> ExtractionResult:
        status, value = message
        if status == "error":
            raise value
        return value

    def crashed(self, exc: Exception) -> EngineCrashedError:
        what = "died" if isinstance(exc, (EOFError, ConnectionError)) else f"failed ({type(exc).__name__}: {exc})"
        return EngineCrashedError(f"the engine worker (pid {self.pid}) {what} while reading the document; "
                                  "it is being replaced")

    @property
    def alive(self) -> bool:
        """The worker runs. Unlike Process.is_alive() this does not reap it: the pid, and with it
        the group id that ``stop`` signals, stays ours until ``stop`` joins the process."""
        from multiprocessing.connection import wait

        return self.process.pid is not None and not wait([self.process.sentinel], 0)

    def stop(self) -> None:
        """End the worker, then what it leaves behind when killed mid-read: the Tesseract
        process it was waiting for (same process group) and its temporary files. The group is
        killed before the worker is reaped: a reaped worker's pid may already lead someone
        else's group (pids wrap at 32768 here)."""
        import shutil
        import signal
        from multiprocessing.connection import wait

        self.conn.close()
        if self.process.pid is not None:
            wait([self.process.sentinel], 5)  # a worker whose pipe closed ends by itself
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass  # no process left in its group
            if not wait([self.process.sentinel], 0):
                self.process.kill()  # stopped before it made itself a group leader
            self.process.join(5)
        shutil.rmtree(self.scratch, ignore_errors=True)


class _Waiter(threading.Event):
    """A thread waiting for a worker."""

    worker: _Worker | None = None
    error: Exception | None = None


def _fail(future: asyncio.Future, error: Exception) -> None:
    if not future.done():
        future.set_exception(error)


def _refuse(waiters, error: Exception) -> None:
    """Wake callers waiting for a worker (threads and event-loop futures) with ``error``."""
    for waiter in waiters:
        if isinstance(waiter, _Waiter):
            waiter.error = error
            waiter.set()
        else:
            _call_soon(waiter[0], _fail, waiter[1], error)


def _call_soon(loop: asyncio.AbstractEventLoop, callback, *args) -> bool:
    """``callback(*args)`` on ``loop`` from any thread; False when that loop is closed."""
    try:
        loop.call_soon_threadsafe(callback, *args)
        return True
    except RuntimeError:  # closed, maybe between a check and the call
        return False


class PooledEngine(Engine):
    def __init__(self, name: str, workers: int = 2, deadline_s: float | None = None, **options):
        """``options`` build each worker's engine. ``deadline_s``: a read not answered by then
        (a hang outside the engine's own timeouts, e.g. in a PDF library on hostile input) is
        ended by killing its worker, which is replaced, and raises OcrTimeoutError, so the
        pipeline may fall back to the other engine."""
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers!r}")
        if deadline_s is not None and not deadline_s > 0:
            raise ValueError(f"deadline_s must be positive, got {deadline_s!r}")
        self.name, self.workers, self.deadline_s, self.options = name, workers, deadline_s, options
        # spawn: the parent has threads (server, flag refresh, event writer) that fork would copy mid-state
        self._ctx = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._idle: collections.deque[_Worker] = collections.deque()
        self._waiters: collections.deque = collections.deque()  # _Waiter or (loop, future)
        self._all: set[_Worker] = set()
        self._starting = 0  # replacements being started in the background
        self._started = False
        self._closed = False
        self._version: str | None = None

    # -- life cycle -------------------------------------------------------------------------

    @property
    def version(self) -> str:
        self.warm_up()
        return self._version or ""

    def warm_up(self) -> None:
        """Start every worker now (each builds and warms its engine); raises what a worker could
        not start with (e.g. EngineUnavailableError when Tesseract is missing)."""
        with self._lock:
            if self._started:
                return
            if self._closed:
                raise EngineUnavailableError(f"the {self.name} pool is closed")
            started = [_Worker(self._ctx, self.name, self.options) for _ in range(self.workers)]
            try:
                for worker in started:
                    worker.wait_ready()
            except BaseException:
                for worker in started:
                    worker.stop()
                raise
            self._version = started[0].version
            self._all.update(started)
            self._started = True
        for worker in started:  # to whoever already waits (a restart after every worker was lost)
            self._checkin(worker)

    def close(self) -> None:
        """Refuse new reads, wake whoever waits, stop the idle workers. A worker busy with a read
        finishes it (its caller gets the answer) and is stopped when it comes back."""
        with self._lock:
            self._closed = True
            self._all = set()
            idle, self._idle = list(self._idle), collections.deque()
            waiters, self._waiters = list(self._waiters), collections.deque()
        _refuse(waiters, EngineUnavailableError(f"the {self.name} pool was closed"))  # nobody waits forever
        for worker in idle:
            worker.stop()

    def pids(self) -> list[int]:
        """The live workers' process ids (for health checks and drills)."""
        with self._lock:
            return sorted(w.pid for w in self._all if w.pid is not None and w.alive)

    def workers_status(self) -> dict:
        """For /health: the live workers, and the engine version they reported (for Tesseract,
        which backend runs it: '5.5.4 (tesserocr)' or '5.3.0 (cli)'; None before any started)."""
        pids = self.pids()
        return {"configured": self.workers, "live": len(pids), "pids": pids, "version": self._version}

    # -- checking workers out and in --------------------------------------------------------

    def _checkout(self) -> _Worker:
        waiter = _Waiter()
        while True:
            self.warm_up()
            started, worker = self._claim(waiter)
            if started:
                break
        if worker is not None:
            return worker
        waiter.wait()
        if waiter.worker is None:
            raise waiter.error
        return waiter.worker

    async def _checkout_async(self) -> _Worker:
        loop = asyncio.get_running_loop()
        waiter = (loop, loop.create_future())
        while True:
            if not self._started:
                await asyncio.to_thread(self.warm_up)
            started, worker = self._claim(waiter)
            if started:
                break
        if worker is not None:
            return worker
        try:
            return await waiter[1]
        except asyncio.CancelledError:
            with self._lock:
                queued = waiter in self._waiters
                if queued:
                    self._waiters.remove(waiter)
            handed = waiter[1]
            if not queued and handed.done() and not handed.cancelled() and handed.exception() is None:
                # The worker was handed over in the same turn as the cancellation: it is ours to
                # give back, or it would be lost to the pool for good.
                self._checkin(handed.result())
            raise

    def _claim(self, waiter) -> tuple[bool, _Worker | None]:
        """(True, a live idle worker), or (True, None) with ``waiter`` queued for the next one
        checked in; (False, None) when every worker was lost since warm_up() (the caller starts
        the pool afresh and tries again). Idle workers found dead are replaced."""
        with self._lock:
            self._refuse_if_closed()
            if not self._started:
                return False, None
            worker, dead = self._take_idle()
            if worker is None:
                self._waiters.append(waiter)
        self._replace(*dead)
        return True, worker

    def _take_idle(self) -> tuple[_Worker | None, list[_Worker]]:
        """Under the lock: a live idle worker (or None), and the idle ones found dead meanwhile
        (killed while nobody used them), which the caller replaces once the lock is released.
        One look at its sentinel per checkout spares a user the failed read of a dead worker."""
        dead = []
        while self._idle:
            worker = self._idle.popleft()
            if worker.alive:
                return worker, dead
            dead.append(worker)
        return None, dead

    def _checkin(self, worker: _Worker) -> None:
        with self._lock:
            retired = worker not in self._all  # the pool was closed meanwhile
            while self._waiters and not retired:
                waiter = self._waiters.popleft()
                if isinstance(waiter, _Waiter):
                    waiter.worker = worker
                    waiter.set()
                    return
                loop, future = waiter
                if _call_soon(loop, self._hand_over, future, worker):
                    return
            if not retired:
                self._idle.append(worker)
                return
        # Retired: stopped in the background (it waits for the process to exit; the caller may be
        # an event loop).
        threading.Thread(target=worker.stop, name=f"ocr-{self.name}-stop", daemon=True).start()

    def _hand_over(self, future: asyncio.Future, worker: _Worker) -> None:
        if future.done():  # the caller gave up (or the pool closed) between the hand-over and now
            self._checkin(worker)
        elif self._closed:
            future.set_exception(EngineUnavailableError(f"the {self.name} pool was closed"))
            self._checkin(worker)  # retires it
        else:
            future.set_result(worker)

    def _refuse_if_closed(self) -> None:
        if self._closed:
            raise EngineUnavailableError(f"the {self.name} pool is closed")

    def _replace(self, *workers: _Worker) -> None:
        """Swap dead workers for new ones, in the background (reaping the old one and starting
        the new one take time the caller, maybe an event loop, does not have)."""
        for dead in workers:
            self._replace_one(dead)

    def _replace_one(self, dead: _Worker) -> None:
        with self._lock:
            self._all.discard(dead)
            self._starting += 1

        def start() -> None:
            dead.stop()
            log.error("a %s worker (pid %s) died with exit code %s", self.name, dead.pid, dead.process.exitcode)
            worker, reason = None, None
            if not self._closed:
                try:
                    worker = _Worker(self._ctx, self.name, self.options)
                    worker.wait_ready()
                except Exception as exc:  # noqa: BLE001 (a typed engine error, or e.g. no more processes)
                    if worker is not None:
                        worker.stop()
                    worker = None
                    reason = exc.message if isinstance(exc, OcrError) else f"{type(exc).__name__}: {exc}"
                    log.error("could not replace a dead %s worker: %s", self.name, reason)
            with self._lock:  # not after a restart of the whole pool meanwhile (_checkin then retires it)
                self._starting -= 1
                needed = worker is not None and self._started and len(self._all) < self.workers
                if needed:
                    self._all.add(worker)
                    self._version = worker.version  # the newest worker's (auto may have fallen back to cli)
            if reason is not None:
                self._lost(reason)
            if worker is None:
                return
            self._checkin(worker)
            if needed:
                log.warning("replaced a dead %s worker (new pid %s)", self.name, worker.pid)

        threading.Thread(target=start, name=f"ocr-{self.name}-respawn", daemon=True).start()

    def _lost(self, reason: str) -> None:
        """A replacement could not start. While other workers live, the pool carries on smaller
        (``workers_status`` tells /health). With none left, nobody waits for a worker that will not
        come: the waiting callers get EngineUnavailableError, and the next call starts the pool
        afresh (raising the typed error at once if it still cannot)."""
        with self._lock:
            if self._all or self._starting or self._closed:
                return
            self._started = False
            self._idle.clear()
            waiters, self._waiters = list(self._waiters), collections.deque()
        _refuse(waiters, EngineUnavailableError(f"no {self.name} worker is running: {reason}"))

    # -- reading ----------------------------------------------------------------------------

    def extract(self, path: Path) -> ExtractionResult:
        worker = self._checkout()
        try:
            worker.conn.send(("extract", str(path)))
            answered = self.deadline_s is None or worker.conn.poll(self.deadline_s)
            message = worker.conn.recv() if answered else None
        except Exception as exc:  # EOF: it died; anything else: its pipe can no longer be trusted
            self._replace(worker)
            raise worker.crashed(exc) from None
        if not answered:
            self._end_overdue(worker, path)
            raise self._timeout(path)
        self._checkin(worker)
        return worker.unpack(message)

    async def extract_async(self, path: Path) -> ExtractionResult:
        worker = await self._checkout_async()
        # Shielded: a caller that goes away does not strand the worker with an unread answer.
        message = await asyncio.shield(self._exchange(worker, Path(path)))
        return worker.unpack(message)

    def _exchange(self, worker: _Worker, path: Path) -> asyncio.Future:
        """Send the read and wait for the answer on the event loop; the worker is checked back in
        (or replaced) when the answer arrives, whether anyone still waits for it or not. The
        answer is always settled first: nothing that goes wrong afterwards leaves a request hanging."""
        loop = asyncio.get_running_loop()
        answer = loop.create_future()
        timer: asyncio.TimerHandle | None = None
        try:
            fd = worker.conn.fileno()
            worker.conn.send(("extract", str(path)))
        except Exception as exc:  # noqa: BLE001 (its pipe can no longer be trusted)
            answer.set_exception(worker.crashed(exc))
            self._replace(worker)
            return answer

        def overdue() -> None:
            loop.remove_reader(fd)
            answer.set_exception(self._timeout(path))
            self._end_overdue(worker, path)

        def readable() -> None:
            loop.remove_reader(fd)
            if timer is not None:
                timer.cancel()
            try:
                # uvloop (libuv) puts a polled descriptor in non-blocking mode and leaves it so: an
                # answer longer than the pipe buffer would then fail half-read here, and the next
                # thread to use this worker would get EAGAIN from its recv(). Blocking again: the
                # rest of an answer that has started to arrive follows at once.
                os.set_blocking(fd, True)
                message = worker.conn.recv()
            except Exception as exc:  # noqa: BLE001 (EOF: it died; anything else: untrustworthy)
                answer.set_exception(worker.crashed(exc))
                self._replace(worker)
                return
            if not answer.cancelled():
                answer.set_result(message)
            self._checkin(worker)

        loop.add_reader(fd, readable)
        if self.deadline_s is not None:
            timer = loop.call_later(self.deadline_s, overdue)
        return answer

    def _timeout(self, path: Path) -> OcrTimeoutError:
        return OcrTimeoutError(f"{path.name}: the {self.name} engine did not answer within {self.deadline_s:g} s")

    def _end_overdue(self, worker: _Worker, path: Path) -> None:
        """A read past the deadline: kill its worker (it may be stuck in native code, deaf to
        anything gentler) and replace it."""
        log.error("a %s worker (pid %s) did not answer within %s s (%s): killed", self.name, worker.pid,
                  self.deadline_s, path.name)
        worker.process.kill()
        self._replace(worker)
