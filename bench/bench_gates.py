"""Do the gates work? Runs the gate the way the migration DAG's sensor does — again and again on a
growing window — over simulated traffic, for an A/A scenario and each bad one.

Each run: a stage at ``--percentage`` % open source; the gate looks every ``--look-every`` canary
documents until it says FAIL (a rollback), PASS (the stage advances) or the run reaches
``--max-documents``. PASS needs ``--min-documents`` canary documents (the stage's minimum).
Printed: the false rollback rate (A/A runs that FAIL; goal <= 1 %), the detection rate (bad runs
that FAIL within ``--within`` canary documents; goal >= 95 % for +5 pp errors within 500), the
escape rate (bad runs that PASS), the median canary documents until detection, and INCONCLUSIVE /
PASS counts for missing data (goal: never PASS). The anchor, measured in the same run, is a
fixed-sample z-test on the error rates checked at every look (what a naive gate does): its false
rollback rate shows what the sequential test buys.

Usage: python bench/bench_gates.py [--runs 200] [--percentage 15]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats as sps

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rollout.health.gates import FAIL, PASS, decide  # noqa: E402
from rollout.health.simulate import SCENARIOS, samples_of  # noqa: E402
from rollout.health.thresholds import Thresholds  # noqa: E402
from rollout.router import GOOGLE, OPENSOURCE  # noqa: E402


def run_once(scenario, args, thresholds, rng) -> dict:
    """One stage: looks until a verdict; also the naive z-test's first alarm on the same data."""
    n_max = args.max_documents
    n_base_max = round(n_max * (100 - args.percentage) / args.percentage)
    canary = scenario.canary.reads(n_max, rng)
    baseline = scenario.baseline.reads(n_base_max, rng)
    naive_alarm = None
    for n in range(args.look_every, n_max + 1, args.look_every):
        nb = round(n * (100 - args.percentage) / args.percentage)
        b = samples_of(GOOGLE, *(v[:nb] for v in baseline))
        c = samples_of(OPENSOURCE, *(v[:n] for v in canary)) if not scenario.canary_missing \
            else samples_of(OPENSOURCE, *(v[:0] for v in canary))
        if naive_alarm is None and c.documents and _naive_z(c, b) < 0.01:
            naive_alarm = n
        result = decide(c, b, thresholds)
        if result.verdict in (PASS, FAIL):
            return {"verdict": result.verdict, "documents": n, "naive_alarm": naive_alarm,
                    "reason": result.reason}
    return {"verdict": "INCONCLUSIVE", "documents": n_max, "naive_alarm": naive_alarm, "reason": result.reason}


def _naive_z(c, b) -> float:
    """One-sided two-proportion z-test p-value (canary error rate higher)."""
    pooled = (c.failures + b.failures) / (c.documents + b.documents)
    if pooled in (0, 1):
        return 1.0
    se = math.sqrt(pooled * (1 - pooled) * (1 / c.documents + 1 / b.documents))
    return float(sps.norm.sf((c.failures / c.documents - b.failures / b.documents) / se))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="runs per scenario")
    parser.add_argument("--percentage", type=int, default=15)
    parser.add_argument("--look-every", type=int, default=25)
    parser.add_argument("--min-documents", type=int, default=500)
    parser.add_argument("--max-documents", type=int, default=1000)
    parser.add_argument("--within", type=int, default=500)
    parser.add_argument("--tau", type=float, default=Thresholds.mixture_tau, help="the mSPRT mixture's spread")
    parser.add_argument("--seed", type=int, default=20261130)
    args = parser.parse_args()
    thresholds = Thresholds(min_documents=args.min_documents, mixture_tau=args.tau)
    rng = np.random.default_rng(args.seed)
    summary = {}
    for name, scenario in SCENARIOS.items():
        start = time.perf_counter()
        runs = [run_once(scenario, args, thresholds, rng) for _ in range(args.runs)]
        fails = [r for r in runs if r["verdict"] == FAIL]
        passes = [r for r in runs if r["verdict"] == PASS]
        within = [r for r in fails if r["documents"] <= args.within]
        naive = [r for r in runs if r["naive_alarm"] is not None]
        summary[name] = {
            "runs": len(runs), "fail": len(fails), "pass": len(passes),
            "inconclusive": len(runs) - len(fails) - len(passes),
            "fail_rate": len(fails) / len(runs), "detected_within": len(within) / len(runs),
            "median_documents_to_fail": statistics.median(r["documents"] for r in fails) if fails else None,
            "naive_ztest_alarm_rate": len(naive) / len(runs), "seconds": round(time.perf_counter() - start, 1)}
        s = summary[name]
        if name == "aa":
            line = (f"A/A: false rollback rate {s['fail_rate']:.1%} (goal <= 1 %), PASS {s['pass']}/{s['runs']}, "
                    f"INCONCLUSIVE {s['inconclusive']}; naive z-test at every look would have rolled back "
                    f"{s['naive_ztest_alarm_rate']:.1%}")
        elif name == "missing":
            line = (f"{scenario.description}: PASS {s['pass']}/{s['runs']} (goal 0), INCONCLUSIVE "
                    f"{s['inconclusive']}, FAIL {s['fail']}")
        else:
            line = (f"{scenario.description}: detected {s['detected_within']:.1%} within {args.within} canary "
                    f"documents, {s['fail_rate']:.1%} overall, escaped (PASS) {s['pass'] / s['runs']:.1%}, "
                    f"median canary documents until detection {s['median_documents_to_fail']}")
        print(f"{line}  [{s['seconds']} s]", flush=True)
        if fails and name != "aa":
            print(f"    e.g. {fails[0]['reason'][:160]}")
    print(json.dumps({"percentage": args.percentage, "look_every": args.look_every,
                      "min_documents": args.min_documents, "scenarios": summary}))


if __name__ == "__main__":
    main()
