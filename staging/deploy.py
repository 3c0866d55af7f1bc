"""The staging deployers' interface (``Deployer``): up, status, down, and the checks every stack
gets after ``up()`` (a smoke check with a golden PDF, the staging flags and schema). The deployers
are ``local.LocalProcessDeployer`` (processes on this host, the default) and
``docker.DockerDeployer`` (the ``staging`` profile of docker-compose.airflow.yml); ``get_deployer``
in the package picks one."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from pathlib import Path

from rollout.health.judge import is_serving
from .config import (STAGING_ACTOR, STAGING_FLAGS, StagingConfig, StagingEndpoints, StagingError, golden_digital,
                     json_body, mask_password)


# ---------------------------------------------------------------- the interface

class Deployer(ABC):
    """One staging stack. ``up()`` is idempotent: what already runs and is healthy is reused."""

    kind = "abstract"

    def __init__(self, config: StagingConfig | None = None):
        self.config = config or StagingConfig()

    @abstractmethod
    def up(self) -> StagingEndpoints: ...

    @abstractmethod
    def status(self) -> dict: ...

    @abstractmethod
    def down(self) -> dict: ...

    def smoke_check(self, endpoints: StagingEndpoints, timeout_s: float = 120) -> dict:
        """/health is healthy or degraded, and one golden digital PDF sent with the client key comes
        back 200 with fields; else StagingError."""
        import httpx

        base = endpoints.service_url.rstrip("/")
        try:
            health = httpx.get(f"{base}/health", timeout=10)
        except httpx.HTTPError as exc:
            raise StagingError(f"staging service unreachable at {base}/health: {exc}") from None
        state = json_body(health).get("status")
        if health.status_code != 200 or not is_serving(state):
            raise StagingError(f"staging service unhealthy: GET /health -> {health.status_code} {health.text[:500]}")
        docs = golden_digital(self.config.golden_dir)
        if not docs:
            raise StagingError(f"no golden digital PDF in {self.config.golden_dir} to smoke-check with")
        doc = docs[0]
        started = time.perf_counter()
        try:
            r = httpx.post(f"{base}/v1/ocr", content=doc.read_bytes(), timeout=timeout_s,
                           headers={"X-API-Key": endpoints.client_key, "X-User-Id": "staging-smoke",
                                    "Content-Type": "application/pdf"})
        except httpx.HTTPError as exc:
            raise StagingError(f"smoke check: POST /v1/ocr with {doc.name} failed: {exc}") from None
        latency = time.perf_counter() - started
        body = json_body(r)
        found = sorted((body.get("result") or {}).get("fields") or {})
        if r.status_code != 200 or not found:
            raise StagingError(f"smoke check: POST /v1/ocr with {doc.name} -> {r.status_code}, "
                               f"{len(found)} fields: {r.text[:500]}")
        return {"health": state, "document": doc.name, "status_code": r.status_code, "engine": body.get("engine"),
                "fields": found, "latency_s": round(latency, 3)}

    def load_test_data(self, endpoints: StagingEndpoints, flags: dict | None = None) -> dict:
        """The flag and event schema in the staging database and the staging flags (published to
        the staging Redis, so the service serves them at once)."""
        import tempfile

        from rollout.actions import apply_action
        from rollout.distribution import publish
        from rollout.events import EventWriter
        from rollout.flags import FlagStore, StoreUnavailableError

        wanted = {**STAGING_FLAGS, **(flags or {})}
        store = FlagStore(endpoints.database_url, on_change=lambda snap: publish(endpoints.redis_url, snap))
        try:
            snap = store.init(actor=STAGING_ACTOR)
            EventWriter(store.db, Path(tempfile.gettempdir()) / "ocr-staging-load" / "spool.jsonl").init_schema()
            changed = []
            for name, value in wanted.items():
                if snap.flag(name) != value:
                    snap = apply_action(store, "set-flag", STAGING_ACTOR, "staging test data", name=name, value=value)
                    changed.append(name)
            if not changed:
                publish(endpoints.redis_url, snap)
        except StoreUnavailableError as exc:
            raise StagingError(f"staging database {mask_password(endpoints.database_url)}: {exc}") from None
        finally:
            store.db.dispose()
        return {"flags": snap.as_dict(), "changed": changed, "tables": ["rollout_state", "flag_audit", "ocr_events"]}
