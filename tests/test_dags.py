"""The DAGs: import errors and parse time, then real runs with ``dag.test()`` against PostgreSQL
(metrics + flags, through the ``ocr_metrics_db`` connection) and Redis (``ocr_redis``): the happy
path to 100 % with cutover, a degraded engine at stage 2 rolled back automatically, INCONCLUSIVE
without traffic (no advance), the emergency DAG, and re-running a stage task twice.

Each run is a subprocess (Airflow reads its configuration once per process) on a session-wide
migrated metadata database; simulated traffic flows into the events table while it runs.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
DAG_IDS = {"ocr_migration", "ocr_emergency", "ocr_monitoring", "ocr_staging_deploy", "ocr_staging_tests", "ocr_evaluate"}


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow")
    env = airflow_env(home)
    proc = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return home


def airflow_env(home: Path, **extra) -> dict:
    return dict(os.environ, AIRFLOW_HOME=str(home), AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
                AIRFLOW__CORE__PLUGINS_FOLDER=str(ROOT / "plugins"), AIRFLOW__CORE__LOAD_EXAMPLES="false",
                AIRFLOW__CORE__UNIT_TEST_MODE="false", OCR_MIGRATE_GATE_POKE_S="1", GX_ANALYTICS_ENABLED="false",
                PYTHONPATH=str(ROOT), **extra)


@pytest.fixture
def migration_env(airflow_home, pg_url, tmp_path):
    """Connections as the deployment would set them (AIRFLOW_CONN_*), a data folder of its own."""
    pg = pg_url.replace("postgresql+psycopg://", "postgresql://")
    env = airflow_env(airflow_home, AIRFLOW_CONN_OCR_METRICS_DB=pg, AIRFLOW_CONN_OCR_REDIS="redis://127.0.0.1:6379/9",
                      OCR_MIGRATE_DATABASE_URL=pg_url, OCR_MIGRATE_REDIS_URL="redis://127.0.0.1:6379/9",
                      OCR_MIGRATE_DATA_DIR=str(tmp_path / "data"), OCR_MIGRATE_ACTOR="test")
    return env, create_engine(pg_url)


def run_dag(env, dag_id, conf, traffic="none", timeout=600, mark_success=None):
    """One dag.test() run in a process of its own; ``mark_success``: a regex of task ids dag.test
    marks successful instead of running."""
    proc = subprocess.run([sys.executable, "-m", "tests.airflow_runner", dag_id, json.dumps(conf), traffic,
                           *([mark_success] if mark_success else [])],
                          env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no result (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1][7:]), proc.stdout + proc.stderr


def flags(db) -> dict:
    with db.connect() as conn:
        row = conn.execute(text("SELECT stage, percentage, flags FROM rollout_state")).mappings().one()
    f = row["flags"] if isinstance(row["flags"], dict) else json.loads(row["flags"])
    return {"stage": row["stage"], "percentage": row["percentage"], **f}


# staging has its own tests (test_staging.py); here the group is skipped by its param
# The golden gate reads the digital subset (seconds): what reading scans costs is the golden-gate
# tests' and main.sh's to show, not every DAG test's.
FAST = {"soak_s": 1, "min_documents": 60, "post_cutover_watch_s": 2, "stage_timeout_s": 120, "run_staging": False,
        "golden_subset": "digital"}


def test_dagbag_has_no_import_errors_and_parses_fast(airflow_home):
    code = ("import json; from airflow.dag_processing.dagbag import DagBag; b = DagBag(); "
            "print(json.dumps({'errors': {k: str(v) for k, v in b.import_errors.items()}, 'dags': sorted(b.dag_ids),"
            " 'seconds': {s.file: s.duration.total_seconds() for s in b.dagbag_stats},"
            " 'params': (lambda d: {k: d.params[k] for k in d.params})(b.get_dag('ocr_migration')),"
            " 'approve': (lambda t: {'form': sorted(t.serialized_params), 'fail_on_reject': t.fail_on_reject,"
            " 'retries': t.retries, 'downstream': sorted(t.downstream_task_ids)})"
            "(b.get_dag('ocr_migration').get_task('stage_2.approve')),"
            " 'choices': {'action': b.get_dag('ocr_emergency').params.get_param('action').schema['enum'],"
            " 'suites': b.get_dag('ocr_staging_tests').params.get_param('staging_suites').schema['items']['enum']}}))")
    proc = subprocess.run([sys.executable, "-c", code], env=airflow_env(airflow_home), capture_output=True,
                          text=True, timeout=120)
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["errors"] == {}
    assert DAG_IDS <= set(out["dags"])
    print("DAG parse seconds:", out["seconds"])
    assert all(seconds <= 0.5 for seconds in out["seconds"].values()), out["seconds"]
    # one place for the defaults: the DAG's Params are MigrationPlan()'s (soak 900 s and 200
    # documents disagreed with it before), and an empty conf gives that plan
    from rollout.migration import MigrationPlan

    params, plan = out["params"], MigrationPlan()
    assert MigrationPlan.from_params({}) == plan == MigrationPlan.from_params(params)
    assert (params["soak_s"], params["min_documents"], params["stages"]) == (900, 200, list(plan.stages))
    assert params["golden_subset"] == plan.golden_subset and params["auto_rollback"] is plan.auto_rollback
    # the approval's form has its reason field (only task-sourced params reach it), a rejection
    # fails the task without a retry, and the stage's rollback hears of it
    assert out["approve"] == {"form": ["reason"], "fail_on_reject": True, "retries": 0,
                              "downstream": ["stage_2.done", "stage_2.rollback"]}, out["approve"]
    # the choices come from their sources: the action registry (with the underscore aliases) and the suites
    from staging.suites import SUITES

    assert out["choices"] == {"action": ["rollback", "disable", "maintenance-on", "maintenance-off", "maintenance_on",
                                         "maintenance_off"], "suites": list(SUITES)}, out["choices"]


# The DAG's first task on a fresh database, then two looks of a stage's gate as StageGateSensor.poke
# makes them (each asks the hook for its Stores), in one worker process; SQLAlchemy's before_cursor_execute
# counts, per phase, every statement that touches the schema (DDL, or the schema's version table).
SCHEMA_PROBE = """
import json
from collections import Counter

