"""Window metrics: the same figures from PostgreSQL's SQL aggregate and SQLite's Python one."""

from datetime import datetime, timedelta, timezone

import pytest

from rollout.events import EventWriter, OcrEvent
from rollout.health.windows import last_hours, window_metrics

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
    return window_metrics(writer.engine, start, end), window_metrics(writer.engine, start, end, by_stage=True)


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
