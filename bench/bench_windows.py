"""Window metrics at scale on the real PostgreSQL: a 1-hour window at 1 M and at 10 M events.

Targets: ``window_metrics`` over a 1-hour window p95 <= 50 ms at 10 M events, and p95 at 10 M
<= 1.5 x p95 at 1 M (the cost grows with the window, not with the table).

The history has a constant rate, so both tables hold the same number of events per hour (~1 400),
and the table grows as in production, in time order: 1 M events are the first 30 days, growing to
10 M appends the 270 days after them. Rows are generated server-side (INSERT ... SELECT over
generate_series): documentai ~85 % / tesseract ~15 %, four stages, ~2 % failures with error
classes, lognormal durations, confidences, ~5 % shadow reads with per-field agreement, unique event
ids. Each size is VACUUM ANALYZEd after loading (what autovacuum does to an insert-only table). The
window queries' indexes are maintained row by row as in production; only the unique constraint on
the random event ids (which window queries do not use) is rebuilt after each load, for speed.

Timing: random 1-hour windows across the whole history, each queried once, by engine and then by
engine and stage. The 1 M table is timed when loaded, then kept as the anchor (a copy of its
database is grown to 10 M), and the final figures time the 1 M and the 10 M tables alternately, so
that load on this shared machine falls on both alike. Then one more day is appended to the 10 M
table without VACUUM (the latest hours before autovacuum marks them all-visible) and timed too.
The throw-away databases are dropped at the end.

Usage: python bench/bench_windows.py [--rows 1000000] [--factor 10] [--windows 60] [--explain] [--keep]
                                     [--url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import DBAPIError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rollout.db import metadata, ocr_events  # noqa: E402
from rollout.health.windows import window_metrics, window_series  # noqa: E402

ORIGIN = datetime(2026, 1, 1, tzinfo=timezone.utc)  # the first event
DAYS_PER_SMALL = 30
HOUR = timedelta(hours=1)

# One statement per chunk; the inner subquery (fenced by OFFSET 0) draws each row's random numbers
# once, the outer one derives the columns from them.
GENERATE = text("""
INSERT INTO ocr_events (at, event_id, request_id, user_bucket, engine, stage, percentage, duration_ms, success,
                        error_class, confidence, pages, fallback, shadow, shadow_agreement, field_agreement)
SELECT :origin + make_interval(secs => (i + r_at) * :step),
       md5('bench-event-' || i),
       'req-' || to_hex(i),
       substr(md5('user-' || (i * 7919) % 40000), 1, 16),
       engine, stage, (ARRAY[5, 15, 35, 60])[stage],
       greatest(40, round(exp(CASE WHEN engine = 'documentai' THEN 7.0 ELSE 6.6 END
                              + CASE WHEN ok THEN 0.45 ELSE 0.9 END * z1)))::int,
       ok,
       CASE WHEN NOT ok THEN (ARRAY['OcrTimeoutError', 'EngineUnavailableError', 'CorruptDocumentError',
                                    'RateLimitedError'])[1 + floor(r_err * r_err * 4)::int] END,
       CASE WHEN ok THEN least(0.999, greatest(0.2, CASE WHEN engine = 'documentai' THEN 0.94 ELSE 0.89 END
                                                      + 0.04 * z2)) END,
       1 + floor(r_pages ^ 4 * 6)::int,
       r_fallback < 0.01,
       shadow,
       CASE WHEN shadow THEN ((s1 = 'match')::int + (s2 = 'match')::int + (s3 = 'match')::int) / 3.0 END,
       CASE WHEN shadow THEN json_build_object('invoice_id', s1, 'total_amount', s2, 'due_date', s3) END
