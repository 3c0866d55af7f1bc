"""The Docker deployment, checked by reading it: no Docker engine (nor `docker compose config`) runs here.

docker-compose.airflow.yml, Dockerfile, packages.txt and .dockerignore must agree with each other
and with the project (constraints.txt's Airflow version, scripts/bootstrap.sh's OS packages,
pyproject.toml's packages), and the connection strings the DAGs read must point at the same stores
the OCR service writes to.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from sqlalchemy.engine import make_url

from staging.docker import _interpolate

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.airflow.yml"

AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-worker-1": "celery worker",
    "airflow-worker-2": "celery worker",
    "airflow-triggerer": "triggerer",
}
REQUIRED_SERVICES = {"postgres", "redis", "airflow-init", "ocr-service", "ocr-service-1", "ocr-service-2",
                     "ocr-service-staging", "postgres-staging", "redis-staging", *AIRFLOW_SERVICES}
# the OCR service containers; production's two replicas sit behind the balancer "ocr-service"
OCR_SERVICES = {"ocr-service-1": "production", "ocr-service-2": "production", "ocr-service-staging": "staging"}
BALANCER = "ocr-service"
# Airflow settings that every Airflow container must see with one value, or the components
# cannot talk to each other (metadata DB, Celery, encrypted connections, task tokens).
SHARED_AIRFLOW_SETTINGS = (
    "AIRFLOW__CORE__EXECUTOR", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "AIRFLOW_CONN_OCR_METRICS_DB", "AIRFLOW_CONN_OCR_REDIS",
    "OCR_MIGRATE_DATABASE_URL", "OCR_MIGRATE_REDIS_URL",
)
# OS packages bootstrap.sh installs for the host only: CI's Redis runs from redis-server there and
# scripts/distributed.py balances its OCR replicas with haproxy,
# while compose runs Redis (and would run a balancer) as its own container: the image carries neither.
HOST_ONLY_PACKAGES = {"redis-server", "haproxy"}

# The Compose Specification's top-level elements and the service attributes this file may use
# (a typo such as `depend_on` or `healthcheck:` on the wrong level is ignored by nobody but us).
TOP_LEVEL_KEYS = {"version", "name", "services", "networks", "volumes", "configs", "secrets", "include", "models"}
SERVICE_KEYS = {
    "image", "build", "command", "entrypoint", "environment", "env_file", "volumes", "user", "ports",
    "expose", "depends_on", "healthcheck", "restart", "profiles", "shm_size", "working_dir", "networks",
    "deploy", "labels", "logging", "stop_grace_period", "stop_signal", "init", "secrets", "configs",
    "ulimits", "mem_limit", "cpus", "extra_hosts", "hostname", "container_name", "tmpfs", "pull_policy",
}
DEPENDS_ON_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


# --- reading the files ------------------------------------------------------------------------------

def interpolate(value):
    """Compose's variable interpolation (the staging deployer's) with nothing set in the
    environment: the file's defaults; a required variable is a StagingError."""
    if isinstance(value, str):
        return _interpolate(value, {})
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def raw_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose(raw_compose) -> dict:
    return interpolate(raw_compose)


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {k: None if v is None else str(v) for k, v in env.items()}


