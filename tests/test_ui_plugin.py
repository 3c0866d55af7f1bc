"""The "OCR migration" Airflow UI plugin (plugins/ocr_migration_plugin.py).

In-process: the plugin's FastAPI app under TestClient, with Airflow's real SimpleAuthManager and
real JWTs (Airflow's token check reads its revoked-token table, so a throw-away Airflow schema is
created in SQLite for it): every route refuses a request without a valid login, the page renders
the stage, bad input is refused.

In the browser: a real Airflow api-server (``airflow db migrate`` + ``airflow api-server`` on a
free port, SimpleAuthManager with a known password, the repo's plugins folder) and Debian's
Chromium driven headless by Playwright (``executable_path``: no browser download), over the
database a ``--bad-engine`` demo run leaves. The login goes through Airflow's own login page; the
page must load with the stage, its plots (lines of many points), the stage timeline (the FAIL, the
rollback, the remediation) and no console errors, and the UI's nav must show the entry.
"""

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from staging.processes import end_process_groups

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ROOT / "plugins"
PLUGIN_FILE = PLUGINS / "ocr_migration_plugin.py"
VENV_BIN = Path(sys.executable).parent
ALERT_MESSAGE = "canary error rate 3.1 % <script>alert('x')</script> above the baseline"


# ----------------------------------------------------------------------------------- shared seed


def write_data_docs(data_dir: Path) -> None:
    """A built Data Docs site, as the golden gate leaves it."""
    docs = data_dir / "data_docs"
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "index.html").write_text("<!DOCTYPE html><html><head><title>Data Docs</title></head>"
                                     "<body><h1>golden gate suite</h1></body></html>", encoding="utf-8")


def seed_migration_db(url: str, data_dir: Path) -> None:
    """Flag state at stage 2 (15 %) with its audit trail, 6 h of A/A traffic, a gate, an alert,
    and a Data Docs folder."""
    import numpy as np

    from rollout.actions import apply_action
    from rollout.events import EventWriter
    from rollout.flags import FlagStore
    from rollout.health.alerts import Alert, AlertStore
    from rollout.health.gates import evaluate_gate
    from rollout.health.simulate import SCENARIOS

    store = FlagStore(url)
    store.init(actor="test")
    apply_action(store, "advance", "test", "staging suites and golden gate passed")
    apply_action(store, "advance", "test", "stage 1 gate PASS after 24 h soak")

    end = datetime.now(timezone.utc)
    start = end - timedelta(hours=6)
    events = SCENARIOS["aa"].events(900, 15, start, timedelta(hours=6), 2, np.random.default_rng(7),
                                    shadow_share=0.1)
    writer = EventWriter(url, data_dir / "events-spool.jsonl")
    writer.init_schema()
    for event in events:
        writer.record(event)
    writer.close()
    assert writer.spool_depth() == 0, "the seed events did not reach the database"

    evaluate_gate(store.db, start, end, stage=2, percentage=15, run_id="manual__seed")
    AlertStore(store.db, notifiers=[]).process(
        [Alert("error_rate:tesseract", "warning", ALERT_MESSAGE, "hold at stage 2 until the gate decides",
               stage=2)])
    write_data_docs(data_dir)
    (data_dir / "secret.txt").write_text("not for the web", encoding="utf-8")


BAD_KINDS = ("digital", "scan", "photo")
REMEDIATION_TEXT = "re-read 41, corrected 12, published 11"


