"""``DockerDeployer``: the ``staging`` profile of docker-compose.airflow.yml, for hosts with a Docker
engine. The compose file is read with PyYAML; what Compose itself would resolve and this deployer
needs (``${VAR:-default}`` interpolation, short and long port specs, ``ps --format json``) is the
few small helpers at the end, each tested in tests/test_staging.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
from typing import Callable

from rollout.health.judge import is_serving
from .config import StagingConfig, StagingEndpoints, StagingError, ensure_keys, json_body, project_root
from .deploy import Deployer
from .processes import wait_until


COMPOSE_SERVICES = ("ocr-service-staging", "postgres-staging", "redis-staging")

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
            return is_serving(json_body(httpx.get(f"{endpoints.service_url}/health", timeout=3)).get("status"))

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


_INTERPOLATION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def _interpolate(value, env: dict | None = None) -> str:
    """Compose's ``$VAR`` and ``${VAR}``, ``${VAR:-default}`` (unset or empty), ``${VAR-default}``
    (unset), ``${VAR:?error}`` and ``${VAR?error}`` (required: a StagingError when unset, or with
    ``:?`` empty) and ``$$``."""
    env = os.environ if env is None else env

    def one(m: re.Match) -> str:
        if m[0] == "$$":
            return "$"
        name, op, text = m[1] or m[4], m[2] or "", m[3] or ""
        value = env.get(name)
        missing = value is None or (op.startswith(":") and not value)
        if op.endswith("?") and missing:
            raise StagingError(f"required variable {name} is missing a value: {text or 'not set'}")
        if op.endswith("-") and missing:
            return text
        return value or ""

    return _INTERPOLATION.sub(one, str(value))


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
