"""The staging stack end to end with real processes (PostgreSQL cluster, redis-server, the Document
AI double, `ocr-migrate serve`) on free ports, the staging suites against it, and the Docker
deployer's commands and its error on a host without a Docker engine."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import pytest

from staging import (COMPOSE_SERVICES, DockerDeployer, LocalProcessDeployer, StagingConfig,
                             StagingEndpoints, StagingError, get_deployer, run_staging_tests)
from staging.config import ensure_keys
from staging.processes import (ProcessRecord, is_alive, port_open, start_detached, started_since_boot,
                                       stop_process)

from .servers import free_port

SUBSET = ["inv-0001.pdf", "inv-0002-scan300.png"]


def _config(base_dir: Path, golden_dir: Path) -> StagingConfig:
    return StagingConfig(base_dir=base_dir, golden_dir=golden_dir, service_port=free_port(), redis_port=free_port(),
                         postgres_port=free_port(), documentai_port=free_port(), startup_timeout_s=90)


@pytest.fixture(scope="module")
def stack(golden_dir):
    # base_dir under a parent only root may enter (mode 0700, as root's home and a mktemp -d folder
    # are): the postgres user cannot reach it, and staging must deploy all the same.
    private = Path(tempfile.mkdtemp(prefix="ocr-staging-test-"))
    os.chmod(private, 0o700)
    deployer = LocalProcessDeployer(_config(private / "clone" / "data" / "staging", golden_dir))
    state = {"deployer": deployer}
    try:
        yield state
    finally:
        try:
            deployer.down(purge=True)
        finally:
            shutil.rmtree(private, ignore_errors=True)


def _pids(deployer) -> dict:
    return {name: c.get("pid") for name, c in deployer.status()["components"].items()}


def test_up_smoke_check_and_test_data(stack):
    deployer = stack["deployer"]
    cfg = deployer.config
    endpoints = deployer.up()
    stack["endpoints"] = endpoints
    assert endpoints.service_url == f"http://127.0.0.1:{cfg.service_port}"
    assert endpoints.database_url == f"postgresql+psycopg://postgres@127.0.0.1:{cfg.postgres_port}/ocr_staging"
    assert endpoints.redis_url == f"redis://127.0.0.1:{cfg.redis_port}/0"
    assert endpoints.documentai_endpoint == f"http://127.0.0.1:{cfg.documentai_port}"
    assert len(endpoints.client_key) >= 32 and endpoints.client_key != endpoints.admin_key
    keys_file = cfg.base_dir / "keys.json"
    assert oct(keys_file.stat().st_mode & 0o777) == "0o600"
    assert json.loads(keys_file.read_text())["client_key"] == endpoints.client_key

    status = deployer.status()
    assert status["healthy"], status
    for name in ("postgres", "redis", "documentai-double", "ocr-service"):
        assert status["components"][name]["running"], name
    # detached: its own session, not this test's process group
    service_pid = status["components"]["ocr-service"]["pid"]
    assert os.getsid(service_pid) == service_pid != os.getsid(0)

    loaded = deployer.load_test_data(endpoints)
    assert loaded["flags"]["flags"]["enable_accuracy_comparison"] is True
    assert loaded["flags"]["stage"] == 0
    # the service serves the staging flags (published through the staging Redis)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        flags = httpx.get(f"{endpoints.service_url}/v1/admin/flags", headers={"X-API-Key": endpoints.admin_key},
                          timeout=5).json()
        if flags["flags"]["enable_accuracy_comparison"]:
            break
        time.sleep(0.2)
    assert flags["flags"]["enable_accuracy_comparison"] is True

    smoke = deployer.smoke_check(endpoints)
    assert smoke["status_code"] == 200 and smoke["health"] in ("healthy", "degraded")
    assert {"invoice_id", "total_amount", "supplier_tax_id"} <= set(smoke["fields"])

    wrong = StagingEndpoints(**{**endpoints.__dict__, "client_key": "not-the-key"})
    with pytest.raises(StagingError, match="smoke check.*401"):
        deployer.smoke_check(wrong)


def test_endpoints_travel_through_xcom_without_secrets(stack):
    endpoints = stack["endpoints"]
    data = endpoints.to_dict()
    text = json.dumps(data)
    assert endpoints.client_key not in text and endpoints.admin_key not in text
    assert StagingEndpoints.from_dict(json.loads(text)) == endpoints  # keys read back from keys_file


def test_staging_suites_on_a_golden_subset(stack, tmp_path):
    endpoints = StagingEndpoints.from_dict(stack["endpoints"].to_dict())
    out = tmp_path / "staging_test_results"
    summary = run_staging_tests(endpoints, out_dir=out, options={"documents": SUBSET, "burst_documents": 4})

    assert summary["status"] == "passed", json.dumps(summary, indent=1)
    assert summary["passed"] == ["infrastructure", "unit", "integration", "performance", "api_compatibility",
                                 "security"]
    results_path, report_path = Path(summary["results_json"]), Path(summary["report_html"])
    assert results_path.is_file() and report_path.is_file() and (out / "latest.json").is_file()
    document = json.loads(results_path.read_text())
    assert json.loads((out / "latest.json").read_text())["run_dir"] == summary["run_dir"]
    raw = results_path.read_text() + report_path.read_text()
    assert endpoints.client_key not in raw and endpoints.admin_key not in raw

    suites = {r["name"]: r for r in document["results"]}
    checks = {name: {c["name"]: c for c in r["checks"]} for name, r in suites.items()}
    assert all(r["status"] == "passed" for r in suites.values())

    integration = checks["integration"]
    assert integration["field_match_rate"]["value"] >= 0.9 and integration["field_match_rate"]["threshold"] == 0.9
    assert integration["opensource_served"]["value"] == 1.0
    docs = suites["integration"]["data"]["documents"]
    assert [d["file"] for d in docs] == SUBSET and all(d["engine"] == "tesseract" for d in docs)

    perf = checks["performance"]
    assert 0 < perf["latency_p50"]["value"] <= perf["latency_p95"]["value"] <= 30
    assert perf["throughput"]["value"] > 0.5

    api = checks["api_compatibility"]
    assert api["inv-0001.pdf: top_level_keys"]["passed"] and api["inv-0001.pdf: normalised_formats"]["passed"]
    assert api["inv-0001.pdf: field_names"]["value"] >= 10

    security = checks["security"]
    assert security["ocr_without_key"]["value"] == 401
    assert security["admin_with_client_key"]["value"] == 403
    assert security["oversize_upload"]["value"] == 413 and security["oversize_streamed_upload"]["value"] == 413
    assert security["wrong_content_type"]["value"] in (415, 422)
    assert security["public /metrics"]["passed"] and security["public /docs"]["passed"]

    assert checks["unit"]["tests_passed"]["value"] > 10
    assert checks["infrastructure"]["postgres_select_1"]["passed"] and checks["infrastructure"]["redis_ping"]["passed"]

    html = report_path.read_text()
    assert html.startswith("<!DOCTYPE html>") and "PASSED" in html and "<script" not in html

    # the checks ran as pytest tests: pytest's JUnit XML beside the report, a test case per check
    from defusedxml import ElementTree

    cases = list(ElementTree.parse(summary["junit_xml"]).getroot().iter("testcase"))
    assert len(cases) >= sum(len(r["checks"]) for r in suites.values())
    assert {c.get("classname") for c in cases} == {f"test_{name}" for name in suites}
    assert document["pytest"]["exit_code"] == 0 and "--suites infrastructure,unit," in document["pytest"]["command"]

    # the run put the routing flag back as it found it
    flags = httpx.get(f"{endpoints.service_url}/v1/admin/flags", headers={"X-API-Key": endpoints.admin_key},
                      timeout=5).json()
    assert flags["flags"]["force_opensource_for_testing"] is False


def test_failing_suites_fail_the_run_with_reasons(stack, tmp_path):
    endpoints = stack["endpoints"]
    wrong = StagingEndpoints(**{**endpoints.__dict__, "client_key": "not-the-key"})
    summary = run_staging_tests(wrong, out_dir=tmp_path, suites=["unit", "integration"],
                                options={"documents": SUBSET[:1], "project_dir": str(tmp_path)})
    assert summary["status"] == "failed" and summary["failed"] == ["unit", "integration"]
    assert "unit tests not found" in summary["suites"]["unit"]["reason"]
    assert "success_rate" in summary["suites"]["integration"]["failed_checks"]
    with pytest.raises(StagingError, match="unknown staging suite"):
        run_staging_tests(endpoints, out_dir=tmp_path, suites=["nope"])
    with pytest.raises(StagingError, match="unknown threshold"):
        run_staging_tests(endpoints, out_dir=tmp_path, thresholds={"min_field_match": 0.5})


def test_the_container_flow_reads_the_keys_from_the_state_file_and_reports_from_the_junit_xml(stack, tmp_path):
    """What ocr_staging_tests does with deployer docker, without the container: prepare the run,
    run the checks' command with the endpoints carrying no secret (the keys read from the keys
    file, as from the read-only state volume), then build the report from its JUnit XML."""
    from staging.suites import checks_command, checks_environment, finish_run, prepare_run

    endpoints = stack["endpoints"]
    seen = endpoints.to_dict()
    assert endpoints.client_key not in json.dumps(seen) and seen["keys_file"]
    run = prepare_run(tmp_path / "results", ["security"], None, None)
    env = checks_environment(seen, run["thresholds"], run["options"])
    assert endpoints.client_key not in json.dumps(env) and endpoints.admin_key not in json.dumps(env)
    proc = subprocess.run(checks_command(run["suites"], run["run_dir"] / "junit.xml"), env={**os.environ, **env},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    summary = finish_run(run, seen, {"command": "container", "exit_code": proc.returncode})
    assert summary["status"] == "passed" and summary["passed"] == ["security"], summary
    document = json.loads(Path(summary["results_json"]).read_text())
    checks = {c["name"]: c for c in document["results"][0]["checks"]}
    assert checks["admin_with_client_key"]["value"] == 403 and checks["public /metrics"]["passed"]


def test_each_suite_is_a_pytest_marker_of_the_staging_checks():
    """``pytest staging/checks -m <suite>`` collects that suite's checks and nothing else."""
    from staging.suites import CHECKS_DIR, SUITES

    for name in SUITES:
        proc = subprocess.run([sys.executable, "-m", "pytest", str(CHECKS_DIR), "--collect-only", "-q", "-m", name,
                               "-p", "no:cacheprovider", "--rootdir", str(CHECKS_DIR)],
                              capture_output=True, text=True, timeout=120, cwd=CHECKS_DIR)
        ids = [line for line in proc.stdout.splitlines() if "::" in line]
        assert proc.returncode == 0 and ids, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert {i.split("::")[0] for i in ids} == {f"test_{name}.py"}, ids