from sqlalchemy import event, text
from sqlalchemy.engine import Engine

import ocr_migration_hook as ops
import ocr_migration_ops as callables
from rollout.db import VERSION_TABLE, head, metadata
from rollout.migration import MigrationPlan, set_percentage, stage_gate

schema, phase = Counter(), ["fresh"]


@event.listens_for(Engine, "before_cursor_execute")
def count(conn, cursor, statement, parameters, context, executemany):
    words = statement.lstrip().upper()
    if words.startswith(("CREATE", "ALTER", "DROP")) or VERSION_TABLE.upper() in words:
        schema[phase[0]] += 1


db = ops.OcrMigrationHook().get_conn()
metadata.drop_all(db)
with db.begin() as conn:
    conn.execute(text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))
phase[0] = "first task"
first = callables.upgrade_database()
phase[0] = "stage"
since = set_percentage(ops.OcrMigrationHook().get_stores().flags, 5, "test", "stage 1")["since"]
phase[0] = "looks"
verdicts = []
for _ in range(2):
    stores = ops.OcrMigrationHook().get_stores()
    look = stage_gate(stores.db, stores.flags, __import__("datetime").datetime.fromisoformat(since), 5,
                      MigrationPlan(), "probe", stores.notifiers)
    verdicts.append(look["verdict"])
print("RESULT " + json.dumps({"schema": schema, "verdicts": verdicts, "first": first, "head": head()}))
"""


# ocr_staging_tests as the scheduler sees it: the branch's choice per deployer, the graph, and the
# DockerOperator's container (image, command, environment, mounts, network).
STAGING_DAG_PROBE = """
import json
from airflow.dag_processing.dagbag import DagBag
import ocr_migration_ops as ops