def seed_bad_engine_run(url: str, data_dir: Path) -> dict:
    """What ``scripts/main.sh --bad-engine`` leaves: a ten-minute run that ended a minute ago. Stage 1
    (5 %) for five minutes, then stage 2 (15 %) where 30 % of Tesseract's reads fail; the health gate
    FAILs, the stage is rolled back to 5 % (``set-percentage``, "automatic rollback: ...") and the
    documents Tesseract served are re-read by Document AI (an ``ocr_remediations`` row). Events carry
    upload kinds; the audit log's and the gate's times are those of the run (set after the fact:
    the store dates its rows when they are written). Returns the run's times."""
    import numpy as np
    from sqlalchemy import insert, update

    from rollout.actions import apply_action
    from rollout.events import EventWriter
    from rollout.db import flag_audit
    from rollout.flags import FlagStore
    from rollout.health.alerts import Alert, AlertStore
    from rollout.health.gates import evaluate_gate
    from rollout.db import gate_evaluations, ocr_remediations
    from rollout.health.simulate import scenario

    rng = np.random.default_rng(11)
    end = datetime.now(timezone.utc) - timedelta(minutes=1)
    start = end - timedelta(minutes=10)
    middle = start + timedelta(minutes=5)
    bad = scenario("errors", error_rate=0.3)
    events = bad.events(500, 5, start, timedelta(minutes=5), 1, rng) + \
        bad.events(700, 15, middle, timedelta(minutes=5), 2, rng)
    for event in events:
        event.kind = str(rng.choice(BAD_KINDS, p=(0.6, 0.3, 0.1)))
    writer = EventWriter(url, data_dir / "events-spool.jsonl")
    writer.init_schema()
    for event in events:
        writer.record(event)
    writer.close()
    assert writer.spool_depth() == 0, "the seed events did not reach the database"

    store = FlagStore(url)
    store.init(actor="test")
    apply_action(store, "set-percentage", "ocr_migration", "stage 1 of the migration", percentage=5)
    apply_action(store, "set-percentage", "ocr_migration", "stage 2 of the migration", percentage=15)
    gate = evaluate_gate(store.db, middle, end, stage=2, percentage=15, run_id="manual__bad_engine")
    assert gate.verdict == "FAIL", gate.reason  # the seed's premise
    apply_action(store, "set-percentage", "ocr_migration",
                 f"automatic rollback: stage 15 % failed: {gate.reason}", percentage=5)
    failed_at = end + timedelta(seconds=5)
    with store.db.begin() as conn:
        for (entry_id,), at in zip(conn.execute(flag_audit.select().with_only_columns(flag_audit.c.id)
                                                .order_by(flag_audit.c.id)).all(),
                                   (start - timedelta(minutes=2), start, middle, failed_at + timedelta(seconds=2))):
            conn.execute(update(flag_audit).where(flag_audit.c.id == entry_id).values(at=at))
        conn.execute(update(gate_evaluations).where(gate_evaluations.c.id == gate.id).values(evaluated_at=failed_at))
        conn.execute(insert(ocr_remediations).values(
            run_id="manual__bad_engine", stage=2, percentage=15, cause="gate", window_start=middle, window_end=end,
            started_at=failed_at + timedelta(seconds=4), finished_at=failed_at + timedelta(seconds=40),
            served=45, retained=41, reread=41, corrected=12, published=11, needs_review=4, failed=0))
    AlertStore(store.db, notifiers=[]).process(
        [Alert("rollback:15", "critical", ALERT_MESSAGE, "rolled back to 5 %; investigate before re-running",
               stage=2)])
    write_data_docs(data_dir)
    return {"start": start, "end": end, "failed_at": failed_at}


# ------------------------------------------------------------------------------------ in-process


