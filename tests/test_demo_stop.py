"""The main job stops what it started: SIGTERM or Ctrl-C to ``scripts/main.sh`` in the middle of
the run ends the OCR service, the Document AI double and Airflow (the probe found the service on
:8001 and Airflow on :8080 still running, and the next run failing on busy ports)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from staging.processes import port_open, wait_until
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent


def _started_by(home: Path) -> list[psutil.Process]:
    out = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("OCR_MIGRATE_DATA_DIR") == str(home):
                out.append(proc)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_run_ends_every_process_it_started(tmp_path, sig):
    home = tmp_path / "demo"
    service, airflow = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCR_MIGRATE_", "AIRFLOW"))}
    demo = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "migration_demo.py"), "--skip-staging", "--exit",
                             "--data-dir", str(home), "--service-port", str(service), "--airflow-port", str(airflow),
                             "--mix", "digital=85,xml=10,unusable=5"],
                            cwd=ROOT, env=dict(env, OMP_THREAD_LIMIT="1"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_until(lambda: port_open(service), 180, 0.5, alive=lambda: demo.poll() is None), demo.stdout.read()
        time.sleep(2)  # Airflow is starting now: the middle of the run
        assert _started_by(home), "the run has started its processes"
        demo.send_signal(sig)
        out, _ = demo.communicate(timeout=90)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 130, out
    assert "stopping" in out
    assert wait_until(lambda: not _started_by(home), 30, 0.5), [p.cmdline() for p in _started_by(home)]
    assert not port_open(service) and not port_open(airflow)
