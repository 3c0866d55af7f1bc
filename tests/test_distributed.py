"""The distributed run's process topology (scripts/distributed.py) and docker-compose.airflow.yml
are one description: the same Airflow settings, the same two named workers, the same two OCR
replicas behind a balancer whose configuration both take from one function (haproxy_config,
checked by haproxy itself), the same health checks and the same project folders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from staging.processes import worker_hostname

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import distributed  # noqa: E402


def _services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.airflow.yml").read_text())["services"]


def _compose_airflow_env() -> dict[str, str]:
    return {k: str(v) for k, v in _services()["airflow-scheduler"]["environment"].items()}


def _command(service: dict) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else list(command)


def test_the_processes_get_the_distributed_settings_the_compose_file_gives_its_containers():
    ours = distributed.airflow_celery_settings("postgres@127.0.0.1:5432", "af", 6399, "http://127.0.0.1:8080")
    theirs = _compose_airflow_env()
    # every setting that makes Airflow distributed in compose is set for the processes too
    shared = [k for k in theirs if k.startswith(("AIRFLOW__CORE__EXECUTOR", "AIRFLOW__DATABASE__", "AIRFLOW__CELERY__",
                                                  "AIRFLOW__CORE__EXECUTION_API", "AIRFLOW__API_AUTH__",
                                                  "AIRFLOW__CORE__FERNET"))]
    assert shared and set(shared) <= set(ours), set(shared) - set(ours)
    # what makes the topology behave the same: one value on both sides
    for key in ("AIRFLOW__CORE__HOSTNAME_CALLABLE", "AIRFLOW__CORE__PARALLELISM", "AIRFLOW__CELERY__WORKER_CONCURRENCY",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL"):
        assert ours[key] == theirs[key], key
    assert ours["AIRFLOW__CORE__EXECUTOR"] == theirs["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    # the same shapes: a psycopg2 metadata URL, a database result backend, Redis db 0 as the broker
    # (db 1 holds the flags: OCR_MIGRATE_REDIS_URL in both)
    for key, prefix in (("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql+psycopg2://"),
                        ("AIRFLOW__CELERY__RESULT_BACKEND", "db+postgresql://")):
        assert ours[key].startswith(prefix) and theirs[key].startswith(prefix)
    assert ours["AIRFLOW__CELERY__BROKER_URL"].endswith("/0") and theirs["AIRFLOW__CELERY__BROKER_URL"].endswith("/0")
    assert theirs["OCR_MIGRATE_REDIS_URL"].endswith("/1")
    assert ours["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8080/execution/"
    assert theirs["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].endswith("/execution/")


def test_the_balancer_configuration_is_one_haproxy_accepts(tmp_path):
    config = tmp_path / "haproxy.cfg"
    config.write_text(distributed.haproxy_config(18001, 18002, {"ocr-1": "127.0.0.1:18003", "ocr-2": "127.0.0.1:18004"}))
    checked = subprocess.run(["/usr/sbin/haproxy", "-c", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    text = config.read_text()
    assert "server ocr-1 127.0.0.1:18003 check" in text and "server ocr-2 127.0.0.1:18004 check" in text
    assert "option httpchk GET /health" in text


def test_each_worker_process_names_itself(monkeypatch):
    monkeypatch.setenv("OCR_WORKER_NAME", "worker-2")
    assert worker_hostname() == "worker-2"
    monkeypatch.delenv("OCR_WORKER_NAME")
    assert worker_hostname()  # the host's name


def test_workers_on_one_machine_get_their_own_log_server_port():
    base = {"AIRFLOW__CORE__EXECUTOR": "CeleryExecutor"}
    envs = [distributed.worker_environment(base, name, port) for name, port in zip(distributed.WORKERS, (18793, 18794))]
    assert [e["OCR_WORKER_NAME"] for e in envs] == list(distributed.WORKERS)
    ports = [e["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] for e in envs]
    assert len(set(ports)) == len(distributed.WORKERS) and "8793" not in ports
    assert base == {"AIRFLOW__CORE__EXECUTOR": "CeleryExecutor"}  # the shared environment is not changed


def test_the_compose_file_has_the_same_workers_and_replicas_as_the_processes():
    services = _services()
    workers = {name: s for name, s in services.items() if _command(s)[:2] == ["celery", "worker"]}
    assert {s["environment"]["OCR_WORKER_NAME"] for s in workers.values()} == set(distributed.WORKERS)
    assert all(s["hostname"] == s["environment"]["OCR_WORKER_NAME"] for s in workers.values())
    replicas = {name: s for name, s in services.items()
                if _command(s)[:2] == ["ocr-migrate", "serve"] and "staging" not in name}
    assert len(replicas) == len(distributed.REPLICAS) == 2
    # every replica keeps its own event spool (in its data folder; the documents kept for
    # remediation are one volume they share, tests/test_compose.py)
    data_dir = "/opt/airflow/ocr-data"
    spools = [v.split(":")[0] for s in replicas.values() for v in s["volumes"] if v.split(":")[1] == data_dir]
    assert len(set(spools)) == len(spools) == 2
    # both deployments check a replica on /health: compose's healthcheck, haproxy's httpchk here
    for service in replicas.values():
        assert "/health" in " ".join(service["healthcheck"]["test"])
    balancer = distributed.COMPOSE_BALANCER
    assert set(balancer["replicas"]) == set(replicas)
    for name, address in balancer["replicas"].items():
        command = _command(replicas[name])
        assert address == f"{name}:{command[command.index('--port') + 1]}"


def test_the_compose_balancer_config_is_the_one_haproxy_config_writes_and_haproxy_accepts():
    services = _services()
    written = distributed.COMPOSE_HAPROXY_CFG
    expected = distributed.haproxy_config(**distributed.COMPOSE_BALANCER)
    assert written.read_text() == expected, "regenerate: python scripts/distributed.py --write-compose-balancer"
    checked = subprocess.run(["/usr/sbin/haproxy", "-c", "-f", str(written)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    balancer = services["ocr-service"]
    mount = f"${{AIRFLOW_PROJ_DIR:-.}}/{written.relative_to(ROOT)}:/usr/local/etc/haproxy/haproxy.cfg:ro"
    assert mount in balancer["volumes"]
    assert f"{distributed.COMPOSE_BALANCER['port']}:{distributed.COMPOSE_BALANCER['port']}" in balancer["ports"]
    assert set(balancer["depends_on"]) == set(distributed.COMPOSE_BALANCER["replicas"])
    # the DAGs and `ocr-migrate health` call the balancer, not one replica
    env = _compose_airflow_env()
    assert env["AIRFLOW_VAR_OCR_SERVICE_URL"] == f"http://ocr-service:{distributed.COMPOSE_BALANCER['port']}"


def test_every_airflow_container_mounts_the_folders_the_processes_read_from_the_checkout():
    for name, service in _services().items():
        if name.startswith("airflow-") or name == "flower":
            for folder in ("dags", "plugins", "expectations"):
                assert f"${{AIRFLOW_PROJ_DIR:-.}}/{folder}:/opt/airflow/{folder}" in service["volumes"], (name, folder)
                assert (ROOT / folder).is_dir()
