"""Bringing the staging stack up and down: the OCR service with its own PostgreSQL and Redis and a
"Google" (the local Document AI API double), on ports of its own, with staging settings.

Two deployers behind one interface (``Deployer``):

* ``LocalProcessDeployer`` (the default): real processes on this host — a PostgreSQL cluster
  (initdb once, pg_ctl), redis-server, the Document AI double and ``ocr-migrate serve`` — started
  detached, so they outlive the Airflow task that started them; pid records and logs in
  ``base_dir``. ``database_url`` / ``redis_url`` in the config reuse existing stores instead.
* ``DockerDeployer``: the ``staging`` profile of docker-compose.airflow.yml, for hosts with a
  Docker engine.

What a deploy hands to the next task is a ``StagingEndpoints``; its ``to_dict()`` carries no
secrets (they stay in ``base_dir/keys.json``, mode 0600) and ``from_dict()`` reads them back.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

from .processes import (PostgresCluster, ProcessError, is_alive, log_tail, port_open, read_record, redis_ping,
                        redis_server_argv, start_detached, stop_process, wait_until)

STAGING_ACTOR = "staging-deploy"
# What staging runs with on top of the seed defaults: shadow comparisons on, metrics collected.
STAGING_FLAGS = {"enable_accuracy_comparison": True, "collect_ocr_metrics": True, "enable_performance_monitoring": True}
KEYS_FILE = "keys.json"
COMPOSE_SERVICES = ("ocr-service-staging", "postgres-staging", "redis-staging")


class StagingError(RuntimeError):
    """The staging stack could not be deployed, reached or checked; the message says what to do."""


def project_root() -> Path:
    return Path(__file__).resolve().parents[2]


def default_golden_dir() -> Path:
    try:
        import expectations

        found = Path(expectations.__file__).resolve().parent / "golden"
        if found.is_dir():
            return found
    except ImportError:
        pass
    return project_root() / "expectations" / "golden"


def _default_base_dir() -> Path:
    return Path(os.environ.get("OCR_MIGRATE_STAGING_DIR", "data/staging"))


@dataclass
class StagingConfig:
    service_host: str = "127.0.0.1"
    service_port: int = 8001
    redis_port: int = 6380
    postgres_port: int = 5433
    documentai_port: int = 8091  # the local Document AI double: staging's "Google"
    base_dir: Path = field(default_factory=_default_base_dir)  # pid records, logs, keys, PostgreSQL data
    golden_dir: Path = field(default_factory=default_golden_dir)
    database_url: str | None = None  # reuse this store instead of starting PostgreSQL
    redis_url: str | None = None  # reuse this Redis instead of starting redis-server
    client_key: str | None = None  # default: generated once, kept in base_dir/keys.json
    admin_key: str | None = None
    database_name: str = "ocr_staging"
    max_upload_mb: float = 5  # small, so that the security suite's oversize upload stays cheap
    max_concurrency: int = 2
    startup_timeout_s: float = 120
    compose_file: Path | None = None  # DockerDeployer; default: docker-compose.airflow.yml of the project

    def __post_init__(self):
        self.base_dir = Path(self.base_dir).expanduser().absolute()
        self.golden_dir = Path(self.golden_dir).expanduser().absolute()
        if self.compose_file is not None:
            self.compose_file = Path(self.compose_file).expanduser().absolute()

    @classmethod
    def from_dict(cls, data: dict) -> "StagingConfig":
        """From Airflow Params / a JSON object; unknown keys are ignored, None means the default."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names and v is not None})

    def to_dict(self) -> dict:
        """JSON-safe, without the keys."""
        out = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}
        out.pop("client_key"), out.pop("admin_key")
        for name in ("database_url", "redis_url"):
            out[name] = mask_password(out[name])
        return out

    @property
    def keys_file(self) -> Path:
        return self.base_dir / KEYS_FILE


