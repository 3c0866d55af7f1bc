"""The OCR HTTP service: auth, uploads, routing, limits, admin API, health and metrics."""

import re
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ocr_engines import get_engine
from rollout.actions import apply_action
from rollout.distribution import FlagReader
from rollout.events import EventWriter, ocr_events
from rollout.flags import FlagStore
from service.pipeline import OcrPipeline
from rollout.router import GOOGLE, OPENSOURCE
from service.app import ServiceLimits, create_app

CLIENT, ADMIN = {"X-API-Key": "client-secret"}, {"X-API-Key": "admin-secret"}


@pytest.fixture
def stack(tmp_path, google_engine):
    url = f"sqlite:///{tmp_path / 'svc.db'}"
    readers = []
    store = FlagStore(url, on_change=lambda snap: [r.refresh() for r in readers])
    store.init()
    reader = FlagReader(store, None, refresh_s=60)
    reader.refresh()
    readers.append(reader)
    writer = EventWriter(url, tmp_path / "spool.jsonl")
    writer.init_schema()
    engines = {OPENSOURCE: get_engine("tesseract"), GOOGLE: google_engine()}
    pipeline = OcrPipeline(reader.get, engines, writer)

    def make(limits=ServiceLimits()):
        return create_app(pipeline, reader, {"client-secret": "app"}, {"admin-secret": "ops"}, limits,
                          store=store, writer=writer)

    yield make, store, writer
    pipeline.close()


def test_keys_are_required_and_admin_is_separate(stack, golden_dir):
    make, *_ = stack
    client = TestClient(make())
    pdf = (golden_dir / "inv-0001.pdf").read_bytes()
    assert client.post("/v1/ocr", content=pdf, headers={"Content-Type": "application/pdf"}).status_code == 401
    bad = client.post("/v1/ocr", content=pdf, headers={"Content-Type": "application/pdf", "X-API-Key": "nope"})
    assert bad.status_code == 401 and bad.json() == {"error": "unauthorized", "message": "a valid X-API-Key is required"}
    forbidden = client.post("/v1/admin/flags/enable", json={"reason": "x"}, headers=CLIENT)
    assert forbidden.status_code == 403 and forbidden.json()["error"] == "forbidden"  # not nested under 'detail'
    missing = client.get("/v1/nothing-here", headers=CLIENT)
    assert missing.status_code == 404 and set(missing.json()) == {"error", "message"}
    assert client.post("/v1/admin/flags/enable", json={"reason": "x"}, headers=CLIENT).status_code == 403
    with pytest.raises(ValueError, match="API keys"):
        create_app(None, None, {}, {})


def test_raw_and_multipart_uploads_follow_the_flags(stack, golden_dir):
    make, store, writer = stack
    client = TestClient(make())
    pdf = (golden_dir / "inv-0001.pdf").read_bytes()
    r = client.post("/v1/ocr", content=pdf, headers={**CLIENT, "Content-Type": "application/pdf", "X-User-Id": "u1"})
    assert r.status_code == 200 and r.json()["engine"] == GOOGLE and r.json()["result"]["fields"]["invoice_id"]
    changed = client.post("/v1/admin/flags/enable", json={"reason": "all in"}, headers=ADMIN)
    assert changed.status_code == 200 and changed.json()["percentage"] == 100
    assert store.history()[0].actor == "api:ops"
    r = client.post("/v1/ocr", files={"file": ("inv.pdf", pdf, "application/pdf")}, data={"user_id": "u1"},
                    headers=CLIENT)
    assert r.status_code == 200 and r.json()["engine"] == OPENSOURCE
    assert r.json()["decision"]["reason"].startswith("bucket")
    version = r.json()["result"]["engine_version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+ \((tesserocr|cli)\)", version)
    writer.flush()
    with writer.db.connect() as conn:  # the events say which Tesseract, and how it ran, read each document
        rows = conn.execute(select(ocr_events.c.engine, ocr_events.c.engine_version)).all()
    assert (OPENSOURCE, version) in [tuple(row) for row in rows]


