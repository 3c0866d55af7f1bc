"""Faults in the distributed topology (scripts/distributed.py, the compose file's services as
processes): real Airflow with the CeleryExecutor, two Celery workers, two OCR replicas behind
haproxy, PostgreSQL and Redis. At 4-5 minutes it is the suite's longest test."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_a_worker_killed_mid_stage_leaves_its_task_to_the_other_and_the_run_completes(tmp_path):
    """The distributed topology for real (CeleryExecutor, 2 workers, 2 OCR replicas behind
    haproxy, PostgreSQL, Redis): SIGKILL the worker that runs stage 1's health gate. The
    scheduler fails the task once its heartbeats stop, its retry runs on the other worker, and
    the run ends in success with each stage advanced exactly once."""
    from rollout.staging.processes import free_port, port_open

    argv = [sys.executable, str(ROOT / "scripts" / "distributed.py"), "--exit", "--skip-staging",
            "--stages", "5,100", "--soak-s", "15", "--watch-s", "5", "--kill-worker-during", "stage_1.health_gate",
            "--service-port", str(free_port()), "--airflow-port", str(free_port()), "--data-dir", str(tmp_path / "run"),
            "--timeout-s", "540"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=720, cwd=ROOT,
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
        assert not port_open(port)
