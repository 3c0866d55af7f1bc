"""Window metrics: the same figures from PostgreSQL's SQL aggregate and SQLite's Python one."""

from datetime import datetime, timedelta, timezone

import pytest

from rollout.events import EventWriter, OcrEvent
from rollout.health.windows import bucket_for_span, data_span, kind_figures, last_hours, window_metrics, window_series

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def ev(i, engine, at, success=True, duration=100, confidence=0.9, fallback=False, stage=2, **kw):
    return OcrEvent(request_id=f"r{i}", engine=engine, stage=stage, percentage=15, duration_ms=duration,
                    success=success, confidence=confidence if success else None, fallback=fallback, at=at,
                    error_class=None if success else kw.pop("error_class", "OcrTimeoutError"), **kw)


@pytest.fixture
def metrics(db_url, tmp_path):
    writer = EventWriter(db_url, tmp_path / "spool.jsonl")
    writer.init_schema()
    inside = NOW - timedelta(minutes=30)
    events = [ev(i, "tesseract", inside, duration=100 + 10 * i, confidence=0.80 + 0.01 * i) for i in range(10)]
    events += [ev(10, "tesseract", inside, success=False, error_class="OcrTimeoutError"),
               ev(11, "tesseract", inside, success=False, error_class="CorruptDocumentError"),
               ev(12, "documentai", inside, duration=2000, fallback=True, stage=3),
               ev(13, "documentai", NOW - timedelta(hours=3), duration=9999),  # outside the window
               ev(14, "documentai", inside, shadow=True, shadow_agreement=0.75,
                  field_agreement={"total_amount": "match", "invoice_id": "mismatch", "due_date": "ignored"})]
    for e in events:
        writer.record(e)
    writer.flush()
    start, end = last_hours(1, now=NOW)
    return window_metrics(writer.db, start, end), window_metrics(writer.db, start, end, by_stage=True)


def test_window_figures(metrics):
    by_engine, _ = metrics
    google, tesseract = by_engine
    assert (tesseract.engine, tesseract.documents, tesseract.successes) == ("tesseract", 12, 10)
    assert tesseract.error_rate == pytest.approx(2 / 12)
    assert tesseract.errors_by_class == {"OcrTimeoutError": 1, "CorruptDocumentError": 1}
    d = tesseract.duration_ms
    assert (d["min"], d["max"], d["avg"]) == (100, 190, pytest.approx(145))
    assert d["p50"] == pytest.approx(145) and d["p95"] == pytest.approx(185.5) and d["p99"] == pytest.approx(189.1)
    assert tesseract.confidence_mean == pytest.approx(0.845) and tesseract.confidence_p05 == pytest.approx(0.8045)
    assert (google.documents, google.fallbacks, google.duration_ms["max"]) == (1, 1, 2000)  # 9999 is outside
    assert google.shadow_documents == 1 and google.shadow_agreement == 0.75
    assert google.field_agreement == {"invoice_id": 0.0, "total_amount": 1.0}  # 'ignored' is not counted


def test_by_stage(metrics):
    _, by_stage = metrics
    # the shadow read happened at stage 2: a documentai row with no served documents carries it
    assert [(s.engine, s.stage, s.documents, s.shadow_documents) for s in by_stage] == [
        ("documentai", 2, 0, 1), ("documentai", 3, 1, 0), ("tesseract", 2, 12, 0)]


# ---------------------------------------------------------------- window_series


