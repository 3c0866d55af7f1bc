"""The health verbs end to end through the console command: simulate → gate → alerts → report
(table, JSON, HTML) → monitor, on SQLite and PostgreSQL."""

import json
import os
import subprocess
from html.parser import HTMLParser

import pytest


@pytest.fixture(params=["postgresql"])
def run(cli, request, tmp_path):
    """PostgreSQL, the production store (the figures' SQLite/PostgreSQL parity is test_gates' and
    test_windows' job; these verbs share that code), unless a test asks for SQLite."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'health.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    env = dict(os.environ, OCR_MIGRATE_DATABASE_URL=url, OCR_MIGRATE_ACTOR="ops-test", COLUMNS="160",
               OCR_MIGRATE_DATA_DIR=str(tmp_path))

    def _run(*args, code=0):
        proc = subprocess.run([*cli, *args], capture_output=True, text=True, env=env, timeout=180)
        assert proc.returncode == code, proc.stderr + proc.stdout
        return proc

    return _run


def test_gate_verdicts_alerts_and_reports_from_simulated_traffic(run, tmp_path):
    # nothing yet: INCONCLUSIVE (exit 9), never a pass
    empty = json.loads(run("gate", "-o", "json", code=9).stdout)
    assert empty["verdict"] == "INCONCLUSIVE" and "missing data" in empty["reason"]
    run("advance", "--percentage", "35", "--reason", "drill")
    sim = json.loads(run("simulate", "--scenario", "errors", "--documents", "6000", "--minutes", "30",
                         "--seed", "5", "-o", "json").stdout)
    assert sim["events"] >= 6000 and sim["written"] == sim["events"] and sim["percentage"] == 35
    failed = json.loads(run("gate", "-o", "json", code=8).stdout)
    # labelled with the stage it judges (35 % is stage 3), in the JSON and in the stored history
    assert failed["verdict"] == "FAIL" and failed["stage"] == 3 and failed["percentage"] == 35
    assert failed["alerts_raised"] and failed["alerts_raised"][0]["recommendation"].startswith("roll back to stage 2")
    # the same condition again: the alert is bumped, not raised twice
    again = json.loads(run("gate", "-o", "json", code=8).stdout)
    assert again["alerts_raised"] == []
    alerts = json.loads(run("alerts", "--open", "-o", "json").stdout)
    assert len(alerts) == len(failed["alerts_raised"]) and alerts[0]["count"] == 2
    history = json.loads(run("gates", "-o", "json").stdout)
    assert [g["verdict"] for g in history] == ["FAIL", "FAIL", "INCONCLUSIVE"]
    assert [g["stage"] for g in history] == [3, 3, 0]

    report = json.loads(run("report", "--hours", "1", "-o", "json").stdout)
    comparison = report["comparison"]
    assert comparison["canary"] == "tesseract" and comparison["volume"]["tesseract"] > 500
    error = next(m for m in comparison["metrics"] if m["name"] == "error_rate")
    assert error["ci_low"] > 0 and error["delta"] > 0.02  # the +5 pp shows, its interval excludes zero
    assert {f["field"] for f in comparison["fields"]} >= {"invoice_id", "total_amount"}
    cost = report["cost"]["total"]  # no price set: pages only
    assert cost["pages_needed"] >= 0.9 * 6000 and 0 < cost["google_pages"] < cost["pages_needed"]  # failed reads: none
    assert cost["pages_saved"] == cost["pages_needed"] - cost["google_pages"] and cost["saved"] is None
    table = run("report", "--hours", "1").stdout
    assert "tesseract vs documentai" in table and "error_rate" in table
    assert "what the migration saves" in table and "no price set" in table

    html = tmp_path / "report.html"
    run("report", "--hours", "1", "--html", str(html))
    page = html.read_text()
    HTMLParser().feed(page)
    assert page.count('class="plot"') >= 3 and "FAIL" in page and "roll back to stage 2" in page
    assert "What the migration saves" in page and "No Document AI price is set" in page


@pytest.mark.parametrize("run", ["sqlite"], indirect=True)
def test_monitor_refreshes_for_its_duration(run):
    run("simulate", "--scenario", "aa", "--documents", "400", "--percentage", "15", "-o", "json")
    lines = run("monitor", "--refresh", "0.5", "--duration", "1.6", "--url", "http://127.0.0.1:9",
                "-o", "json").stdout.splitlines()
    assert 2 <= len(lines) <= 4
    snap = json.loads(lines[-1])
    assert {e["engine"] for e in snap["engines"]} == {"tesseract", "documentai"}
    assert snap["service"]["status"] == "unreachable" and snap["state"]["stage"] == 0
    screen = run("monitor", "--refresh", "0.5", "--duration", "0.6", "--url", "http://127.0.0.1:9").stdout
    assert "tesseract" in screen and "unreachable" in screen


@pytest.mark.parametrize("run", ["sqlite"], indirect=True)
def test_bad_threshold_and_scenario_are_clear_errors(run):
    proc = run("gate", "--thresholds", '{"max_eror_rate": 0.1}', code=5)
    assert "unknown threshold" in proc.stderr and "Traceback" not in proc.stderr
    proc = run("simulate", "--scenario", "chaos", code=5)
    assert "unknown_scenario" in proc.stderr


@pytest.mark.parametrize("run", ["sqlite"], indirect=True)
def test_the_report_per_upload_kind(run, tmp_path):
    from datetime import datetime, timedelta, timezone

    from rollout.events import EventWriter, OcrEvent

    writer = EventWriter(f"sqlite:///{tmp_path / 'health.db'}", tmp_path / "spool.jsonl")
    writer.init_schema()
    at = datetime.now(timezone.utc) - timedelta(minutes=10)
    for i, (engine, kind, ok) in enumerate([("tesseract", "photo", False), ("tesseract", "photo", True),
                                            ("documentai", "photo", True), ("documentai", "scan", True),
                                            ("documentai", None, True)]):
        writer.record(OcrEvent(request_id=f"r{i}", engine=engine, stage=1, percentage=5, duration_ms=100 * (i + 1),
                               success=ok, kind=kind, pages=1, at=at + timedelta(seconds=i),
                               error_class=None if ok else "OcrTimeoutError"))
    writer.close()
    report = json.loads(run("report", "--hours", "1", "-o", "json").stdout)
    kinds = {k["kind"]: k for k in report["kinds"]}
    assert [k["kind"] for k in report["kinds"]] == ["photo", "scan", None]
    assert kinds["photo"]["engines"]["tesseract"]["error_rate"] == 0.5
    assert kinds["photo"]["engines"]["documentai"]["duration_p95"] == 300
    assert {k["kind"]: k["documents"] for k in report["cost"]["kinds"]} == {"photo": 2, "scan": 1, None: 1}
    table = run("report", "--hours", "1").stdout
    assert "per upload kind" in table and "photo" in table and "50.0%" in table
