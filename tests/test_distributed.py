"""The distributed run's process topology (scripts/distributed.py) against the compose file it
stands in for, and its balancer's configuration checked by haproxy itself."""

from __future__ import annotations

import os
import re
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


def test_a_worker_killed_mid_stage_leaves_its_task_to_the_other_and_the_run_completes(tmp_path):
    """The distributed topology for real (CeleryExecutor, 2 workers, 2 OCR replicas behind
    haproxy, PostgreSQL, Redis): SIGKILL the worker that runs stage 1's health gate. The
    scheduler fails the task once its heartbeats stop, its retry runs on the other worker, and
    the run ends in success with each stage advanced exactly once."""
    from rollout.staging.processes import free_port

    argv = [sys.executable, str(ROOT / "scripts" / "distributed.py"), "--exit", "--skip-staging",
            "--stages", "5,100", "--soak-s", "15", "--watch-s", "5", "--kill-worker-during", "stage_1.health_gate",
            "--service-port", str(free_port()), "--airflow-port", str(free_port()), "--data-dir", str(tmp_path / "run"),
            "--timeout-s", "420"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={**os.environ, "OMP_THREAD_LIMIT": "1", "COLUMNS": "150"})
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-2000:]
    killed = re.search(r"FAULT: SIGKILL to (worker-\d) while it runs stage_1.health_gate", out)
    assert killed, out[-4000:]
    other = ({"worker-1", "worker-2"} - {killed.group(1)}).pop()
    gate = re.search(r"stage_1\.health_gate\s+\S*success\S*\s+\[(worker-\d)\]", out)
    assert gate and gate.group(1) == other, out[-4000:]
    assert "ocr_migration run" in out and re.search(r"ocr_migration run \S*success", out)
    # no double advance: each percentage set once, in the timeline and in the audit log
    for task in ("stage_1.set_percentage", "stage_2.set_percentage", "cutover.switch"):
        assert len(re.findall(rf"{re.escape(task)}\s+\S*success", out)) == 1, task
    audit = out[out.index("stage timeline (the audit log):"):out.index("gate verdicts:")]
    assert audit.count("set-percentage") == 2, audit
    assert audit.count("0 % → 5 %") == 1 and audit.count("5 % → 100 %") == 1, audit
    # everything it started is gone: its ports are free again
    for port_flag in ("--service-port", "--airflow-port"):
        port = int(argv[argv.index(port_flag) + 1])
        assert not _port_open(port)


def _port_open(port: int) -> bool:
    from rollout.staging.processes import port_open

    return port_open(port)
