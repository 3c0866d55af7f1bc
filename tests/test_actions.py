"""The rollout actions exist once (rollout/actions.py): every caller — the CLI, the admin API,
the ocr_emergency and ocr_migration tasks — applies them through apply_action, with one spelling
each in the audit log."""

import json
import os
import subprocess

import pytest
from fastapi.testclient import TestClient

from rollout import actions, stages
from rollout.actions import ACTIONS, apply_action
from rollout.flags import FlagStore
from rollout.stages import InvalidTransition


@pytest.fixture
def store(tmp_path):
    s = FlagStore(f"sqlite:///{tmp_path / 'flags.db'}")
    s.init()
    return s


def test_every_action_has_a_cli_verb_and_an_admin_route():
    from cli import app
    from service.app import create_app

    import typer

    verbs = set(typer.main.get_command(app).commands)  # the command line as click builds it
    assert set(ACTIONS) <= verbs, set(ACTIONS) - verbs
    routes = {r.path for r in create_app(None, None, {}, {"admin-secret": "ops"}).routes if hasattr(r, "path")}
    assert {f"/v1/admin/flags/{name}" for name in ACTIONS} <= routes


def test_the_service_refuses_to_start_when_an_actions_parameters_have_no_body(monkeypatch):
    """The admin routes are made from the registry: an action whose parameters its route's body
    cannot carry stops the service at start, not at the first request."""
    from service.app import create_app

    monkeypatch.setitem(ACTIONS, "set-shadow-share", actions.Action(
        "set-shadow-share", "Share of shadow reads", stages.move_to, ("share",), ("share",)))
    with pytest.raises(RuntimeError, match=r"set-shadow-share \(ChangeBody\) does not give its parameters \(share\)"):
        create_app(None, None, {}, {"admin-secret": "ops"})


def test_the_staging_test_data_goes_through_the_registry(pg_url, tmp_path):
    """The staging deployer's flags are set with apply_action: audited under the registry's name."""
    from staging import STAGING_FLAGS, LocalProcessDeployer, StagingConfig, StagingEndpoints
    from staging.config import STAGING_ACTOR

    endpoints = StagingEndpoints(service_url="http://127.0.0.1:9", database_url=pg_url,
                                 redis_url="redis://127.0.0.1:6379/11", documentai_endpoint=None)
    loaded = LocalProcessDeployer(StagingConfig(base_dir=tmp_path)).load_test_data(endpoints)
    assert loaded["changed"] == ["enable_accuracy_comparison"]  # the others are on by default
    store = FlagStore(pg_url)
    assert all(store.snapshot().flag(name) is value for name, value in STAGING_FLAGS.items())
    assert [(e.action, e.actor) for e in store.history(1)] == [
        ("set-flag enable_accuracy_comparison", STAGING_ACTOR)]


def test_one_spelling_with_underscore_aliases(store):
    assert actions.action("maintenance_on") is actions.action("maintenance-on") is ACTIONS["maintenance-on"]
    with pytest.raises(InvalidTransition, match="unknown action"):
        actions.action("drop-database")
    snap = apply_action(store, "maintenance_on", "ops", "database upgrade")
    assert snap.flag("maintenance_mode") and snap.maintenance_reason == "database upgrade"
    apply_action(store, "maintenance-off", "ops", "done")
    assert [e.action for e in store.history(2)] == ["maintenance-off", "maintenance-on"]


def test_parameters_are_checked_before_anything_changes(store):
    with pytest.raises(InvalidTransition, match="takes percentage"):
        apply_action(store, "advance", "ops", "go", force=True)
    with pytest.raises(InvalidTransition, match="needs name, value"):
        apply_action(store, "set-flag", "ops", "go")
    assert store.snapshot().version == 1


def test_set_percentage_goes_either_way_and_puts_google_back(store):
    apply_action(store, "enable", "ops", "all in")
    apply_action(store, "disable-google", "ops", "cut over")
    down = apply_action(store, "set-percentage", "ops", "stage failed", percentage=15)
    assert (down.stage, down.percentage, down.flag("disable_google_cloud")) == (2, 15, False)
    assert [e.action for e in store.history(3)] == ["set-percentage", "disable-google", "enable"]
    forced = apply_action(store, "disable-google", "ops", "drill", force=True)
    assert forced.flag("disable_google_cloud") and store.history(1)[0].action == "disable-google-forced"


