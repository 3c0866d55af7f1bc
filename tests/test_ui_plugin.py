"""The "OCR migration" Airflow UI plugin (plugins/ocr_migration_plugin.py).

In-process: the plugin's FastAPI app under TestClient, with Airflow's real SimpleAuthManager and
real JWTs (Airflow's token check reads its revoked-token table, so a throw-away Airflow schema is
created in SQLite for it): every route refuses a request without a valid login, the page renders
the stage, bad input is refused.

In the browser: a real Airflow api-server (``airflow db migrate`` + ``airflow api-server`` on a
free port, SimpleAuthManager with a known password, the repo's plugins folder) and Debian's
Chromium driven headless by Playwright (``executable_path``: no browser download). The login
goes through Airflow's own login page; the page must load with the stage, its plots, and no
console errors, and the UI's nav must show the entry.
"""

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from rollout.staging.processes import end_process_groups

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ROOT / "plugins"
PLUGIN_FILE = PLUGINS / "ocr_migration_plugin.py"
VENV_BIN = Path(sys.executable).parent
ALERT_MESSAGE = "canary error rate 3.1 % <script>alert('x')</script> above the baseline"


# ----------------------------------------------------------------------------------- shared seed


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
    docs = data_dir / "data_docs"
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "index.html").write_text("<!DOCTYPE html><html><head><title>Data Docs</title></head>"
                                     "<body><h1>golden gate suite</h1></body></html>", encoding="utf-8")
    (data_dir / "secret.txt").write_text("not for the web", encoding="utf-8")


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
    seed_migration_db(ocr_url, data_dir)
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
    assert resp.status_code == 200 and resp.json()["state"]["stage"] == 2
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
            expect(page.locator("nav.ocr .stage")).to_contain_text("Stage 2 · 15 % open source")
            assert "stage 2" in page.title()
            assert page.locator("svg.plot").count() == 4
            assert page.locator("svg.plot polyline").count() >= 4
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
            expect(frame.locator("nav.ocr .stage")).to_contain_text("Stage 2")
            expect(frame.locator("svg.plot").first).to_be_visible()
            ours = [m for m in problems if "/ocr-migration/" in m or m.startswith(("exception", "dialog"))]
            assert not ours, ours

            # A link to Airflow's own page moves the UI, not the frame.
            frame.locator("nav.ocr a", has_text="DAG ocr_migration").click()
            page.wait_for_url(f"{base}/dags/ocr_migration")
        finally:
            browser.close()
    assert "Traceback" not in log_path.read_text(errors="replace"), log_path.read_text(errors="replace")[-4000:]