def test_up_again_reuses_what_runs_and_restarts_what_died(stack):
    deployer = stack["deployer"]
    before = _pids(deployer)
    started = time.monotonic()
    again = deployer.up()
    assert time.monotonic() - started < 10
    assert _pids(deployer) == before and again == stack["endpoints"]

    os.kill(before["documentai-double"], signal.SIGKILL)
    deadline = time.monotonic() + 5
    while port_open(deployer.config.documentai_port) and time.monotonic() < deadline:
        time.sleep(0.05)
    deployer.up()
    after = _pids(deployer)
    assert after["documentai-double"] != before["documentai-double"]
    assert {k: v for k, v in after.items() if k != "documentai-double"} == \
        {k: v for k, v in before.items() if k != "documentai-double"}


def test_down_stops_everything(stack):
    deployer = stack["deployer"]
    cfg = deployer.config
    pids = [pid for pid in _pids(deployer).values() if pid]
    cluster_dir = Path(deployer.status()["components"]["postgres"]["data_dir"]).parent
    assert cluster_dir.parent == Path(tempfile.gettempdir()) and cluster_dir.owner() == "postgres"
    outcome = deployer.down()
    assert not cluster_dir.exists()  # the per-deployment cluster is removed at teardown
    assert outcome == {"ocr-service": "stopped", "documentai-double": "stopped", "redis": "stopped",
                       "postgres": "stopped"}
    for port in (cfg.service_port, cfg.redis_port, cfg.postgres_port, cfg.documentai_port):
        assert not port_open(port), port
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert deployer.status()["healthy"] is False
    assert deployer.down() == {"ocr-service": "not running", "documentai-double": "not running",
                               "redis": "not running", "postgres": "not running"}


