"""Runs one DAG with ``dag.test()`` in a process of its own (Airflow reads its configuration once
per process; each test gets a fresh AIRFLOW_HOME), with simulated traffic flowing into the
metrics database while it runs — what the OCR service would write — and prints the outcome as
one JSON line (``RESULT {...}``): the run's state, each task's state (``tis``) and, for a mapped
task, each expanded instance's state by map index (``maps``).

Usage: python -m tests.airflow_runner DAG_ID CONF_JSON TRAFFIC [MARK_SUCCESS_PATTERN]\n       python -m tests.airflow_runner --batch '[[DAG_ID, CONF], ...]'
TRAFFIC: none | healthy | degraded-from-15 (the canary's error rate jumps once at >= 15 %)
"""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import datetime, timezone


class Traffic(threading.Thread):
    """Events at the current flag percentage, ~``rate`` documents per second."""

    def __init__(self, kind: str, rate: float = 150.0):
        super().__init__(daemon=True)
        self.kind, self.rate = kind, rate
        self.stopped = threading.Event()

    def run(self) -> None:
        from datetime import timedelta

        import numpy as np

        from rollout.events import EventWriter
        from rollout.flags import FlagStore
        from rollout.health.simulate import SCENARIOS, scenario as variant
        from rollout.settings import get_settings

        settings = get_settings()
        store = FlagStore(settings.sqlalchemy_url)
        store.init()
        writer = EventWriter(settings.sqlalchemy_url, settings.spool_path)
        writer.init_schema()
        rng = np.random.default_rng(1)
        tick = 0.25
        while not self.stopped.is_set():
            snap = store.snapshot()
            scenario = SCENARIOS["aa"]
            if self.kind == "degraded-from-15" and snap.percentage >= 15:
                scenario = variant("errors", error_rate=0.3)
            now = datetime.now(timezone.utc)
            for event in scenario.events(int(self.rate * tick), snap.percentage, now - timedelta(seconds=tick),
                                         timedelta(seconds=tick), snap.stage, rng, shadow_share=0.05):
                writer.record(event)
            writer.flush()
            time.sleep(tick)


def _quicker_dag_test_loop(step_s: float = 0.1) -> None:
    """``dag.test()``'s scheduling loop sleeps a whole second each time no task is ready, and a failed
    gate's ``upstream_failed`` travels one task layer per turn: 30-odd idle seconds in a run that fails
    early. Its sleeps (only those: the caller is Airflow's dag.py) are made ``step_s`` long. What a
    task waits for (a sensor's reschedule date, a soak) is still decided by the task's own times."""
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        caller = sys._getframe(1).f_code.co_filename
        real_sleep(min(seconds, step_s) if caller.endswith(("sdk/definitions/dag.py",)) else seconds)

    time.sleep = sleep


def run_one(bag, dag_id: str, conf: dict, traffic: str = "none", mark_success: str | None = None) -> dict:
    dag = bag.get_dag(dag_id)
    feeder = None
    if traffic != "none":
        feeder = Traffic(traffic)
        feeder.start()
    started = time.monotonic()
    try:
        run = dag.test(run_conf=conf, mark_success_pattern=mark_success)
    finally:
        if feeder:
            feeder.stopped.set()
            feeder.join(5)
    states, maps = {}, {}
    for ti in run.get_task_instances():
        state = str(ti.state.value if hasattr(ti.state, "value") else ti.state)
        if ti.map_index >= 0:  # one of a mapped task's expanded instances
            maps.setdefault(ti.task_id, {})[str(ti.map_index)] = state
        else:
            states[ti.task_id] = state
    return {"state": str(run.state), "run_id": run.run_id, "tis": states, "maps": maps,
            "seconds": round(time.monotonic() - started, 1)}


def main() -> None:
    """One run (``DAG_ID CONF_JSON TRAFFIC [MARK_SUCCESS]``), or ``--batch RUNS_JSON``: several runs
    ([[dag_id, conf], ...], no traffic) in this one process, one ``RESULT`` or ``ERROR`` line each."""
    _quicker_dag_test_loop()
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag()
    if bag.import_errors:
        print("RESULT " + json.dumps({"import_errors": {k: str(v) for k, v in bag.import_errors.items()}}))
        return
    if sys.argv[1] == "--batch":
        for dag_id, conf in json.loads(sys.argv[2]):
            try:
                print("RESULT " + json.dumps(run_one(bag, dag_id, conf)), flush=True)
            except Exception as exc:  # noqa: BLE001 - e.g. a Param refused: the caller asserts on it
                print("ERROR " + json.dumps({"type": type(exc).__name__, "message": str(exc)}), flush=True)
        return
    dag_id, conf, traffic = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    result = run_one(bag, dag_id, conf, traffic, sys.argv[4] if len(sys.argv) > 4 else None)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