dag = DagBag().get_dag("ocr_staging_tests")
op = dag.get_task("run_suites_in_container")
print("RESULT " + json.dumps({
    "graph": {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks},
    "branch": {d: ops.staging_where(params={"deployer": d}) for d in ("local", "docker")},
    "kind": type(op).__module__ + "." + type(op).__name__,
    "image": op.image, "command": op.command, "environment": op.environment, "network": op.network_mode,
    "mounts": [{"source": m["Source"], "target": m["Target"], "type": m["Type"], "read_only": m["ReadOnly"]}
               for m in op.mounts],
    "auto_remove": op.auto_remove, "native": dag.render_template_as_native_obj,
    "report_rule": str(dag.get_task("run_suites_in_container_report").trigger_rule)}))
"""


def test_the_staging_checks_run_in_a_container_through_the_docker_provider_with_deployer_docker(airflow_home):
    """Structure only (no Docker engine here): the DockerOperator runs the checks' command in the
    project's image on the compose network, with the volumes the compose file's workers mount."""
    import yaml

    from staging.suites import checks_command

    proc = subprocess.run([sys.executable, "-c", STAGING_DAG_PROBE], env=airflow_env(airflow_home),
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, proc.stderr[-3000:]
    out = json.loads(lines[-1][7:])
    assert out["branch"] == {"local": "run_suites", "docker": "run_suites_in_container_prepare"}
    assert out["graph"]["where"] == ["run_suites", "run_suites_in_container_prepare"]
    assert out["graph"]["run_suites_in_container_prepare"] == ["run_suites_in_container"]
    assert out["graph"]["run_suites_in_container"] == ["run_suites_in_container_report"]
    assert out["kind"] == "airflow.providers.docker.operators.docker.DockerOperator"
    assert out["report_rule"].lower().endswith("all_done") and out["native"] is True and out["auto_remove"] == "success"
    # the container's command is the one run_staging_tests runs here, with the prepared run's values
    command = checks_command(["SUITES"], "JUNIT", python="python")
    assert out["command"][:4] == command[:4] and out["command"][5] == command[5]
    assert "run_suites_in_container_prepare" in out["command"][4] and out["command"][6].startswith("/results/")
    assert "run_suites_in_container_prepare" in out["environment"] and "['environment']" in out["environment"]

    compose = yaml.safe_load((ROOT / "docker-compose.airflow.yml").read_text())
    worker = compose["services"]["airflow-worker-1"]
    volumes = {name: (spec or {}).get("name", name) for name, spec in compose["volumes"].items()}
    mounted = dict(v.split(":")[:2][::-1] for v in worker["volumes"])  # path in the worker -> source
    env = worker["environment"]
    assert out["network"] == compose["networks"]["default"]["name"] == env["OCR_STAGING_NETWORK"]
    assert out["image"] == compose["x-project-image"]["image"].split(":-", 1)[1].rstrip("}")
    by_target = {m["target"]: m for m in out["mounts"]}
    state, results = by_target["/staging"], by_target["/results"]
    assert state["read_only"] and not results["read_only"] and state["type"] == results["type"] == "volume"
    # the worker keeps the staging keys and finds the results where the container writes them
    assert volumes[mounted["/opt/airflow/ocr-data/staging"]] == state["source"] == env["OCR_STAGING_STATE_VOLUME"]
    assert volumes[mounted[env["AIRFLOW_VAR_OCR_STAGING_RESULTS_DIR"]]] == results["source"] \
        == env["OCR_STAGING_RESULTS_VOLUME"]
    assert mounted["/var/run/docker.sock"] == "/var/run/docker.sock"


def test_the_metrics_connection_is_the_postgres_providers(migration_env):
    """``ocr_metrics_db`` becomes our stores' URL through the postgres provider's hook: psycopg 3,
    and the connection's ``sqlalchemy_query`` extra honoured (a hand-built URL dropped it)."""
    env, _ = migration_env
    probe = (
        "import json, ocr_migration_hook as ops, sqlalchemy\n"
        "from airflow.sdk import Connection\n"
        "conn = Connection.from_uri(__import__('os').environ['AIRFLOW_CONN_OCR_METRICS_DB'], conn_id='ocr_metrics_db')\n"
        "conn.extra = json.dumps({'sqlalchemy_query': {'application_name': 'ocr-gate'}})\n"
        "url = ops.sqlalchemy_url(conn)\n"
        "with sqlalchemy.create_engine(url).connect() as c:\n"
        "    print(url.split('://')[0], c.execute(sqlalchemy.text('SHOW application_name')).scalar())\n"
        "print(ops.migration_settings().sqlalchemy_url.split('://')[0])\n")
    proc = subprocess.run([sys.executable, "-c", probe], env={**env, "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}"},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["postgresql+psycopg", "ocr-gate", "postgresql+psycopg"]


def test_the_dags_first_task_upgrades_the_schema_and_no_poke_touches_it(migration_env):
    """(Rewritten for Alembic: it counted create_all per schema on the pokes.)"""
    env, db = migration_env
    proc = subprocess.run([sys.executable, "-c", SCHEMA_PROBE], env={**env, "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}"},
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, proc.stderr[-3000:]
    out = json.loads(lines[-1][7:])
    assert out["verdicts"] == ["INCONCLUSIVE", "INCONCLUSIVE"]  # both looks judged (no traffic yet)
    assert out["first"] == {"schema": out["head"], "rollout_state_version": 1}
    assert out["schema"]["first task"] > 0  # it created the tables and recorded the revision
    assert "stage" not in out["schema"] and "looks" not in out["schema"], out["schema"]
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM gate_evaluations WHERE run_id = 'probe'")).scalar() == 2


def test_happy_path_to_100_percent_with_cutover(migration_env):
    env, db = migration_env
    env = {**env, "OCR_MIGRATE_DOCUMENTAI_PRICE_PER_PAGE": "0.015"}
    result, log = run_dag(env, "ocr_migration", {**FAST, "stages": [5, 15, 35, 60, 100], "golden_shards": 3,
                                                  "golden_subset": "digital"},
                          traffic="healthy")
    assert result["state"] == "success", log[-4000:]
    assert all(state in ("success", "skipped") for state in result["tis"].values())
    assert result["tis"]["cutover.post_cutover_watch"] == "success"
    # the golden gate fanned out: each gate's 14 golden invoices read in 3 mapped shards, then
    # the reduce passed; the sixth slot's mapped read was never expanded (skipped as one)
    shards = {"0": "success", "1": "success", "2": "success"}
    gates = ["golden_gate_baseline"] + [f"stage_{n}.golden_gate" for n in range(1, 6)]
    assert result["maps"] == {gate.replace("golden_gate", "golden_read"): shards for gate in gates}, result["maps"]
    assert {gate: result["tis"][gate] for gate in gates} == dict.fromkeys(gates, "success")
    assert result["tis"]["stage_6.golden_read"] == "skipped"
    with db.connect() as conn:
        golden = conn.execute(text("SELECT stage, documents, success FROM gx_validations WHERE run_id = :r AND "
                                   "suite = 'ocr_golden_fields' ORDER BY id"), {"r": result["run_id"]}).all()
    assert [tuple(g) for g in golden] == [(p, 14, True) for p in (0, 5, 15, 35, 60, 100)]
    # a 5-stage plan: the sixth slot is skipped in the grid, not a sixth green stage
    assert result["tis"]["stage_5.done"] == "success"
    assert {t: s for t, s in result["tis"].items() if t.startswith("stage_6.")} == {
        t: "skipped" for t in result["tis"] if t.startswith("stage_6.")}
    assert result["tis"]["cutover.preconditions"] == "success"
    # the cutover summary says what the migration saved, in money at the operator's price
    saved = re.search(r"migration cost ledger since \S+: (\d+) pages needed, (\d+) read by Google .* (\d+) saved = "
                      r"([\d.]+) USD", log)
    assert saved, log[-4000:]
    needed, google, pages_saved, money = int(saved[1]), int(saved[2]), int(saved[3]), Decimal(saved[4])
    # exact, in decimal cents rounded half up (a float tolerance failed on a half cent: 35.535)
    assert needed > google > 0 and pages_saved == needed - google
    assert money == (pages_saved * Decimal("0.015")).quantize(Decimal("0.01"), ROUND_HALF_UP)
    state = flags(db)
    assert state["percentage"] == 100 and state["disable_google_cloud"] is True
    with db.connect() as conn:
        passes = conn.execute(text("SELECT DISTINCT percentage FROM gate_evaluations WHERE run_id = :r AND "
                                   "verdict = 'PASS'"), {"r": result["run_id"]}).scalars().all()
        actions = conn.execute(text("SELECT action, actor FROM flag_audit WHERE outcome = 'applied' ORDER BY id")).all()
    assert set(passes) >= {5, 15, 35, 60, 100} and 85 not in passes
    assert [a for a, _ in actions][-6:] == ["set-percentage"] * 5 + ["disable-google"]
    assert ("disable-google", f"airflow:ocr_migration/{result['run_id']}") in [tuple(a) for a in actions]
    script = Path(env["OCR_MIGRATE_DATA_DIR"]) / "rollback_cutover.sh"
    body = script.read_text()
    assert "restore --backup" in body and os.access(script, os.X_OK)
    # the way back works: the script restores the pre-cutover state (100 %, Google on)
    proc = subprocess.run(["bash", str(script), "--actor", "ops"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    state = flags(db)
    assert state["percentage"] == 100 and state["disable_google_cloud"] is False


def test_degraded_engine_at_stage_2_rolls_back_automatically(migration_env):
    env, db = migration_env
    env = dict(env, OCR_MIGRATE_REMEDIATION="true")  # the rollback is followed by remediation
    result, log = run_dag(env, "ocr_migration", {**FAST, "stages": [5, 15, 100]}, traffic="degraded-from-15")
    assert result["state"] == "failed"
    tis = result["tis"]
    assert tis["stage_1.done"] == "success" and tis["stage_2.health_gate"] == "failed"
    assert tis["stage_2.rollback"] == "success" and tis["stage_3.set_percentage"] == "upstream_failed"
    assert tis["cutover.switch"] == "upstream_failed"
    assert flags(db)["percentage"] == 5  # back to the previous stage
    with db.connect() as conn:
        alerts = conn.execute(text("SELECT severity, message, recommendation FROM alerts WHERE source = 'migration'"
                                   )).all()
        verdict = conn.execute(text("SELECT verdict FROM gate_evaluations WHERE percentage = 15 ORDER BY id DESC"
                                    )).scalars().first()
    assert verdict == "FAIL"
    assert alerts and alerts[0][0] == "critical" and "stage 15 % failed" in alerts[0][1]
    assert "rolled back to 5 %" in alerts[0][2]
    # remediation ran after the rollback, for stage 2 only: the simulated traffic's documents were
    # never uploaded (events only), so none is kept and each is listed for review
    assert tis["stage_2.remediation_shards"] == "success" and tis["stage_2.remediation_report"] == "success"
    assert tis["stage_1.remediation_shards"] == "skipped"
    with db.connect() as conn:
        runs = conn.execute(text("SELECT percentage, cause, served, retained, needs_review, finished_at "
                                 "FROM ocr_remediations")).all()
    assert len(runs) == 1
    percentage, cause, served, retained, needs_review, finished = runs[0]
    assert (percentage, cause, retained) == (15, "gate", 0) and served > 0 and needs_review == served and finished


def golden_copy(golden_dir: Path, folder: Path, names: list[str]) -> Path:
    """A small golden folder: these committed documents with their truth files."""
    folder.mkdir()
    for name in names:
        for path in (golden_dir / name, (golden_dir / name).with_suffix(".json")):
            shutil.copy(path, folder / path.name)
    return folder


def test_a_bad_engine_fails_the_fanned_out_golden_gate_and_the_stage_rolls_back(migration_env, golden_dir, tmp_path):
    """The golden gate's reduce decides on the rows of all its shards: an engine that cannot finish
    a page (Tesseract stopped at a 10 ms page deadline: every read an ocr_timeout) fails the suite,
    and the stage rolls back.
    Three scans, one per shard. dag.test marks the baseline's reduce (its shards still run) and
    the stage's health gate (tested above, with traffic) successful, so the bad engine meets a
    stage's golden gate, which is where a rollback happens."""
    env, db = migration_env
    golden = golden_copy(golden_dir, tmp_path / "golden", [f"inv-000{n}-scan300.png" for n in (1, 2, 3)])
    env = {**env, "AIRFLOW_VAR_OCR_GOLDEN_DIR": str(golden), "OCR_MIGRATE_PAGE_TIMEOUT_S": "0.01"}
    conf = {**FAST, "stages": [5, 100], "golden_subset": "all", "golden_shards": 3}
    result, log = run_dag(env, "ocr_migration", conf, mark_success=r"golden_gate_baseline|stage_1\.health_gate")
    tis = result["tis"]
    assert result["state"] == "failed", log[-4000:]
    assert result["maps"]["stage_1.golden_read"] == {"0": "success", "1": "success", "2": "success"}, result
    assert tis["stage_1.health_gate"] == "success" and tis["stage_1.golden_gate"] == "failed"
    assert tis["stage_1.rollback"] == "success" and tis["stage_2.set_percentage"] == "upstream_failed"
    assert "golden-set quality gate FAILED" in log
    assert flags(db)["percentage"] == 0  # back before the first stage
    with db.connect() as conn:
        golden_row = conn.execute(text("SELECT documents, success FROM gx_validations WHERE run_id = :r AND "
                                       "stage = 5 AND suite = 'ocr_golden_fields'"), {"r": result["run_id"]}).one()
        alert = conn.execute(text("SELECT severity, message FROM alerts WHERE source = 'migration'")).one()
    assert tuple(golden_row) == (3, False)
    assert alert[0] == "critical" and "the golden-set quality gate failed" in alert[1]


def test_ocr_evaluate_fans_out_and_reports_what_the_cli_reports(migration_env, golden_dir, tmp_path):
    """ocr_evaluate over a small folder in 2 mapped shards: its report is ``summarise`` of the
    same reads in one process (the CLI's ``evaluate --output json``), timings aside."""
    from ocr_engines.evaluation import golden_documents, run_documents, summarise
    from rollout.settings import get_settings

    env, _ = migration_env
    corpus = golden_copy(golden_dir, tmp_path / "corpus", [f"inv-000{n}.pdf" for n in (1, 2, 3)])
    out = tmp_path / "report.json"
    result, log = run_dag(env, "ocr_evaluate", {"corpus": str(corpus), "shards": 2, "output": str(out)})
    assert result["state"] == "success", log[-4000:]
    assert result["maps"] == {"evaluate_shard": {"0": "success", "1": "success"}}
    report = json.loads(out.read_text())
    scores = list(run_documents(golden_documents(corpus), "tesseract", 1, get_settings().engine_options("tesseract")))
    expected = summarise(scores, 1.0)
    for timing in ("elapsed_s", "pages_per_s"):
        report.pop(timing), expected.pop(timing)
    assert report == expected and report["documents"] == 3


def test_inconclusive_without_traffic_stops_without_advancing(migration_env):
    env, db = migration_env
    result, log = run_dag(env, "ocr_migration", {**FAST, "stages": [5, 100], "stage_timeout_s": 3})
    tis = result["tis"]
    assert result["state"] == "failed" and tis["stage_1.health_gate"] == "failed"
    with db.connect() as conn:
        verdicts = conn.execute(text("SELECT DISTINCT verdict FROM gate_evaluations WHERE run_id = :r"),
                                {"r": result["run_id"]}).scalars().all()
    assert verdicts == ["INCONCLUSIVE"]  # looked until the stage timeout, never decided
    assert tis["stage_1.rollback"] == "success" and tis["stage_2.set_percentage"] == "upstream_failed"
    assert flags(db)["percentage"] == 5  # neither advanced nor rolled back: a human decides
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alerts WHERE source = 'migration'")).scalar() == 0


def test_emergency_dag_actions(migration_env):
    env, db = migration_env
    runs = [{"action": "maintenance_on", "reason": "database upgrade"},
            {"action": "maintenance_off", "reason": "upgrade done"},
            {"action": "rollback", "reason": "nothing to roll back"},
            {"action": "explode", "reason": "x"}]
    proc = subprocess.run([sys.executable, "-m", "tests.airflow_runner", "--batch",  # one process: 4 runs
                           json.dumps([["ocr_emergency", conf] for conf in runs])],
                          env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(("RESULT ", "ERROR "))]
    assert len(lines) == 4, proc.stdout[-3000:] + proc.stderr[-3000:]
    on, off, rollback = (json.loads(line[7:]) for line in lines[:3])
    assert on["state"] == off["state"] == "success" and rollback["state"] == "failed"
    assert flags(db)["maintenance_mode"] is False and flags(db)["percentage"] == 0  # the refusal changed nothing
    # the params are validated before any run: an unknown action never starts one
    assert lines[3].startswith("ERROR ") and "explode" in json.loads(lines[3][6:])["message"]
    with db.connect() as conn:
        reasons = conn.execute(text("SELECT action, outcome FROM flag_audit ORDER BY id")).all()
        maintenance = conn.execute(text("SELECT after FROM flag_audit WHERE action = 'maintenance-on'")).scalar()
    assert [tuple(r) for r in reasons][-3:] == [("maintenance-on", "applied"), ("maintenance-off", "applied"),
                                               ("rollback", "refused")]
    after = maintenance if isinstance(maintenance, dict) else json.loads(maintenance)
    assert after["flags"]["maintenance_mode"] is True  # maintenance was on between the first two runs


def test_rerunning_a_stage_task_twice_gives_the_same_state(migration_env):
    """What clearing ``stage_3.set_percentage`` does: the task runs again; twice = once."""
    env, db = migration_env
    states = []
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-m", "airflow", "tasks", "test", "ocr_migration",
                               "stage_3.set_percentage"], env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        with db.connect() as conn:
            states.append((flags(db)["percentage"],
                           conn.execute(text("SELECT version FROM rollout_state")).scalar(),
                           conn.execute(text("SELECT count(*) FROM flag_audit")).scalar()))
    assert states[0] == states[1] and states[0][0] == 35


def test_validate_deployment_reports_each_check_and_a_verdict(migration_env):
    env, _ = migration_env
    from tests.servers import free_port

    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "validate_deployment.py"), "--output", "json",
                           "--service-url", f"http://127.0.0.1:{free_port()}"], env=dict(env, OMP_THREAD_LIMIT="1"),
                          capture_output=True, text=True, timeout=300)
    out = json.loads(proc.stdout.splitlines()[-1])
    status = {c["check"]: c["status"] for c in out["checks"]}
    assert status["DAG import errors"] == "PASS" and status["DAGs present"] == "PASS"
    assert status["metrics database"] == "PASS" and status["redis"] == "PASS"
    assert status["database schema"] == "PASS"  # the test database is a copy of the upgraded template
    assert status["tesseract"] == "PASS" and status["GX suite ocr_golden_fields"] == "PASS"
    assert status["UI plugin"] == "PASS"
    assert status["OCR service"] == "FAIL"  # nothing listens there: the verdict must say so
    assert out["verdict"] == "FAIL" and proc.returncode == 1