def load_plugin_module():
    """Imported the way Airflow's plugin loader does it: by file, as a top-level module."""
    spec = importlib.util.spec_from_file_location("ocr_migration_plugin", PLUGIN_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plugin_import_is_cheap_and_declares_the_nav_entry():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import ocr_migration_plugin as m; "
            "heavy = [n for n in ('fastapi', 'numpy', 'scipy', 'pandas', 'great_expectations', 'rollout') "
            "if n in sys.modules]; assert not heavy, heavy; "
            "p = m.OcrMigrationPlugin; import json; print(json.dumps({'name': p.name, "
            "'apps': [{k: v for k, v in d.items() if k != 'app'} for d in p.fastapi_apps], "
            "'views': p.external_views}))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    out = subprocess.run([sys.executable, "-c", code, str(PLUGINS)], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info["name"] == "ocr_migration"
    assert info["apps"] == [{"url_prefix": "/ocr-migration", "name": "OCR migration"}]
    (view,) = info["views"]
    assert view["name"] == "OCR migration" and view["href"] == "/ocr-migration/" and view["destination"] == "nav"
    assert view["url_route"] == "ocr-migration"


@pytest.fixture(scope="module")
def inproc(tmp_path_factory):
    """The plugin's app with Airflow's SimpleAuthManager, real tokens and a seeded migration DB."""
    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine
    from sqlalchemy.orm import scoped_session, sessionmaker

    from airflow import settings as airflow_settings
    from airflow.api_fastapi.app import _AuthManagerState
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.models import import_all_models
    from airflow.models.base import Base
    from rollout.settings import get_settings

    tmp = tmp_path_factory.mktemp("ui-inproc")
    data_dir = tmp / "data"
    url = f"sqlite:///{tmp / 'ocr.db'}"
    seed_migration_db(url, data_dir)

    import_all_models()
    airflow_db = create_engine(f"sqlite:///{tmp / 'airflow.db'}")
    Base.metadata.create_all(airflow_db)  # the revoked-token check and the DAG-run lookup read it
    session_factory = scoped_session(sessionmaker(bind=airflow_db, expire_on_commit=False))
    _add_dag_run(session_factory)

    auth = SimpleAuthManager()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OCR_MIGRATE_DATABASE_URL", url)
        mp.setenv("OCR_MIGRATE_DATA_DIR", str(data_dir))
        mp.setattr(airflow_settings, "Session", session_factory)
        mp.setattr(_AuthManagerState, "instance", auth)
        get_settings.cache_clear()
        module = load_plugin_module()
        client = TestClient(module.create_app())
        tokens = {
            "admin": auth.generate_jwt(SimpleAuthManagerUser(username="admin", role="admin")),
            "viewer": auth.generate_jwt(SimpleAuthManagerUser(username="olga", role="viewer")),
            "no_role": auth.generate_jwt(SimpleAuthManagerUser(username="nobody", role="")),
            "expired": auth.generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"),
                                         expiration_time_in_seconds=-3600),
        }
        yield client, tokens, data_dir
        client.close()
    get_settings.cache_clear()
    session_factory.remove()
    airflow_db.dispose()


def _add_dag_run(session_factory) -> None:
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun

    now = datetime.now(timezone.utc)
    session = session_factory()
    session.add(DagModel(dag_id="ocr_migration", bundle_name="dags-folder", fileloc="/dags/ocr_migration.py"))
    session.flush()
    session.add(DagRun(dag_id="ocr_migration", run_id="manual__2026-11-30T08:00:00+00:00", run_type="manual",
                       state="running", run_after=now, start_date=now))
    session.commit()
    session_factory.remove()


def cookie(token: str) -> dict:
    """The login as the UI sends it: the ``_token`` cookie."""
    return {"Cookie": f"_token={token}"}


ROUTES = ["/", "/?hours=6", "/api/snapshot", "/data-docs/index.html", "/data-docs/", "/static/page.js",
          "/static/icon.svg"]


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_refuses_requests_without_a_valid_login(inproc, route):
    client, tokens, _ = inproc
    assert client.get(route).status_code == 401
    assert client.get(route, headers={"Authorization": "Bearer not-a-jwt"}).status_code == 403
    assert client.get(route, headers=cookie(tokens["expired"])).status_code == 401
    assert client.get(route, headers={"Authorization": f"Bearer {tokens['no_role']}"}).status_code == 403
    # and the UI's cookie with a valid login is enough
    assert client.get(route, headers=cookie(tokens["viewer"])).status_code == 200


