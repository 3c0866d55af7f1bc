"""Router decision speed and Unleash compatibility, against UnleashClient in the same run.

1. Agreement: our bucketing vs UnleashClient.is_enabled with a flexibleRollout strategy
   (stickiness userId, groupId = flag name), bootstrapped offline, on 100 000 user ids at every
   stage percentage. Target: identical on every id.
2. Speed: median per-decision time of our full router decision (snapshot lookup + bucketing +
   flag logic) vs UnleashClient.is_enabled. Targets: <= 2 µs median and >= 20x faster.

Usage: python bench/bench_router.py [--users 100000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rollout import stages  # noqa: E402
from rollout.bucketing import DEFAULT_GROUP, in_rollout  # noqa: E402
from rollout.router import RequestContext, decide  # noqa: E402


def unleash_client(percentage: int, cache_dir: str):
    from UnleashClient import UnleashClient
    from UnleashClient.cache import FileCache

    features = {"version": 1, "features": [{"name": DEFAULT_GROUP, "enabled": True, "strategies": [
        {"name": "flexibleRollout", "parameters": {"rollout": str(percentage), "stickiness": "userId",
                                                     "groupId": DEFAULT_GROUP}}]}]}
    cache = FileCache(f"bench-{percentage}", directory=cache_dir)
    cache.bootstrap_from_dict(features)
    client = UnleashClient(url="http://127.0.0.1:9/api", app_name="ocr-migrate-bench", cache=cache,
                           disable_metrics=True, disable_registration=True)
    client.initialize_client(fetch_toggles=False)
    return client


def per_call_us(fn, items, batches: int = 15) -> float:
    """Median over batches of the mean time per call (µs)."""
    samples = []
    for _ in range(batches):
        start = time.perf_counter()
        for item in items:
            fn(item)
        samples.append((time.perf_counter() - start) / len(items) * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    args = parser.parse_args()
    users = [f"user-{i}" for i in range(args.users)]
    with tempfile.TemporaryDirectory() as cache_dir:
        disagreements = {}
        for pct in stages.STAGE_PERCENTAGES[1:]:
            client = unleash_client(pct, cache_dir)
            disagreements[pct] = sum(client.is_enabled(DEFAULT_GROUP, {"userId": u}) != in_rollout(u, pct)
                                     for u in users)
            client.destroy()
        client = unleash_client(35, cache_dir)
        sample = users[:10_000]
        contexts = [{"userId": u} for u in sample]
        unleash_us = per_call_us(lambda ctx: client.is_enabled(DEFAULT_GROUP, ctx), contexts, batches=5)
        client.destroy()
    snap = stages.advance(stages.Snapshot(), percentage=35)
    holder = {"snapshot": snap}  # what FlagReader.get() returns: an attribute read
    requests = [RequestContext(u) for u in sample]
    ours_us = per_call_us(lambda ctx: decide(ctx, holder["snapshot"]), requests)
    total = sum(disagreements.values())
    print(f"agreement with UnleashClient flexibleRollout: {args.users} users x {len(disagreements)} percentages, "
          f"{total} disagreements (target 0)")
    print(f"router decision: {ours_us:.2f} µs median (target <= 2 µs) vs UnleashClient.is_enabled "
          f"{unleash_us:.2f} µs: {unleash_us / ours_us:.1f}x faster (target >= 20x)")
    print(json.dumps({"disagreements": disagreements, "router_us": round(ours_us, 3),
                      "unleash_us": round(unleash_us, 3), "ratio": round(unleash_us / ours_us, 1)}))


if __name__ == "__main__":
    main()