@pytest.fixture
def series_writer(db_url, tmp_path):
    writer = EventWriter(db_url, tmp_path / "spool.jsonl")
    writer.init_schema()
    h = lambda hour, minute=0, second=0: datetime(2026, 11, 30, hour, minute, second, tzinfo=timezone.utc)  # noqa: E731
    events = [
        # tesseract, 09:00 bucket: three reads (one fell back), one failure; the first at the window's start
        ev(0, "tesseract", h(9), duration=100, confidence=0.8),
        ev(1, "tesseract", h(9, 20), duration=300, confidence=1.0, fallback=True),
        ev(2, "tesseract", h(9, 59, 59), duration=200, confidence=0.9),
        ev(3, "tesseract", h(9, 40), success=False, duration=60000),  # a failure's duration is not a read time
        # tesseract, 11:00 bucket
        ev(4, "tesseract", h(11, 5), duration=500, confidence=0.7),
        ev(5, "tesseract", h(11, 55), duration=700, confidence=0.9),
        # documentai, 10:00 bucket (10:00:00 belongs to it, not to 09:00); its shadow read is not served
        ev(6, "documentai", h(10), duration=2000, confidence=0.95, fallback=True),
        ev(7, "documentai", h(10, 30), shadow=True, shadow_agreement=0.5, field_agreement={"invoice_id": "match"}),
        ev(8, "documentai", h(11, 30), shadow=True, shadow_agreement=1.0),  # a bucket with only a shadow read
        ev(11, "documentai", h(9, 10), success=False, error_class="RateLimitedError"),  # only a failure
        # outside [09:00, 12:00)
        ev(9, "tesseract", h(8, 59, 59), duration=9999),
        ev(10, "documentai", h(12), duration=9999),
    ]
    for e in events:
        writer.record(e)
    writer.flush()
    return writer.db


def test_series_figures(series_writer):
    points = window_series(series_writer, NOW - timedelta(hours=3), NOW, 3600)
    assert [(p["engine"], p["bucket"], p["documents"]) for p in points] == [
        ("documentai", "2026-11-30T09:00:00+00:00", 1),
        ("documentai", "2026-11-30T10:00:00+00:00", 1),
        ("tesseract", "2026-11-30T09:00:00+00:00", 4),
        ("tesseract", "2026-11-30T11:00:00+00:00", 2)]
    failed, google, t9, t11 = points
    assert failed == {"engine": "documentai", "bucket": "2026-11-30T09:00:00+00:00", "documents": 1,
                      "success_rate": 0.0, "error_rate": 1.0, "duration_p50": None, "duration_p95": None,
                      "confidence_mean": None, "fallback_rate": 0.0}
    assert google == {"engine": "documentai", "bucket": "2026-11-30T10:00:00+00:00", "documents": 1,
                      "success_rate": 1.0, "error_rate": 0.0, "duration_p50": 2000.0, "duration_p95": 2000.0,
                      "confidence_mean": pytest.approx(0.95), "fallback_rate": 1.0}
    assert (t9["success_rate"], t9["error_rate"], t9["fallback_rate"]) == (0.75, 0.25, 0.25)
    assert t9["duration_p50"] == pytest.approx(200) and t9["duration_p95"] == pytest.approx(290)
    assert t9["confidence_mean"] == pytest.approx(0.9)  # the failure has no confidence
    assert (t11["success_rate"], t11["error_rate"], t11["fallback_rate"]) == (1.0, 0.0, 0.0)
    assert t11["duration_p50"] == pytest.approx(600) and t11["duration_p95"] == pytest.approx(690)
    assert t11["confidence_mean"] == pytest.approx(0.8)
    assert all(isinstance(p["documents"], int) for p in points)
    assert all(isinstance(p["duration_p50"], float) for p in points[1:])


def test_series_buckets_are_epoch_aligned(series_writer):
    # a window starting at 09:30 still has an 09:00 bucket, holding only what is inside the window
    points = window_series(series_writer, NOW - timedelta(hours=2, minutes=30), NOW, 3600)
    first = points[1]
    assert (first["engine"], first["bucket"], first["documents"]) == ("tesseract", "2026-11-30T09:00:00+00:00", 2)
    assert first["duration_p50"] == pytest.approx(200) and first["error_rate"] == 0.5
    quarter = window_series(series_writer, NOW - timedelta(hours=3), NOW, 900)
    assert [(p["engine"], p["bucket"][11:16], p["documents"]) for p in quarter] == [
        ("documentai", "09:00", 1), ("documentai", "10:00", 1), ("tesseract", "09:00", 1), ("tesseract", "09:15", 1), ("tesseract", "09:30", 1),
        ("tesseract", "09:45", 1), ("tesseract", "11:00", 1), ("tesseract", "11:45", 1)]
    assert window_series(series_writer, NOW + timedelta(hours=1), NOW + timedelta(hours=2), 60) == []


