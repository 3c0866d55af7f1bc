"""Event writer throughput into the real PostgreSQL, against a row-at-a-time anchor in the same run.

Target: >= 5 000 events/s sustained through EventWriter (batched, off the request path).
Also the request path's cost per event: ``record()`` (the queue plus the journal append that lets
an acknowledged event survive a SIGKILL) against the anchor's cost per event, and what an fsync
per event would add.

Usage: python bench/bench_events.py [--events 100000] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, func, insert, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rollout.events import EventWriter, OcrEvent, ocr_events, user_bucket  # noqa: E402


def event(i: int) -> OcrEvent:
    return OcrEvent(request_id=f"bench-{i}", engine="tesseract" if i % 2 else "documentai", stage=3, percentage=35,
                    duration_ms=400 + i % 300, success=i % 40 != 0, user_bucket=user_bucket(f"u{i % 5000}"),
                    confidence=0.93, pages=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--pg", default=os.environ.get("OCR_MIGRATE_TEST_PG",
                                                       "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    name = f"ocr_migrate_bench_{os.getpid()}"
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = args.pg.rsplit("/", 1)[0] + f"/{name}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            writer = EventWriter(url, Path(tmp) / "spool.jsonl", batch_size=2000, flush_s=0.05)
            writer.init_schema()
            db = create_engine(url)
            anchor_n = min(2000, args.events)
            start = time.perf_counter()
            for i in range(anchor_n):  # the anchor: one transaction per event
                with db.begin() as conn:
                    conn.execute(insert(ocr_events), [event(i).to_row()])
            anchor_rate = anchor_n / (time.perf_counter() - start)
            with db.begin() as conn:
                conn.execute(ocr_events.delete())
            created = [event(i) for i in range(args.events)]  # creation apart: record() alone is timed
            writer.start()
            start = time.perf_counter()
            for e in created:
                writer.record(e)
            enqueue_s = time.perf_counter() - start
            writer.close(timeout_s=600)
            total_s = time.perf_counter() - start
            with db.connect() as conn:
                stored = conn.execute(select(func.count()).select_from(ocr_events)).scalar_one()
            db.dispose()
            writer.db.dispose()
            fsync_s = fsync_per_event(Path(tmp) / "fsync-probe.jsonl", created[:200])
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    rate = args.events / total_s
    record_us, anchor_us = enqueue_s / args.events * 1e6, 1e6 / anchor_rate
    print(f"event writer: {args.events} events stored in {total_s:.2f} s = {rate:,.0f} events/s (target >= 5,000) "
          f"vs row-at-a-time anchor {anchor_rate:,.0f} events/s: {rate / anchor_rate:.1f}x; stored {stored}/{args.events}")
    print(f"request path: record() {record_us:.1f} µs/event (queue + journal append, while the writer runs) "
          f"vs the anchor's {anchor_us:.0f} µs/event: {record_us / anchor_us:.3f}x; "
          f"an fsync per event would add {fsync_s * 1e6:.0f} µs ({fsync_s * 1e6 / record_us:.0f}x record())")
    print(json.dumps({"events": args.events, "events_per_s": round(rate), "anchor_events_per_s": round(anchor_rate),
                      "ratio": round(rate / anchor_rate, 1), "record_us": round(record_us, 2),
                      "record_vs_anchor": round(record_us / anchor_us, 4), "fsync_us": round(fsync_s * 1e6),
                      "stored": stored}))


def fsync_per_event(path: Path, events: list[OcrEvent]) -> float:
    """Seconds an fsync after each journal append costs on this disk (what record() does not do)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        lines = [(e.to_json() + "\n").encode() for e in events]
        start = time.perf_counter()
        for line in lines:
            os.write(fd, line)
            os.fsync(fd)
        return (time.perf_counter() - start) / len(lines)
    finally:
        os.close(fd)


if __name__ == "__main__":
    main()
