"""Human approval in a live Airflow: the demo (scripts/migration_demo.py: Airflow standalone with
this project's DAGs, the OCR service, the Document AI double, traffic) runs ``ocr_migration`` with
``require_approval`` over three stages, and this test is the human:

  * stage 1 is approved through Airflow's REST API (the call the "Required Actions" page makes:
    ``PATCH …/taskInstances/{task}/-1/hitlDetails``);
  * stage 2 is approved by a click in headless Chromium, on the task's Required Actions page,
    after logging in through Airflow's login page (the form's Reason is required there);
  * stage 3 is rejected through the REST API with a reason: the run stops (failed), the rollout
    goes back to stage 2's percentage, and the audit log names the reviewer and the reason.

About 3 minutes (Airflow starts once)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

from staging.processes import end_process_groups, free_port, port_open
from tests.test_ui_plugin import chromium_executable

ROOT = Path(__file__).resolve().parent.parent
REASON = "error rate on scanned invoices too high for 100 %"


class Airflow:
    """The demo's Airflow, seen from outside: its REST API with the admin's token."""

    def __init__(self, base: str, password: str):
        self.base, self.password = base, password
        self.headers = {"Authorization": f"Bearer {self._token()}"}

    def _token(self) -> str:
        r = httpx.post(f"{self.base}/auth/token", json={"username": "admin", "password": self.password}, timeout=10)
        r.raise_for_status()
        return r.json()["access_token"]

    def pending(self) -> list[dict]:
        r = httpx.get(f"{self.base}/api/v2/dags/ocr_migration/dagRuns/~/hitlDetails",
                      params={"response_received": "false"}, headers=self.headers, timeout=10)
        r.raise_for_status()
        return list(r.json()["hitl_details"])

    def answer(self, run_id: str, task_id: str, option: str, reason: str = "") -> httpx.Response:
        return httpx.patch(f"{self.base}/api/v2/dags/ocr_migration/dagRuns/{run_id}/taskInstances/{task_id}/-1/"
                           "hitlDetails", json={"chosen_options": [option], "params_input": {"reason": reason}},
                           headers=self.headers, timeout=10)

    def detail(self, run_id: str, task_id: str) -> dict:
        r = httpx.get(f"{self.base}/api/v2/dags/ocr_migration/dagRuns/{run_id}/taskInstances/{task_id}/-1/"
                      "hitlDetails", headers=self.headers, timeout=10)
        r.raise_for_status()
        return r.json()


def click_approve_in_chromium(base: str, password: str, run_id: str, task_id: str, shots: Path) -> None:
    """Log in through Airflow's login page, open the task's Required Actions page and click
    Approve, as a person would."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_executable(), headless=True, args=["--disable-gpu"])
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{base}/dags/ocr_migration/runs/{run_id}/tasks/{task_id}/required_actions")
            try:
                page.wait_for_url("**/auth/login**")
                page.fill("input[name=username]", "admin")
                page.fill("input[name=password]", password)
                page.press("input[name=password]", "Enter")
                page.wait_for_url(f"**/tasks/{task_id}/required_actions**")
                page.get_by_text("passed its gates").first.wait_for()
                # the form's Reason is required: both buttons stay disabled until it is given
                approve = page.get_by_role("button", name="Approve")
                assert approve.is_disabled()
                page.get_by_role("textbox").first.fill("gates and canary numbers look fine")
                # the answer is the page's PATCH of hitlDetails: wait for it to be answered, or a
                # browser closed right after the click aborts it (seen on a loaded machine)
                with page.expect_response(lambda r: r.request.method == "PATCH" and "hitlDetails" in r.url) as sent:
                    approve.click()
                assert sent.value.status == 200, sent.value.text()
            except Exception:
                page.screenshot(path=str(shots / "required-actions.png"), full_page=True)
                (shots / "required-actions.html").write_text(page.content(), encoding="utf-8")
                raise
        finally:
            browser.close()


