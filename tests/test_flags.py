"""Flag state with audit and compare-and-set, on SQLite and real PostgreSQL; stage rules."""

import threading

import pytest

from rollout import stages
from rollout.db import make_db
from rollout.flags import ConcurrentUpdateError, FlagStore
from rollout.stages import InvalidTransition, Snapshot


@pytest.fixture
def store(db_url):
    s = FlagStore(db_url)
    s.init()
    return s


def test_initial_state_is_google_only_with_seed_flags(store):
    snap = store.snapshot()
    assert (snap.stage, snap.percentage, snap.version) == (0, 0, 1)
    assert snap.flag("use_opensource_ocr") is False and snap.flag("gradual_rollout_enabled") is True
    assert set(snap.as_dict()["flags"]) == set(stages.FLAG_NAMES)
    assert store.history()[0].action == "init"


def test_advance_through_every_stage_and_back(store):
    seen = []
    for _ in range(6):
        seen.append(store.apply("advance", "ops", "gate passed", stages.advance).percentage)
    assert seen == [5, 15, 35, 60, 85, 100]
    with pytest.raises(InvalidTransition, match="last stage"):
        store.apply("advance", "ops", "more", stages.advance)
    back = [store.apply("rollback", "ops", "alert", stages.rollback).percentage for _ in range(6)]
    assert back == [85, 60, 35, 15, 5, 0]
    with pytest.raises(InvalidTransition, match="stage 0"):
        store.apply("rollback", "ops", "again", stages.rollback)
    assert store.snapshot().version == 13


def test_every_attempt_is_audited_with_actor_reason_before_and_after(store):
    store.apply("advance", "alice", "stage 1 after golden gate", stages.advance)
    with pytest.raises(InvalidTransition):
        store.apply("advance", "bob", "skip ahead", lambda s: stages.advance(s, percentage=150))
    applied, refused = store.history()[1], store.history()[0]
    assert (applied.actor, applied.outcome, applied.reason) == ("alice", "applied", "stage 1 after golden gate")
    assert applied.before["percentage"] == 0 and applied.after["percentage"] == 5
    assert (refused.actor, refused.outcome) == ("bob", "refused") and "between 0 and 100" in refused.reason
    assert store.snapshot().percentage == 5  # the refused change changed nothing


def test_compare_and_set_lets_exactly_one_of_two_writers_win(store):
    read_by_both = store.snapshot()
    store.apply("advance", "alice", "first", stages.advance, based_on=read_by_both)
    with pytest.raises(ConcurrentUpdateError):
        store.apply("advance", "bob", "second", stages.advance, based_on=read_by_both)
    assert store.snapshot().percentage == 5
    outcomes = [(e.actor, e.outcome) for e in store.history()[:2]]
    assert outcomes == [("bob", "conflict"), ("alice", "applied")]


def test_concurrent_writers_in_threads(db_url):
    FlagStore(db_url).init()
    barrier = threading.Barrier(4)
    results = []

    def writer(name):
        s = FlagStore(db_url)
        snap = s.snapshot()
        barrier.wait()
        try:
            s.apply("advance", name, "race", stages.advance, based_on=snap)
            results.append("won")
        except ConcurrentUpdateError:
            results.append("lost")

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["lost", "lost", "lost", "won"]
    history = FlagStore(db_url).history()
    assert sum(e.outcome == "applied" and e.action == "advance" for e in history) == 1
    assert sum(e.outcome == "conflict" for e in history) == 3


REPLICAS, ROUNDS = 8, 5


def at_once(set_up) -> list[str]:
    """``set_up(i)`` in REPLICAS threads released together by a barrier, as replicas starting at
    the same moment on a fresh database; the errors they raised."""
    barrier, errors = threading.Barrier(REPLICAS), []

    def replica(i):
        barrier.wait()
        try:
            set_up(i)
        except Exception as exc:  # every error is reported
            errors.append(f"replica {i}: {exc!r}"[:300])

    threads = [threading.Thread(target=replica, args=(i,)) for i in range(REPLICAS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_replicas_initialising_a_fresh_database_at_once_all_get_the_one_initial_state(db_url):
    """Two OCR replicas starting together on a fresh database: their CREATE TABLEs collided (a
    unique violation in PostgreSQL's catalog, or 'already exists'), and init() took the clash for
    'the other one set it up', then found no state. Now every replica gets the initial state and it
    is seeded once."""
    for _ in range(ROUNDS):
        fresh_database(db_url)
        stores = [FlagStore(db_url) for _ in range(REPLICAS)]  # each its own engine, as replicas have
        snapshots = {}
        errors = at_once(lambda i: snapshots.__setitem__(i, stores[i].init(actor=f"replica-{i}")))
        for s in stores:
            s.db.dispose()
        assert not errors, errors
        assert {(s.version, s.stage, s.percentage) for s in snapshots.values()} == {(1, 0, 0)}
        assert [e.action for e in FlagStore(db_url).history()] == ["init"]


def fresh_database(url: str) -> None:
    """No table of ours and no schema version: what a first deployment finds."""
    from sqlalchemy import text

    from rollout.db import VERSION_TABLE, metadata

    db = make_db(url)
    metadata.drop_all(db)
    with db.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))
    db.dispose()


