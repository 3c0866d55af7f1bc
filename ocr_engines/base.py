"""The interface every OCR engine implements, and the registry that names them."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable

from .errors import UnknownEngineError
from .result import ExtractionResult


class Engine(ABC):
    """Reads one invoice document into the extraction result of DESIGN.md."""

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