def test_a_port_taken_by_someone_else_is_a_clear_error(golden_dir):
    base = Path(tempfile.mkdtemp(prefix="ocr-staging-test-"))
    try:
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", 0))
            squatter.listen()
            cfg = StagingConfig(base_dir=base, golden_dir=golden_dir, postgres_port=squatter.getsockname()[1])
            with pytest.raises(StagingError, match=f"port {cfg.postgres_port} .*taken"):
                LocalProcessDeployer(cfg).up()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_reused_pid_is_never_signalled(tmp_path):
    proc = subprocess.Popen(["sleep", "30"])
    try:
        real = psutil.Process(proc.pid)
        stale = ProcessRecord("old", proc.pid, real.create_time() - 100, ["sleep", "30"], ["sleep"], "", 0.0)
        assert not is_alive(stale) and stop_process(stale) == "not ours"
        assert proc.poll() is None
        other_command = ProcessRecord("old", proc.pid, real.create_time(), ["x"], ["redis-server"], "", 0.0)
        assert stop_process(other_command) == "not ours" and proc.poll() is None
        earlier = ProcessRecord("old", proc.pid, real.create_time(), ["sleep", "30"], ["sleep"], "", 0.0,
                                boot_start=started_since_boot(proc.pid) - 0.5)
        assert stop_process(earlier) == "not ours" and proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_a_running_process_stays_ours_when_the_wall_clock_moves(tmp_path):
    """psutil's create_time() adds /proc/stat's btime, which Linux recomputes from the wall clock at
    each read: it jitters by a second and drifts with NTP. A live redis-server was once declared
    "exited during startup" because of it (CI, stop 23). The record's start since boot decides."""
    record = start_detached("sleeper", ["sleep", "30"], dict(os.environ), tmp_path / "s.log", tmp_path / "s.pid",
                            ["sleep"])
    try:
        assert record.boot_start is not None and abs(record.boot_start - started_since_boot(record.pid)) < 1e-9
        record.create_time -= 1.0  # what a one-second step of btime between two reads looks like
        assert is_alive(record)
        record.create_time -= 3600.0  # and an hour of clock correction
        assert is_alive(record)
    finally:
        assert stop_process(record) == "stopped"
    assert not is_alive(record)