def command_of(service: dict) -> list[str]:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def depends_on(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def published_ports(service: dict) -> list[tuple[int, int]]:
    """(host port, container port) of each published port ("8002:8001", "127.0.0.1:5433:5432")."""
    out = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            out.append((int(entry["published"]), int(entry["target"])))
            continue
        parts = str(entry).split("/")[0].split(":")
        assert len(parts) in (2, 3), f"port {entry!r} is not published to a fixed host port"
        out.append((int(parts[-2]), int(parts[-1])))
    return out


def mounts(service: dict) -> dict[str, str]:
    """container path -> source of every volume entry."""
    out = {}
    for entry in service.get("volumes") or []:
        source, target = str(entry).split(":")[:2]
        out[target] = source
    return out


def healthcheck_command(service: dict) -> str:
    test = (service.get("healthcheck") or {}).get("test")
    return " ".join(test) if isinstance(test, list) else str(test or "")


def constraint_version(package: str) -> str:
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        name, _, version = line.strip().partition("==")
        if name.lower() == package:
            return version
    raise AssertionError(f"{package} is not pinned in constraints.txt")


def dockerfile() -> tuple[list[str], dict[str, str]]:
    """The Dockerfile's instructions (continuation lines joined, comments dropped) and its ARG defaults."""
    instructions, current = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.strip().startswith("#") and not current:
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            if current.strip():
                instructions.append(current.strip())
            current = ""
    args = {}
    for ins in instructions:
        m = re.match(r"ARG\s+(\w+)=(\S+)", ins)
        if m:
            args.setdefault(m.group(1), m.group(2))
    return instructions, args


def apt_packages_of_bootstrap() -> list[str]:
    m = re.search(r"^APT_PACKAGES=\(([^)]*)\)", (ROOT / "scripts" / "bootstrap.sh").read_text(), re.MULTILINE)
    assert m, "scripts/bootstrap.sh no longer defines APT_PACKAGES=(...)"
    return m.group(1).split()


def packages_txt() -> list[str]:
    lines = (ROOT / "packages.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


# --- the compose file's shape ---------------------------------------------------------------------------

def test_top_level_follows_the_compose_spec(raw_compose):
    assert isinstance(raw_compose, dict)
    unknown = {k for k in raw_compose if not k.startswith("x-")} - TOP_LEVEL_KEYS
    assert not unknown, f"not Compose Specification top-level elements: {unknown}"
    assert isinstance(raw_compose["services"], dict) and raw_compose["services"]
    assert "x-airflow-common" in raw_compose, "the Airflow services share one x-airflow-common block"
    for name, service in raw_compose["services"].items():
        assert re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", name), name
        assert isinstance(service, dict), name
        assert set(service) <= SERVICE_KEYS, f"{name}: unknown attributes {set(service) - SERVICE_KEYS}"
        assert "image" in service or "build" in service, f"{name} has neither image nor build"
        env = service.get("environment") or {}
        assert isinstance(env, (dict, list)), name
        if isinstance(env, dict):
            for key, value in env.items():
                assert value is None or isinstance(value, (str, int, float, bool)), f"{name}: {key} is not a scalar"


def test_named_volumes_are_declared(compose, services):
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, service in services.items():
        for target, source in mounts(service).items():
            assert target.startswith("/"), f"{name}: {target}"
            if not source.startswith((".", "/", "~")):
                used.add(source)
    assert used, "no named volume: the databases would not survive `down`"
    assert used <= declared, f"named volumes used but not declared: {used - declared}"
    assert declared <= used, f"declared but unused volumes: {declared - used}"


def test_required_services_exist(services):
    assert REQUIRED_SERVICES <= set(services), f"missing: {REQUIRED_SERVICES - set(services)}"
    for name, command in AIRFLOW_SERVICES.items():
        assert " ".join(command_of(services[name])) == command, name


def test_airflow_services_share_one_configuration(services):
    airflow = {name: s for name, s in services.items() if name.startswith("airflow-") or name == "flower"}
    assert set(AIRFLOW_SERVICES) | {"airflow-init"} <= set(airflow)
    reference = env_of(services["airflow-scheduler"])
    for key in SHARED_AIRFLOW_SETTINGS:
        assert reference.get(key), f"{key} is not set for the Airflow services"
    for name, service in airflow.items():
        env = env_of(service)
        for key in SHARED_AIRFLOW_SETTINGS:
            assert env.get(key) == reference[key], f"{name}: {key} differs from the scheduler's"
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env.get("AIRFLOW__CORE__LOAD_EXAMPLES", "").lower() == "false", name
        assert service["image"] == services["airflow-scheduler"]["image"], name
        assert service.get("build") == services["airflow-scheduler"].get("build"), name
        if name != "airflow-init":  # airflow-init runs as root to chown the shared folders
            assert service.get("user") == "50000:0", f"{name} runs as {service.get('user')!r}, not AIRFLOW_UID:0"
        for folder in ("dags", "plugins", "expectations", "logs", "config"):
            source = mounts(service).get(f"/opt/airflow/{folder}")
            assert source and source.rstrip("/").endswith(folder), f"{name}: ./{folder} is not mounted"


def test_airflow_settings_point_at_real_services(services):
    env = env_of(services["airflow-scheduler"])
    from cryptography.fernet import Fernet

    Fernet(env["AIRFLOW__CORE__FERNET_KEY"].encode())  # raises unless 32 url-safe base64 bytes
    assert len(env["AIRFLOW__API_AUTH__JWT_SECRET"]) >= 32

    metadata = make_url(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    pg = env_of(services[metadata.host])
    assert (metadata.username, metadata.password, metadata.database) == (
        pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], pg["POSTGRES_DB"])
    backend = urlsplit(env["AIRFLOW__CELERY__RESULT_BACKEND"].removeprefix("db+"))
    assert (backend.hostname, backend.path) == (metadata.host, f"/{metadata.database}")

    broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
    assert broker.scheme == "redis" and broker.hostname in services
    assert services[broker.hostname]["image"].startswith("redis:")
    ocr_redis = urlsplit(env["OCR_MIGRATE_REDIS_URL"])
    if ocr_redis.hostname == broker.hostname:
        assert ocr_redis.path != broker.path, "flag snapshots and Celery's queue share one Redis database"

    api = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert api.hostname == "airflow-apiserver" and api.path == "/execution/"
    assert api.port in {target for _, target in published_ports(services["airflow-apiserver"])}


def test_depends_on_targets_exist_and_are_ready_when_awaited(services):
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            assert target in services, f"{name} depends on unknown service {target}"
            assert target != name
            assert condition in DEPENDS_ON_CONDITIONS, f"{name} -> {target}: {condition}"
            if condition == "service_healthy":
                assert healthcheck_command(services[target]), f"{name} waits for {target} to be healthy: no healthcheck"
            if condition == "service_completed_successfully":
                assert services[target].get("restart") in (None, "no"), f"{target} is awaited to exit but restarts"
            # A service must not wait for one that its profiles can leave out (compose refuses to start).
            own, theirs = set(service.get("profiles") or []), set(services[target].get("profiles") or [])
            assert not theirs or (own and own <= theirs), f"{name} depends on {target}, which is in profiles {theirs}"


def test_long_running_services_have_healthchecks(services):
    for name, service in services.items():
        if name not in ("airflow-init", "airflow-cli"):  # one-off containers
            assert healthcheck_command(service), f"{name} has no healthcheck"
            assert service.get("restart") == "always", name
    assert "localhost:8080/api/v2/version" in healthcheck_command(services["airflow-apiserver"])
    assert "localhost:8974/health" in healthcheck_command(services["airflow-scheduler"])
    assert env_of(services["airflow-scheduler"])["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"
    assert "DagProcessorJob" in healthcheck_command(services["airflow-dag-processor"])
    assert "TriggererJob" in healthcheck_command(services["airflow-triggerer"])
    for name in ("airflow-worker-1", "airflow-worker-2"):
        assert "inspect ping" in healthcheck_command(services[name])
    assert "haproxy.cfg" in healthcheck_command(services[BALANCER])
    for name in OCR_SERVICES:
        port = ocr_listen_port(services[name])
        assert f"localhost:{port}/health" in healthcheck_command(services[name]), name


def test_published_ports_are_unique(services):
    seen: dict[int, str] = {}
    for name, service in services.items():
        for host, _ in published_ports(service):
            assert host not in seen, f"host port {host} is published by {seen.get(host)} and {name}"
            seen[host] = name
    assert {8080: "airflow-apiserver", 8001: "ocr-service", 8002: "ocr-service-staging",
            6380: "redis-staging", 5433: "postgres-staging"}.items() <= seen.items()


# --- the OCR service and what the DAGs read -----------------------------------------------------------

def ocr_listen_port(service: dict) -> int:
    cmd = command_of(service)
    assert cmd[:2] == ["ocr-migrate", "serve"], cmd
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0", "the service must listen beyond the container"
    return int(cmd[cmd.index("--port") + 1])


def balancer_port() -> int:
    """The port the balancer listens on (deploy/haproxy.cfg's frontend)."""
    frontend = (ROOT / "deploy" / "haproxy.cfg").read_text().split("frontend ", 1)[1]
    return int(re.search(r"bind \S+:(\d+)", frontend).group(1))


def database_is_created(services, url, service_name) -> bool:
    """The database in url exists when service_name starts: postgres creates it (POSTGRES_DB) or
    airflow-init does, from the same OCR_MIGRATE_DATABASE_URL, before service_name may start."""
    if env_of(services[url.host]).get("POSTGRES_DB") == url.database:
        return True
    init = services["airflow-init"]
    return (depends_on(services[service_name]).get("airflow-init") == "service_completed_successfully"
            and make_url(env_of(init)["OCR_MIGRATE_DATABASE_URL"]) == url
            and "CREATE DATABASE" in " ".join(command_of(init)))


@pytest.mark.parametrize("name", sorted(OCR_SERVICES))
def test_ocr_service_reaches_its_stores(services, name):
    service = services[name]
    env = env_of(service)
    port = ocr_listen_port(service)
    assert service["entrypoint"][0] == "/usr/bin/dumb-init", "the Airflow entrypoint would run `airflow ocr-migrate`"
    reachable = {target for _, target in published_ports(service)} | {int(p) for p in service.get("expose", [])}
    assert port in reachable, f"{name} does not offer its port {port}"
    assert env["OMP_THREAD_LIMIT"] == "1"
    assert env["OCR_MIGRATE_CLIENT_API_KEYS"] and env["OCR_MIGRATE_ADMIN_API_KEYS"], "serve refuses to start without keys"

    db = make_url(env["OCR_MIGRATE_DATABASE_URL"])
    assert db.host in services, f"{name}: database host {db.host} is not a service"
    db.get_dialect().import_dbapi()  # the driver named in the URL is installed with the project
    pg = env_of(services[db.host])
    assert (db.username, db.password) == (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"]), name
    assert database_is_created(services, db, name), f"{name}: nothing creates database {db.database}"
    redis = urlsplit(env["OCR_MIGRATE_REDIS_URL"])
    assert redis.hostname in services and services[redis.hostname]["image"].startswith("redis:"), name
    for host in (db.host, redis.hostname):
        assert depends_on(service).get(host) == "service_healthy", f"{name} does not wait for {host}"
    data_dir = env["OCR_MIGRATE_DATA_DIR"]
    assert mounts(service).get(data_dir), f"{name}: the event spool in {data_dir} is not on a volume"


def test_staging_is_isolated_from_production(services):
    prod, staging = env_of(services["ocr-service-1"]), env_of(services["ocr-service-staging"])
    assert make_url(prod["OCR_MIGRATE_DATABASE_URL"]).host != make_url(staging["OCR_MIGRATE_DATABASE_URL"]).host
    assert urlsplit(prod["OCR_MIGRATE_REDIS_URL"]).hostname != urlsplit(staging["OCR_MIGRATE_REDIS_URL"]).hostname
    for name in ("ocr-service-staging", "postgres-staging", "redis-staging"):
        assert services[name].get("profiles") == ["staging"], name
    for name in ("ocr-service", "ocr-service-1", "ocr-service-2", "postgres", "redis", *AIRFLOW_SERVICES):
        assert not services[name].get("profiles"), f"{name} must start without a profile"


def same_store(a: str, b: str) -> bool:
    ua, ub = make_url(a), make_url(b)
    return (ua.host, ua.port or 5432, ua.database, ua.username, ua.password) == (
        ub.host, ub.port or 5432, ub.database, ub.username, ub.password)


def same_redis(a: str, b: str) -> bool:
    ua, ub = urlsplit(a), urlsplit(b)
    return (ua.hostname, ua.port or 6379, ua.path.strip("/") or "0") == (ub.hostname, ub.port or 6379, ub.path.strip("/") or "0")


def test_airflow_connections_and_variables_match_the_ocr_services(services):
    airflow = env_of(services["airflow-worker-1"])
    prod, staging = env_of(services["ocr-service-1"]), env_of(services["ocr-service-staging"])
    # The tasks' own settings are production's.
    assert airflow["OCR_MIGRATE_DATABASE_URL"] == prod["OCR_MIGRATE_DATABASE_URL"]
    assert airflow["OCR_MIGRATE_REDIS_URL"] == prod["OCR_MIGRATE_REDIS_URL"]
    assert urlsplit(airflow["AIRFLOW_CONN_OCR_METRICS_DB"]).scheme in ("postgres", "postgresql")
    assert same_store(airflow["AIRFLOW_CONN_OCR_METRICS_DB"], prod["OCR_MIGRATE_DATABASE_URL"])
    assert same_redis(airflow["AIRFLOW_CONN_OCR_REDIS"], prod["OCR_MIGRATE_REDIS_URL"])
    assert same_store(airflow["AIRFLOW_CONN_OCR_STAGING_DB"], staging["OCR_MIGRATE_DATABASE_URL"])
    assert same_redis(airflow["AIRFLOW_CONN_OCR_STAGING_REDIS"], staging["OCR_MIGRATE_REDIS_URL"])
    assert "AIRFLOW_VAR_OCR_NOTIFIER_WEBHOOK" in airflow
    for variable, name, port in (("AIRFLOW_VAR_OCR_SERVICE_URL", BALANCER, balancer_port()),
                                 ("AIRFLOW_VAR_OCR_STAGING_SERVICE_URL", "ocr-service-staging",
                                  ocr_listen_port(services["ocr-service-staging"]))):
        url = urlsplit(airflow[variable])
        assert (url.hostname, url.port) == (name, port), variable
    assert (airflow["OCR_MIGRATE_SERVICE_HOST"], int(airflow["OCR_MIGRATE_SERVICE_PORT"])) == (BALANCER, balancer_port())
    golden = airflow["AIRFLOW_VAR_OCR_GOLDEN_DIR"]
    assert golden.startswith("/opt/airflow/expectations/")
    assert (ROOT / "expectations" / golden.removeprefix("/opt/airflow/expectations/")).is_dir()
    # Document AI settings reach the service and the tasks alike.
    for key in ("OCR_MIGRATE_DOCUMENTAI_PROJECT", "OCR_MIGRATE_DOCUMENTAI_LOCATION",
                "OCR_MIGRATE_DOCUMENTAI_PROCESSOR_ID", "OCR_MIGRATE_DOCUMENTAI_ENDPOINT",
                "OCR_MIGRATE_DOCUMENTAI_CREDENTIALS_FILE"):
        assert key in airflow and key in prod and key in staging, key


def test_settings_names_are_real_settings(services):
    """Every OCR_MIGRATE_* variable handed to a container is a field of rollout.settings.Settings
    (pydantic-settings ignores unknown ones silently)."""
    from rollout.settings import Settings

    fields = {f"OCR_MIGRATE_{name.upper()}" for name in Settings.model_fields} | {"OCR_MIGRATE_ACTOR"}
    for name, service in services.items():
        unknown = {k for k in env_of(service) if k.startswith("OCR_MIGRATE_")} - fields
        assert not unknown, f"{name}: {unknown} are not settings"


# --- the image ---------------------------------------------------------------------------------------

def test_dockerfile_extends_the_airflow_image_of_the_lock_file(services):
    instructions, args = dockerfile()
    froms = [ins for ins in instructions if ins.upper().startswith("FROM ")]
    assert len(froms) == 1, froms
    image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], froms[0].split()[1])
    airflow = constraint_version("apache-airflow")
    assert airflow.startswith("3.3."), airflow
    assert image == f"apache/airflow:{airflow}-python3.11", image
    built = services["airflow-scheduler"]
    assert built["build"]["context"] == "." and (ROOT / built["build"]["dockerfile"]).is_file()
    assert built["image"].endswith(f":{airflow}"), "tag the built image with its Airflow version"


def test_dockerfile_installs_packages_txt_and_the_project():
    instructions, _ = dockerfile()
    text = "\n".join(instructions)
    users = [(i, ins.split()[1]) for i, ins in enumerate(instructions) if ins.startswith("USER ")]
    assert users and users[-1][1] == "airflow", "the image must end as the airflow user"
    apt = [i for i, ins in enumerate(instructions) if "apt-get install" in ins]
    pip = [i for i, ins in enumerate(instructions) if "pip install" in ins]
    assert len(apt) == 1 and pip
    apt_line = instructions[apt[0]]
    assert "packages.txt" in apt_line and re.search(r"COPY\s+packages\.txt\s", text)
    own_arguments = re.split(r"&&|\||;", apt_line.split("apt-get install", 1)[1])[0].split()
    assert all(arg.startswith("-") for arg in own_arguments), f"apt packages outside packages.txt: {own_arguments}"
    for package in packages_txt():  # the list lives in packages.txt only
        assert not re.search(rf"(?<![\w.-]){re.escape(package)}(?![\w.-])", text), f"{package} named in the Dockerfile"

    def user_at(index: int) -> str:
        return [u for i, u in users if i < index][-1]
    assert user_at(apt[0]) == "root"
    for i in pip:
        assert user_at(i) == "airflow", "pip must install as airflow into the image's Python, not as root"
        assert re.search(r"-c\s+\S*constraints\.txt", instructions[i]), "pip must install under constraints.txt"
        assert "--upgrade" not in instructions[i] and " -U " not in instructions[i]
    assert any(re.fullmatch(r'ENV\s+OMP_THREAD_LIMIT="?1"?', ins) for ins in instructions)
    assert "pip check" in text


def test_dockerfile_copies_every_package_of_the_project():
    instructions, _ = dockerfile()
    copied = set()
    for ins in instructions:
        if ins.startswith(("COPY ", "ADD ")):
            sources = [w for w in ins.split()[1:-1] if not w.startswith("--")]
            copied.update(s.rstrip("/") for s in sources)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {"pyproject.toml", "constraints.txt", "packages.txt", project["project"]["readme"]}
    for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]:
        needed |= {p.name for p in ROOT.glob(pattern.rstrip("*")) if (p / "__init__.py").is_file()}
    assert {"ocr_engines", "rollout", "expectations"} <= needed
    assert needed <= copied, f"the image misses {needed - copied}"
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not any(fnmatch.fnmatch(source, p.rstrip("/")) for p in ignored), f".dockerignore drops {source}"
    for heavy in (".venv", ".git", "data/", "logs/", "**/__pycache__", ".env"):
        assert heavy in ignored, f".dockerignore should exclude {heavy}"


def test_packages_txt_agrees_with_bootstrap():
    packages = packages_txt()
    assert len(packages) == len(set(packages)), "duplicates in packages.txt"
    for package in packages:
        assert re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", package), f"not a Debian package name: {package!r}"
    assert {"tesseract-ocr", "tesseract-ocr-pol", "tesseract-ocr-eng"} <= set(packages)
    bootstrap = set(apt_packages_of_bootstrap())
    assert HOST_ONLY_PACKAGES <= bootstrap, "HOST_ONLY_PACKAGES lists a package bootstrap.sh no longer installs"
    assert set(packages) == bootstrap - HOST_ONLY_PACKAGES, (
        f"only in packages.txt: {set(packages) - bootstrap}; "
        f"only in bootstrap.sh: {bootstrap - HOST_ONLY_PACKAGES - set(packages)}")


def test_the_replicas_and_the_airflow_workers_share_the_retained_documents(services):
    """Remediation re-reads, on an Airflow worker, what a replica kept: one volume, mounted by every
    replica and every worker at the path OCR_MIGRATE_RETENTION_DIR names."""
    readers = [n for n in services if n.startswith("airflow-worker")]
    keepers = [n for n, s in services.items() if n.startswith("ocr-service-") and "staging" not in n]
    assert readers and len(keepers) >= 2
    sources = set()
    for name in readers + keepers:
        env = env_of(services[name])
        path = env.get("OCR_MIGRATE_RETENTION_DIR")
        assert path and path in mounts(services[name]), f"{name}: OCR_MIGRATE_RETENTION_DIR is not a mounted volume"
        sources.add(mounts(services[name])[path])
        assert env.get("OCR_MIGRATE_REMEDIATION") in ("false", "${OCR_MIGRATE_REMEDIATION:-false}"), \
            f"{name}: remediation must be off by default"
    assert len(sources) == 1 and not next(iter(sources)).startswith((".", "/")), sources