@dataclass
class StagingEndpoints:
    service_url: str
    database_url: str
    redis_url: str | None
    documentai_endpoint: str | None
    client_key: str = field(repr=False, default="")
    admin_key: str = field(repr=False, default="")
    max_upload_mb: float | None = None  # the service's upload limit (None: the service default, 40)
    keys_file: str | None = None  # where from_dict finds the secrets
    kind: str = "local"

    def to_dict(self) -> dict:
        """For XCom: no API keys, passwords in URLs masked (from_dict restores both from keys_file)."""
        return {"service_url": self.service_url, "database_url": mask_password(self.database_url),
                "redis_url": mask_password(self.redis_url), "documentai_endpoint": self.documentai_endpoint,
                "max_upload_mb": self.max_upload_mb, "keys_file": self.keys_file, "kind": self.kind}

    @classmethod
    def from_dict(cls, data: dict, base_dir: Path | str | None = None) -> "StagingEndpoints":
        """Keys (and masked passwords) come from ``data`` when present, else from ``data['keys_file']``
        or ``base_dir/keys.json``."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        path = Path(values.get("keys_file") or Path(base_dir or _default_base_dir()) / KEYS_FILE)
        stored: dict = {}
        if not (values.get("client_key") and values.get("admin_key")) or _masked(values.get("database_url")) \
                or _masked(values.get("redis_url")):
            try:
                stored = json.loads(path.read_text())
            except (OSError, ValueError):
                raise StagingError(f"the staging keys are not in the endpoints and {path} cannot be read: run the "
                                   "staging deploy on this host first (or pass client_key/admin_key)") from None
        values["client_key"] = values.get("client_key") or stored.get("client_key", "")
        values["admin_key"] = values.get("admin_key") or stored.get("admin_key", "")
        for name in ("database_url", "redis_url"):
            secret_url = stored.get(name)
            if _masked(values.get(name)) and secret_url and mask_password(secret_url) == values[name]:
                values[name] = secret_url
        values["keys_file"] = str(path)
        return cls(**values)


_PASSWORD = re.compile(r"(://[^:/@]*:)([^@]*)@")


def mask_password(url: str | None) -> str | None:
    return _PASSWORD.sub(r"\1***@", url) if url else url


def _masked(url: str | None) -> bool:
    return bool(url) and ":***@" in url


def ensure_keys(config: StagingConfig, extra: dict | None = None) -> dict:
    """The staging API keys: given in the config, else kept in base_dir/keys.json, else generated.
    ``extra`` (URLs with passwords) is kept beside them so that XCom needs none of it."""
    path = config.keys_file
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        stored = {}
    wanted = dict(stored)
    wanted["client_key"] = config.client_key or stored.get("client_key") or secrets.token_hex(24)
    wanted["admin_key"] = config.admin_key or stored.get("admin_key") or secrets.token_hex(24)
    wanted.update({k: v for k, v in (extra or {}).items() if v})
    if wanted != stored:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(wanted, fh, indent=1)
        tmp.replace(path)
    return wanted


def golden_digital(golden_dir: Path) -> list[Path]:
    """The golden corpus's digital PDFs (manifest variant 'digital'), sorted."""
    return [p for p, variant in _golden_variants(golden_dir) if variant == "digital"]


def _golden_variants(golden_dir: Path) -> list[tuple[Path, str]]:
    """(document, variant) of a golden folder: the manifest's variant, else digital for a PDF."""
    from ocr_engines.evaluation import golden_documents

    return [(d.path, d.group if d.group != "all" else "digital" if d.path.suffix.lower() == ".pdf" else "scan")
            for d in golden_documents(golden_dir)]


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
        state = _json(health).get("status")
        if health.status_code != 200 or state not in ("healthy", "degraded"):
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
        body = _json(r)
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

        from ..distribution import publish
        from ..events import EventWriter
        from ..flags import FlagStore, StoreUnavailableError
        from ..stages import set_flag

        wanted = {**STAGING_FLAGS, **(flags or {})}
        store = FlagStore(endpoints.database_url, on_change=lambda snap: publish(endpoints.redis_url, snap))
        try:
            snap = store.init(actor=STAGING_ACTOR)
            EventWriter(store.db, Path(tempfile.gettempdir()) / "ocr-staging-load" / "spool.jsonl").init_schema()
            changed = []
            for name, value in wanted.items():
                if snap.flag(name) != value:
                    snap = store.apply("set-flag", STAGING_ACTOR, "staging test data",
                                       lambda s, n=name, v=value: set_flag(s, n, v))
                    changed.append(name)
            if not changed:
                publish(endpoints.redis_url, snap)
        except StoreUnavailableError as exc:
            raise StagingError(f"staging database {mask_password(endpoints.database_url)}: {exc}") from None
        finally:
            store.db.dispose()
        return {"flags": snap.as_dict(), "changed": changed, "tables": ["rollout_state", "flag_audit", "ocr_events"]}


