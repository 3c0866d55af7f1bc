"""Window metrics over ``ocr_events``: per engine (and optionally per stage), for a time window.

Volume, success and error rates (with errors by class), processing time avg/min/max/p50/p95/p99,
mean and low-tail (p05) confidence, fallback rate and per-field shadow agreement. Served reads
only (shadow rows are counted separately, in the agreement figures). The aggregate runs in SQL on
PostgreSQL (``percentile_cont`` over an index-only scan of the covering ``at`` index, so the cost
follows the window, not the table: bench/bench_windows.py); SQLite, the embedded default, gets the
same numbers computed in Python from the window's rows. ``window_series`` gives the same served
figures per engine and time bucket, for charts.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import BigInteger, and_, func, select
from sqlalchemy.engine import Engine

from ..db import ocr_events
from .schema import as_utc


@dataclass
class WindowStats:
    engine: str
    stage: int | None
    documents: int
    successes: int
    errors_by_class: dict[str, int]
    duration_ms: dict[str, float | None]  # avg, min, max, p50, p95, p99 (successful reads)
    confidence_mean: float | None
    confidence_p05: float | None
    fallbacks: int
    shadow_documents: int = 0
    shadow_agreement: float | None = None
    field_agreement: dict[str, float] = field(default_factory=dict)

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.documents if self.documents else None

    @property
    def error_rate(self) -> float | None:
        return 1 - self.success_rate if self.documents else None

    @property
    def fallback_rate(self) -> float | None:
        return self.fallbacks / self.documents if self.documents else None

    def as_dict(self) -> dict:
        return {**asdict(self), "success_rate": self.success_rate, "error_rate": self.error_rate,
                "fallback_rate": self.fallback_rate}


def last_hours(hours: float, now: datetime | None = None) -> tuple[datetime, datetime]:
    end = now or datetime.now(timezone.utc)
    return end - timedelta(hours=hours), end


def _percentile(sorted_values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks — the same definition as percentile_cont."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def window_metrics(db: Engine, start: datetime, end: datetime, by_stage: bool = False) -> list[WindowStats]:
    """Figures per engine (and stage) for events with start <= at < end."""
    e = ocr_events.c
    in_window = and_(e.at >= start, e.at < end)
    keys = [e.engine, e.stage] if by_stage else [e.engine]
    with db.connect() as conn:
        if db.dialect.name == "postgresql":
            stats = _sql_aggregate(conn, keys, in_window, by_stage)
        else:
            stats = _python_aggregate(conn, keys, in_window, by_stage)
        errors = conn.execute(
            select(*keys, e.error_class, func.count()).where(in_window, e.shadow.is_(False), e.success.is_(False))
            .group_by(*keys, e.error_class)).all()
        shadows = conn.execute(select(*keys, e.shadow_agreement, e.field_agreement)
                               .where(in_window, e.shadow.is_(True))).all()
    for row in errors:
        key = tuple(row[:len(keys)])
        if key in stats:
            stats[key].errors_by_class[row[len(keys)] or "unknown"] = row[-1]
    # Shadow rows are recorded under the engine that made the shadow read: their agreement with the
    # served result is reported on that engine's row.
    agreements, fields = defaultdict(list), defaultdict(lambda: defaultdict(list))
    for row in shadows:
        key = tuple(row[:len(keys)])
        if row[len(keys)] is not None:
            agreements[key].append(row[len(keys)])
        for name, status in (row[-1] or {}).items():
            if status != "ignored":
                fields[key][name].append(status == "match")
    for key, values in agreements.items():
        target = stats.setdefault(key, _empty(key, by_stage))
        target.shadow_documents = len(values)
        target.shadow_agreement = sum(values) / len(values)
        target.field_agreement = {n: sum(v) / len(v) for n, v in sorted(fields[key].items())}
    return sorted(stats.values(), key=lambda s: (s.engine, s.stage or 0))


def _empty(key: tuple, by_stage: bool) -> WindowStats:
    return WindowStats(key[0], key[1] if by_stage else None, 0, 0, {}, dict.fromkeys(
        ("avg", "min", "max", "p50", "p95", "p99")), None, None, 0)


def _sql_aggregate(conn, keys, in_window, by_stage: bool) -> dict[tuple, WindowStats]:
    e = ocr_events.c
    ok_duration = lambda agg: agg.filter(e.success.is_(True))  # noqa: E731
    pct = lambda q, col: func.percentile_cont(q).within_group(col)  # noqa: E731
    rows = conn.execute(
        select(*keys, func.count(), func.count().filter(e.success.is_(True)),
               ok_duration(func.avg(e.duration_ms)), ok_duration(func.min(e.duration_ms)),
               ok_duration(func.max(e.duration_ms)),
               ok_duration(pct(0.5, e.duration_ms)), ok_duration(pct(0.95, e.duration_ms)),
               ok_duration(pct(0.99, e.duration_ms)),
               func.avg(e.confidence), pct(0.05, e.confidence), func.count().filter(e.fallback.is_(True)))
        .where(in_window, e.shadow.is_(False)).group_by(*keys)).all()
    out = {}
    n = len(keys)
    for row in rows:
        key = tuple(row[:n])
        (docs, ok, avg, mn, mx, p50, p95, p99, conf, conf05, fallbacks) = row[n:]
        out[key] = WindowStats(key[0], key[1] if by_stage else None, docs, ok, {},
                               {"avg": _f(avg), "min": _f(mn), "max": _f(mx), "p50": _f(p50), "p95": _f(p95),
                                "p99": _f(p99)}, _f(conf), _f(conf05), fallbacks)
    return out


def _python_aggregate(conn, keys, in_window, by_stage: bool) -> dict[tuple, WindowStats]:
    e = ocr_events.c
    rows = conn.execute(select(*keys, e.success, e.duration_ms, e.confidence, e.fallback)
                        .where(in_window, e.shadow.is_(False))).all()
    groups = defaultdict(list)
    for row in rows:
        groups[tuple(row[:len(keys)])].append(row[len(keys):])
    out = {}
    for key, items in groups.items():
        durations = sorted(d for ok, d, _, _ in items if ok)
        confidences = sorted(c for _, _, c, _ in items if c is not None)
        out[key] = WindowStats(
            key[0], key[1] if by_stage else None, len(items), sum(1 for ok, *_ in items if ok), {},
            {"avg": sum(durations) / len(durations) if durations else None,
             "min": float(durations[0]) if durations else None, "max": float(durations[-1]) if durations else None,
             "p50": _percentile(durations, 0.5), "p95": _percentile(durations, 0.95),
             "p99": _percentile(durations, 0.99)},
            sum(confidences) / len(confidences) if confidences else None, _percentile(confidences, 0.05),
            sum(1 for *_, fb in items if fb))
    return out


def _f(value) -> float | None:
    return None if value is None else float(value)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def window_series(db: Engine, start: datetime, end: datetime, bucket_s: int) -> list[dict]:
    """Per engine, per time bucket of ``bucket_s`` seconds, for served events with start <= at < end.

    Buckets are aligned to the Unix epoch in UTC (a 3600 s bucket starts on the hour, 86400 s at
    midnight UTC), so a chart refreshed later keeps its bucket boundaries; the first and last buckets
    hold only the part inside the window. Buckets without served events are absent. Each point:
    ``engine``, ``bucket`` (ISO start, UTC), ``documents``, ``success_rate``, ``error_rate``,
    ``duration_p50``/``duration_p95`` (ms, successful reads), ``confidence_mean``, ``fallback_rate``;
    sorted by engine, then bucket. PostgreSQL aggregates in SQL, SQLite in Python: the same numbers.
    """
    if isinstance(bucket_s, bool) or int(bucket_s) != bucket_s or bucket_s <= 0:
        raise ValueError(f"bucket_s must be a positive whole number of seconds, not {bucket_s!r}")
    bucket_s = int(bucket_s)
    e = ocr_events.c
    served = and_(e.at >= start, e.at < end, e.shadow.is_(False))
    with db.connect() as conn:
        if db.dialect.name == "postgresql":
            rows = _sql_series(conn, served, bucket_s)
        else:
            rows = _python_series(conn, served, bucket_s)
    points = []
    for eng, index, docs, ok, p50, p95, conf, fallbacks in sorted(rows, key=lambda r: (r[0], r[1])):
        points.append({"engine": eng, "bucket": (_EPOCH + timedelta(seconds=index * bucket_s)).isoformat(),
                       "documents": docs, "success_rate": ok / docs, "error_rate": (docs - ok) / docs,
                       "duration_p50": _f(p50), "duration_p95": _f(p95), "confidence_mean": _f(conf),
                       "fallback_rate": fallbacks / docs})
    return points


def _sql_series(conn, served, bucket_s: int) -> list[tuple]:
    e = ocr_events.c
    # extract(epoch) is numeric (exact) on PostgreSQL >= 14: the same floor as Python's integer division.
    index = func.floor(func.extract("epoch", e.at) / bucket_s).cast(BigInteger).label("bucket")
    ok = e.success.is_(True)
    pct = lambda q: func.percentile_cont(q).within_group(e.duration_ms).filter(ok)  # noqa: E731
    return [tuple(r) for r in conn.execute(
        select(e.engine, index, func.count(), func.count().filter(ok), pct(0.5), pct(0.95), func.avg(e.confidence),
               func.count().filter(e.fallback.is_(True)))
        .where(served).group_by(e.engine, index)).all()]


def _python_series(conn, served, bucket_s: int) -> list[tuple]:
    e = ocr_events.c
    width = timedelta(seconds=bucket_s)
    groups = defaultdict(list)
    for eng, at, success, duration, confidence, fallback in conn.execute(
            select(e.engine, e.at, e.success, e.duration_ms, e.confidence, e.fallback).where(served)):
        groups[(eng, (as_utc(at) - _EPOCH) // width)].append((success, duration, confidence, fallback))
    rows = []
    for (eng, index), items in groups.items():
        durations = sorted(d for ok, d, _, _ in items if ok)
        confidences = [c for _, _, c, _ in items if c is not None]
        rows.append((eng, index, len(items), sum(1 for ok, *_ in items if ok), _percentile(durations, 0.5),
                     _percentile(durations, 0.95), sum(confidences) / len(confidences) if confidences else None,
                     sum(1 for *_, fb in items if fb)))
    return rows


def data_span(db: Engine, start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    """(first, last) time of a served event with start <= at < end; None when there is none."""
    e = ocr_events.c
    with db.connect() as conn:
        first, last = conn.execute(select(func.min(e.at), func.max(e.at))
                                   .where(e.at >= start, e.at < end, e.shadow.is_(False))).one()
    if first is None:
        return None
    return as_utc(first), as_utc(last)


#: Round bucket sizes a plot may use, in seconds.
BUCKET_SIZES = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)
MAX_BUCKETS = 60


def bucket_for_span(span_s: float, max_buckets: int = MAX_BUCKETS) -> int:
    """The smallest round bucket size (at least 5 s) that covers ``span_s`` in at most
    ``max_buckets`` buckets: 30-60 points on a line when the data spans more than a few minutes
    (a 10-minute run gets 10 s buckets, 6 hours 10 minutes, a month a day)."""
    for size in BUCKET_SIZES:
        if span_s / size <= max_buckets:
            return size
    return BUCKET_SIZES[-1]


def kind_figures(db: Engine, start: datetime, end: datetime) -> list[dict]:
    """Per upload kind (``ocr_events.kind``; events recorded before it existed: ``None``) and engine,
    for served events with start <= at < end: documents, errors, error rate and the processing
    time p50/p95 of the successful reads. One row per kind, sorted by its documents (most first):
    ``{"kind", "documents", "engines": {engine: {documents, errors, error_rate, duration_p50,
    duration_p95}}}``. PostgreSQL aggregates in SQL, SQLite in Python: the same numbers."""
    e = ocr_events.c
    served = and_(e.at >= start, e.at < end, e.shadow.is_(False))
    ok = e.success.is_(True)
    with db.connect() as conn:
        if db.dialect.name == "postgresql":
            pct = lambda q: func.percentile_cont(q).within_group(e.duration_ms).filter(ok)  # noqa: E731
            rows = [tuple(r) for r in conn.execute(
                select(e.kind, e.engine, func.count(), func.count().filter(ok), pct(0.5), pct(0.95))
                .where(served).group_by(e.kind, e.engine)).all()]
        else:
            groups = defaultdict(list)
            for kind, eng, success, duration in conn.execute(
                    select(e.kind, e.engine, e.success, e.duration_ms).where(served)):
                groups[(kind, eng)].append((success, duration))
            rows = []
            for (kind, eng), items in groups.items():
                durations = sorted(d for s, d in items if s)
                rows.append((kind, eng, len(items), sum(1 for s, _ in items if s), _percentile(durations, 0.5),
                             _percentile(durations, 0.95)))
    kinds: dict[str | None, dict] = {}
    for kind, eng, docs, successes, p50, p95 in rows:
        row = kinds.setdefault(kind, {"kind": kind, "documents": 0, "engines": {}})
        row["documents"] += docs
        row["engines"][eng] = {"documents": docs, "errors": docs - successes, "error_rate": (docs - successes) / docs,
                               "duration_p50": _f(p50), "duration_p95": _f(p95)}
    for row in kinds.values():
        row["engines"] = dict(sorted(row["engines"].items()))
    return sorted(kinds.values(), key=lambda r: (-r["documents"], r["kind"] is None, r["kind"] or ""))