def test_replicas_upgrading_a_fresh_database_at_once_all_succeed(db_url, tmp_path):
    """The schema's migrations, run by replicas (the event writer, the flag store), the CLI and a
    DAG's first task (``ocr-migrate db upgrade``) at the same moment on a fresh database: none may
    fail, and the database ends at the newest revision, recorded once. (Rewritten for Alembic: it
    ran the old per-table ``create_all`` set-ups side by side.)"""
    from sqlalchemy import text

    from rollout.db import VERSION_TABLE, current, head, upgrade
    from rollout.events import EventWriter

    set_ups = [lambda db: EventWriter(db, tmp_path / "spool.jsonl").init_schema(), lambda db: FlagStore(db).init(),
               upgrade]
    for _ in range(ROUNDS):
        fresh_database(db_url)
        dbs = [make_db(db_url) for _ in range(REPLICAS)]
        errors = at_once(lambda i: set_ups[i % len(set_ups)](dbs[i]))
        for each in dbs:
            each.dispose()
        assert not errors, errors
        db = make_db(db_url)
        assert current(db) == head()
        with db.connect() as conn:
            assert conn.execute(text(f"SELECT count(*) FROM {VERSION_TABLE}")).scalar() == 1
        db.dispose()


def test_changes_need_actor_and_reason(store):
    with pytest.raises(InvalidTransition, match="reason"):
        store.apply("advance", "ops", " ", stages.advance)
    with pytest.raises(InvalidTransition, match="actor"):
        store.apply("advance", "", "why", stages.advance)


def test_stage_rules():
    s = Snapshot()
    assert stages.advance(s, percentage=20).stage == 2  # between stages: the stage below
    with pytest.raises(InvalidTransition, match="use rollback"):
        stages.advance(stages.advance(s, percentage=35), percentage=15)
    with pytest.raises(InvalidTransition, match="between 0 and 100"):
        stages.advance(s, percentage=150)
    assert stages.rollback(stages.advance(s, percentage=20)).percentage == 15
    on = stages.enable(s)
    assert on.percentage == 100 and on.flag("use_opensource_ocr")
    off = stages.disable(stages.disable_google(on))
    assert off.percentage == 0 and not off.flag("disable_google_cloud") and not off.flag("use_opensource_ocr")


def test_disabling_google_needs_full_rollout_or_force():
    at_60 = stages.advance(Snapshot(), percentage=60)
    with pytest.raises(InvalidTransition, match="not 100 %"):
        stages.disable_google(at_60)
    assert stages.disable_google(at_60, force=True).flag("disable_google_cloud")
    assert stages.disable_google(stages.enable(Snapshot())).flag("disable_google_cloud")


def test_maintenance_needs_a_reason_and_flags_are_validated():
    with pytest.raises(InvalidTransition, match="reason"):
        stages.maintenance_on(Snapshot(), "")
    on = stages.maintenance_on(Snapshot(), "Postgres upgrade")
    assert on.flag("maintenance_mode") and on.maintenance_reason == "Postgres upgrade"
    with pytest.raises(InvalidTransition, match="unknown flag"):
        stages.set_flag(Snapshot(), "use_open_source", True)
    with pytest.raises(InvalidTransition, match="advance"):
        stages.set_flag(Snapshot(), "rollout_percentage", True)
    assert stages.set_flag(Snapshot(), "enable_accuracy_comparison", True).flag("enable_accuracy_comparison")


def test_a_newline_in_the_data_folders_name_cannot_inject_into_the_rollback_script(tmp_path):
    """The probe: the backup path sat in a '#' comment; a newline in the folder name ended the
    comment and ran the next line, and then `bash -n` failed and nothing was restored."""
    import json
    import subprocess

    from rollout.migration import write_rollback_script

    pwned = tmp_path / "pwned"
    folder = tmp_path / "data\ntouch pwned\n#"  # run from tmp_path: 'pwned' lands there
    folder.mkdir()
    backup = folder / "pre-cutover.json"
    backup.write_text(json.dumps({"state": Snapshot(version=3, stage=6, percentage=100).as_dict()}))
    script = write_rollback_script(backup, folder / "rollback_cutover.sh", f"sqlite:///{tmp_path / 'x.db'}")
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    subprocess.run(["bash", str(script), "--help"], capture_output=True, timeout=120, cwd=tmp_path)
    assert not pwned.exists()


@pytest.mark.parametrize("tampered, why", [
    ({"flags": {"maintenance_mode": "false"}}, "maintenance_mode must be true or false"),
    ({"flags": {"disable_google_cloud": "false"}}, "disable_google_cloud must be true or false"),
    ({"percentage": True}, "whole number"), ({"percentage": 35.9}, "whole number"),
    ({"percentage": 250, "stage": 6}, "between 0 and 100"), ({"stage": 3}, "inconsistent state"),
    ({"flags": []}, "flags must be an object"), ({"maintenance_reason": "a\x00b"}, "NUL"),
    ({"extra": 1}, "unknown keys extra"), ({"version": -1}, "version must be"),
])
def test_a_stored_state_is_checked_as_strictly_as_a_change(tampered, why):
    from rollout.stages import InvalidTransition, Snapshot, stored_snapshot

    good = Snapshot(version=3, stage=1, percentage=5).as_dict()
    assert stored_snapshot(good).percentage == 5
    state = {**good, **tampered}
    if "flags" in tampered and isinstance(tampered["flags"], dict):
        state["flags"] = {**good["flags"], **tampered["flags"]}
    with pytest.raises(InvalidTransition, match=why):
        stored_snapshot(state)