def test_restore_puts_a_saved_state_back_through_the_api_and_the_cli(store, tmp_path, cli):
    from service.app import create_app

    saved = apply_action(store, "advance", "ops", "go", percentage=35).as_dict()
    apply_action(store, "disable", "ops", "incident")
    client = TestClient(create_app(None, None, {}, {"admin-secret": "ops"}, store=store))
    r = client.post("/v1/admin/flags/restore", json={"reason": "back", "state": saved}, headers={"X-API-Key": "admin-secret"})
    assert r.status_code == 200 and r.json()["percentage"] == 35
    bad = client.post("/v1/admin/flags/restore", json={"reason": "back", "state": {**saved, "stage": 6}},
                      headers={"X-API-Key": "admin-secret"})
    assert bad.status_code == 409 and "inconsistent" in bad.json()["message"]
    # the CLI's set-percentage verb, on the same store
    env = dict(os.environ, OCR_MIGRATE_DATABASE_URL=str(store.db.url), OCR_MIGRATE_ACTOR="ops-test")
    out = subprocess.run([*cli, "set-percentage", "5", "--reason", "slow down", "-o", "json"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["percentage"] == 5 and store.history(1)[0].action == "set-percentage"


def test_the_transitions_stay_pure():
    snap = stages.Snapshot()
    moved = ACTIONS["advance"].transition(snap)
    assert snap.percentage == 0 and moved.percentage == 5  # nothing written, nothing mutated


def test_set_flag_takes_a_flag_called_name(store):
    """Parameters named like apply_action's own (name, reason) reach the transition."""
    snap = apply_action(store, "set-flag", "ops", "compare", name="enable_accuracy_comparison", value=False)
    assert snap.flag("enable_accuracy_comparison") is False
    assert store.history(1)[0].action == "set-flag enable_accuracy_comparison"


def test_a_rejected_stage_goes_back_with_who_and_why_even_with_auto_rollback_off(store):
    from rollout.health.alerts import AlertStore
    from rollout.migration import MigrationPlan, reject_stage, set_percentage

    plan = MigrationPlan(stages=(5, 15, 100), auto_rollback=False)
    set_percentage(store, 5, "airflow:ocr_migration/r1", "stage 1")
    set_percentage(store, 15, "airflow:ocr_migration/r1", "stage 2")
    # a person's text from a web form: a newline, a NUL and a lone surrogate must not break the audit
    out = reject_stage(store.db, store, 15, plan, "r1", "anna\n", "error rate\x00 on\nscans \ud800 too high", [])
    assert out["action"] == "rollback" and out["target"] == 5
    snap = store.snapshot()
    assert (snap.percentage, snap.stage) == (5, 1)
    last = store.history(1)[0]
    assert last.action == "set-percentage" and last.outcome == "applied"
    assert last.actor == "anna (approval, r1)"
    assert last.reason == "stage 15 % rejected at its approval by anna: error rate on scans too high"
    alerts = [a for a in AlertStore(store.db, notifiers=[]).recent(open_only=True) if a["key"] == "rejected:15"]
    assert alerts and alerts[0]["severity"] == "warning" and "anna" in alerts[0]["message"]
    # no reviewer name or reason given: still said so, not left blank
    set_percentage(store, 15, "airflow:ocr_migration/r2", "stage 2")
    reject_stage(store.db, store, 15, plan, "r2", "", "  ", [])
    assert store.history(1)[0].reason == "stage 15 % rejected at its approval by an unnamed reviewer: no reason given"


def test_restore_reads_only_a_regular_file_of_bounded_size_and_keeps_the_maintenance_state(store, tmp_path, cli):
    """A backup that is a device or a FIFO is refused (exit 6) without being read; one that switches
    maintenance off by a string is refused; a good one comes back with maintenance as it is now."""
    saved = apply_action(store, "advance", "ops", "go", percentage=35).as_dict()
    apply_action(store, "maintenance-on", "ops", "database upgrade")
    env = dict(os.environ, OCR_MIGRATE_DATABASE_URL=str(store.db.url), OCR_MIGRATE_ACTOR="ops-test")

    def restore(path) -> subprocess.CompletedProcess:
        return subprocess.run([*cli, "restore", "--backup", str(path), "--reason", "back", "-o", "json"], env=env,
                              capture_output=True, text=True, timeout=60)

    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    for path in ("/dev/zero", fifo):
        out = restore(path)
        assert out.returncode == 6 and "not a regular file" in out.stdout + out.stderr, out.stdout + out.stderr
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps({"state": {**saved, "flags": {**saved["flags"], "maintenance_mode": "false"}}}))
    out = restore(tampered)
    assert out.returncode == 6 and "maintenance_mode must be true or false" in out.stdout + out.stderr
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"state": saved}))  # saved before maintenance went on
    out = restore(good)
    assert out.returncode == 0, out.stdout + out.stderr
    snap = store.snapshot()
    assert snap.percentage == 35 and snap.flag("maintenance_mode") and snap.maintenance_reason == "database upgrade"


def test_no_cutover_in_maintenance_and_no_watch_passes_without_evidence(store):
    from datetime import datetime, timedelta, timezone

    from rollout.events import EventWriter
    from rollout.migration import MigrationPlan, cutover_problems, post_cutover_status

    EventWriter(store.db, store.db.url.database + ".spool").init_schema()  # the events table, empty
    plan = MigrationPlan(stages=(100,))
    apply_action(store, "maintenance-on", "ops", "upgrade")
    problems = cutover_problems(store.db, plan, "r1", store)
    assert any("maintenance mode is on (upgrade)" in p for p in problems), problems
    since = datetime.now(timezone.utc) - timedelta(seconds=30)
    # no document read at 100 % since the cutover: a watch of 20 s waits at 30 s, fails at 40 s
    assert post_cutover_status(store.db, store, since, 20, "r1", notifiers=[])["status"] == "wait"
    late = since + timedelta(seconds=41)
    out = post_cutover_status(store.db, store, since, 20, "r1", notifiers=[], now=late)
    assert out["status"] == "fail" and "no evidence" in out["reason"]
    # with the plan's evidence wait (its stage timeout, 300 s in the demo) it waits as a stage would
    waiting = post_cutover_status(store.db, store, since, 20, "r1", notifiers=[], now=late, evidence_wait_s=300)
    assert waiting["status"] == "wait" and "waiting for evidence" in waiting["reason"]
    out = post_cutover_status(store.db, store, since, 20, "r1", notifiers=[], now=since + timedelta(seconds=321),
                              evidence_wait_s=300)
    assert out["status"] == "fail" and "no evidence" in out["reason"]