def test_bad_documents_and_refused_changes(stack):
    make, *_ = stack
    client = TestClient(make())
    r = client.post("/v1/ocr", content=b"not a pdf", headers={**CLIENT, "Content-Type": "application/pdf"})
    assert r.status_code == 422 and r.json()["error"] == "unsupported_format"
    r = client.post("/v1/admin/flags/advance", json={"reason": "x", "percentage": 150}, headers=ADMIN)
    assert r.status_code == 422 and r.json()["error"] == "invalid_request" and "percentage" in r.json()["message"]
    r = client.post("/v1/admin/flags/set-flag", json={"reason": "x", "name": "rollout_percentage", "value": True},
                    headers=ADMIN)
    assert r.status_code == 409 and "advance" in r.json()["message"]
    r = client.post("/v1/admin/flags/set-flag", json={"reason": "shadow", "name": "enable_accuracy_comparison",
                                                      "value": True}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["flags"]["enable_accuracy_comparison"] is True
    r = client.post("/v1/ocr", files={"nofile": ("a", b"x")}, headers=CLIENT)
    assert r.status_code == 400 and r.json()["error"] == "missing_file"


def test_upload_limit(stack, golden_dir):
    make, *_ = stack
    client = TestClient(make(ServiceLimits(max_upload_bytes=10_000)))
    big = (golden_dir / "inv-0001-scan300.png").read_bytes()
    r = client.post("/v1/ocr", content=big, headers={**CLIENT, "Content-Type": "image/png"})
    assert r.status_code == 413 and r.json()["error"] == "upload_too_large"


def test_maintenance_answers_503_with_retry_after(stack, golden_dir):
    make, store, _ = stack
    client = TestClient(make())
    client.post("/v1/admin/flags/maintenance-on", json={"reason": "database upgrade"}, headers=ADMIN)
    r = client.post("/v1/ocr", content=(golden_dir / "inv-0001.pdf").read_bytes(),
                    headers={**CLIENT, "Content-Type": "application/pdf"})
    assert r.status_code == 503 and r.headers["Retry-After"] and "database upgrade" in r.json()["message"]


def test_health_and_metrics(stack, golden_dir):
    make, *_ = stack
    client = TestClient(make())
    client.post("/v1/ocr", content=(golden_dir / "inv-0001.pdf").read_bytes(),
                headers={**CLIENT, "Content-Type": "application/pdf", "X-User-Id": "u"})
    health = client.get("/health").json()
    assert health["status"] == "healthy" and health["flags"]["source"] == "sql"
    assert health["engines"] == {OPENSOURCE: "closed", GOOGLE: "closed"}
    text = client.get("/metrics").text
    assert 'ocr_requests_total{engine="documentai",outcome="ok"} 1.0' in text and "ocr_flags_version 1.0" in text
    assert client.get("/openapi.json").json()["paths"]["/v1/ocr"]


def test_saturation_answers_429_instead_of_queueing_forever(stack, golden_dir):
    """A real server on loopback, one document at a time and no queue: concurrent uploads beyond
    that are turned away with Retry-After."""
    import uvicorn

    make, store, _ = stack
    app = make(ServiceLimits(max_concurrency=1, max_queue=0))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    scan = (golden_dir / "inv-0002-scan300.png").read_bytes()
    apply_action(store, "enable", "t", "tesseract is slow enough to saturate")
    statuses = []

    def upload():
        r = httpx.post(f"http://127.0.0.1:{port}/v1/ocr", content=scan, timeout=60,
                       headers={**CLIENT, "Content-Type": "image/png", "X-User-Id": "u"})
        statuses.append((r.status_code, r.headers.get("Retry-After")))

    threads = [threading.Thread(target=upload) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    server.should_exit = True
    thread.join(10)
    assert sorted(s for s, _ in statuses).count(200) >= 1
    assert any(s == 429 and ra for s, ra in statuses)


def test_health_degrades_when_redis_stops_and_recovers(tmp_path, golden_dir):
    """Redis down: the service keeps serving from SQL and says 'degraded'; Redis back: healthy.
    (Both down — the last known good snapshot — is covered in test_distribution.)"""
    from rollout.distribution import publish

    from .servers import RedisProcess

    redis_proc = RedisProcess()
    redis_proc.start()
    try:
        url = f"sqlite:///{tmp_path / 'h.db'}"
        store = FlagStore(url, on_change=lambda s: publish(redis_proc.url, s))
        publish(redis_proc.url, store.init())
        reader = FlagReader(store, redis_proc.url, refresh_s=60, sql_check_s=0)
        reader.refresh()
        pipeline = OcrPipeline(reader.get, {OPENSOURCE: get_engine("tesseract")})
        client = TestClient(create_app(pipeline, reader, {"client-secret": "app"}, {}))
        assert client.get("/health").json()["status"] == "healthy"
        redis_proc.stop()
        reader.refresh()
        health = client.get("/health").json()
        assert health["status"] == "degraded" and health["flags"]["redis"] == "down"
        assert health["flags"]["source"] == "sql"
        r = client.post("/v1/ocr", content=(golden_dir / "inv-0001.pdf").read_bytes(),
                        headers={**CLIENT, "Content-Type": "application/pdf", "X-User-Id": "u"})
        assert r.status_code == 200  # still serving
        redis_proc.start()
        reader.refresh()
        assert client.get("/health").json()["status"] == "healthy"
    finally:
        if redis_proc.proc.poll() is None:
            redis_proc.stop()


def test_no_flag_snapshot_means_503_not_a_guess(tmp_path, golden_dir):
    reader = FlagReader(FlagStore("postgresql+psycopg://postgres@127.0.0.1:1/none"), None)
    reader.refresh()  # nothing reachable, nothing known
    pipeline = OcrPipeline(reader.get, {OPENSOURCE: get_engine("tesseract")})
    client = TestClient(create_app(pipeline, reader, {"client-secret": "app"}, {}))
    r = client.post("/v1/ocr", content=(golden_dir / "inv-0001.pdf").read_bytes(),
                    headers={**CLIENT, "Content-Type": "application/pdf"})
    assert r.status_code == 503 and r.json()["error"] == "flags_unavailable"
    assert client.get("/health").status_code == 503 and client.get("/health").json()["status"] == "unhealthy"


def test_admin_bodies_are_validated_and_answered_in_the_services_error_shape(stack):
    """The probe: 7.5 % was stored as 8 in SQL, 7.5 in Redis and routed at 7; 'abc', [5], a body
    that is not JSON and a JSON array gave 500; set-flag took the string 'false' as true."""
    make, store, _ = stack
    client = TestClient(make())
    before = store.snapshot()
    for body in ({"reason": "x", "percentage": 7.5}, {"reason": "x", "percentage": "abc"},
                 {"reason": "x", "percentage": [5]}, {"reason": "x", "percentage": True}, ["advance"],
                 {"reason": "x", "percentage": 10, "surprise": 1}, {"percentage": 10}):
        r = client.post("/v1/admin/flags/advance", json=body, headers=ADMIN)
        assert r.status_code == 422 and set(r.json()) == {"error", "message"}, (body, r.text)
    r = client.post("/v1/admin/flags/advance", content=b"{not json", headers={**ADMIN, "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"
    r = client.post("/v1/admin/flags/set-flag", json={"reason": "x", "name": "enable_accuracy_comparison",
                                                      "value": "false"}, headers=ADMIN)
    assert r.status_code == 422
    # found by schemathesis: a NUL or lone surrogate in the reason, a 63-character flag name (the
    # audit's action column) gave 500
    for action, body in (("maintenance-off", '{"reason": "a\\u0000b"}'), ("maintenance-on", '{"reason": "\\udc00"}'),
                         ("set-flag", '{"reason": "x", "name": "%s", "value": false}' % ("0" * 63))):
        r = client.post(f"/v1/admin/flags/{action}", content=body.encode(),
                        headers={**ADMIN, "Content-Type": "application/json"})  # JSON escapes, as sent
        assert r.status_code == 422 and r.json()["error"] == "invalid_request", (action, r.text)
    assert store.snapshot() == before  # nothing changed
    schema = client.get("/openapi.json").json()
    assert {"AdvanceBody", "SetFlagBody", "ChangeBody"} <= set(schema["components"]["schemas"])


def test_the_transition_layer_refuses_what_the_api_refuses():
    """The CLI and the Airflow tasks go through stages/FlagStore, not the API's models."""
    from rollout import stages

    for bad in (7.5, "7", True, [5]):
        with pytest.raises(stages.InvalidTransition):
            stages.advance(stages.Snapshot(), bad)
    with pytest.raises(stages.InvalidTransition, match="true or false"):
        stages.set_flag(stages.Snapshot(), "enable_accuracy_comparison", "false")


def test_a_change_decided_on_an_older_version_is_a_conflict_and_audited(stack):
    make, store, _ = stack
    client = TestClient(make())
    seen = store.snapshot().version
    first = client.post("/v1/admin/flags/advance", json={"reason": "go", "expect_version": seen}, headers=ADMIN)
    second = client.post("/v1/admin/flags/advance", json={"reason": "go", "expect_version": seen}, headers=ADMIN)
    assert first.status_code == 200 and first.json()["percentage"] == 5
    assert second.status_code == 409 and second.json()["error"] == "concurrent_update"
    assert store.snapshot().percentage == 5  # one stage, not two
    outcomes = [e.outcome for e in store.history(2)]
    assert outcomes == ["conflict", "applied"]


def test_hostile_multipart_and_filenames_get_typed_errors(stack, golden_dir):
    make, *_ = stack
    client = TestClient(make())
    pdf = (golden_dir / "inv-0001.pdf").read_bytes()
    raw = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="../inv.p\x00df"\r\n'
           b"Content-Type: application/pdf\r\n\r\n" + pdf + b"\r\n--b--\r\n")  # a literal NUL (httpx would escape it)
    r = client.post("/v1/ocr", content=raw, headers={**CLIENT, "Content-Type": "multipart/form-data; boundary=b"})
    assert r.status_code == 200, r.text  # the name never reaches the file system
    r = client.post("/v1/ocr", content=b"--x\r\n", headers={**CLIENT, "Content-Type": "multipart/form-data"})
    assert r.status_code == 400 and set(r.json()) == {"error", "message"}
    many = {f"f{i}": ("a.pdf", b"x", "application/pdf") for i in range(3)}
    r = client.post("/v1/ocr", files=many, headers=CLIENT)
    assert r.status_code == 400 and set(r.json()) == {"error", "message"}


def test_odd_request_ids_never_cost_an_answered_document_its_event(pg_url, tmp_path, google_engine, golden_dir):
    """The probe: an X-Request-Id over 64 characters overflowed String(64) on PostgreSQL and the
    event went to the rejected spool. Ids are bounded at the edge (a digest), on PostgreSQL too."""
    from sqlalchemy import create_engine, select

    from rollout.events import ocr_events

    store = FlagStore(pg_url)
    store.init()
    reader = FlagReader(store, None, refresh_s=60)
    reader.refresh()
    writer = EventWriter(pg_url, tmp_path / "spool.jsonl")
    writer.init_schema()
    pipeline = OcrPipeline(reader.get, {OPENSOURCE: get_engine("tesseract"), GOOGLE: google_engine()}, writer)
    client = TestClient(create_app(pipeline, reader, {"client-secret": "app"}, {"admin-secret": "ops"},
                                   store=store, writer=writer))
    pdf = (golden_dir / "inv-0001.pdf").read_bytes()
    odd = ["x" * 65, "<'\";--" * 12, "id with spaces and / slashes", "r" * 5000, "plain-id-42"]
    answered = []
    for rid in odd:
        r = client.post("/v1/ocr", content=pdf, headers={**CLIENT, "Content-Type": "application/pdf",
                                                         "X-Request-Id": rid})
        assert r.status_code == 200
        answered.append(r.json()["request_id"])
    assert answered[-1] == "plain-id-42" and all(len(a) <= 64 for a in answered)
    writer.flush()
    db = create_engine(pg_url)
    with db.connect() as conn:
        stored = [row[0] for row in conn.execute(select(ocr_events.c.request_id))]
    db.dispose()
    pipeline.close()
    writer.close()
    assert sorted(stored) == sorted(answered)  # every answered document has its event
    assert not (tmp_path / "spool.jsonl.rejected").exists()
