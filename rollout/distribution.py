"""Distributing the flag snapshot: Redis (a key + a pub/sub notification) in production, SQL polling
with no Redis configured, and always the last known good snapshot in memory.

``FlagReader.get()`` is the hot path: an attribute read, no I/O. A background thread refreshes the
snapshot every ``refresh_s`` seconds and at once on a change notification. Sources in order:
Redis, then SQL; with both down the reader keeps serving its last snapshot and says so in
``status()`` (the service's /health). A snapshot never goes back in version, and SQL — the
source of truth — is consulted every ``sql_check_s`` even while Redis answers, so a change whose
publication to Redis failed still arrives (and is re-published).

Redis is trusted no further than the write path: what is read there passes ``stages.stored_snapshot``
(the same checks as every change), and a value that does not is "Redis unusable" (``redis:
invalid``): SQL is polled instead and Redis repaired, never a dead refresh thread. A Redis version
the database does not hold is never served (a newer Redis version is confirmed against SQL once,
when it first appears), and a database whose version went backwards (restored from an older copy)
is served all the same, as the source of truth. Both are reported in ``status().anomaly`` and
/health says degraded.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass

from .flags import FlagStore, StoreUnavailableError
from .stages import InvalidTransition, Snapshot, stored_snapshot

log = logging.getLogger(__name__)

SNAPSHOT_KEY = "ocr-migrate:flags:snapshot"
CHANNEL = "ocr-migrate:flags:changed"


def redis_client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


def publish(redis_url: str | None, snap: Snapshot) -> bool:
    """Store the snapshot in Redis and notify readers; False (logged) when Redis is unreachable."""
    if not redis_url:
        return False
    import redis

    try:
        client = redis_client(redis_url)
        client.set(SNAPSHOT_KEY, json.dumps(snap.as_dict()))
        client.publish(CHANNEL, str(snap.version))
        return True
    except redis.RedisError as exc:
        log.warning("flag snapshot v%s not published to Redis (%s); readers fall back to SQL", snap.version, exc)
        return False


@dataclass
class SourceStatus:
    source: str  # redis | sql | last-known-good
    version: int
    age_s: float
    redis: str  # ok | down | invalid (a snapshot there failed the checks) | not configured
    sql: str  # ok | down
    anomaly: str = ""  # what the reader corrected last (Redis ahead of the database, the database gone back)
    invalid_reads: int = 0  # Redis snapshots refused since start

    def as_dict(self) -> dict:
        return self.__dict__.copy()


ANOMALY_REPORT_S = 900.0  # an anomaly keeps /health degraded this long after it was corrected
SQL_STALL_S = 3.0  # a flag-database read unanswered this long counts as the database being down


class FlagReader:
    def __init__(self, store: FlagStore, redis_url: str | None = None, refresh_s: float = 2.0,
                 sql_check_s: float = 30.0):
        self.store, self.redis_url = store, redis_url
        self.refresh_s, self.sql_check_s = refresh_s, sql_check_s
        self._snapshot: Snapshot | None = None
        self._source, self._redis_state, self._sql_state = "none", "not configured", "ok"
        self._fetched_at = 0.0
        self._last_sql_check = 0.0
        self._sql_since: float | None = None  # monotonic start of the SQL check in progress
        self._sql_version: int | None = None  # the version SQL held at its last answer
        self._anomaly: tuple[str, float] | None = None  # (what, when: monotonic)
        self._invalid_reads = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ---------------------------------------------------------------- hot path

    def get(self) -> Snapshot:
        snap = self._snapshot
        if snap is None:
            raise StoreUnavailableError("no flag snapshot yet: neither Redis nor the flag database answered")
        return snap

    def status(self) -> SourceStatus:
        since = self._sql_since  # a check unanswered this long: the database is frozen, whatever it said last
        sql = "down" if since is not None and time.monotonic() - since > SQL_STALL_S else self._sql_state
        return SourceStatus(self._source, self._snapshot.version if self._snapshot else 0,
                            round(time.monotonic() - self._fetched_at, 1) if self._fetched_at else -1.0,
                            self._redis_state, sql, self._recent_anomaly(), self._invalid_reads)

    def _report(self, what: str) -> None:
        self._anomaly = (what, time.monotonic())
        log.warning("flag reader: %s", what)

    def _recent_anomaly(self) -> str:
        """The last anomaly the reader corrected, for ANOMALY_REPORT_S after it (then /health is
        healthy again: the state served is the database's)."""
        if self._anomaly and time.monotonic() - self._anomaly[1] < ANOMALY_REPORT_S:
            return self._anomaly[0]
        return ""

    # ---------------------------------------------------------------- refresh

    def refresh(self) -> Snapshot | None:
        snap = self._from_redis()
        source = "redis"
        now = time.monotonic()
        # SQL is asked when Redis has nothing usable, every sql_check_s, and once for every Redis
        # version it has not confirmed yet (a version the database does not hold is never served).
        unconfirmed = snap is not None and (self._sql_version is None or snap.version > self._sql_version)
        overrule = False  # the database's snapshot replaces the served one whatever its version
        if snap is None or unconfirmed or now - self._last_sql_check >= self.sql_check_s:
            previous_sql = self._sql_version
            from_sql = self._from_sql()
            self._last_sql_check = now
            if from_sql is not None:
                self._sql_version = from_sql.version
                if previous_sql is not None and from_sql.version < previous_sql:
                    self._report(f"the flag database went back from version {previous_sql} to {from_sql.version} "
                                 "(restored from an older copy?): serving it")
                    overrule = True
                elif snap is not None and snap.version > from_sql.version:
                    self._report(f"Redis held version {snap.version}, which the flag database (version "
                                 f"{from_sql.version}) does not: serving the database's, Redis repaired")
                    overrule = True
                if overrule:
                    snap = None
                if snap is None or from_sql.version > snap.version:
                    if self.redis_url and self._redis_state != "down":  # Redis lags, holds junk or runs ahead
                        publish(self.redis_url, from_sql)
                    snap, source = from_sql, "sql"
        if snap is None:
            self._source = "last-known-good" if self._snapshot else "none"
            return self._snapshot
        if self._snapshot is None or snap.version >= self._snapshot.version or overrule:
            self._snapshot, self._source, self._fetched_at = snap, source, time.monotonic()
        return self._snapshot

    def _from_redis(self) -> Snapshot | None:
        if not self.redis_url:
            return None
        import redis

        try:
            raw = redis_client(self.redis_url).get(SNAPSHOT_KEY)
        except redis.RedisError:
            self._redis_state = "down"
            return None
        if not raw:
            self._redis_state = "ok"
            return None
        try:
            snap = stored_snapshot(json.loads(raw))
        except (ValueError, InvalidTransition, RecursionError) as exc:  # not JSON, wrong shape, out of range
            self._invalid_reads += 1
            self._redis_state = "invalid"
            self._report(f"the snapshot in Redis was unusable ({str(exc)[:160]}): serving the database's, "
                         "Redis repaired")
            return None
        self._redis_state = "ok"
        return snap

    def _from_sql(self) -> Snapshot | None:
        self._sql_since = time.monotonic()
        try:
            snap = self.store.snapshot()
            self._sql_state = "ok"
            return snap
        except StoreUnavailableError:
            self._sql_state = "down"
            return None
        finally:
            self._sql_since = None

    # ---------------------------------------------------------------- background

    def start(self) -> "FlagReader":
        self.refresh()
        self._threads = [threading.Thread(target=self._poll, name="flag-refresh", daemon=True)]
        if self.redis_url:
            self._threads.append(threading.Thread(target=self._listen, name="flag-notify", daemon=True))
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.refresh_s)
            self._wake.clear()
            if not self._stop.is_set():
                try:
                    self.refresh()
                except Exception:  # noqa: BLE001 (whatever a store said, the next tick tries again)
                    log.exception("flag refresh failed; retrying in %.1f s", self.refresh_s)

    def _listen(self) -> None:
        import redis

        while not self._stop.is_set():
            try:
                pubsub = redis.Redis.from_url(self.redis_url, socket_connect_timeout=0.5).pubsub()
                pubsub.subscribe(CHANNEL)
                while not self._stop.is_set():
                    message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                    if message:
                        self._wake.set()  # refresh now, not at the next tick
            except redis.RedisError:
                self._stop.wait(self.refresh_s)
