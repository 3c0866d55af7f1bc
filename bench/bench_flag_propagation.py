"""How fast a flag change reaches every OCR service replica (issue 16): two replicas
(``ocr-migrate serve``) sharing one PostgreSQL flag store and one Redis, changes made in turn
through replica 1's admin API, replica 2's admin API and the CLI; for each, the time from the
change (its audit row) until both replicas serve the new version (GET /v1/admin/flags, polled
every 10 ms). The harness is staging/propagation.py, shared with
tests/faults/test_flag_propagation.py.

1. Redis up: the change is published (a key + a pub/sub notification).   target: p99 <= 2 s
2. Redis down: the replicas poll SQL every OCR_MIGRATE_FLAG_REFRESH_S.     target: <= that period
   plus a poll's cost

Usage: python bench/bench_flag_propagation.py [--changes 30] [--postgres postgres@127.0.0.1:5432]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from staging.propagation import Replicas, percentile  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--postgres", default="postgres@127.0.0.1:5432")
    args = parser.parse_args()
    with Replicas(args.postgres) as replicas:
        up = replicas.measure(args.changes, ("replica 1", "replica 2", "cli"))
        print(f"flag change reaching both replicas, Redis up ({len(up)} changes via replica 1, replica 2, CLI): "
              f"p50 {statistics.median(up) * 1000:.0f} ms, p99 {percentile(up, 0.99) * 1000:.0f} ms "
              f"(target p99 <= 2000 ms)")
        replicas.redis.stop()
        down = replicas.measure(max(6, args.changes // 3), ("replica 1", "cli"))
        print(f"flag change reaching both replicas, Redis down ({len(down)} changes): p50 "
              f"{statistics.median(down) * 1000:.0f} ms, max {max(down) * 1000:.0f} ms "
              f"(polling period {replicas.refresh_s * 1000:.0f} ms, one poll now {replicas.poll_cost_s() * 1000:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