# ---------------------------------------------------------------- Docker

def test_docker_deployer_commands_and_endpoints_from_the_compose_file(tmp_path):
    calls = []

    def runner(argv, env=None, timeout=None):
        calls.append((argv, env))
        return subprocess.CompletedProcess(argv, 0, "27.1.1\n" if argv[1] == "version" else "", "")

    cfg = StagingConfig(base_dir=tmp_path / "staging", startup_timeout_s=1)
    deployer = get_deployer("docker", cfg, runner=runner)
    assert isinstance(deployer, DockerDeployer)
    compose = ["docker", "compose", "-f", str(deployer.compose_file), "--profile", "staging"]
    assert deployer.compose_file.name == "docker-compose.airflow.yml"
    assert deployer.up_command() == [*compose, "up", "-d", "ocr-service-staging", "postgres-staging", "redis-staging"]
    assert deployer.ps_command()[:len(compose) + 1] == [*compose, "ps"]
    assert deployer.down_command() == [*compose, "rm", "--stop", "--force", *COMPOSE_SERVICES]

    endpoints = deployer.endpoints()  # the published ports, read from the YAML
    assert endpoints.service_url == "http://127.0.0.1:8002"
    assert endpoints.database_url == "postgresql+psycopg://ocr:ocr@127.0.0.1:5433/ocr_metrics"
    assert endpoints.redis_url == "redis://127.0.0.1:6380/1"
    inside = DockerDeployer(cfg, runner=runner, address="internal").endpoints()
    assert inside.service_url == "http://ocr-service-staging:8001" and "postgres-staging:5432" in inside.database_url

    # nothing answers on 8002 here: up() runs the commands, then says the service never got healthy
    with pytest.raises(StagingError, match="ocr-service-staging not healthy"):
        deployer.up(timeout_s=0.5)
    argvs = [argv for argv, _ in calls]
    assert argvs[0][:2] == ["docker", "version"] and argvs[1] == deployer.up_command()
    assert argvs[-1][:len(compose) + 1] == [*compose, "logs"]
    env = calls[1][1]
    keys = json.loads((cfg.base_dir / "keys.json").read_text())
    assert env["OCR_MIGRATE_CLIENT_API_KEYS"] == f"staging-client:{keys['client_key']}"
    assert env["OCR_MIGRATE_ADMIN_API_KEYS"] == f"staging-admin:{keys['admin_key']}"

    calls.clear()
    assert deployer.down() == {name: "removed" for name in COMPOSE_SERVICES}
    assert calls[-1][0] == deployer.down_command()

    # the database password stays out of XCom and comes back from the keys file
    data = endpoints.to_dict()
    assert data["database_url"] == "postgresql+psycopg://ocr:***@127.0.0.1:5433/ocr_metrics"
    assert StagingEndpoints.from_dict(data).database_url == endpoints.database_url


