"""Runs one DAG with ``dag.test()`` in a process of its own (Airflow reads its configuration once
per process; each test gets a fresh AIRFLOW_HOME), with simulated traffic flowing into the
metrics database while it runs — what the OCR service would write — and prints the outcome as
one JSON line (``RESULT {...}``).

Usage: python -m tests.airflow_runner DAG_ID CONF_JSON TRAFFIC [--clear TASK_ID]
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


def main() -> None:
    dag_id, conf, traffic = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag()
    if bag.import_errors:
        print("RESULT " + json.dumps({"import_errors": {k: str(v) for k, v in bag.import_errors.items()}}))
        return
    dag = bag.get_dag(dag_id)
    feeder = None
    if traffic != "none":
        feeder = Traffic(traffic)
        feeder.start()
    started = time.monotonic()
    run = dag.test(run_conf=conf, mark_success_pattern=sys.argv[4] if len(sys.argv) > 4 else None)
    if feeder:
        feeder.stopped.set()
        feeder.join(5)
    states = {ti.task_id: str(ti.state.value if hasattr(ti.state, "value") else ti.state)
              for ti in run.get_task_instances()}
    print("RESULT " + json.dumps({"state": str(run.state), "run_id": run.run_id, "tis": states,
                                  "seconds": round(time.monotonic() - started, 1)}), flush=True)


if __name__ == "__main__":
    main()
