"""The cost ledger: pages per engine, what Google was paid for, and what the migration saved, per
UTC day and stage, on SQLite and PostgreSQL alike."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert

from rollout.db import make_db, ocr_events, upgrade
from rollout.health.ledger import cost_ledger

DAY1 = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
DAY2 = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)


def _event(i, request_id, engine, at, stage, pages, success=True, shadow=False, fallback=False):
    return {"at": at + timedelta(seconds=i), "event_id": f"e{i}", "request_id": request_id, "engine": engine,
            "stage": stage, "percentage": 15, "duration_ms": 100, "success": success, "pages": pages,
            "shadow": shadow, "fallback": fallback}


EVENTS = [
    _event(1, "r1", "documentai", DAY1, 2, 2),                       # Google served
    _event(2, "r2", "tesseract", DAY1, 2, 3),                        # Tesseract served...
    _event(3, "r2", "documentai", DAY1, 2, 3, shadow=True),          # ...and Google shadowed it (billed)
    _event(4, "r3", "tesseract", DAY1, 2, 1),                        # low confidence...
    _event(5, "r3", "documentai", DAY1, 2, 1, fallback=True),        # ...re-read by Google: Google served
    _event(6, "r4", "ksef", DAY1, 2, 1),                             # an XML e-invoice
    _event(7, "r5", "tesseract", DAY1, 2, None, success=False),      # failed...
    _event(8, "r5", "documentai", DAY1, 2, 4, fallback=True),        # ...Google served
    _event(9, "r6", "documentai", DAY1, 2, None, success=False),     # a failed Google call is not billed
    _event(10, "r6", "tesseract", DAY1, 2, 2, fallback=True),        # ...Tesseract served
    _event(11, "r7", "tesseract", DAY2, 3, 5),
]


@pytest.fixture
def events_db(db_url):
    db = make_db(db_url)
    upgrade(db)
    with db.begin() as conn:
        conn.execute(insert(ocr_events), EVENTS)
    return db


def test_pages_per_day_and_stage_and_the_money_saved(events_db):
    ledger = cost_ledger(events_db, DAY1 - timedelta(hours=1), DAY2 + timedelta(hours=1), Decimal("0.01"))
    first, second = ledger["rows"]
    assert (first["day"], first["stage"], second["day"], second["stage"]) == ("2026-11-30", 2, "2026-12-01", 3)
    assert first["served_pages"] == {"documentai": 7, "ksef": 1, "tesseract": 5}
    assert first["documents"] == 6
    assert first["google_pages"] == 10 and first["google_shadow_pages"] == 3
    assert first["pages_avoided"] == 6 and first["avoided_by"] == {"tesseract": 5, "ksef": 1}
    assert first["pages_needed"] == 13 and first["pages_saved"] == 3
    assert (first["google_cost"], first["saved"]) == ("0.10", "0.03")
    assert second["served_pages"] == {"tesseract": 5} and second["google_pages"] == 0
    assert second["saved"] == "0.05"
    total = ledger["total"]
    assert (total["pages_needed"], total["google_pages"], total["pages_saved"], total["pages_avoided"]) == (18, 10, 8, 11)
    assert (total["google_cost"], total["saved"]) == ("0.10", "0.08")
    assert ledger["price_per_page"] == "0.01" and ledger["currency"] == "USD"


def test_without_a_price_the_ledger_counts_pages_only(events_db):
    ledger = cost_ledger(events_db, DAY2, DAY2 + timedelta(hours=1))
    assert ledger["price_per_page"] is None
    assert [r["pages_saved"] for r in ledger["rows"]] == [5]
    assert ledger["total"]["saved"] is None and ledger["total"]["google_cost"] is None


def test_an_empty_window(events_db):
    ledger = cost_ledger(events_db, DAY1 - timedelta(days=3), DAY1 - timedelta(days=2), Decimal("0.01"))
    assert ledger["rows"] == [] and ledger["total"]["pages_needed"] == 0 and ledger["total"]["saved"] == "0.00"


def test_the_ledger_per_upload_kind(db_url):
    """Each request's kind is on all its events: its pages count under that kind; events recorded
    before kinds were count under None. The kinds add up to the total."""
    kinds = {"r1": "scan", "r2": "digital", "r3": "photo", "r4": "xml", "r5": "scan", "r6": "digital", "r7": None}
    db = make_db(db_url)
    upgrade(db)
    with db.begin() as conn:
        conn.execute(insert(ocr_events), [{**e, "kind": kinds[e["request_id"]]} for e in EVENTS])
    ledger = cost_ledger(db, DAY1 - timedelta(hours=1), DAY2 + timedelta(hours=1), Decimal("0.01"))
    by_kind = {k["kind"]: k for k in ledger["kinds"]}
    # most documents first, then by name, None (no kind) last among equals
    assert [k["kind"] for k in ledger["kinds"]] == ["digital", "scan", "photo", "xml", None]
    assert by_kind["digital"]["served_pages"] == {"tesseract": 5} and by_kind["digital"]["google_pages"] == 3
    assert by_kind["digital"]["google_shadow_pages"] == 3 and by_kind["digital"]["pages_saved"] == 2
    assert by_kind["scan"]["served_pages"] == {"documentai": 6} and by_kind["scan"]["google_pages"] == 6
    assert by_kind["scan"]["saved"] == "0.00" and by_kind["xml"]["avoided_by"]["ksef"] == 1
    assert by_kind[None]["pages_saved"] == 5
    for key in ("documents", "pages_needed", "google_pages", "pages_saved"):
        assert sum(k[key] for k in ledger["kinds"]) == ledger["total"][key], key
