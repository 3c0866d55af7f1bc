"""The stage timeline (rollout.health.timeline) from the tables that record a rollout: the flag
audit log, the gate's evaluations and the remediations (written here as the stores write them)."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, update

from rollout.actions import apply_action
from rollout.db import flag_audit, gate_evaluations, ocr_remediations
from rollout.flags import FlagStore
from rollout.health.timeline import remediation_summary, stage_timeline

T = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)  # the story's start


@pytest.fixture
def store(tmp_path):
    """0 → 5 → 15 % (a flag set in between, 15 % set again at T + 25), then 15 → 5 % (rollback): T + 0..40 min."""
    store = FlagStore(f"sqlite:///{tmp_path / 'timeline.db'}")
    store.init(actor="test")
    apply_action(store, "advance", "test", "stage 1")
    apply_action(store, "set-flag", "test", "a flag, not a stage", name="enable_accuracy_comparison", value=False)
    apply_action(store, "set-percentage", "test", "stage 2", percentage=15)
    apply_action(store, "set-percentage", "test", "again: no change", percentage=15)
    apply_action(store, "rollback", "ops", "by hand")
    with store.db.begin() as conn:
        ids = [r.id for r in conn.execute(flag_audit.select().order_by(flag_audit.c.id))]
        assert len(ids) == 6  # the second 15 % is applied (and audited) but changes no percentage
        for minutes, entry_id in zip((0, 10, 15, 20, 25, 40), ids):
            conn.execute(update(flag_audit).where(flag_audit.c.id == entry_id).values(at=T + timedelta(minutes=minutes)))
    return store


def gate(conn, minutes: int, verdict: str, percentage: int = 15) -> None:
    at = T + timedelta(minutes=minutes)
    conn.execute(insert(gate_evaluations).values(
        evaluated_at=at, run_id="r1", stage=2, percentage=percentage, canary="tesseract", baseline="documentai",
        window_start=at - timedelta(minutes=5), window_end=at, verdict=verdict, reason=f"{verdict} reason",
        canary_documents=10, baseline_documents=90, checks=[], figures={}, thresholds={}))


def test_stages_gates_rollback_and_remediation(store):
    with store.db.begin() as conn:
        for minutes in (21, 22, 23):
            gate(conn, minutes, "INCONCLUSIVE")
        gate(conn, 30, "FAIL")
        gate(conn, 31, "FAIL", percentage=5)  # another percentage: not folded into the 15 % FAIL
        conn.execute(insert(ocr_remediations).values(
            stage=2, percentage=15, cause="gate", window_start=T + timedelta(minutes=20),
            window_end=T + timedelta(minutes=40), started_at=T + timedelta(minutes=41), finished_at=None,
            served=9, reread=0, needs_review=9))
    tl = stage_timeline(store.db, T - timedelta(minutes=5), T + timedelta(hours=3))
    assert [(s["percentage"], s["began"], s["ended"]) for s in tl["stages"]] == [
        (0, (T).isoformat(), (T + timedelta(minutes=10)).isoformat()),
        (5, (T + timedelta(minutes=10)).isoformat(), (T + timedelta(minutes=20)).isoformat()),
        (15, (T + timedelta(minutes=20)).isoformat(), (T + timedelta(minutes=40)).isoformat()),
        (5, (T + timedelta(minutes=40)).isoformat(), None)]
    (rollback,) = tl["rollbacks"]
    assert (rollback["from"], rollback["to"], rollback["action"], rollback["actor"]) == (15, 5, "rollback", "ops")
    assert [(g["verdict"], g["percentage"], g["count"]) for g in tl["gates"]] == [
        ("INCONCLUSIVE", 15, 3), ("FAIL", 15, 1), ("FAIL", 5, 1)]
    assert tl["gates"][0]["first"] == (T + timedelta(minutes=21)).isoformat()
    (remediation,) = tl["remediations"]
    assert remediation["summary"] == "needs review 9 (running)"
    assert [e["type"] for e in tl["entries"]] == ["stage", "stage", "stage", "gate", "gate", "gate", "rollback",
                                                 "remediation"]
    # the strip spans what happened (T to the remediation's start at T + 41 min), not the 3 h window
    assert tl["span"] == {"start": T.isoformat(), "end": (T + timedelta(minutes=41)).isoformat()}


def test_a_window_after_the_changes_shows_the_stage_in_force(store):
    start, end = T + timedelta(minutes=50), T + timedelta(minutes=110)
    tl = stage_timeline(store.db, start, end)
    # 5 % since the rollback at T + 40 min (not since T + 10: 15 % came in between)
    assert [(s["percentage"], s["began"], s["ended"]) for s in tl["stages"]] == [
        (5, (T + timedelta(minutes=40)).isoformat(), None)]
    assert tl["changes"] == tl["rollbacks"] == tl["entries"] == []
    assert tl["span"] == {"start": start.isoformat(), "end": end.isoformat()}
    # a window opening at the repeated set: 15 % in force since T + 20 min, not since T + 25
    tl = stage_timeline(store.db, T + timedelta(minutes=25), T + timedelta(minutes=45))
    assert [(s["percentage"], s["ended"] is None) for s in tl["stages"]] == [(15, False), (5, True)]
    assert tl["stages"][0]["began"] == (T + timedelta(minutes=20)).isoformat()


def test_a_fresh_database_has_an_empty_timeline(tmp_path):
    from rollout.db import make_db

    tl = stage_timeline(make_db(f"sqlite:///{tmp_path / 'empty.db'}"), T, T + timedelta(hours=1))
    assert tl["span"] is None and tl["stages"] == [] and tl["entries"] == []


def test_remediation_summaries():
    assert remediation_summary({"reread": 41, "corrected": 12, "published": 11, "finished_at": "x"}) == \
        "re-read 41, corrected 12, published 11"
    assert remediation_summary({"reread": 3, "corrected": 1, "published": 0, "needs_review": 2, "failed": 1,
                                "finished_at": "x"}) == "re-read 3, corrected 1, published 0; needs review 2; failed 1"
    assert remediation_summary({"needs_review": 9, "finished_at": "x"}) == "needs review 9"