def test_a_browser_without_login_is_sent_to_the_login_page_and_back(inproc):
    client, _, _ = inproc
    resp = client.get("/?hours=6", headers={"Accept": "text/html,application/xhtml+xml"}, follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"].startswith("/auth/login?next=")
    assert "hours%3D6" in resp.headers["location"]


def test_the_page_renders_stage_flags_plots_gates_alerts_and_links(inproc):
    client, tokens, _ = inproc
    resp = client.get("/", headers=cookie(tokens["viewer"]))  # the UI's cookie
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    html = resp.text
    assert "Stage <strong>2</strong> · 15 % open source" in html
    assert "<title>OCR migration health — stage 2 (15 %)</title>" in html
    assert "use_opensource_ocr: on" in html  # the flags
    assert html.count('<svg class="plot"') == 4 and "<polyline" in html  # plots with data
    assert "stage 1 gate PASS after 24 h soak" in html  # the flag change's reason
    assert 'id=gates' in html and "no gate evaluations yet" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html and "<script>alert" not in html
    assert 'href="/data-docs/index.html"' in html  # the app is at the root under TestClient
    assert 'href="/dags/ocr_migration"' in html
    assert 'href="/dags/ocr_migration/runs/manual__2026-11-30T08%3A00%3A00%2B00%3A00"' in html
    assert '<span class="run-state running">running</span>' in html
    assert "ocr_monitoring <span class=\"nodata\">(not deployed)</span>" in html


def test_a_fresh_deployment_renders_without_state_or_data_docs(inproc, monkeypatch, tmp_path):
    from rollout.settings import get_settings

    client, tokens, _ = inproc
    monkeypatch.setenv("OCR_MIGRATE_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setenv("OCR_MIGRATE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        resp = client.get("/", headers=cookie(tokens["admin"]))
        docs = client.get("/data-docs/index.html", headers=cookie(tokens["admin"]))
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert resp.status_code == 200
    assert "no rollout state yet" in resp.text and "DAG (or `ocr-migrate status`) creates it" in resp.text
    assert "no Data Docs yet" in resp.text and "no reads in the window" in resp.text
    assert docs.status_code == 404 and docs.json()["detail"] == "no Data Docs yet"


def test_the_snapshot_is_json_of_the_same_data(inproc):
    client, tokens, _ = inproc
    resp = client.get("/api/snapshot?hours=12", headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert resp.status_code == 200
    data = resp.json()
    assert data["state"]["stage"] == 2 and data["state"]["percentage"] == 15
    assert data["window"]["hours"] == 12
    assert {e["engine"] for e in data["engines"]} == {"documentai", "tesseract"}
    assert data["series"] and data["gates"] and data["alerts"][0]["message"] == ALERT_MESSAGE
    assert data["flag_history"][0]["stage_after"] == 2
    assert data["airflow"]["dags"]["ocr_migration"]["latest_run"]["state"] == "running"
    # the timeline: init, two advances (0 → 5 → 15 %), the seed's gate; 6 h of traffic in 10-minute buckets
    timeline = data["timeline"]
    assert [(s["percentage"], s["action"]) for s in timeline["stages"]] == [(0, "init"), (5, "advance"),
                                                                          (15, "advance")]
    assert timeline["stages"][-1]["ended"] is None and not timeline["rollbacks"] and not timeline["remediations"]
    assert [g["verdict"] for g in timeline["gates"]] == [data["gates"][0]["verdict"]]
    assert data["bucket_seconds"] == 600
    assert {k["kind"] for k in data["kinds"]} == {None}  # the A/A seed's events have no kind


def bad_engine_client(inproc, monkeypatch, tmp_path):
    """The in-process app over a database a ``--bad-engine`` run left (``seed_bad_engine_run``)."""
    from rollout.settings import get_settings

    url = f"sqlite:///{tmp_path / 'bad.db'}"
    times = seed_bad_engine_run(url, tmp_path / "data")
    monkeypatch.setenv("OCR_MIGRATE_DATABASE_URL", url)
    monkeypatch.setenv("OCR_MIGRATE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    return times


def test_a_bad_engine_run_has_its_timeline_kinds_and_lines_in_the_json(inproc, monkeypatch, tmp_path):
    from rollout.settings import get_settings

    client, tokens, _ = inproc
    times = bad_engine_client(inproc, monkeypatch, tmp_path)
    try:
        data = client.get("/api/snapshot?hours=24", headers=cookie(tokens["viewer"])).json()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    timeline = data["timeline"]
    assert [(s["percentage"], s["ended"] is None) for s in timeline["stages"]] == [
        (0, False), (5, False), (15, False), (5, True)]
    (fail,) = [g for g in timeline["gates"] if g["verdict"] == "FAIL"]
    assert fail["percentage"] == 15 and fail["last"] == times["failed_at"].isoformat()
    (rollback,) = timeline["rollbacks"]
    assert (rollback["from"], rollback["to"]) == (15, 5) and rollback["reason"].startswith("automatic rollback")
    (remediation,) = timeline["remediations"]
    assert remediation["summary"] == f"{REMEDIATION_TEXT}; needs review 4"
    assert [e["type"] for e in timeline["entries"]][-3:] == ["gate", "rollback", "remediation"]
    # the strip spans the run (and runs on to now, a minute later), not the 24-hour window
    span = {k: datetime.fromisoformat(v) for k, v in timeline["span"].items()}
    assert times["start"] - timedelta(minutes=3) <= span["start"] <= times["start"]  # from the rollout's init
    assert times["end"] < span["end"] <= datetime.fromisoformat(data["window"]["end"])
    assert span["end"] - span["start"] < timedelta(minutes=30)
    # a ten-minute run in a 24-hour window: buckets of seconds, dozens of points per engine
    assert data["bucket_seconds"] <= 15
    per_engine = {eng: sum(1 for p in data["series"] if p["engine"] == eng) for eng in ("documentai", "tesseract")}
    assert min(per_engine.values()) >= 20, per_engine
    kinds = {k["kind"]: k for k in data["kinds"]}
    assert set(kinds) == set(BAD_KINDS)
    digital = kinds["digital"]["engines"]
    assert digital["tesseract"]["error_rate"] > digital["documentai"]["error_rate"] + 0.1  # the bad engine
    assert sum(k["documents"] for k in data["kinds"]) == sum(e["documents"] for e in data["engines"])


def test_a_bad_engine_run_on_the_page(inproc, monkeypatch, tmp_path):
    import re

    from rollout.settings import get_settings

    client, tokens, _ = inproc
    bad_engine_client(inproc, monkeypatch, tmp_path)
    try:
        html = client.get("/?hours=24", headers=cookie(tokens["viewer"])).text
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    strip = html[html.index('<svg class="timeline"'):]
    strip = strip[:strip.index("</svg>")]
    assert strip.count('data-verdict="FAIL"') == 1
    assert '<g class="rollback">' in strip and "rollback 15 → 5 %" in strip
    assert f"remediation: {REMEDIATION_TEXT}; needs review 4" in strip
    assert [m for m in re.findall(r'<text [^>]*>(\d+) %</text>', strip)] == ["0", "5", "15", "5"]
    assert "&lt;script&gt;" in html and "<script>alert" not in html
    for kind in BAD_KINDS:
        assert f'<tr data-kind="{kind}">' in html
    lines = dict(re.findall(r'<polyline class="series" data-engine="(\w+)" [^>]*points="([^"]*)"', html))
    assert set(lines) == {"documentai", "tesseract"}
    assert all(len(points.split()) >= 20 for points in lines.values()), lines


@pytest.mark.parametrize("hours", ["0", "-1", "721", "abc", "nan"])
def test_a_bad_window_is_a_422(inproc, hours):
    client, tokens, _ = inproc
    for route in ("/", "/api/snapshot"):
        assert client.get(f"{route}?hours={hours}", headers=cookie(tokens["admin"])).status_code == 422


@pytest.mark.parametrize("path", ["..%2Fsecret.txt", "..%2F..%2F..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd",
                                  "..%5Csecret.txt", "data_docs%2F..%2F..%2Fsecret.txt", "nope.html",
                                  "a%00b.html", "x" * 5000 + ".html", ("d" * 255 + "/") * 20 + "index.html"])
def test_data_docs_never_leave_their_folder(inproc, path):
    client, tokens, data_dir = inproc
    resp = client.get(f"/data-docs/{path}", headers=cookie(tokens["admin"]))
    assert resp.status_code == 404
    assert "not for the web" not in resp.text and "root:" not in resp.text


def test_data_docs_are_served(inproc):
    client, tokens, _ = inproc
    for path in ("/data-docs/", "/data-docs/index.html"):
        resp = client.get(path, headers=cookie(tokens["admin"]))
        assert resp.status_code == 200 and "golden gate suite" in resp.text


# --------------------------------------------------------------------------------------- browser


def chromium_executable() -> str:
    """Debian's Chromium; installed with apt-get when missing (as root), else a clear failure."""
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    if os.geteuid() != 0:
        pytest.fail("Chromium is missing and this is not root: run `apt-get install -y chromium`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]
    result = subprocess.run(install, capture_output=True, text=True, env=env)
    if result.returncode != 0:  # stale package lists: refresh once
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True, env=env)
        result = subprocess.run(install, capture_output=True, text=True, env=env)
    path = shutil.which("chromium")
    if result.returncode != 0 or not path:
        pytest.fail(f"could not install Chromium with apt-get:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ADMIN_PASSWORD = "ocr-migration-admin"


@pytest.fixture(scope="module")
def airflow_server(tmp_path_factory):
    """`airflow db migrate` + `airflow api-server` (no scheduler: the page does not need one)."""
    home = tmp_path_factory.mktemp("airflow-home")
    data_dir = home / "ocr-data"
    ocr_url = f"sqlite:///{home / 'ocr.db'}"
    seed_bad_engine_run(ocr_url, data_dir)  # what `main.sh --bad-engine` leaves: stage 1 (5 %) after a rollback
    (home / "dags").mkdir()
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({"admin": ADMIN_PASSWORD}), encoding="utf-8")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "OCR_MIGRATE_"))}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(32).hex(),
        "AIRFLOW__API__SECRET_KEY": os.urandom(16).hex(),
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "OCR_MIGRATE_DATABASE_URL": ocr_url,
        "OCR_MIGRATE_DATA_DIR": str(data_dir),
    })
    airflow = str(VENV_BIN / "airflow")
    migrate = subprocess.run([airflow, "db", "migrate"], env=env, cwd=home, capture_output=True, text=True,
                             timeout=300)
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
    log_path = home / "api-server.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen([airflow, "api-server", "--port", str(port), "--workers", "1"],
                                env=env, cwd=home, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"the api-server exited:\n{log_path.read_text(errors='replace')[-4000:]}"
            try:
                if httpx.get(f"{base}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"no api-server:\n{log_path.read_text(errors='replace')[-4000:]}"
            time.sleep(0.5)
        yield base, log_path
    finally:
        end_process_groups([proc])


def test_the_mounted_page_is_behind_airflow_auth(airflow_server):
    base, _ = airflow_server
    for route in ("/ocr-migration/", "/ocr-migration/api/snapshot", "/ocr-migration/data-docs/index.html",
                  "/ocr-migration/static/page.js"):
        assert httpx.get(base + route).status_code == 401, route
    token = httpx.post(f"{base}/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD}).json()
    resp = httpx.get(f"{base}/ocr-migration/api/snapshot", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert resp.status_code == 200 and resp.json()["state"]["stage"] == 1
    plugins = httpx.get(f"{base}/api/v2/plugins", headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    views = [v for p in plugins["plugins"] if p["name"] == "ocr_migration" for v in p["external_views"]]
    assert [v["url_route"] for v in views] == ["ocr-migration"]


def test_the_page_in_headless_chromium(airflow_server):
    from playwright.sync_api import expect, sync_playwright

    base, log_path = airflow_server
    chromium = chromium_executable()
    problems: list[str] = []  # console errors and uncaught exceptions, with where they came from

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--disable-gpu"])
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.on("console", lambda m: problems.append(f"console.{m.type} {m.location.get('url')}: {m.text}")
                    if m.type == "error" else None)
            page.on("pageerror", lambda exc: problems.append(f"exception: {exc}"))
            page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))

            # Not logged in: the page sends the browser to Airflow's login page, which brings it back.
            page.goto(f"{base}/ocr-migration/?hours=24")
            page.wait_for_url("**/auth/login**")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", ADMIN_PASSWORD)
            page.press("input[name=password]", "Enter")
            page.wait_for_url("**/ocr-migration/?hours=24")
            assert any(c["name"] == "_token" for c in page.context.cookies()), "the UI's login cookie"

            problems.clear()  # from here on, only our page counts
            resp = page.goto(f"{base}/ocr-migration/")
            assert resp is not None and resp.status == 200
            page.wait_for_load_state("load")
            expect(page.locator("nav.ocr .stage")).to_contain_text("Stage 1 · 5 % open source")
            assert "stage 1" in page.title()
            assert page.locator("svg.plot").count() == 4
            # a ten-minute run in the 24-hour window: each engine's line has many points, not one dot
            vertices = page.evaluate("""() => [...document.querySelectorAll('svg.plot polyline.series')]
                .map(l => [l.closest('svg').dataset.metric, l.dataset.engine, l.points.numberOfItems])""")
            assert {(m, e) for m, e, _ in vertices} == {(m, e) for m in ("duration_p50", "duration_p95",
                                                                        "success_rate", "confidence_mean")
                                                        for e in ("documentai", "tesseract")}, vertices
            assert all(n >= 20 for _, _, n in vertices), vertices
            # the stage timeline: the stages, the FAIL, the rollback and the remediation, drawn and listed
            strip = page.locator("#timeline svg.timeline")
            expect(strip).to_be_visible()
            expect(strip.locator("g.stage text")).to_have_text(["0 %", "5 %", "15 %", "5 %"])
            expect(strip.locator("g.gate.fail")).to_have_count(1)
            expect(strip.locator("g.gate.fail text")).to_have_text("F")
            expect(strip.locator("g.rollback text")).to_have_text("rollback 15 → 5 %")
            expect(strip.locator("g.remediation text")).to_have_text(
                f"remediation: {REMEDIATION_TEXT}; needs review 4")
            box = strip.bounding_box()
            for part in ("g.gate.fail circle", "g.rollback line", "g.remediation rect"):
                inner = strip.locator(part).bounding_box()
                assert inner and box["x"] <= inner["x"] <= box["x"] + box["width"], (part, inner, box)
            listed = page.locator("#timeline table.timeline tbody tr")
            expect(listed.filter(has_text="FAIL").filter(has_text="gate FAIL at 15 %")).to_have_count(1)
            expect(listed.filter(has_text="rollback 15 % → 5 %")).to_have_count(1)
            expect(listed.filter(has_text=REMEDIATION_TEXT)).to_have_count(1)
            expect(page.locator("#kinds tr[data-kind]")).to_have_count(len(BAD_KINDS))
            expect(page.locator("#alerts")).to_contain_text("<script>alert('x')</script>")  # shown as text
            assert page.evaluate("() => document.readyState") == "complete"
            assert page.evaluate("() => [...document.scripts].every(s => s.src)"), "no inline scripts"
            assert not problems, problems

            page.click("text=Data Docs")
            expect(page.locator("h1")).to_have_text("golden gate suite")
            assert not problems, problems

            # The Airflow UI: the nav has the entry; it shows the page inside the UI.
            page.goto(f"{base}/")
            entry = page.get_by_role("link", name="OCR migration")
            expect(entry).to_be_visible()
            problems.clear()
            entry.click()
            page.wait_for_url("**/plugin/ocr-migration**")
            frame = page.frame_locator("iframe[title='OCR migration']")
            expect(frame.locator("nav.ocr .stage")).to_contain_text("Stage 1")
            expect(frame.locator("svg.plot").first).to_be_visible()
            ours = [m for m in problems if "/ocr-migration/" in m or m.startswith(("exception", "dialog"))]
            assert not ours, ours

            # A link to Airflow's own page moves the UI, not the frame.
            frame.locator("nav.ocr a", has_text="DAG ocr_migration").click()
            page.wait_for_url(f"{base}/dags/ocr_migration")
            # Let Airflow's own page finish its requests: closing the browser mid-request makes the
            # server log a ClientDisconnect traceback (CI saw one from Airflow's auth dependency).
            page.wait_for_load_state("networkidle")
        finally:
            browser.close()
    faults = server_tracebacks(log_path.read_text(errors="replace"))
    assert not faults, faults[0][-4000:]


def server_tracebacks(log: str) -> list[str]:
    """The tracebacks in a server log that are the server's fault: a browser that goes away while a
    request is in flight (starlette's ClientDisconnect) is the client's doing, not a defect."""
    blocks = re.split(r"(?=Traceback \(most recent call last\):)", log)[1:]
    return [b for b in blocks if not re.search(r"^\s*starlette\.requests\.ClientDisconnect\b", b, re.M)]
