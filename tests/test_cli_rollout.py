"""The deployment verbs end to end through the console command, on SQLite and PostgreSQL."""

import json
import os
import subprocess

import pytest


@pytest.fixture
def run(cli, db_url):
    env = dict(os.environ, OCR_MIGRATE_DATABASE_URL=db_url, OCR_MIGRATE_ACTOR="ops-test", COLUMNS="200")

    def _run(*args, ok=True):
        proc = subprocess.run([*cli, *args], capture_output=True, text=True, env=env, timeout=120)
        if ok:
            assert proc.returncode == 0, proc.stderr
        return proc

    return _run


def test_verbs_change_state_and_audit(run):
    assert json.loads(run("status", "-o", "json").stdout)["percentage"] == 0
    assert json.loads(run("advance", "--reason", "golden gate", "-o", "json").stdout)["percentage"] == 5
    assert json.loads(run("advance", "--percentage", "35", "--reason", "fast track", "-o", "json").stdout)["stage"] == 3
    assert json.loads(run("rollback", "--reason", "alert", "-o", "json").stdout)["percentage"] == 15
    run("set-flag", "enable_accuracy_comparison", "true", "--reason", "shadow on")
    snap = json.loads(run("maintenance-on", "--reason", "db upgrade", "-o", "json").stdout)
    assert snap["flags"]["maintenance_mode"] and snap["flags"]["enable_accuracy_comparison"]
    explain = json.loads(run("explain", "--user", "123", "-o", "json").stdout)
    assert explain["engine"] is None and explain["retry_after_s"] and {"engine", "bucket", "percentage", "reason"} <= set(explain)
    run("maintenance-off", "--reason", "done")
    assert json.loads(run("enable", "--reason", "all in", "-o", "json").stdout)["percentage"] == 100
    history = json.loads(run("history", "-o", "json").stdout)
    assert [h["action"] for h in history[:3]] == ["enable", "maintenance-off", "maintenance-on"]
    assert all(h["actor"] == "ops-test" for h in history[:3]) and history[0]["reason"] == "all in"


@pytest.mark.parametrize("args,message", [
    (("advance", "--percentage", "150"), "between 0 and 100"),
    (("rollback",), "stage 0"),
    (("set-flag", "no_such_flag", "true"), "unknown flag"),
    (("disable-google",), "not 100 %"),
])
def test_wrong_values_are_refused_and_change_nothing(run, args, message):
    before = json.loads(run("status", "-o", "json").stdout)
    proc = run(*args, "--reason", "test", ok=False)
    assert proc.returncode == 6 and message in proc.stderr and "Traceback" not in proc.stderr
    assert json.loads(run("status", "-o", "json").stdout) == before
    assert json.loads(run("history", "-o", "json").stdout)[0]["outcome"] == "refused"


def test_writes_require_a_reason(run):
    proc = run("advance", ok=False)
    assert proc.returncode == 2 and "--reason" in proc.stderr


