"""The distributed run's process topology (scripts/distributed.py) against the compose file it
stands in for, and its balancer's configuration checked by haproxy itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from rollout.staging.processes import worker_hostname

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import distributed  # noqa: E402


def _compose_airflow_env() -> dict[str, str]:
    compose = yaml.safe_load((ROOT / "docker-compose.airflow.yml").read_text())
    return {k: str(v) for k, v in compose["services"]["airflow-scheduler"]["environment"].items()}


def test_the_processes_get_the_distributed_settings_the_compose_file_gives_its_containers():
    ours = distributed.airflow_celery_settings("postgres@127.0.0.1:5432", "af", 6399, "http://127.0.0.1:8080")
    theirs = _compose_airflow_env()
    # every setting that makes Airflow distributed in compose is set for the processes too
    shared = [k for k in theirs if k.startswith(("AIRFLOW__CORE__EXECUTOR", "AIRFLOW__DATABASE__", "AIRFLOW__CELERY__",
                                                  "AIRFLOW__CORE__EXECUTION_API", "AIRFLOW__API_AUTH__",
                                                  "AIRFLOW__CORE__FERNET"))]
    assert shared and set(shared) <= set(ours), set(shared) - set(ours)
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
    config.write_text(distributed.haproxy_config(18001, 18002, {"ocr-1": 18003, "ocr-2": 18004}))
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