def test_cli_trigger_with_conf_creates_a_run_and_validates_params(migration_env):
    """`airflow dags trigger ... --conf` as documented (README, doc_md): a run with that conf is
    queued for the scheduler; a conf the params refuse creates nothing."""
    env, _ = migration_env

    def airflow(*args, check=True):
        proc = subprocess.run([sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True,
                              timeout=300)
        if check:
            assert proc.returncode == 0, proc.stderr[-3000:]
        return proc

    def runs_of(dag_id):  # the JSON line (the CLI may log before it)
        out = airflow("dags", "list-runs", dag_id, "-o", "json").stdout
        return json.loads(next(line for line in out.splitlines() if line.startswith("[")))

    airflow("dags", "reserialize")
    conf = {"action": "maintenance_on", "reason": "scheduled database upgrade"}
    airflow("dags", "trigger", "ocr_emergency", "--conf", json.dumps(conf), "--run-id", "cli-trigger-test")
    runs = runs_of("ocr_emergency")
    run = next(r for r in runs if r["run_id"] == "cli-trigger-test")
    assert run["state"] == "queued"
    bad = airflow("dags", "trigger", "ocr_emergency", "--conf", json.dumps({"action": "explode", "reason": "x"}),
                  "--run-id", "cli-trigger-bad", check=False)
    assert bad.returncode != 0
    runs = runs_of("ocr_emergency")
    assert "cli-trigger-bad" not in {r["run_id"] for r in runs}
