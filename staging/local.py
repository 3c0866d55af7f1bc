"""``LocalProcessDeployer``: the staging stack as real processes on this host — a PostgreSQL
cluster (initdb once, pg_ctl), redis-server, the Document AI double and ``ocr-migrate serve`` —
started detached, so they outlive the Airflow task that started them; pid records and logs in
``base_dir``. ``database_url`` / ``redis_url`` in the config reuse existing stores instead.

The PostgreSQL cluster does not live in ``base_dir``: PostgreSQL runs as the ``postgres`` user,
which cannot reach a folder under a private parent (root's home is 0700 on Debian, and so is a
``mktemp -d`` folder), and the README's main command runs from wherever the project was cloned. So
each deployment gets a fresh directory under the system's temporary directory (``mkdtemp``: a
random name no other user can take first), handed to ``postgres``, recorded in
``base_dir/run/postgres-dir`` for the later tasks (tests, teardown) and removed at teardown."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable

from rollout.health.judge import is_serving
from .config import KEYS_FILE, StagingEndpoints, StagingError, ensure_keys, json_body, mask_password
from .deploy import Deployer
from .processes import (PostgresCluster, ProcessError, is_alive, log_tail, port_open, read_record, redis_ping,
                        redis_server_argv, start_detached, stop_process, wait_until)


def ocr_migrate_command() -> list[str]:
    """The console script next to this interpreter (the venv's), else the module."""
    exe = Path(sys.executable).parent / "ocr-migrate"
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "from cli import main; main()"]


_CLUSTER_PREFIX = "ocr-staging-pg-"


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
        """The staging cluster, in the directory this deployment recorded (``_place_cluster``); before
        one is recorded, a cluster that does not exist (not initialised, not running)."""
        return PostgresCluster(self._cluster_dir() or self.run_dir / "no-postgres-yet", self.config.postgres_port)

    @property
    def _cluster_record(self) -> Path:
        return self.run_dir / "postgres-dir"

    def _cluster_dir(self) -> Path | None:
        """The recorded cluster directory while it still exists as one of ours: a real directory
        (not a symlink) named by ``mkdtemp`` directly in the temporary directory."""
        try:
            path = Path(self._cluster_record.read_text().strip())
        except OSError:
            return None
        ours = (path.parent == Path(tempfile.gettempdir()) and path.name.startswith(_CLUSTER_PREFIX)
                and path.is_dir() and not path.is_symlink())
        return path if ours else None

    def _place_cluster(self) -> None:
        """Record a fresh cluster directory unless one is recorded and still there (a reboot may
        have emptied the temporary directory: then initdb runs again in a new one)."""
        if self._cluster_dir() is None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            path = tempfile.mkdtemp(prefix=_CLUSTER_PREFIX)
            self._cluster_record.write_text(path + "\n")

    def _remove_cluster(self) -> None:
        path = self._cluster_dir()
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)
        self._cluster_record.unlink(missing_ok=True)

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
            if running is None:
                self._place_cluster()
                cluster = self.cluster
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
        from staging.documentai_double import DoubleConfig

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
            return r.status_code == 200 and is_serving(r.json().get("status"))

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
                service["health"] = json_body(r).get("status", f"HTTP {r.status_code}")
            except httpx.HTTPError as exc:
                service["health"] = f"unreachable: {exc}"
        healthy = all(c.get("running", True) for c in components.values()) and is_serving(service.get("health"))
        return {"kind": self.kind, "base_dir": str(cfg.base_dir), "healthy": healthy, "components": components}

    def down(self, purge: bool = False) -> dict:
        """Stop what this deployer started (service first, stores last) and remove the PostgreSQL
        cluster's directory. ``purge`` also deletes the logs, pid records and keys in base_dir."""
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
            self._remove_cluster()  # staging data is per deployment: the next up() starts afresh
            if purge:
                for sub in ("pg", "logs", "run", "redis", "service", KEYS_FILE):
                    path = self.config.base_dir / sub
                    shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        return outcome
