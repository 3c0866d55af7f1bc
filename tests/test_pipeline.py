"""Routing, fallback, circuit breaker, confidence fallback and shadow reads with the real engines
(Tesseract and the Document AI client against its local double), events in a real database."""

import pytest
from sqlalchemy import create_engine, select

from ocr_engines import Limits, get_engine
from ocr_engines.errors import EngineError
from rollout import stages
from rollout.events import EventWriter, ocr_events
from rollout.pipeline import CircuitBreaker, OcrPipeline, PipelineConfig, RequestRefused
from rollout.router import GOOGLE, OPENSOURCE, RequestContext
from rollout.stages import Snapshot


@pytest.fixture(scope="module")
def engines(google_engine):
    google = google_engine()
    tesseract = get_engine("tesseract")
    tesseract.warm_up()
    return {GOOGLE: google, OPENSOURCE: tesseract}


@pytest.fixture
def writer(tmp_path):
    w = EventWriter(f"sqlite:///{tmp_path / 'events.db'}", tmp_path / "spool.jsonl")
    w.init_schema()
    return w


def rows(writer):
    writer.flush()
    engine = create_engine(writer.engine.url)
    with engine.connect() as conn:
        out = [dict(r) for r in conn.execute(select(ocr_events).order_by(ocr_events.c.id)).mappings()]
    engine.dispose()
    return out


def pipeline(engines, snap, writer=None, **cfg):
    return OcrPipeline(lambda: snap, engines, writer, PipelineConfig(**cfg))


DIGITAL = "inv-0001.pdf"
SCAN = "inv-0001-scan300.png"


def test_routes_by_stage_and_records_events(engines, writer, golden_dir):
    p0 = pipeline(engines, Snapshot(), writer)
    assert p0.process(golden_dir / DIGITAL, RequestContext("u1"), "r1").engine == GOOGLE
    p100 = pipeline(engines, stages.enable(Snapshot()), writer)
    out = p100.process(golden_dir / DIGITAL, RequestContext("u1"), "r2")
    assert out.engine == OPENSOURCE and out.fallback is None and out.result.value("invoice_id")
    events = rows(writer)
    assert [(e["request_id"], e["engine"], e["success"], e["percentage"]) for e in events] == [
        ("r1", GOOGLE, True, 0), ("r2", OPENSOURCE, True, 100)]
    assert events[0]["user_bucket"] and events[0]["user_bucket"] != "u1"


def test_maintenance_refuses_with_retry_after(engines, golden_dir):
    p = pipeline(engines, stages.maintenance_on(Snapshot(), "upgrade"))
    with pytest.raises(RequestRefused) as info:
        p.process(golden_dir / DIGITAL, RequestContext("u1"), "r")
    assert info.value.decision.retry_after_s > 0


def test_failing_engine_falls_back_and_the_breaker_opens(engines, writer, golden_dir):
    broken = dict(engines, **{OPENSOURCE: get_engine("tesseract", limits=Limits(page_timeout_s=0.01))})
    p = pipeline(broken, stages.enable(Snapshot()), writer, breaker_failures=2, breaker_cooldown_s=60)
    for i in range(2):
        out = p.process(golden_dir / SCAN, RequestContext("u1"), f"r{i}")
        assert out.engine == GOOGLE and out.fallback.startswith("tesseract failed: ocr_timeout")
    assert p.breakers[OPENSOURCE].state == "open"
    out = p.process(golden_dir / SCAN, RequestContext("u1"), "r2")
    assert out.engine == GOOGLE and "circuit open" in out.fallback
    events = rows(writer)
    assert [(e["engine"], e["success"], e["fallback"]) for e in events] == [
        (OPENSOURCE, False, False), (GOOGLE, True, True), (OPENSOURCE, False, False), (GOOGLE, True, True),
        (GOOGLE, True, True)]  # with the circuit open the broken engine is not even tried
    assert events[0]["error_class"] == "OcrTimeoutError"


