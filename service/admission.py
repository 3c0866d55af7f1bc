"""Admission: what the service takes on at once. Uploads are bounded in time and in number per
API key; a complete upload takes a place in a bounded work queue (``max_concurrency`` running,
``max_queue`` waiting, at most half the places per key); the rest get 429 at once rather than
queueing without bound."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass


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