def test_series_day_bucket_matches_window_metrics(series_writer):
    start, end = NOW - timedelta(hours=3), NOW
    points = window_series(series_writer, start, end, 86400)
    stats = {s.engine: s for s in window_metrics(series_writer, start, end)}
    assert [p["bucket"] for p in points] == ["2026-11-30T00:00:00+00:00"] * 2
    for p in points:
        s = stats[p["engine"]]
        assert (p["documents"], p["success_rate"], p["fallback_rate"]) == (s.documents, s.success_rate, s.fallback_rate)
        assert p["duration_p50"] == pytest.approx(s.duration_ms["p50"])
        assert p["duration_p95"] == pytest.approx(s.duration_ms["p95"])
        assert p["confidence_mean"] == pytest.approx(s.confidence_mean)
    assert (stats["tesseract"].documents, stats["documentai"].documents) == (6, 2)


@pytest.mark.parametrize("bucket_s", [0, -60, 1.5, True])
def test_series_rejects_bad_buckets(series_writer, bucket_s):
    with pytest.raises(ValueError):
        window_series(series_writer, NOW - timedelta(hours=1), NOW, bucket_s)


# ---------------------------------------------------------------- buckets and kinds


def test_the_bucket_fits_the_span_of_the_data():
    assert bucket_for_span(0) == 5  # one event: the smallest bucket, not a division by zero
    assert bucket_for_span(10 * 60) == 10  # a ten-minute run: 60 points, not one
    assert bucket_for_span(6 * 3600) == 600
    assert bucket_for_span(24 * 3600) == 1800
    assert bucket_for_span(30 * 86400) == 12 * 3600  # 60 points
    assert bucket_for_span(90 * 86400) == 86400
    for span in (1, 59, 300, 601, 3 * 3600, 5 * 86400):
        assert 1 <= span / bucket_for_span(span) <= 60 or bucket_for_span(span) == 5, span


def test_kind_figures_and_data_span(db_url, tmp_path):
    writer = EventWriter(db_url, tmp_path / "spool.jsonl")
    writer.init_schema()
    t = NOW - timedelta(minutes=30)
    events = [ev(i, "tesseract", t + timedelta(seconds=i), duration=100 * (i + 1), kind="scan") for i in range(5)]
    events += [ev(5, "tesseract", t + timedelta(seconds=5), success=False, kind="scan"),
               ev(6, "tesseract", t + timedelta(seconds=6), success=False, kind="photo"),
               ev(7, "documentai", t + timedelta(seconds=7), duration=900, kind="photo"),
               ev(8, "documentai", t + timedelta(seconds=8), duration=800),  # recorded before kinds were
               ev(9, "documentai", t + timedelta(seconds=9), kind="photo", shadow=True),  # not served
               ev(10, "tesseract", NOW - timedelta(hours=2), kind="scan")]  # outside the window
    for e in events:
        writer.record(e)
    writer.flush()
    start, end = last_hours(1, now=NOW)
    scan, photo, unknown = kind_figures(writer.db, start, end)
    assert (scan["kind"], scan["documents"], list(scan["engines"])) == ("scan", 6, ["tesseract"])
    s = scan["engines"]["tesseract"]
    assert (s["documents"], s["errors"], s["error_rate"]) == (6, 1, pytest.approx(1 / 6))
    assert s["duration_p50"] == pytest.approx(300) and s["duration_p95"] == pytest.approx(480)
    assert (photo["kind"], photo["documents"], list(photo["engines"])) == ("photo", 2, ["documentai", "tesseract"])
    assert photo["engines"]["tesseract"] == {"documents": 1, "errors": 1, "error_rate": 1.0, "duration_p50": None,
                                             "duration_p95": None}
    assert photo["engines"]["documentai"]["duration_p95"] == pytest.approx(900)
    assert (unknown["kind"], unknown["documents"]) == (None, 1)
    assert data_span(writer.db, start, end) == (t, t + timedelta(seconds=8))  # the shadow read is not served
    assert data_span(writer.db, NOW, NOW + timedelta(hours=1)) is None
    assert kind_figures(writer.db, NOW, NOW + timedelta(hours=1)) == []
