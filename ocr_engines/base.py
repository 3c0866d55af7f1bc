"""The interface every OCR engine implements, and the registry that names them."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable

from .errors import UnknownEngineError
from .result import ExtractionResult


class Engine(ABC):
    """Reads one invoice document into the extraction result of docs/architecture.md."""

    name: str = ""

    @property
    @abstractmethod
    def version(self) -> str: ...

    def warm_up(self) -> None:
        """Load models and lexicons now, so that a long-lived worker's first document is not
        slower than the rest. Optional; the default does nothing."""

    @abstractmethod
    def extract(self, path: Path) -> ExtractionResult:
        """Extract fields from a PDF/PNG/JPEG/TIFF file; raises ``errors.OcrError`` subclasses."""

    async def extract_async(self, path: Path) -> ExtractionResult:
        """``extract`` for an event loop. The default runs it in a worker thread; engines that can
        wait without a thread (the process pool) override it."""
        import asyncio

        return await asyncio.to_thread(self.extract, path)

    def workers_status(self) -> dict | None:
        """For an engine that reads in worker processes: {"configured", "live", "pids"}, for
        /health. None (the default) for one that has none."""
        return None


class FaultInjectingEngine(Engine):
    """Wraps an engine and fails a share of its reads with ``InjectedFaultError`` — a bad engine
    on demand, for gate drills and the automatic-rollback demo."""

    def __init__(self, inner: Engine, failure_rate: float, seed: int | None = None):
        import random

        if not 0 <= failure_rate <= 1:
            raise ValueError(f"failure_rate must be between 0 and 1, got {failure_rate!r}")
        self.inner, self.failure_rate, self.name = inner, failure_rate, inner.name
        self._random = random.Random(seed)

    @property
    def version(self) -> str:
        return self.inner.version

    def warm_up(self) -> None:
        self.inner.warm_up()

    def _maybe_fail(self) -> None:
        from .errors import InjectedFaultError

        if self._random.random() < self.failure_rate:
            raise InjectedFaultError(f"injected fault ({self.failure_rate:.0%} of {self.name} reads fail)")

    def extract(self, path: Path) -> ExtractionResult:
        self._maybe_fail()
        return self.inner.extract(path)

    async def extract_async(self, path: Path) -> ExtractionResult:
        self._maybe_fail()
        return await self.inner.extract_async(path)

    def workers_status(self) -> dict | None:
        return self.inner.workers_status()

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close:
            close()


class Stopwatch:
    """Collects the timings_ms of a result, one named lap at a time."""

    def __init__(self) -> None:
        self.laps: dict[str, int] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0) + int(round((now - self._t) * 1000))
        self._t = now


_REGISTRY: dict[str, Callable[..., Engine]] = {}


def register(name: str, factory: Callable[..., Engine]) -> None:
    _REGISTRY[name] = factory


def available_engines() -> list[str]:
    return sorted(_REGISTRY)


def get_engine(name: str, **options) -> Engine:
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise UnknownEngineError(
            f"unknown engine {name!r}; choose one of: {', '.join(available_engines())}"
        ) from None
    return factory(**options)
