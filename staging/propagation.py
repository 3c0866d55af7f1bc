"""How fast a flag change reaches every OCR service replica: the harness that
bench/bench_flag_propagation.py and tests/faults/test_flag_propagation.py share.

``Replicas`` starts ``ocr-migrate serve`` processes sharing one PostgreSQL flag store (a fresh
database, dropped at the end) and one redis-server (started here, on a free port). ``measure``
makes changes in turn through a replica's admin API or the CLI and times each from the moment the
change was made (its ``flag_audit`` row) until every replica serves the new version
(GET /v1/admin/flags, polled every 10 ms). With Redis up a change is published (a key and a
pub/sub notification); with Redis down each replica finds it at its next SQL poll, every
``refresh_s``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from staging.processes import RedisProcess, end_process_groups, free_port, log_tail, port_open, wait_until

BIN = Path(sys.executable).parent
REFRESH_S = 2.0  # the replicas' SQL polling period (OCR_MIGRATE_FLAG_REFRESH_S)
CHECK_S = 0.01  # how often the versions are read while waiting


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Replicas:
    """``count`` OCR service replicas sharing PostgreSQL and Redis, as processes; a context manager
    that ends them, stops Redis and drops the database on the way out."""

    def __init__(self, postgres: str = "postgres@127.0.0.1:5432", count: int = 2, refresh_s: float = REFRESH_S):
        self.postgres, self.count, self.refresh_s = postgres, count, refresh_s
        self.database = f"ocr_flags_propagation_{secrets.token_hex(3)}"
        self.work = Path(tempfile.mkdtemp(prefix=self.database + "-"))
        self.key = secrets.token_urlsafe(12)
        self.ports = [free_port() for _ in range(count)]
        self.procs: list[subprocess.Popen] = []
        self.redis = RedisProcess()
        self.slowest_check_s = 0.0  # the longest read of every replica's version while waiting
        self._client = None
        self._db = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.postgres}/{self.database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(f"postgresql://{self.postgres}/postgres", autocommit=True) as conn:
            conn.execute(sql)

    def __enter__(self) -> "Replicas":
        import httpx

        from rollout.flags import FlagStore

        try:
            self._admin(f'CREATE DATABASE "{self.database}"')
            store = FlagStore(self.url)
            store.init(actor="propagation")  # the flag state the replicas serve from
            store.db.dispose()
            self.redis.start()
            self.env = {k: v for k, v in os.environ.items() if not k.startswith("OCR_MIGRATE_")}
            self.env.update(OMP_THREAD_LIMIT="1", OCR_MIGRATE_DATA_DIR=str(self.work), OCR_MIGRATE_ACTOR="propagation",
                            OCR_MIGRATE_DATABASE_URL=self.url, OCR_MIGRATE_REDIS_URL=self.redis_url,
                            OCR_MIGRATE_ADMIN_API_KEYS=f"ops:{self.key}", OCR_MIGRATE_FLAG_REFRESH_S=str(self.refresh_s),
                            OCR_MIGRATE_MAX_CONCURRENCY="1")  # one Tesseract process: no documents are read here
            for port in self.ports:
                log = open(self.work / f"replica-{port}.log", "ab")
                self.procs.append(subprocess.Popen([str(BIN / "ocr-migrate"), "serve", "--port", str(port)], env=self.env,
                                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
            for port, proc in zip(self.ports, self.procs):
                if not wait_until(lambda: port_open(port), 120, 0.2, alive=lambda: proc.poll() is None):
                    raise RuntimeError(f"replica on :{port} did not start:\n{log_tail(self.work / f'replica-{port}.log')}")
            self._client = httpx.Client(timeout=5, headers={"X-API-Key": self.key})
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self._client is not None:
            self._client.close()
        if self._db is not None:
            self._db.dispose()
        end_process_groups(self.procs)
        if self.redis.proc is not None:
            self.redis.stop()
        try:
            self._admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        finally:
            shutil.rmtree(self.work, ignore_errors=True)

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis.port}/1"

    # ------------------------------------------------------------------ measuring

    def versions(self) -> list[int]:
        start = time.perf_counter()
        out = [self._client.get(f"http://127.0.0.1:{p}/v1/admin/flags").json()["version"] for p in self.ports]
        self.slowest_check_s = max(self.slowest_check_s, time.perf_counter() - start)
        return out

    def change(self, i: int, via: str) -> subprocess.Popen | None:
        """Set the percentage through ``via``: ``replica N`` (its admin API) or ``cli`` (a process,
        returned still running: the change may reach the replicas before it exits)."""
        percentage = 10 + i % 80
        if via == "cli":
            return subprocess.Popen([str(BIN / "ocr-migrate"), "set-percentage", str(percentage), "--reason",
                                     f"propagation change {i}"], env=self.env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
        port = self.ports[int(via.split()[-1]) - 1]
        self._client.post(f"http://127.0.0.1:{port}/v1/admin/flags/set-percentage",
                          json={"percentage": percentage, "reason": f"propagation change {i}"}).raise_for_status()
        return None

    def made_at(self, version: int) -> float:
        """When the change to ``version`` was made: its audit row's time, as a Unix time."""
        from sqlalchemy import select

        from rollout.db import flag_audit, make_db

        self._db = self._db or make_db(self.url)
        with self._db.connect() as conn:
            at: datetime = conn.execute(select(flag_audit.c.at).where(
                flag_audit.c.version_after == version, flag_audit.c.outcome == "applied")).scalar_one()
        return at.timestamp()

    def measure(self, count: int, vias: tuple[str, ...]) -> list[float]:
        """Seconds from each change until every replica serves it, for ``count`` changes made
        through ``vias`` in turn."""
        out = []
        for i in range(count):
            target = max(self.versions()) + 1
            cli = self.change(i, vias[i % len(vias)])
            deadline = time.monotonic() + 60
            while min(self.versions()) < target:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"version {target} did not reach every replica within 60 s")
                time.sleep(CHECK_S)
            reached = time.time()
            if cli is not None and cli.wait(60):
                raise RuntimeError(f"ocr-migrate set-percentage failed: {cli.stderr.read().decode()[-2000:]}")
            out.append(reached - self.made_at(target))
        return out

    def poll_cost_s(self, samples: int = 5) -> float:
        """The longest of ``samples`` refreshes of a flag reader like the replicas' (Redis first,
        then SQL): what one poll costs now."""
        from rollout.distribution import FlagReader
        from rollout.flags import FlagStore

        reader = FlagReader(FlagStore(self.url), self.redis_url, refresh_s=self.refresh_s)
        costs = []
        for _ in range(samples):
            start = time.perf_counter()
            reader.refresh()
            costs.append(time.perf_counter() - start)
        reader.store.db.dispose()
        return max(costs)
