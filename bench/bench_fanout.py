"""The evaluation fanned out over Celery workers (issue 16, item 3): ``ocr_evaluate`` on the same
corpus with 1 Celery worker and with 2, against ``run_documents`` in one process (the anchor,
measured in the same run with 1 and 2 worker processes).

The topology is scripts/distributed.py's (CeleryExecutor, PostgreSQL metadata, a Redis broker,
api-server, scheduler, dag-processor, triggerer), here without the OCR service. Each Celery
worker has one task slot, as a one-core machine would: 1 worker runs the shards one after
another, 2 run two at a time. The wall time is the DAG run's, from Airflow (start to end: the
split, the mapped shards and the report). The sharded report must score every document as the
anchor does.

On this 2-core machine the two workers share the cores with Airflow's own processes (and with
whatever else runs here), so 2 workers against 1 shows the fan-out's overhead more than its
gain. The last line estimates, from the measured per-shard overhead and reading time, what k
workers on k cores would give.

Usage: python bench/bench_fanout.py [--corpus data/golden-full] [--limit 96] [--shards 4]
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from distributed import DistributedDemo  # noqa: E402
from migration_demo import BIN, build_parser, run_demo, say  # noqa: E402
from staging.processes import free_port, log_tail, port_open, wait_until  # noqa: E402

DAG_ID = "ocr_evaluate"


def anchor(docs, workers: int) -> tuple[float, dict]:
    """``run_documents`` in this process with ``workers`` processes: wall seconds and the report."""
    from ocr_engines.evaluation import run_documents, summarise
    from rollout.settings import get_settings

    start = time.perf_counter()
    scores = list(run_documents(docs, "tesseract", workers, get_settings().engine_options("tesseract")))
    elapsed = time.perf_counter() - start
    return elapsed, summarise(scores, elapsed)


class FanoutBench(DistributedDemo):
    """The distributed topology without the OCR service; ``ocr_evaluate`` with 1, then 2 workers."""

    def __init__(self, args, conf: dict):
        super().__init__(args)
        self.conf = conf
        self.runs: dict[int, dict] = {}

    def run(self) -> int:
        if self.home.exists():
            shutil.rmtree(self.home)
        (self.home / "logs").mkdir(parents=True)
        ports = {"airflow": free_port(), "service": free_port()}
        base = {k: v for k, v in os.environ.items() if not k.startswith(("OCR_MIGRATE_", "AIRFLOW"))}
        self.ocr_env = dict(base, OMP_THREAD_LIMIT="1", OCR_MIGRATE_DATA_DIR=str(self.home), **self.stores())
        af_env, password = self.airflow_env(self.ocr_env, ports)
        env = self.start_airflow(af_env, ports, workers=("worker-1",), concurrency=1)
        self.wait_ready("worker-1")
        api = f"http://127.0.0.1:{ports['airflow']}"
        token = self.token(api, password)
        self.wait_for_dag(api, token, DAG_ID)
        # a first run is slower everywhere (the first task processes, the scheduler's first
        # loops): one document, not measured
        self.measure(api, token, "warm-up", {**self.conf, "limit": 1, "shards": 1})
        self.runs[1] = self.measure(api, token, "1 worker", self.conf)
        self.start_worker("worker-2", env, 1)
        self.wait_ready("worker-2")
        self.runs[2] = self.measure(api, token, "2 workers", self.conf)
        return 0

    def wait_ready(self, name: str) -> None:
        """Until the Celery worker has connected to the broker (it logs 'ready.')."""
        log_path = self.home / "logs" / f"{name}.log"
        if not wait_until(lambda: b" ready." in log_path.read_bytes(), 120, 0.5):
            raise SystemExit(f"{name} did not connect to the broker:\n{log_tail(log_path)}")

    def measure(self, api: str, token: str, label: str, conf: dict) -> dict:
        """One ocr_evaluate run: Airflow's wall time, each shard's task, the report."""
        import httpx

        headers = {"Authorization": f"Bearer {token}"}
        output = self.home / f"report-{label.replace(' ', '-')}.json"
        run = self.trigger(api, token, {**conf, "output": str(output)}, DAG_ID)
        runs = f"{api}/api/v2/dags/{DAG_ID}/dagRuns/{run}"
        say(f"{DAG_ID} run {run}: {label}")
        deadline = time.monotonic() + self.args.timeout_s
        while (state := httpx.get(runs, headers=headers, timeout=30).json())["state"] not in ("success", "failed"):
            if time.monotonic() > deadline:
                raise SystemExit(f"{DAG_ID} did not finish within {self.args.timeout_s:g} s")
            time.sleep(1)
        if state["state"] != "success":
            raise SystemExit(f"{DAG_ID} run {run} {state['state']}; logs under {self.home / 'airflow' / 'logs'}")
        tis = httpx.get(f"{runs}/taskInstances?limit=200", headers=headers, timeout=30).json()["task_instances"]
        summary = httpx.get(f"{runs}/taskInstances/report/xcomEntries/return_value",
                            params={"deserialize": True, "stringify": False}, headers=headers, timeout=30).json()
        shards = sorted((ti for ti in tis if ti["task_id"] == "evaluate_shard"), key=lambda ti: ti["map_index"])
        return {"wall_s": seconds(state["start_date"], state["end_date"]), "report": json.loads(output.read_text()),
                "tasks": [seconds(ti["start_date"], ti["end_date"]) for ti in shards],
                "starts": [stamp(ti["start_date"]) for ti in shards], "ends": [stamp(ti["end_date"]) for ti in shards],
                "hosts": [ti.get("hostname") or "?" for ti in shards],
                "read_s": [s["read_s"] for s in summary["value"]["shards"]]}


def stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def seconds(start: str, end: str) -> float:
    return stamp(end) - stamp(start)


def model(one: dict, shards: int):
    """From the 1-worker run: the fixed part of a run (split, report, their scheduling), the
    overhead a shard's task adds to its reading, the gap between one shard's end and the next
    one's start, and the reading work. Returns T(k workers, n shards)."""
    span = max(one["ends"]) - min(one["starts"])
    fixed = one["wall_s"] - span
    overhead = sum(t - r for t, r in zip(one["tasks"], one["read_s"])) / shards
    gap = (span - sum(one["tasks"])) / max(1, shards - 1)
    work = sum(one["read_s"])

    def wall(k: int, n: int) -> float:
        rounds = math.ceil(n / k)
        return fixed + rounds * (overhead + work / n) + (rounds - 1) * gap

    return wall, {"fixed": fixed, "overhead": overhead, "gap": gap, "work": work}


