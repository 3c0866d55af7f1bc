"""Remediation (issue 21): a failed stage's documents that the open-source engine served are
re-read with Document AI (the local double) and each changed result is published as a correction;
documents are kept only with remediation on, and only for the retention period. Real Tesseract,
real PostgreSQL, the real Document AI client against the double, a real webhook receiver."""

import json
import os
import stat
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, select

from ocr_engines import get_engine
from rollout import remediation
from rollout.distribution import FlagReader
from rollout.events import EventWriter, ocr_events
from rollout.flags import FlagStore
from service.pipeline import OcrPipeline
from rollout.router import GOOGLE, OPENSOURCE, RequestContext
from rollout.settings import Settings

from .servers import Hook


def users_routed(snap, engine: str, count: int, offset: int = 0) -> list[str]:
    """User ids the router sends to ``engine`` at this snapshot (stickiness by user)."""
    from rollout.router import decide

    out, i = [], offset
    while len(out) < count:
        if decide(RequestContext(user_id=f"u{i}"), snap).engine == engine:
            out.append(f"u{i}")
        i += 1
    return out


@pytest.fixture
def migration(pg_url, tmp_path, google_engine, fresh):
    store = FlagStore(pg_url)
    store.init()
    reader = FlagReader(store, None, refresh_s=60)
    from rollout.actions import apply_action

    apply_action(store, "set-percentage", "test", "50 %", percentage=50)
    apply_action(store, "set-flag", "test", "shadows", name="enable_accuracy_comparison", value=True)
    reader.refresh()
    writer = EventWriter(pg_url, tmp_path / "spool.jsonl", flush_s=0.05)
    writer.init_schema()
    retention = remediation.RetentionStore(tmp_path / "retained", 3600)
    from service.pipeline import PipelineConfig

    pipeline = OcrPipeline(reader.get, {OPENSOURCE: get_engine("tesseract"), GOOGLE: google_engine()}, writer,
                           PipelineConfig(shadow_percentage=100), retention=retention)
    yield pipeline, reader, writer, retention, create_engine(pg_url)
    pipeline.close()


def test_remediation_rereads_exactly_what_the_open_source_engine_served_in_the_window_and_publishes_changes(
        migration, golden_dir, fresh, google_engine, tmp_path):
    pipeline, reader, writer, retention, db = migration
    docs = sorted(golden_dir.glob("inv-000[1-6].pdf"))
    snap = reader.get()
    before = users_routed(snap, OPENSOURCE, 1, offset=1000)
    pipeline.process(docs[0], RequestContext(user_id=before[0]), "served-before-the-window")
    writer.flush()
    window_start = datetime.now(timezone.utc)
    mine, google = users_routed(snap, OPENSOURCE, 4), users_routed(snap, GOOGLE, 2)
    served = {}
    for i, user in enumerate(mine + google):
        out = pipeline.process(docs[i % len(docs)], RequestContext(user_id=user), f"req-{i}")
        served[f"req-{i}"] = out.engine
    pipeline.close()  # the shadow reads (the other engine, every document) are recorded
    writer.flush()
    window_end = datetime.now(timezone.utc)
    opensource = {rid for rid, engine in served.items() if engine == OPENSOURCE}
    assert len(opensource) == 4 and len(served) - len(opensource) == 2
    with db.connect() as conn:  # both kinds of read the remediation must leave alone are there
        shadows = conn.execute(select(ocr_events.c.request_id).where(
            ocr_events.c.shadow.is_(True), ocr_events.c.engine == OPENSOURCE)).scalars().all()
        kinds = set(conn.execute(select(ocr_events.c.kind)).scalars())
    assert set(shadows) >= {rid for rid, engine in served.items() if engine == GOOGLE}
    assert kinds == {"digital"}

    # the open-source engine served a wrong total for req-0 (as a failing engine would): the kept
    # record of what it served says so
    wrong = next(rid for rid in sorted(opensource))
    doc, meta = retention.find(wrong)
    meta["result"]["fields"]["total_amount"]["value"] = "1.00"
    doc.with_suffix(".json").write_text(json.dumps(meta))
    assert stat.S_IMODE(os.stat(doc).st_mode) == 0o600 and stat.S_IMODE(os.stat(doc.parent).st_mode) == 0o700

    rid, ids = remediation.start(db, 50, 4, "gate", "run-1", window_start, window_end)
    assert set(ids) == opensource  # not Google's reads, not the shadows, not before the window
    fresh.reset_stats()
    fresh.configure(latency_median_s=0.2, latency_sigma=0.0)  # Google takes its time: re-reads overlap
    hook = Hook([503])  # the webhook fails once: retried
    try:
        publisher = remediation.CorrectionsWebhook(hook.url, retries=2)
        counts = remediation.remediate(db, rid, ids, retention, google_engine(), None, publisher, concurrency=4)
        row = remediation.finish(db, rid, [counts])
    finally:
        hook.close()
    assert fresh.stats["requests"] == len(opensource)  # each served document re-read once
    assert fresh.stats["peak_in_flight"] > 1  # ... several at a time
    assert row["served"] == row["retained"] == row["reread"] == 4
    corrections = remediation.corrections(db)
    assert wrong in {c["request_id"] for c in corrections}
    assert {c["request_id"] for c in corrections} <= opensource
    fixed = next(c for c in corrections if c["request_id"] == wrong)
    assert fixed["fields"]["total_amount"]["served"] == "1.00" and fixed["status"] == "corrected"
    assert fixed["corrected_result"]["fields"]["total_amount"]["value"] != "1.00"
    assert row["corrected"] == len(corrections) and row["published"] == row["corrected"]
    delivered = [m for m in hook.received if m["type"] == "ocr_correction"]
    assert sorted(m["request_id"] for m in delivered)[-len(corrections):] == sorted(c["request_id"]
                                                                                    for c in corrections)
    assert remediation.summary_line(row).startswith(f"remediation of stage 50 %: served 4, re-read 4, "
                                                    f"corrected {row['corrected']}, published {row['corrected']}")

    # run again (a retried task): nothing is stored or sent twice
    again = remediation.remediate(db, rid, ids, retention, google_engine(), None, publisher)
    assert again["corrected"] == row["corrected"] and len(remediation.corrections(db)) == len(corrections)