def test_stages_wait_for_a_person_approvals_by_rest_and_by_click_a_rejection_rolls_back(tmp_path):
    data = tmp_path / "run"
    service_port, airflow_port = free_port(), free_port()
    argv = [sys.executable, str(ROOT / "scripts" / "migration_demo.py"), "--exit", "--skip-staging",
            "--require-approval", "--stages", "25,50,100", "--soak-s", "8", "--watch-s", "5",
            "--service-port", str(service_port), "--airflow-port", str(airflow_port), "--data-dir", str(data),
            # the run took 10 min 10 s on a machine a third as fast as usual (a fresh-clone CI run,
            # 2026-12-07: the demo stopped waiting before the remediation ended); ~4 min usually
            "--timeout-s", "1000",
            # approvals are what this judges, not reading scans at 100 % on two cores: the
            # realistic mix's cost is main.sh's to show. Three clients, not the demo's ten, at 25 %
            # rather than 5 %: each stage still gets its 60 canary documents in seconds, and the
            # test leaves the other pytest worker a core (at ten clients, 5 % and 15 % it took
            # 330 s alone and 340-420 s in the suite, the longest file; stage 3's remediation
            # re-read 1 481 documents)
            "--traffic-clients", "3", "--mix", "digital=85,xml=10,unusable=5", "--golden-subset", "digital"]
    log_path = tmp_path / "demo.log"
    with log_path.open("wb") as log_file:
        demo = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
                                env={**os.environ, "OMP_THREAD_LIMIT": "1", "COLUMNS": "150"})
    base = f"http://127.0.0.1:{airflow_port}"
    answered: dict[str, str] = {}
    try:
        deadline = time.monotonic() + 1200
        passwords = data / "airflow" / "simple_auth_manager_passwords.json.generated"
        while not (passwords.exists() and port_open(airflow_port)):
            assert demo.poll() is None, log_path.read_text(errors="replace")[-4000:]
            assert time.monotonic() < deadline, "Airflow did not start"
            time.sleep(1)
        password = json.loads(passwords.read_text())["admin"]
        airflow = None
        while demo.poll() is None:
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")[-4000:]
            time.sleep(2)
            try:
                airflow = airflow or Airflow(base, password)
                pending = airflow.pending()
            except httpx.HTTPError:
                continue
            for item in pending:
                ti = item["task_instance"]
                task, run = ti["task_id"], ti["dag_run_id"]
                if task in answered or ti["state"] != "awaiting_input":
                    continue
                # A person takes seconds. An answer within ~1 s of the task parking loses a race in
                # Airflow 3.3.2 with the LocalExecutor: the parking workload's "success" event
                # arrives after the answer re-queued the task, and the scheduler fails it. On a
                # loaded machine that event came more than 5 s late once (stage_1.approve failed
                # "Approve by admin" in a fresh-clone CI run): 15 s, as a person would take.
                asked = datetime.fromisoformat(item["created_at"].replace("Z", "+00:00"))
                if datetime.now(timezone.utc) - asked < timedelta(seconds=15):
                    continue
                assert "passed its gates" in item["subject"] and item["options"] == ["Approve", "Reject"]
                assert "reason" in item["params"]
                if task == "stage_1.approve":
                    assert airflow.answer(run, task, "Approve").status_code == 200
                    # a second answer is refused: one person decides, once
                    assert airflow.answer(run, task, "Reject", "changed my mind").status_code == 409
                elif task == "stage_2.approve":
                    click_approve_in_chromium(base, password, run, task, tmp_path)
                elif task == "stage_3.approve":
                    assert airflow.answer(run, task, "Maybe").status_code == 400  # not an option
                    assert airflow.answer(run, task, "Reject", REASON).status_code == 200
                answered[task] = run
        out = log_path.read_text(errors="replace")
    finally:
        end_process_groups([demo])

    assert list(answered) == ["stage_1.approve", "stage_2.approve", "stage_3.approve"], out[-4000:]
    assert demo.returncode == 1, out[-4000:]  # the run failed: a person stopped it
    for task, option in (("stage_1.approve", "Approve"), ("stage_2.approve", "Approve"),
                         ("stage_3.approve", "Reject")):
        assert re.search(rf"{re.escape(task)}\s+\S*(success|failed)\S*\s+{option} by admin", out), (task, out[-4000:])
    assert re.search(r"stage_3\.rollback\s+\S*success\S*\s+now 50 % open source, Google on", out), out[-4000:]
    assert re.search(r"ocr_migration run \S*failed", out)
    assert "cutover.switch" not in out  # Google was never switched off
    # the audit log: 0 → 25 → 50 → 100, then back to 50 with who and why
    from rollout.flags import FlagStore

    moves = [e for e in reversed(FlagStore(f"sqlite:///{data / 'ocr_migrate.db'}").history(100))
             if e.action == "set-percentage" and e.outcome == "applied"]
    assert [(e.before["percentage"], e.after["percentage"]) for e in moves] == [(0, 25), (25, 50), (50, 100),
                                                                                (100, 50)], moves
    assert moves[-1].actor.startswith("admin (approval, ")
    assert moves[-1].reason == f"stage 100 % rejected at its approval by admin: {REASON}"