def test_a_pooled_read_past_its_deadline_falls_back_to_google(engines, writer, golden_dir):
    """The service's Tesseract runs in a process pool with a per-document deadline: a read that
    does not answer in time is ended and the document is served by Google."""
    from ocr_engines.pool import PooledEngine

    pooled = PooledEngine("tesseract", workers=1, deadline_s=0.25)
    try:
        p = pipeline(dict(engines, **{OPENSOURCE: pooled}), stages.enable(Snapshot()), writer)
        out = p.process(golden_dir / SCAN, RequestContext("u1"), "r1")
        assert out.engine == GOOGLE and out.fallback.startswith("tesseract failed: ocr_timeout")
        assert out.result.value("invoice_id")
        assert p.process(golden_dir / DIGITAL, RequestContext("u1"), "r2").engine == OPENSOURCE  # a new worker
    finally:
        pooled.close()
    assert [(e["engine"], e["success"], e["error_class"]) for e in rows(writer)] == [
        (OPENSOURCE, False, "OcrTimeoutError"), (GOOGLE, True, None), (OPENSOURCE, True, None)]


def test_no_fallback_when_google_is_disabled(engines, golden_dir):
    broken = dict(engines, **{OPENSOURCE: get_engine("tesseract", limits=Limits(page_timeout_s=0.01))})
    p = pipeline(broken, stages.disable_google(stages.enable(Snapshot())))
    with pytest.raises(EngineError, match="ocr_timeout"):
        p.process(golden_dir / SCAN, RequestContext("u1"), "r")


def test_low_confidence_is_re_read_by_google(engines, writer, golden_dir):
    p = pipeline(engines, stages.enable(Snapshot()), writer, confidence_floor=0.999)
    out = p.process(golden_dir / SCAN, RequestContext("u1"), "r")
    assert out.engine == GOOGLE and out.fallback.startswith("open-source confidence")
    assert [e["engine"] for e in rows(writer)] == [OPENSOURCE, GOOGLE]
    off = pipeline(engines, stages.disable_google(stages.enable(Snapshot())), confidence_floor=0.999)
    assert off.process(golden_dir / SCAN, RequestContext("u1"), "r").engine == OPENSOURCE


def test_shadow_reads_record_field_agreement(engines, writer, golden_dir):
    snap = stages.set_flag(stages.enable(Snapshot()), "enable_accuracy_comparison", True)
    p = pipeline(engines, snap, writer, shadow_percentage=100)
    out = p.process(golden_dir / DIGITAL, RequestContext("u1"), "r")
    p.close()  # waits for the shadow read
    assert out.engine == OPENSOURCE
    served, shadow = rows(writer)
    assert (shadow["engine"], shadow["shadow"], shadow["success"]) == (GOOGLE, True, True)
    assert shadow["shadow_agreement"] == 1.0 and shadow["field_agreement"]["total_amount"] == "match"
    assert not served["shadow"]


def test_circuit_breaker_half_opens_after_cooldown():
    now = [0.0]
    b = CircuitBreaker(failures=2, cooldown_s=10, clock=lambda: now[0])
    b.failure()
    assert b.allow()
    b.failure()
    assert b.state == "open" and not b.allow()
    now[0] = 10.5
    assert b.state == "half-open" and b.allow()
    b.failure()  # the probe failed: open again for a full cooldown
    assert b.state == "open"
    now[0] = 21
    b.success()
    assert b.state == "closed"


def test_an_engine_this_instance_does_not_run(engines, golden_dir):
    """Only Google here and Google switched off: a clear engine error, not a crash."""
    p = pipeline({GOOGLE: engines[GOOGLE]}, stages.disable_google(stages.enable(Snapshot())))
    with pytest.raises(EngineError, match="does not run"):
        p.process(golden_dir / DIGITAL, RequestContext("u1"), "r")
    only_google = pipeline({GOOGLE: engines[GOOGLE]}, stages.enable(Snapshot()))
    out = only_google.process(golden_dir / DIGITAL, RequestContext("u1"), "r")
    assert out.engine == GOOGLE and out.fallback == "tesseract not configured"
