"""How fast a flag change reaches every OCR service replica (issue 16): two replicas
(``ocr-migrate serve``) sharing one PostgreSQL flag store and one Redis, changes made in turn
through replica 1's admin API, replica 2's admin API and the CLI; for each, the time until both
replicas serve the new version (GET /v1/admin/flags, polled every 10 ms).

1. Redis up: the change is published (a key + a pub/sub notification).   target: p99 <= 2 s
2. Redis down: the replicas poll SQL every OCR_MIGRATE_FLAG_REFRESH_S.     target: <= that period
   plus a poll's cost

Usage: python bench/bench_flag_propagation.py [--changes 30] [--postgres postgres@127.0.0.1:5432]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rollout.staging.processes import RedisProcess, free_port, log_tail, port_open, wait_until  # noqa: E402

BIN = Path(sys.executable).parent
REFRESH_S = 2.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--postgres", default="postgres@127.0.0.1:5432")
    args = parser.parse_args()
    import httpx
    import psycopg

    database = f"ocr_flags_bench_{secrets.token_hex(3)}"
    with psycopg.connect(f"postgresql://{args.postgres}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    redis = RedisProcess()
    redis.start()
    work = Path(os.environ.get("TMPDIR", "/tmp")) / database
    work.mkdir()
    key = secrets.token_urlsafe(12)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCR_MIGRATE_")}
    env.update(OMP_THREAD_LIMIT="1", OCR_MIGRATE_DATA_DIR=str(work), OCR_MIGRATE_ACTOR="bench",
               OCR_MIGRATE_DATABASE_URL=f"postgresql+psycopg://{args.postgres}/{database}",
               OCR_MIGRATE_REDIS_URL=f"redis://127.0.0.1:{redis.port}/1", OCR_MIGRATE_ADMIN_API_KEYS=f"ops:{key}",
               OCR_MIGRATE_FLAG_REFRESH_S=str(REFRESH_S))
    ports = [free_port(), free_port()]
    procs = []
    try:
        for port in ports:
            log = open(work / f"replica-{port}.log", "ab")
            procs.append(subprocess.Popen([str(BIN / "ocr-migrate"), "serve", "--port", str(port)], env=env,
                                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        for port, proc in zip(ports, procs):
            if not wait_until(lambda: port_open(port), 120, 0.2, alive=lambda: proc.poll() is None):
                raise SystemExit(f"replica on :{port} did not start:\n{log_tail(work / f'replica-{port}.log')}")
        headers = {"X-API-Key": key}
        client = httpx.Client(timeout=5)

        def versions() -> list[int]:
            return [client.get(f"http://127.0.0.1:{p}/v1/admin/flags", headers=headers).json()["version"]
                    for p in ports]

        def change(i: int, via: str) -> None:
            percentage = 10 + i % 80
            if via == "cli":
                subprocess.run([str(BIN / "ocr-migrate"), "set-percentage", str(percentage), "--reason",
                                f"bench change {i}"], env=env, check=True, capture_output=True)
                return
            port = ports[0] if via == "replica 1" else ports[1]
            client.post(f"http://127.0.0.1:{port}/v1/admin/flags/set-percentage", headers=headers,
                        json={"percentage": percentage, "reason": f"bench change {i}"}).raise_for_status()

        def measure(count: int, vias: tuple[str, ...]) -> list[float]:
            out = []
            for i in range(count):
                target = max(versions()) + 1
                start = time.perf_counter()
                change(i, vias[i % len(vias)])
                while min(versions()) < target:
                    time.sleep(0.01)
                out.append(time.perf_counter() - start)
            return out

        up = measure(args.changes, ("replica 1", "replica 2", "cli"))
        print(f"flag change reaching both replicas, Redis up ({len(up)} changes via replica 1, replica 2, CLI): "
              f"p50 {statistics.median(up) * 1000:.0f} ms, p99 {percentile(up, 0.99) * 1000:.0f} ms "
              f"(target p99 <= 2000 ms)")
        redis.stop()
        down = measure(max(6, args.changes // 3), ("replica 1", "cli"))
        print(f"flag change reaching both replicas, Redis down ({len(down)} changes): p50 "
              f"{statistics.median(down) * 1000:.0f} ms, max {max(down) * 1000:.0f} ms "
              f"(polling period {REFRESH_S * 1000:.0f} ms)")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        redis.stop()
        with psycopg.connect(f"postgresql://{args.postgres}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