def corpus_docs(corpus: Path, limit: int):
    from ocr_engines.evaluation import golden_documents

    if not (corpus / "manifest.json").is_file():  # as scripts/evaluate.sh does
        say(f"generating the golden corpus into {corpus} (100 invoices, 300 documents)")
        subprocess.run([str(BIN / "ocr-migrate"), "corpus", "--out", str(corpus), "--count", "100"], check=True)
    docs = golden_documents(corpus)
    return docs[:limit] if limit else docs


def main() -> int:
    parser = build_parser(__doc__.split("\n\n")[0])
    parser.set_defaults(data_dir="data/bench-fanout", timeout_s=900)
    parser.add_argument("--corpus", default="data/golden-full")
    parser.add_argument("--limit", type=int, default=96, help="the corpus's first N documents (0 = all)")
    parser.add_argument("--shards", type=int, default=4)
    args = parser.parse_args()
    if not port_open(5432):
        raise SystemExit("PostgreSQL is not running on 127.0.0.1:5432 (see README \"Scaling out\")")
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    corpus = (ROOT / args.corpus).resolve()
    docs = corpus_docs(corpus, args.limit)
    say(f"corpus: {len(docs)} documents of {corpus}")
    anchors = {n: anchor(docs, n) for n in (1, 2)}
    bench = FanoutBench(args, {"corpus": str(corpus), "limit": args.limit, "shards": args.shards})
    code = run_demo(bench)
    if code or len(bench.runs) < 2:
        return code or 1
    one, two = bench.runs[1], bench.runs[2]
    same = all(run["report"]["overall"] == anchors[1][1]["overall"] for run in (one, two))
    print()
    print(f"anchor run_documents in one process, {len(docs)} documents: 1 worker process {anchors[1][0]:.1f} s, "
          f"2 worker processes {anchors[2][0]:.1f} s (2/1 = {anchors[2][0] / anchors[1][0]:.2f})")
    for n, run in ((1, one), (2, two)):
        hosts = ", ".join(f"{h} {run['hosts'].count(h)}" for h in sorted(set(run["hosts"])))
        print(f"ocr_evaluate, CeleryExecutor, {n} Celery worker{'s' if n > 1 else ''} x 1 slot, {args.shards} "
              f"shards: {run['wall_s']:.1f} s wall = {run['wall_s'] / anchors[n][0]:.2f}x the anchor with {n} "
              f"process{'es' if n > 1 else ''} (shards per worker: {hosts}; scores as the anchor's: "
              f"{'yes' if same else 'NO'})")
    wall, parts = model(one, args.shards)
    print(f"ratio 2 workers / 1 worker: {two['wall_s'] / one['wall_s']:.2f} (anchor 2/1 processes: "
          f"{anchors[2][0] / anchors[1][0]:.2f}; the model below predicts {wall(2, args.shards) / wall(1, args.shards):.2f}"
          " with 2 free cores)")
    estimates = ", ".join(f"{k} workers {wall(k, k) / wall(1, k):.2f}" for k in (4, 8, 16))
    print(f"estimate, not measured: k workers on k cores, k shards, against 1 worker: {estimates}. From the 1-worker "
          f"run: {parts['work']:.1f} s of reading, {parts['overhead']:.1f} s of task overhead per shard, "
          f"{parts['gap']:.1f} s between shards, {parts['fixed']:.1f} s fixed (split, report, scheduling); the "
          f"floor with many cores is ~{parts['fixed'] + parts['overhead']:.0f} s a run")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