FROM (
    SELECT i, random() AS r_at, random() AS r_err, random() AS r_pages, random() AS r_fallback,
           CASE WHEN random() < 0.85 THEN 'documentai' ELSE 'tesseract' END AS engine,
           1 + floor(random() * 4)::int AS stage,
           random() >= 0.02 AS ok,
           random() < 0.05 AS shadow,
           sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z1,
           sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z2,
           (ARRAY['match', 'match', 'match', 'match', 'match', 'match', 'match', 'match', 'mismatch',
                  'missing'])[1 + floor(random() * 10)::int] AS s1,
           (ARRAY['match', 'match', 'match', 'match', 'match', 'match', 'match', 'mismatch', 'mismatch',
                  'missing'])[1 + floor(random() * 10)::int] AS s2,
           (ARRAY['match', 'match', 'match', 'match', 'match', 'match', 'match', 'match', 'missing',
                  'ignored'])[1 + floor(random() * 10)::int] AS s3
    FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint) - 1) AS g(i)
    OFFSET 0
) AS r
""")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def load(db, origin: datetime, lo: int, hi: int, step_s: float, chunk: int = 1_000_000) -> float:
    """Rows lo..hi-1 (row i is about i * step_s seconds after origin); returns the seconds it took."""
    began = time.perf_counter()
    with db.begin() as conn:  # random ids make one random B-tree insert per row: a sorted build is faster
        unique = conn.execute(text("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                                   "WHERE conrelid = 'ocr_events'::regclass AND contype = 'u'")).all()
        for name, _ in unique:
            conn.execute(text(f'ALTER TABLE ocr_events DROP CONSTRAINT "{name}"'))
    for a in range(lo, hi, chunk):
        b = min(hi, a + chunk)
        t = time.perf_counter()
        with db.begin() as conn:
            conn.execute(GENERATE, {"origin": origin, "step": step_s, "lo": a, "hi": b})
        log(f"  rows {a:,}..{b - 1:,} inserted in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    with db.begin() as conn:
        conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        for name, definition in unique:
            conn.execute(text(f'ALTER TABLE ocr_events ADD CONSTRAINT "{name}" {definition}'))
    log(f"  unique constraint on event_id rebuilt in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    with db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE ocr_events"))
    log(f"  VACUUM ANALYZE in {time.perf_counter() - t:.1f} s")
    return time.perf_counter() - began


def pctl(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(len(ordered) - 1, int(pos) + 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def random_start(rng: random.Random, first_s: float, last_s: float, length: timedelta) -> datetime:
    """A window of this length inside [ORIGIN + first_s, ORIGIN + last_s)."""
    return ORIGIN + timedelta(seconds=rng.uniform(first_s, last_s - length.total_seconds()))


def time_windows(targets: list[tuple], windows: int, rng: random.Random, modes=(False, True)) -> dict:
    """window_metrics on random 1-hour windows, each queried once, by engine and then by engine and stage.

    ``targets``: (name, db, first_s, last_s); several are timed in alternation (the order
    flipping every round), so that whatever else the machine does falls on all of them alike."""
    timings = {(name, m): [] for name, *_ in targets for m in modes}
    documents = {name: [] for name, *_ in targets}
    for by_stage in modes:
        for k in range(windows):
            for name, db, first_s, last_s in (targets if k % 2 == 0 else targets[::-1]):
                start = random_start(rng, first_s, last_s, HOUR)
                t = time.perf_counter()
                stats = window_metrics(db, start, start + HOUR, by_stage=by_stage)
                timings[(name, by_stage)].append((time.perf_counter() - t) * 1000)
                documents[name].append(sum(s.documents + s.shadow_documents for s in stats))
    out = {name: {} for name, *_ in targets}
    for (name, by_stage), values in timings.items():
        out[name]["by_stage" if by_stage else "by_engine"] = {
            "p50_ms": round(statistics.median(values), 2), "p95_ms": round(pctl(values, 0.95), 2),
            "max_ms": round(max(values), 2), "rows_per_window": round(statistics.mean(documents[name]))}
    return out


def time_series(db, first_s: float, last_s: float, rng: random.Random, samples: int = 5) -> dict:
    """window_series over random 24-hour windows in 1-hour buckets (a day's chart)."""
    day, timings, points = timedelta(hours=24), [], 0
    for _ in range(samples):
        start = random_start(rng, first_s, last_s, day)
        t = time.perf_counter()
        points = len(window_series(db, start, start + day, 3600))
        timings.append((time.perf_counter() - t) * 1000)
    return {"p50_ms": round(statistics.median(timings), 1), "max_ms": round(max(timings), 1), "points": points}


def explain(db, start: datetime, show: bool) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) of the statements one window_metrics call sends; the scans they use."""
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(db, "before_cursor_execute", capture)
    try:
        window_metrics(db, start, start + HOUR)
    finally:
        event.remove(db, "before_cursor_execute", capture)
    scans, buffers, heap_fetches, executed = [], 0, 0, 0.0
    with db.connect() as conn:
        for statement, parameters in statements:
            plan = [row[0] for row in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement,
                                                           parameters)]
            if show:
                print("    " + "\n    ".join(plan), flush=True)
            scans += [line.split("(")[0].strip(" ->") for line in plan if " Scan " in line or "Seq Scan" in line]
            top = next((line for line in plan if "Buffers:" in line), "")  # the top node's: the whole statement
            buffers += sum(int(n) for n in re.findall(r"(?:hit|read)=(\d+)", top))
            heap_fetches += sum(int(n) for line in plan for n in re.findall(r"Heap Fetches: (\d+)", line))
            executed += float(re.search(r"Execution Time: ([\d.]+)", plan[-1]).group(1))
    return {"scans": sorted(set(scans)), "buffers": buffers, "heap_fetches": heap_fetches,
            "server_ms": round(executed, 2)}


def append_unvacuumed_day(db, rows: int, step_s: float) -> tuple[float, float]:
    """One more day of events with no VACUUM after it, like the latest hours in production before
    autovacuum marks their pages all-visible: index-only scans then fetch those rows from the heap."""
    per_day = round(86400 / step_s)
    with db.begin() as conn:
        conn.execute(GENERATE, {"origin": ORIGIN, "step": step_s, "lo": rows, "hi": rows + per_day})
    return rows * step_s, (rows + per_day) * step_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="the small table (default 1 M)")
    parser.add_argument("--factor", type=int, default=10, help="the large table is this many times larger")
    parser.add_argument("--windows", type=int, default=60, help="random 1-hour windows per size and mode (>= 30)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of one window per size")
    parser.add_argument("--keep", action="store_true", help="keep the databases (their URLs are printed)")
    parser.add_argument("--url", default=os.environ.get("OCR_MIGRATE_TEST_PG",
                                                        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
                        help="a server URL; the throw-away databases are created next to this one")
    args = parser.parse_args()
    if args.windows < 30:
        parser.error("--windows must be >= 30")
    step_s = DAYS_PER_SMALL * 86400 / args.rows  # the same rate at both sizes
    big = args.rows * args.factor
    s, b = _label(args.rows), _label(big)
    small_s, big_s = args.rows * step_s, big * step_s  # seconds of history
    rng = random.Random(args.seed)

    names = {s: f"bench_windows_{os.getpid()}_small", b: f"bench_windows_{os.getpid()}_large"}
    url_of = {label: args.url.rsplit("/", 1)[0] + f"/{name}" for label, name in names.items()}
    admin = create_engine(args.url, isolation_level="AUTOCOMMIT")
    dbs = {}
    began = time.perf_counter()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{names[s]}"'))
        dbs[s] = create_engine(url_of[s])
        metadata.create_all(dbs[s])
        log(f"database {names[s]}, indexes {', '.join(sorted(ix.name for ix in ocr_events.indexes))}; "
            f"{3600 / step_s:,.0f} events per hour")

        log(f"loading {s} rows ({small_s / 86400:.0f} days)")
        load_small = load(dbs[s], ORIGIN, 0, args.rows, step_s)
        alone = time_windows([(s, dbs[s], 0, small_s)], args.windows, rng)[s]
        log(f"  {s} alone: by engine p50 {alone['by_engine']['p50_ms']} ms, p95 {alone['by_engine']['p95_ms']} ms; "
            f"by stage p50 {alone['by_stage']['p50_ms']} ms, p95 {alone['by_stage']['p95_ms']} ms; "
            f"~{alone['by_engine']['rows_per_window']} events per window")

        dbs[s].dispose()  # CREATE DATABASE ... TEMPLATE needs the source without sessions
        copy_database(admin, names[s], names[b])
        dbs[b] = create_engine(url_of[b])
        log(f"growing a copy to {b} rows ({(big_s - small_s) / 86400:.0f} more days)")
        load_big = load(dbs[b], ORIGIN, args.rows, big, step_s)

        for label in (s, b):  # connection pools and statement caches
            for by_stage in (False, True):
                window_metrics(dbs[label], ORIGIN, ORIGIN + HOUR, by_stage=by_stage)
        log(f"timing {args.windows} random 1-hour windows per mode on {s} and {b} rows, alternately")
        results = time_windows([(s, dbs[s], 0, small_s), (b, dbs[b], 0, big_s)], args.windows, rng)
        for label, span_s, load_s in ((s, small_s, load_small), (b, big_s, load_big)):
            r = results[label]
            with dbs[label].connect() as conn:
                r["bytes"] = conn.execute(text("SELECT pg_total_relation_size('ocr_events')")).scalar_one()
            r.update(load_s=round(load_s, 1), series_24h=time_series(dbs[label], 0, span_s, rng),
                     plan=explain(dbs[label], random_start(rng, 0, span_s, HOUR), args.explain))
            log(f"  {label}: by engine p50 {r['by_engine']['p50_ms']} ms, p95 {r['by_engine']['p95_ms']} ms; "
                f"by stage p50 {r['by_stage']['p50_ms']} ms, p95 {r['by_stage']['p95_ms']} ms; table + indexes "
                f"{r['bytes'] / 2**30:.2f} GiB; one window: {', '.join(r['plan']['scans'])}; "
                f"{r['plan']['buffers']} buffers, {r['plan']['heap_fetches']} heap fetches, "
                f"{r['plan']['server_ms']} ms in the server")

        log(f"appending one day without VACUUM to the {b} table")
        first_s, last_s = append_unvacuumed_day(dbs[b], big, step_s)
        fresh = time_windows([("fresh", dbs[b], first_s, last_s)], args.windows, rng, modes=(False,))
        fresh = fresh["fresh"]["by_engine"]
        fresh["plan"] = explain(dbs[b], random_start(rng, first_s, last_s, HOUR), args.explain)
    finally:
        for db in dbs.values():
            db.dispose()
        with admin.connect() as conn:
            for label, name in names.items():
                if args.keep:
                    log(f"kept {url_of[label]}")
                else:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    small, large = results[s], results[b]
    small["alone"] = alone
    ratio = large["by_engine"]["p95_ms"] / small["by_engine"]["p95_ms"]
    ratio_stage = large["by_stage"]["p95_ms"] / small["by_stage"]["p95_ms"]
    print(f"1-hour window at {s} rows: p50 {small['by_engine']['p50_ms']:.1f} ms, p95 {small['by_engine']['p95_ms']:.1f} ms; "
          f"at {b} rows: p50 {large['by_engine']['p50_ms']:.1f} ms, p95 {large['by_engine']['p95_ms']:.1f} ms "
          f"(target p95 <= 50 ms); ratio {b}/{s} p95 = {ratio:.2f} (target <= 1.5)")
    print(f"1-hour window by stage at {s} rows: p50 {small['by_stage']['p50_ms']:.1f} ms, "
          f"p95 {small['by_stage']['p95_ms']:.1f} ms; at {b} rows: p50 {large['by_stage']['p50_ms']:.1f} ms, "
          f"p95 {large['by_stage']['p95_ms']:.1f} ms; ratio {b}/{s} p95 = {ratio_stage:.2f}")
    print(f"1-hour window in the latest, not yet vacuumed day at {b} rows: p50 {fresh['p50_ms']:.1f} ms, "
          f"p95 {fresh['p95_ms']:.1f} ms (one window: {fresh['plan']['buffers']} buffers, "
          f"{fresh['plan']['heap_fetches']} heap fetches vs {large['plan']['buffers']} and "
          f"{large['plan']['heap_fetches']} once vacuumed)")
    print(f"24-hour series in 1-hour buckets (window_series): p50 {small['series_24h']['p50_ms']:.1f} ms at {s}, "
          f"{large['series_24h']['p50_ms']:.1f} ms at {b}; {large['by_engine']['rows_per_window']} events per "
          f"1-hour window, {args.windows} windows per size and mode; whole bench {time.perf_counter() - began:.0f} s")
    print(json.dumps({"windows": args.windows, "rows_per_hour": round(3600 / step_s), "small": small, "large": large,
                      "latest_unvacuumed": fresh, "ratio_p95": round(ratio, 3),
                      "ratio_p95_by_stage": round(ratio_stage, 3), "target_p95_ms": 50, "target_ratio": 1.5,
                      "ok": large["by_engine"]["p95_ms"] <= 50 and large["by_stage"]["p95_ms"] <= 50
                      and ratio <= 1.5}))


def copy_database(admin, source: str, target: str) -> None:
    """CREATE DATABASE ... TEMPLATE (a file copy); an autovacuum worker on the source makes it wait."""
    for attempt in range(30):
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{target}" TEMPLATE "{source}"'))
            return
        except DBAPIError as exc:
            if "being accessed by other users" not in str(exc.orig) or attempt == 29:
                raise
            time.sleep(1)


def _label(rows: int) -> str:
    return f"{rows / 1e6:g}M" if rows >= 1_000_000 else f"{rows / 1e3:g}k"


if __name__ == "__main__":
    main()