def test_database_down_is_a_clear_error(cli):
    env = dict(os.environ, OCR_MIGRATE_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:1/none")
    proc = subprocess.run([*cli, "status"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 7 and "flag_store_unavailable" in proc.stderr and "Traceback" not in proc.stderr


def test_report_renders_window_figures(run, db_url, tmp_path):
    from datetime import datetime, timezone

    from rollout.events import EventWriter, OcrEvent

    empty = json.loads(run("report", "--hours", "1", "-o", "json").stdout)
    assert empty["engines"] == []
    writer = EventWriter(db_url, tmp_path / "spool.jsonl")
    writer.init_schema()
    for i in range(5):
        writer.record(OcrEvent(request_id=f"r{i}", engine="tesseract", stage=1, percentage=5, duration_ms=100 * (i + 1),
                               success=i != 4, error_class=None if i != 4 else "OcrTimeoutError",
                               pages=2 if i != 4 else None, at=datetime.now(timezone.utc)))
    # a KSeF XML upload: its own engine's volume in the report, and a page Google did not read
    writer.record(OcrEvent(request_id="x1", engine="ksef", stage=1, percentage=5, duration_ms=3, success=True,
                           confidence=1.0, pages=1, at=datetime.now(timezone.utc)))
    writer.flush()
    report = json.loads(run("report", "--hours", "1", "-o", "json").stdout)
    out = {row["engine"]: row for row in report["engines"]}
    assert set(out) == {"ksef", "tesseract"} and out["ksef"]["documents"] == 1
    assert out["tesseract"]["documents"] == 5 and out["tesseract"]["success_rate"] == 0.8
    assert out["tesseract"]["errors_by_class"] == {"OcrTimeoutError": 1}
    cost = report["cost"]["total"]
    assert cost["avoided_by"] == {"tesseract": 8, "ksef": 1} and cost["google_pages"] == 0 and cost["pages_saved"] == 9
    table = run("report", "--hours", "1").stdout
    assert "tesseract" in table and "80.0%" in table and "ksef" in table


def test_two_operators_deciding_on_one_version_move_the_rollout_once(cli, db_url):
    """The probe: two `advance` started at the same instant moved 0 -> 15 % in 11 of 20 pairs.
    With --expect-version, of two calls decided on version N exactly one applies; the other is a
    conflict (exit 6); both are audited."""
    env = dict(os.environ, OCR_MIGRATE_DATABASE_URL=db_url, OCR_MIGRATE_ACTOR="ops-test", COLUMNS="200")
    status = json.loads(subprocess.run([*cli, "status", "-o", "json"], capture_output=True, text=True, env=env,
                                       timeout=120, check=True).stdout)
    version = status["version"]
    for round_ in range(3):
        procs = [subprocess.Popen([*cli, "advance", "--expect-version", str(version), "--reason", f"op {who}",
                                   "-o", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for who in ("a", "b")]
        codes = sorted(p.wait(timeout=120) for p in procs)
        assert codes == [0, 6], [p.stderr.read() for p in procs]
        after = json.loads(subprocess.run([*cli, "status", "-o", "json"], capture_output=True, text=True, env=env,
                                          timeout=120, check=True).stdout)
        assert after["version"] == version + 1 and after["stage"] == round_ + 1  # one stage per decision
        version = after["version"]
    history = json.loads(subprocess.run([*cli, "history", "-o", "json"], capture_output=True, text=True, env=env,
                                        timeout=120, check=True).stdout)
    advances = [h["outcome"] for h in history if h["action"] == "advance"]
    assert sorted(advances) == ["applied"] * 3 + ["conflict"] * 3
    stale = subprocess.run([*cli, "rollback", "--expect-version", str(version - 2), "--reason", "late"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert stale.returncode == 6 and "version" in stale.stdout + stale.stderr


HOSTILE = "ops [/] [bold red]x[/bold red] \x1b]52;c;ZXZpbA==\x07\x1b[2J \u202eevil\u202c end"


def test_text_others_typed_is_shown_as_text_in_every_view(run, cli, db_url):
    """A reason (or maintenance message, alert text) holding '[/]', rich markup, terminal escape
    sequences and a bidi override: the views print it as text, without the controls, and do not
    crash (a '[/]' raised MarkupError before)."""
    run("maintenance-on", "--reason", HOSTILE)
    for args in (("history",), ("status",), ("gates",), ("alerts",)):
        out = run(*args).stdout
        assert "\x1b" not in out and "\u202e" not in out, args
    history = run("history").stdout
    assert "[/]" in history and "[bold red]x[/bold red]" in history
    status = run("status").stdout
    assert "[/]" in status and "evil" in status


def test_field_values_never_carry_control_characters():
    from ocr_engines.result import ExtractionResult, FieldValue

    result = ExtractionResult("tesseract", "5", 1, 0.9, {"supplier_name": FieldValue("ACME\x1b[2J\u202e Sp.\x00", 0.9)},
                              [{"description": "Bolt\x07 M8", "amount": "1.00"}])
    data = result.to_dict()
    assert data["fields"]["supplier_name"]["value"] == "ACME[2J Sp."
    assert data["line_items"][0]["description"] == "Bolt M8"
