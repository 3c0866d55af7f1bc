"""Routing, fallback, circuit breaker, confidence fallback and shadow reads with the real engines
(Tesseract and the Document AI client against its local double), events in a real database."""

import pytest
from sqlalchemy import create_engine, select

from ocr_engines import Limits, get_engine
from ocr_engines.errors import EngineError, OcrTimeoutError, UnreadableDocumentError
from rollout import stages
from rollout.events import EventWriter, ocr_events
from service.pipeline import CircuitBreaker, OcrPipeline, PipelineConfig, RequestRefused
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
    db = create_engine(writer.db.url)
    with db.connect() as conn:
        out = [dict(r) for r in conn.execute(select(ocr_events).order_by(ocr_events.c.id)).mappings()]
    db.dispose()
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
    p = pipeline(broken, stages.enable(Snapshot()), writer, breaker_failures=2, breaker_min_requests=2,
                 breaker_cooldown_s=60)
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
    with pytest.raises(OcrTimeoutError, match="took longer"):  # the engine's own typed error
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


def test_an_injected_fault_hits_live_reads_only(engines, writer, golden_dir):
    """--bad-engine's drill: every live Tesseract read fails (and falls back to Google), but the
    shadow read of a Google-served request reads with Tesseract itself, so the comparison (and
    the golden gate built on it) judges the engine, not the drill."""
    from ocr_engines.base import FaultInjectingEngine

    bad = {**engines, OPENSOURCE: FaultInjectingEngine(engines[OPENSOURCE], 1.0)}
    live = pipeline(bad, stages.enable(Snapshot()), writer)
    out = live.process(golden_dir / DIGITAL, RequestContext("u1"), "live")
    assert out.engine == GOOGLE and "injected fault" in out.fallback
    snap = stages.set_flag(Snapshot(), "enable_accuracy_comparison", True)  # stage 0: Google serves
    shadowed = pipeline(bad, snap, writer, shadow_percentage=100)
    assert shadowed.process(golden_dir / DIGITAL, RequestContext("u1"), "shadowed").engine == GOOGLE
    shadowed.close()
    shadow = [e for e in rows(writer) if e["shadow"]]
    assert [(e["engine"], e["success"], e["shadow_agreement"]) for e in shadow] == [(OPENSOURCE, True, 1.0)]


def test_circuit_breaker_half_opens_after_cooldown():
    now = [0.0]
    b = CircuitBreaker(failures=2, cooldown_s=10, min_requests=2, clock=lambda: now[0])
    b.failure("r1")
    assert b.allow()
    b.failure("r2")
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


def test_the_breaker_counts_engine_health_only_from_distinct_requests_in_a_window():
    now = [0.0]
    b = CircuitBreaker(failures=3, cooldown_s=30, min_requests=3, window_s=60, clock=lambda: now[0])
    for _ in range(10):
        b.failure("r1", engine_health=False)  # documents the engine could not read
    assert b.state == "closed"
    for _ in range(5):
        b.failure("same-request-id")  # one client re-sending one request
    assert b.state == "closed"
    b.failure("r2")
    now[0] = 61.0  # the first two are now out of the window
    b.failure("r3")
    assert b.state == "closed"
    b.failure("r4"), b.failure("r5")
    assert b.state == "open"
    b = CircuitBreaker(failures=2, min_requests=2, clock=lambda: now[0])
    b.failure("a"), b.success(), b.failure("b")  # not in a row: a busy service's sporadic timeouts
    assert b.state == "closed"


def _blank_pdf(path):
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    pdf.new_page(595, 842)
    pdf.save(path)
    pdf.close()
    return path


def test_one_clients_blank_documents_do_not_move_other_users_to_the_other_engine(engines, writer, golden_dir,
                                                                                 tmp_path):
    """Stage 0: Document AI finds no entities on 5 blank PDFs from one client. Each of those
    may fall back on its own; the next 20 users are still read by Google (the probe found all
    20 on Tesseract, 'documentai unavailable (circuit open)')."""
    p = pipeline(engines, Snapshot(), writer)
    blank = _blank_pdf(tmp_path / "blank.pdf")
    for i in range(5):
        out = p.process(blank, RequestContext("careless-client"), f"blank-{i}")
        assert out.engine == OPENSOURCE and out.fallback.startswith("documentai failed: no_entities")
    assert p.breakers[GOOGLE].state == "closed"
    served = [p.process(golden_dir / DIGITAL, RequestContext(f"user-{i}"), f"r{i}") for i in range(20)]
    assert [(o.engine, o.fallback) for o in served] == [(GOOGLE, None)] * 20


def test_truncated_images_under_forced_open_source_do_not_send_everyone_to_google(engines, golden_dir, tmp_path):
    """The mirror image: Tesseract cannot decode 5 truncated PNGs (a document's error, typed
    'unreadable_document'); Tesseract's breaker stays closed for everyone else."""
    p = pipeline(engines, stages.set_flag(Snapshot(), "force_opensource_for_testing", True))
    data = (golden_dir / SCAN).read_bytes()
    broken = tmp_path / "truncated.png"
    broken.write_bytes(data[: len(data) // 3])
    for i in range(5):  # Google finds nothing on it either: the document's typed error
        with pytest.raises(UnreadableDocumentError, match="both engines failed: unreadable_document"):
            p.process(broken, RequestContext("careless-client"), f"png-{i}")
    assert p.breakers[OPENSOURCE].state == "closed" and p.breakers[GOOGLE].state == "closed"
    out = p.process(golden_dir / DIGITAL, RequestContext("someone-else"), "r")
    assert (out.engine, out.fallback) == (OPENSOURCE, None)
    alone = pipeline({OPENSOURCE: engines[OPENSOURCE]}, stages.set_flag(Snapshot(), "force_opensource_for_testing", True))
    with pytest.raises(UnreadableDocumentError):  # no other engine: the document's own typed error
        alone.process(broken, RequestContext("careless-client"), "png-alone")


def test_a_fallback_that_cannot_run_leaves_the_first_result(engines, writer, tmp_path):
    """The probe: a blank 16-page PDF read by Tesseract (confidence 0) was re-read by Google,
    whose 15-page limit raised, and the caller got 422 after 7 s of good work."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    for _ in range(16):
        pdf.new_page(200, 280)  # small pages: the test is about the limit, not OCR time
    pdf.save(tmp_path / "sixteen.pdf")
    pdf.close()
    p = pipeline(engines, stages.enable(Snapshot()), writer)
    out = p.process(tmp_path / "sixteen.pdf", RequestContext("u1"), "r16")
    assert out.engine == OPENSOURCE and out.result.pages == 16 and out.fallback is None
    assert any("could not run: too_many_pages" in w for w in out.result.warnings)


def test_an_e_invoice_is_read_by_the_ksef_engine_at_every_stage(engines, writer, ksef_dir):
    """FA(3) XML needs no OCR: neither Google nor Tesseract reads it, at stage 0, at 100 % and
    after the cutover (Google off); its events carry engine 'ksef'."""
    xml = ksef_dir / "xml" / "001.xml"
    with_ksef = dict(engines, ksef=get_engine("ksef"))
    for i, snap in enumerate((Snapshot(), stages.enable(Snapshot()), stages.disable_google(stages.enable(Snapshot())))):
        out = pipeline(with_ksef, snap, writer).process(xml, RequestContext(f"u{i}"), f"x{i}")
        assert out.engine == "ksef" and out.fallback is None and out.result.confidence == 1.0
        assert out.decision.reason.startswith("a KSeF e-invoice")
    assert [(e["engine"], e["success"]) for e in rows(writer)] == [("ksef", True)] * 3
