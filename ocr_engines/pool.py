"""An engine that reads documents in worker processes.

OCR is CPU-bound Python plus a Tesseract child process: run in threads of a web server it holds
the GIL and stalls the event loop (the switch interval is 5 ms), and pdfium may not be used from
two threads at once. ``PooledEngine`` keeps the engine interface and runs ``extract`` in a pool
of processes, each with its own engine built (and warmed up) once at start.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .base import Engine, get_engine
from .result import ExtractionResult

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


def _extract(path: str) -> ExtractionResult:
    return worker_engine().extract(Path(path))


def _version() -> str:
    return worker_engine().version


def _ready(_: int) -> int:
    return os.getpid()


class PooledEngine(Engine):
    def __init__(self, name: str, workers: int = 2, **options):
        self.name = name
        self.workers = workers
        # spawn: the parent has threads (server, flag refresh, event writer) that fork would copy mid-state
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=start_worker, initargs=(name, options))
        self._version: str | None = None

    @property
    def version(self) -> str:
        if self._version is None:
            self._version = self._pool.submit(_version).result()
        return self._version

    def warm_up(self) -> None:
        """Start every worker now (each builds and warms its engine)."""
        list(self._pool.map(_ready, range(self.workers * 2)))

    def extract(self, path: Path) -> ExtractionResult:
        return self._pool.submit(_extract, str(path)).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