def get_deployer(kind: str = "local", config: StagingConfig | None = None, **options) -> Deployer:
    if kind == "local":
        return LocalProcessDeployer(config)
    if kind == "docker":
        return DockerDeployer(config, **options)
    raise StagingError(f"unknown staging deployer {kind!r}: 'local' or 'docker'")


def _json(response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# ---------------------------------------------------------------- local processes

def ocr_migrate_command() -> list[str]:
    """The console script next to this interpreter (the venv's), else the module."""
    exe = Path(sys.executable).parent / "ocr-migrate"
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "from rollout.cli import main; main()"]


class LocalProcessDeployer(Deployer):
    kind = "local"

    @property
    def run_dir(self) -> Path:
        return self.config.base_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.config.base_dir / "logs"

    @property
    def cluster(self) -> PostgresCluster:
        return PostgresCluster(self.config.base_dir / "pg", self.config.postgres_port)

    def _pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.json"

    @contextlib.contextmanager
    def _lock(self):
        """One deploy or teardown at a time per base_dir (two tasks may overlap)."""
        import fcntl

        self.config.base_dir.mkdir(parents=True, exist_ok=True)
        with open(self.config.base_dir / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -------------------------------------------------------- up

    def up(self) -> StagingEndpoints:
        cfg = self.config
        if not cfg.golden_dir.is_dir():
            raise StagingError(f"golden directory {cfg.golden_dir} not found (StagingConfig.golden_dir)")
        with self._lock():
            cfg.base_dir.mkdir(parents=True, exist_ok=True)
            if os.name == "posix":  # the postgres user must be able to reach base_dir/pg
                os.chmod(cfg.base_dir, 0o711)
            keys = ensure_keys(cfg, {"database_url": cfg.database_url, "redis_url": cfg.redis_url})
            database_url = cfg.database_url or self._up_postgres()
            redis_url = cfg.redis_url or self._up_redis()
            double_url = self._up_double()
            service_url = self._up_service(database_url, redis_url, double_url, keys)
        return StagingEndpoints(service_url, database_url, redis_url, double_url, keys["client_key"],
                                keys["admin_key"], cfg.max_upload_mb, str(cfg.keys_file), self.kind)

    def _up_postgres(self) -> str:
        cfg, cluster = self.config, self.cluster
        try:
            running = cluster.running_port() if cluster.initialised else None
            if running is not None and running != cfg.postgres_port:  # our cluster, configured for another port
                cluster.stop()
                running = None
            if running is None and port_open(cfg.postgres_port):
                raise StagingError(f"port {cfg.postgres_port} (staging PostgreSQL) is taken by a process this "
                                   "deployer did not start: stop it, choose another postgres_port, or set "
                                   "database_url to reuse it")
            cluster.init()
            if running is None:
                cluster.start(timeout_s=min(cfg.startup_timeout_s, 60))
            cluster.wait_ready(30)
            cluster.create_database(cfg.database_name)
        except ProcessError as exc:
            raise StagingError(str(exc)) from None
        return cluster.url(cfg.database_name)

    def _up_redis(self) -> str:
        cfg = self.config
        workdir = cfg.base_dir / "redis"
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            argv = redis_server_argv(cfg.redis_port, workdir)
        except ProcessError as exc:
            raise StagingError(str(exc)) from None
        self._ensure("redis", argv, self._env({}), cfg.redis_port, ["redis-server", str(cfg.redis_port)],
                     lambda: redis_ping(cfg.redis_port), 20)
        return f"redis://127.0.0.1:{cfg.redis_port}/0"

    def _up_double(self) -> str:
        import httpx

        cfg = self.config
        url = f"http://127.0.0.1:{cfg.documentai_port}"
        argv = [*ocr_migrate_command(), "documentai-double", "--golden", str(cfg.golden_dir), "--host", "127.0.0.1",
                "--port", str(cfg.documentai_port)]
        self._ensure("documentai-double", argv, self._env({}), cfg.documentai_port,
                     ["documentai-double", f"--port {cfg.documentai_port}"],
                     lambda: httpx.get(f"{url}/__double__/stats", timeout=2).status_code == 200, 60)
        return url

    def _up_service(self, database_url: str, redis_url: str | None, double_url: str, keys: dict) -> str:
        import httpx
        from ocr_engines.documentai_double import DoubleConfig

        cfg = self.config
        double = DoubleConfig()
        url = f"http://{cfg.service_host}:{cfg.service_port}"
        settings = {
            "DATABASE_URL": database_url, "REDIS_URL": redis_url or "",
            "CLIENT_API_KEYS": f"staging-client:{keys['client_key']}",
            "ADMIN_API_KEYS": f"staging-admin:{keys['admin_key']}",
            "DOCUMENTAI_ENDPOINT": double_url, "DOCUMENTAI_PROJECT": double.project,
            "DOCUMENTAI_LOCATION": double.location, "DOCUMENTAI_PROCESSOR_ID": double.processor_id,
            "DOCUMENTAI_TIMEOUT_S": "20", "DOCUMENTAI_MAX_ATTEMPTS": "3", "DOCUMENTAI_BACKOFF_S": "0.2",
            "DATA_DIR": str(cfg.base_dir / "service"), "SERVICE_HOST": cfg.service_host,
            "SERVICE_PORT": str(cfg.service_port), "MAX_UPLOAD_MB": str(cfg.max_upload_mb),
            "MAX_CONCURRENCY": str(cfg.max_concurrency),
        }
        if not redis_url:
            settings.pop("REDIS_URL")
        (cfg.base_dir / "service").mkdir(parents=True, exist_ok=True)
        argv = [*ocr_migrate_command(), "serve", "--host", cfg.service_host, "--port", str(cfg.service_port)]

        def ready() -> bool:
            r = httpx.get(f"{url}/health", timeout=3)
            return r.status_code == 200 and r.json().get("status") in ("healthy", "degraded")

        self._ensure("ocr-service", argv, self._env(settings), cfg.service_port, ["serve", f"--port {cfg.service_port}"],
                     ready, cfg.startup_timeout_s)
        return url

    @staticmethod
    def _env(settings: dict[str, str]) -> dict[str, str]:
        """This environment without any OCR_MIGRATE_* (an Airflow worker carries production's), plus
        the staging settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OCR_MIGRATE_")}
        env.setdefault("OMP_THREAD_LIMIT", "1")
        env.update({f"OCR_MIGRATE_{k}": str(v) for k, v in settings.items()})
        return env

    def _ensure(self, name: str, argv: list[str], env: dict, port: int, markers: list[str], ready: Callable,
                timeout_s: float) -> None:
        """Reuse the recorded process when it is ours, started the same way and ready; else start it."""
        pid_file = self._pid_file(name)
        fingerprint = hashlib.sha256(json.dumps(
            [argv, sorted((k, v) for k, v in env.items() if k.startswith("OCR_MIGRATE_"))]).encode()).hexdigest()
        record = read_record(pid_file)
        if is_alive(record):
            if record.fingerprint == fingerprint:
                if wait_until(ready, timeout_s, 0.25, alive=lambda: is_alive(record)):
                    return
                raise StagingError(f"{name} (pid {record.pid}) runs but is not ready after {timeout_s:.0f} s; "
                                   f"log {record.log}:\n{log_tail(Path(record.log))}")
            stop_process(record)  # started with other settings: restart
        if port_open(port):
            raise StagingError(f"port {port} ({name}) is taken by a process this deployer did not start: stop it or "
                               f"configure another port")
        log = self.log_dir / f"{name}.log"
        record = start_detached(name, argv, env, log, pid_file, markers, cwd=self.config.base_dir,
                                fingerprint=fingerprint)
        if wait_until(ready, timeout_s, 0.25, alive=lambda: is_alive(record)):
            return
        died = not is_alive(record)
        stop_process(record)
        raise StagingError(f"{name} {'exited during startup' if died else f'not ready after {timeout_s:.0f} s'}"
                           f" ({' '.join(argv)}); last lines of {log}:\n{log_tail(log)}")

    # -------------------------------------------------------- status, down

    def status(self) -> dict:
        import httpx

        cfg = self.config
        components: dict[str, dict] = {}
        for name, port in (("redis", cfg.redis_port), ("documentai-double", cfg.documentai_port),
                           ("ocr-service", cfg.service_port)):
            if name == "redis" and cfg.redis_url:
                components[name] = {"managed": False, "url": mask_password(cfg.redis_url)}
                continue
            record = read_record(self._pid_file(name))
            running = is_alive(record)
            components[name] = {"managed": True, "running": running, "pid": record.pid if record else None,
                                "port": port, "log": record.log if record else None}
        if cfg.database_url:
            components["postgres"] = {"managed": False, "url": mask_password(cfg.database_url)}
        else:
            running_port = self.cluster.running_port()
            components["postgres"] = {"managed": True, "running": running_port is not None, "port": running_port,
                                      "data_dir": str(self.cluster.data), "log": str(self.cluster.log)}
        service = components["ocr-service"]
        if service["running"]:
            try:
                r = httpx.get(f"http://{cfg.service_host}:{cfg.service_port}/health", timeout=5)
                service["health"] = _json(r).get("status", f"HTTP {r.status_code}")
            except httpx.HTTPError as exc:
                service["health"] = f"unreachable: {exc}"
        healthy = all(c.get("running", True) for c in components.values()) \
            and service.get("health") in ("healthy", "degraded")
        return {"kind": self.kind, "base_dir": str(cfg.base_dir), "healthy": healthy, "components": components}

    def down(self, purge: bool = False) -> dict:
        """Stop what this deployer started (service first, stores last). ``purge`` also deletes the
        PostgreSQL data, logs and keys in base_dir."""
        import shutil

        outcome = {}
        with self._lock():
            for name in ("ocr-service", "documentai-double", "redis"):
                pid_file = self._pid_file(name)
                outcome[name] = stop_process(read_record(pid_file))
                if outcome[name] != "not ours":
                    pid_file.unlink(missing_ok=True)
            try:
                outcome["postgres"] = "stopped" if self.cluster.stop("fast") else "not running"
            except ProcessError as exc:
                raise StagingError(str(exc)) from None
            if purge:
                for sub in ("pg", "logs", "run", "redis", "service", KEYS_FILE):
                    path = self.config.base_dir / sub
                    shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        return outcome


# ---------------------------------------------------------------- Docker

Runner = Callable[..., "subprocess.CompletedProcess"]


def _run(argv: list[str], env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)


class DockerDeployer(Deployer):
    """The ``staging`` profile of docker-compose.airflow.yml: ocr-service-staging, postgres-staging,
    redis-staging. ``address='published'`` (default) reaches them on the host ports the compose file
    publishes; ``'internal'`` by service name and container port, for callers inside the compose
    network (an Airflow worker of the same project). ``runner(argv, env=..., timeout=...)`` runs a
    command (default subprocess.run), so the commands can be checked without an engine.

    Teardown removes only the staging services: ``docker compose down`` would take the whole
    project (Airflow and production) down with them."""

    kind = "docker"

    def __init__(self, config: StagingConfig | None = None, runner: Runner | None = None,
                 address: str = "published", host: str = "127.0.0.1"):
        super().__init__(config)
        if address not in ("published", "internal"):
            raise StagingError(f"address must be 'published' or 'internal', not {address!r}")
        self.runner = runner or _run
        self.address, self.host = address, host
        self.compose_file = self.config.compose_file or project_root() / "docker-compose.airflow.yml"

    # -------------------------------------------------------- commands

    def compose(self, *args: str) -> list[str]:
        return ["docker", "compose", "-f", str(self.compose_file), "--profile", "staging", *args]

    def up_command(self) -> list[str]:
        return self.compose("up", "-d", *COMPOSE_SERVICES)

    def ps_command(self) -> list[str]:
        return self.compose("ps", "--all", "--format", "json", *COMPOSE_SERVICES)

    def down_command(self) -> list[str]:
        return self.compose("rm", "--stop", "--force", *COMPOSE_SERVICES)

    def _env(self, keys: dict) -> dict:
        env = dict(os.environ)
        env["OCR_MIGRATE_CLIENT_API_KEYS"] = f"staging-client:{keys['client_key']}"
        env["OCR_MIGRATE_ADMIN_API_KEYS"] = f"staging-admin:{keys['admin_key']}"
        return env

    def _call(self, argv: list[str], env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        try:
            return self.runner(argv, env=env, timeout=timeout)
        except FileNotFoundError:
            raise StagingError("the docker command is not installed on this host; use the local deployer "
                               "(kind='local')") from None
        except subprocess.TimeoutExpired:
            raise StagingError(f"{' '.join(argv[:4])} ... did not finish within {timeout:.0f} s") from None

    def engine_version(self) -> str:
        """The Docker engine's version; StagingError when no engine answers."""
        proc = self._call(["docker", "version", "--format", "{{.Server.Version}}"], timeout=30)
        if proc.returncode != 0:
            detail = next((line.strip() for line in (proc.stderr or proc.stdout or "").splitlines()
                           if line.strip()), f"exit code {proc.returncode}")
            raise StagingError(f"cannot reach a Docker engine ({detail}); on hosts without Docker use the local "
                               "deployer (kind='local')")
        return proc.stdout.strip()

    # -------------------------------------------------------- endpoints from the compose file

    def compose_model(self) -> dict:
        import yaml

        try:
            return yaml.safe_load(self.compose_file.read_text())
        except OSError as exc:
            raise StagingError(f"compose file {self.compose_file}: {exc}") from None

    def endpoints(self, keys: dict | None = None) -> StagingEndpoints:
        services = self.compose_model().get("services", {})
        missing = [name for name in COMPOSE_SERVICES if name not in services]
        if missing:
            raise StagingError(f"{self.compose_file} has no service {', '.join(missing)} (profile staging)")
        keys = keys or {"client_key": "", "admin_key": ""}
        ocr, pg, redis_svc = (services[name] for name in COMPOSE_SERVICES)
        pg_env = _environment(pg)
        ocr_env = _environment(ocr)
        pg_host, pg_port = self._address("postgres-staging", pg, 5432)
        redis_host, redis_port = self._address("redis-staging", redis_svc, 6379)
        ocr_host, ocr_port = self._address("ocr-service-staging", ocr, 8001)
        db_url = (f"postgresql+psycopg://{pg_env.get('POSTGRES_USER', 'postgres')}:{pg_env.get('POSTGRES_PASSWORD', '')}"
                  f"@{pg_host}:{pg_port}/{pg_env.get('POSTGRES_DB', 'postgres')}")
        redis_db = (ocr_env.get("OCR_MIGRATE_REDIS_URL") or "").rsplit("/", 1)[-1]
        redis_url = f"redis://{redis_host}:{redis_port}/{redis_db if redis_db.isdigit() else 0}"
        max_upload = ocr_env.get("OCR_MIGRATE_MAX_UPLOAD_MB")
        return StagingEndpoints(f"http://{ocr_host}:{ocr_port}", db_url, redis_url,
                                ocr_env.get("OCR_MIGRATE_DOCUMENTAI_ENDPOINT") or None, keys["client_key"],
                                keys["admin_key"], float(max_upload) if max_upload else None,
                                str(self.config.keys_file), self.kind)

    def _address(self, name: str, service: dict, container_port: int) -> tuple[str, int]:
        if self.address == "internal":
            return name, container_port
        for spec in service.get("ports", []):
            host_ip, published, target = _parse_port(spec)
            if target == container_port and published:
                return (self.host if host_ip in (None, "", "0.0.0.0", "127.0.0.1") else host_ip), published
        raise StagingError(f"{self.compose_file}: service {name} publishes no host port for {container_port}")

    # -------------------------------------------------------- interface

    def up(self, timeout_s: float | None = None) -> StagingEndpoints:
        import httpx

        self.engine_version()
        probe = self.endpoints()
        keys = ensure_keys(self.config, {"database_url": probe.database_url})
        proc = self._call(self.up_command(), env=self._env(keys))
        if proc.returncode != 0:
            raise StagingError(f"{' '.join(self.up_command())} failed (exit {proc.returncode}): "
                               f"{(proc.stderr or proc.stdout).strip()[-1500:]}")
        endpoints = self.endpoints(keys)
        timeout_s = timeout_s or self.config.startup_timeout_s

        def ready() -> bool:
            return _json(httpx.get(f"{endpoints.service_url}/health", timeout=3)).get("status") in ("healthy",
                                                                                                    "degraded")

        if not wait_until(ready, timeout_s, 1.0):
            logs = self._call(self.compose("logs", "--tail", "30", "ocr-service-staging"), timeout=60)
            raise StagingError(f"ocr-service-staging not healthy at {endpoints.service_url} after {timeout_s:.0f} s; "
                               f"logs:\n{(logs.stdout or logs.stderr)[-3000:]}")
        return endpoints

    def status(self) -> dict:
        try:
            version = self.engine_version()
        except StagingError as exc:
            return {"kind": self.kind, "healthy": False, "engine": None, "error": str(exc), "components": {}}
        proc = self._call(self.ps_command(), timeout=60)
        containers = _parse_ps(proc.stdout) if proc.returncode == 0 else []
        components = {c.get("Service"): {"state": c.get("State"), "health": c.get("Health") or None,
                                         "name": c.get("Name")} for c in containers}
        healthy = all(components.get(name, {}).get("state") == "running" for name in COMPOSE_SERVICES)
        return {"kind": self.kind, "engine": version, "healthy": healthy, "components": components,
                "error": None if proc.returncode == 0 else (proc.stderr or "").strip()[-500:]}

    def down(self) -> dict:
        self.engine_version()
        proc = self._call(self.down_command(), timeout=300)
        if proc.returncode != 0:
            raise StagingError(f"{' '.join(self.down_command())} failed: {(proc.stderr or proc.stdout).strip()[-1000:]}")
        return {name: "removed" for name in COMPOSE_SERVICES}


_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


def _interpolate(value, env: dict | None = None) -> str:
    env = os.environ if env is None else env
    return _INTERPOLATION.sub(lambda m: env.get(m[1]) or (m[2] or ""), str(value))


def _environment(service: dict) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {k: _interpolate(v) for k, v in raw.items() if v is not None}


def _parse_port(spec) -> tuple[str | None, int | None, int]:
    """(host ip, published port, container port) of a short ("127.0.0.1:5433:5432") or long port spec."""
    if isinstance(spec, dict):
        published = _interpolate(spec.get("published", ""))
        return spec.get("host_ip"), int(published) if published.isdigit() else None, int(spec["target"])
    parts = _interpolate(spec).split("/")[0].rsplit(":", 2)
    if len(parts) == 1:
        return None, None, int(parts[0])
    if len(parts) == 2:
        return None, int(parts[0]) if parts[0].isdigit() else None, int(parts[1])
    return parts[0], int(parts[1]) if parts[1].isdigit() else None, int(parts[2])


def _parse_ps(text: str) -> list[dict]:
    """`docker compose ps --format json` prints one array (older Compose) or one object a line."""
    text = (text or "").strip()
    if not text:
        return []
    try:
        data = json.loads(text)
        return data if isinstance(data, list) else [data]
    except ValueError:
        return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]