def test_with_google_off_the_documents_are_listed_for_review(migration, golden_dir):
    pipeline, reader, writer, retention, db = migration
    start = datetime.now(timezone.utc)
    user = users_routed(reader.get(), OPENSOURCE, 1)[0]
    pipeline.process(sorted(golden_dir.glob("inv-*.pdf"))[0], RequestContext(user_id=user), "watch-1")
    writer.flush()
    rid, ids = remediation.start(db, 100, 6, "post-cutover", "run-2", start, datetime.now(timezone.utc))
    google, why = remediation.google_reader(Settings(documentai_project="p", documentai_processor_id="x"),
                                            {"disable_google_cloud": True})
    assert google is None and "switched off" in why
    counts = remediation.remediate(db, rid, ids, retention, google, why)
    assert counts["needs_review"] == 1 and counts["reread"] == 0
    [listed] = remediation.corrections(db)
    assert listed["status"] == "needs_review" and "switched off" in listed["fields"]["reason"]


def test_a_document_past_its_retention_is_gone_from_disk(tmp_path, golden_dir):
    clock = {"now": datetime(2026, 12, 7, 10, 30, tzinfo=timezone.utc)}
    store = remediation.RetentionStore(tmp_path / "kept", retention_s=3600, now=lambda: clock["now"])

    class Outcome:  # what the pipeline hands over: the kind, the engine, the result served
        kind, engine = "digital", OPENSOURCE

        class result:
            @staticmethod
            def to_dict():
                return {"fields": {}}

    class Snap:
        stage, percentage = 2, 15

    doc = sorted(golden_dir.glob("inv-*.pdf"))[0]
    assert store.keep("old", doc, Outcome, Snap)
    clock["now"] += timedelta(minutes=50)
    assert store.keep("young", doc, Outcome, Snap)
    clock["now"] += timedelta(minutes=20)  # "old" is 70 min old, "young" 20
    assert store.purge() == 1
    assert store.find("old") is None and store.find("young") is not None
    clock["now"] += timedelta(hours=3)
    assert store.purge() == 1
    assert not any(p.is_file() for p in (tmp_path / "kept").rglob("*"))  # nothing of them on disk


def test_remediation_off_keeps_nothing(pg_url, tmp_path, golden_dir, monkeypatch):
    """The service as built from settings: off by default, no document is kept anywhere."""
    from fastapi.testclient import TestClient

    from service.app import build_service

    data = tmp_path / "data"
    for key, value in {"OCR_MIGRATE_DATABASE_URL": pg_url, "OCR_MIGRATE_DATA_DIR": str(data),
                       "OCR_MIGRATE_CLIENT_API_KEYS": "app:k", "OCR_MIGRATE_REDIS_URL": "",
                       "OCR_MIGRATE_MAX_CONCURRENCY": "1"}.items():
        monkeypatch.setenv(key, value)
    from rollout.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    assert settings.remediation is False
    app = build_service(settings)
    store = FlagStore(pg_url)
    from rollout.actions import apply_action

    apply_action(store, "set-percentage", "test", "all", percentage=100)
    with TestClient(app) as client:
        for doc in sorted(golden_dir.glob("inv-*.pdf"))[:2]:
            r = client.post("/v1/ocr", content=doc.read_bytes(), headers={"X-API-Key": "k",
                                                                          "Content-Type": "application/pdf"})
            assert r.status_code == 200 and r.json()["engine"] == OPENSOURCE
    get_settings.cache_clear()
    assert not settings.retained_dir.exists()
    kept = [p for p in data.rglob("*") if p.is_file() and p.suffix in (".doc", ".pdf")]
    assert kept == []