def test_docker_deployer_without_an_engine_raises_a_typed_error(tmp_path):
    deployer = get_deployer("docker", StagingConfig(base_dir=tmp_path / "staging"))
    probe = subprocess.run(["docker", "version"], capture_output=True, text=True) if shutil.which("docker") else None
    assert probe is None or probe.returncode != 0, "this test expects a host without a Docker engine"
    with pytest.raises(StagingError, match="(cannot reach a Docker engine|docker command is not installed).*"
                                           "local deployer"):
        deployer.up()
    status = deployer.status()
    assert status["healthy"] is False and "local deployer" in status["error"]


def test_unknown_deployer_and_keys_given_in_the_config(tmp_path):
    with pytest.raises(StagingError, match="unknown staging deployer"):
        get_deployer("kubernetes")
    cfg = StagingConfig(base_dir=tmp_path, client_key="c" * 32, admin_key="a" * 32)
    assert ensure_keys(cfg)["client_key"] == "c" * 32
    assert StagingEndpoints.from_dict({"service_url": "http://x", "database_url": "sqlite://", "redis_url": None,
                                       "documentai_endpoint": None}, base_dir=tmp_path).admin_key == "a" * 32
    with pytest.raises(StagingError, match="keys"):
        StagingEndpoints.from_dict({"service_url": "http://x", "database_url": "sqlite://", "redis_url": None,
                                    "documentai_endpoint": None}, base_dir=tmp_path / "nowhere")


def test_the_package_is_light_to_import_and_never_imports_airflow():
    probe = ("import sys, staging; print(sorted(m for m in ('airflow', 'httpx', 'yaml', 'psycopg', "
             "'pytesseract', 'ocr_engines', 'sqlalchemy') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"
    sources = Path(__file__).resolve().parent.parent / "staging"
    for path in sources.glob("*.py"):
        assert "import airflow" not in path.read_text() and "from airflow" not in path.read_text(), path


def test_a_service_serves_when_healthy_or_degraded():
    from rollout.health.judge import DEGRADED, HEALTHY, UNHEALTHY, is_serving

    assert is_serving(HEALTHY) and is_serving(DEGRADED)
    assert not any(is_serving(s) for s in (UNHEALTHY, None, "HTTP 502", "unreachable: connection refused"))


def test_the_compose_helpers_interpolate_ports_environment_and_ps_output():
    from staging.docker import _environment, _interpolate, _parse_port, _parse_ps

    env = {"SET": "5", "EMPTY": ""}
    assert _interpolate("${SET:-1}|${EMPTY:-2}|${UNSET:-3}", env) == "5|2|3"
    assert _interpolate("${SET-1}|${EMPTY-2}|${UNSET-3}|${UNSET}|$$HOME", env) == "5||3||$HOME"
    # bare names, and required ones (tests/test_compose.py reads the compose file with this too)
    assert _interpolate("$SET|$UNSET|$SET_x|${SET:?no}|${EMPTY?no}|$$SET", env) == "5|||5||$SET"
    for text, message in (("${UNSET:?set it in .env}", "UNSET is missing a value: set it in .env"),
                          ("${EMPTY:?empty}", "EMPTY is missing a value: empty"), ("${UNSET?}", "UNSET .* not set")):
        with pytest.raises(StagingError, match=f"required variable {message}"):
            _interpolate(text, env)
    assert _parse_port("127.0.0.1:5433:5432") == ("127.0.0.1", 5433, 5432)
    assert _parse_port("6380:6379/tcp") == (None, 6380, 6379) and _parse_port("8001") == (None, None, 8001)
    assert _parse_port({"target": 8001, "published": "8002", "host_ip": "0.0.0.0"}) == ("0.0.0.0", 8002, 8001)
    assert _parse_port({"target": 8001}) == (None, None, 8001)
    assert _environment({"environment": ["A=1", "B", "C=x=y"]}) == {"A": "1", "B": "", "C": "x=y"}
    assert _environment({"environment": {"A": 1, "B": None}}) == {"A": "1"}
    assert _parse_ps("") == [] and _parse_ps('[{"Service": "a"}]') == [{"Service": "a"}]
    assert _parse_ps('{"Service": "a"}\n{"Service": "b"}\n') == [{"Service": "a"}, {"Service": "b"}]
