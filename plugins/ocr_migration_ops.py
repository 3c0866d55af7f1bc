"""The task callables the migration DAG files wire together (``python_callable=``): plain
functions over ``rollout.migration`` and ``rollout.health``, with their stores from
``ocr_migration_hook``. Sensors and operators are in ``ocr_migration_sensors`` and
``ocr_migration_operators``.

Nothing heavy is imported at module level: DAG files import this at parse time.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from airflow.sdk import task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from ocr_migration_hook import (REPO_ROOT, SERVICE_VAR, OcrMigrationHook, Stores, actor, golden_dir,
                                migration_settings, plan_of, plan_percentage, variable)
from ocr_migration_operators import rejection_of

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------ task callables


def upgrade_database(**context) -> dict:
    """ocr_migration's first task: the metrics and flag database's schema at head (the Alembic
    migrations, ``ocr-migrate db upgrade``) and the rollout state seeded. No later task, and no
    gate's poke, touches the schema."""
    from rollout.db import current

    stores = OcrMigrationHook().get_stores(at_start=True)
    return {"schema": current(stores.db), "rollout_state_version": stores.flags.snapshot().version}


def validate_plan(**context) -> dict:
    plan = plan_of(context)
    return {"stages": list(plan.stages), "soak_s": plan.soak_s, "min_documents": plan.min_documents,
            "require_approval": plan.require_approval, "auto_rollback": plan.auto_rollback}




def set_stage_percentage(position: int, **context) -> dict:
    from rollout.migration import set_percentage

    plan = plan_of(context)
    percentage = plan_percentage(plan, position)
    stores = OcrMigrationHook().get_stores()
    out = set_percentage(stores.flags, percentage, actor(context),
                         f"migration stage {position}: {percentage} % open source")
    log.info("stage %s: %s %% (%s since %s)", position, percentage, "set" if out["changed"] else "already",
             out["since"])
    return out


# The golden gate as map/reduce: golden_shards splits the plan's golden subset into
# ``golden_shards`` lists of paths, golden_read (mapped over them) reads and scores one shard
# wherever a worker is free, and golden_gate, the reduce, validates all the rows and decides.

def golden_shards(**context) -> list[list[str]]:
    """The golden gate's map step: the plan's golden subset as ``golden_shards`` lists of paths
    (absolute: the default subset, "mixed", spans the golden folder and expectations/ksef-official)."""
    from rollout.fanout import split
    from rollout.health.golden_gate import subset_documents

    plan = plan_of(context)
    _, docs = subset_documents(golden_dir(), plan.golden_subset)
    shards = split([str(d.path) for d in docs], plan.golden_shards)
    log.info("golden subset %s: %d documents in %d shards", plan.golden_subset, len(docs), len(shards))
    return shards


@task(retries=2, retry_delay=timedelta(seconds=5))  # a lost worker's shard is read again elsewhere
def golden_read(shard: list[str], **context) -> list[dict]:
    """One shard of the golden gate: its documents read by the open-source engine and scored, one
    row each (the rows the golden suite validates). A document the engine fails on is a row with
    its error, not a failed task: the reduce judges it."""
    from rollout.health.golden_gate import golden_results

    plan = plan_of(context)
    return golden_results(golden_dir(), "tesseract", plan.golden_subset, paths=shard,
                          cache_dir=migration_settings().data_dir / "golden-cache")


def golden_gate(position: int | None = None, shard_rows=None, **context) -> dict:
    """The Great Expectations suites over the open-source engine's output on the golden set (and a
    sample of shadow comparisons); a FAIL blocks the stage. ``shard_rows``: the golden rows the
    mapped ``golden_read`` tasks returned, one list per shard (without them the gate reads the
    subset itself)."""
    from rollout.health.golden_gate import run_golden_gate

    plan = plan_of(context)
    percentage = plan_percentage(plan, position) if position else 0
    rows = None
    if shard_rows is not None:
        rows = sorted((row for shard in shard_rows for row in shard), key=lambda row: row["document"])
    stores = OcrMigrationHook().get_stores()
    settings = stores.settings
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    result = run_golden_gate(stores.db, golden_dir(), engine_name="tesseract", subset=plan.golden_subset, rows=rows,
                             run_id=context["run_id"], stage=percentage, data_docs_dir=settings.data_docs_dir,
                             cache_dir=settings.data_dir / "golden-cache",
                             # and the last hour's shadow comparisons, when there are enough of them
                             shadow_window=(datetime.now(timezone.utc) - timedelta(hours=1), datetime.now(timezone.utc)))
    context["ti"].xcom_push(key="golden", value={"success": result["success"], "data_docs": result["data_docs"],
                                                 "documents_per_kind": result["documents_per_kind"]})
    log.info("golden gate: %s on %d documents %s; Data Docs: %s (UI: /ocr-migration/data-docs/index.html)",
             "PASS" if result["success"] else "FAIL", result["documents"], result["documents_per_kind"],
             result["data_docs"])
    if not result["success"]:
        failed = [f"{s['suite']}: {s['failed']}" for s in result["suites"] if not s["success"]]
        raise AirflowFailException(f"golden-set quality gate FAILED: {'; '.join(failed)[:1500]}")
    return {"success": True, "documents": result["documents"], "documents_per_kind": result["documents_per_kind"],
            "data_docs": result["data_docs"]}


# ocr_evaluate: ``ocr-migrate evaluate`` over a corpus folder, as map/reduce like the golden gate.

def corpus_dir(params) -> Path:
    """The run's ``corpus`` Param; a relative path is taken from the project folder."""
    path = Path(params["corpus"])
    return path if path.is_absolute() else REPO_ROOT / path


def evaluation_shards(**context) -> list[list[str]]:
    """The corpus's documents (the first ``limit``) in ``shards`` lists of paths; an unknown or
    misconfigured engine fails here, once, not in every shard."""
    from ocr_engines import OcrError, available_engines, get_engine
    from rollout.fanout import corpus_shards

    params = context["params"]
    engine, corpus = params["engine"], corpus_dir(params)
    if engine not in available_engines():
        raise AirflowFailException(f"unknown engine {engine!r}; one of {available_engines()}")
    try:
        get_engine(engine, **migration_settings().engine_options(engine))
        shards = corpus_shards(corpus, params["shards"], params["limit"])
    except (OcrError, FileNotFoundError) as exc:
        raise AirflowFailException(str(exc)) from None
    log.info("%s: %d documents in %d shards", corpus, sum(map(len, shards)), len(shards))
    return shards


@task(retries=2, retry_delay=timedelta(seconds=5))
def evaluate_shard(shard: list[str], **context) -> dict:
    """One shard of the corpus read by the engine and scored (``rollout.fanout.evaluate_shard``)."""
    from rollout.fanout import evaluate_shard as read_shard

    params = context["params"]
    return read_shard(corpus_dir(params), shard, params["engine"],
                      migration_settings().engine_options(params["engine"]))


def evaluation_report(shards, **context) -> dict:
    """The reduce: the shards' scores as the report ``ocr-migrate evaluate --output json`` prints,
    written to the ``output`` Param (default ``<data_dir>/evaluations/<run id>.json``)."""
    import json

    from rollout.fanout import evaluation_report as report_of, shard_figures

    shards = list(shards)
    report = report_of(shards)
    out = context["params"].get("output") or ""
    path = Path(out) if out else migration_settings().data_dir / "evaluations" / f"{context['run_id']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1))
    overall = report["overall"]
    log.info("%d documents in %d shards, %.1f s from the first shard's start to the last one's end: field exact "
             "match %s, all fields correct %s, %d errors; report %s", report["documents"], len(shards),
             report["elapsed_s"], overall["field_exact_match"], overall["all_fields_correct"], overall["errors"], path)
    return {"report": str(path), "documents": report["documents"], "elapsed_s": report["elapsed_s"],
            "field_exact_match": overall["field_exact_match"], "shards": shard_figures(shards)}


def approval_branch(position: int, group: str, **context) -> str:
    plan = plan_of(context)
    needs = plan.require_approval and plan.percentage_at(position) is not None
    return f"{group}.approve" if needs else f"{group}.auto_approved"


def stage_rollback(position: int, set_task_id: str, golden_task_id: str, approve_task_id: str,
                   **context) -> dict:
    """Runs only when the stage failed: roll back (a gate FAILed, or a person rejected the stage)
    or leave it for a human (INCONCLUSIVE)."""
    from rollout.migration import reject_stage, roll_back_stage

    plan = plan_of(context)
    percentage = plan.percentage_at(position)
    if percentage is None or context["ti"].xcom_pull(task_ids=set_task_id) is None:
        # an earlier stage failed (upstream_failed also fires ONE_FAILED): nothing of ours to undo
        raise AirflowSkipException("this stage never started")
    stores = OcrMigrationHook().get_stores()
    rejected = rejection_of(context["ti"].xcom_pull(task_ids=approve_task_id, key="approval"))
    if rejected:
        out = reject_stage(stores.db, stores.flags, percentage, plan, context["run_id"], rejected["by"],
                           rejected["reason"], stores.notifiers)
        log.warning("stage %s (%s %%): %s", position, percentage, out["reason"])
        return {**out, "cause": "rejected"}
    golden = context["ti"].xcom_pull(task_ids=golden_task_id, key="golden")
    cause = "golden" if golden and not golden.get("success") else "gate"
    out = roll_back_stage(stores.db, stores.flags, percentage, plan, context["run_id"], actor(context), cause,
                          stores.notifiers)
    log.warning("stage %s (%s %%): %s", position, percentage, out["reason"])
    return {**out, "cause": cause}


# Remediation as map/reduce (rollout/remediation.py): remediation_shards opens the run and splits
# the documents the open-source engine served during the failed stage, remediate (mapped) re-reads
# one shard with Document AI wherever a worker is free, remediation_report closes the run.

def remediation_shards(position: int | None, set_task_id: str, rollback_task_id: str | None = None,
                       **context) -> list[dict]:
    """After a rollback (a FAIL or a rejection), or a failed post-cutover watch (``position``
    None): the documents to re-read, in shards. Skipped when nothing was rolled back or
    remediation is off (nothing was kept)."""
    from rollout import remediation
    from rollout.fanout import split
    from rollout.stages import stage_for

    plan = plan_of(context)
    ti = context["ti"]
    started = ti.xcom_pull(task_ids=set_task_id)
    if position is not None:
        rolled = ti.xcom_pull(task_ids=rollback_task_id) if rollback_task_id else None
        if not rolled or rolled.get("action") != "rollback":
            raise AirflowSkipException("nothing was rolled back: nothing to remediate")
        percentage, since = plan.percentage_at(position), started["since"]
        cause = rolled.get("cause", "gate")
    else:
        if not started:
            raise AirflowSkipException("no cutover happened: nothing to remediate")
        percentage, since, cause = 100, started["at"], "post-cutover"
    stores = OcrMigrationHook().get_stores()
    if not stores.settings.remediation:
        raise AirflowSkipException("remediation is off (OCR_MIGRATE_REMEDIATION): no document was kept to re-read")
    remediation_id, ids = remediation.start(stores.db, percentage, stage_for(percentage), cause, context["run_id"],
                                            datetime.fromisoformat(since), datetime.now(timezone.utc))
    shards = split(ids, plan.golden_shards) or [[]]
    log.info("remediation %s: %d documents in %d shards", remediation_id, len(ids), len(shards))
    return [{"remediation_id": remediation_id, "request_ids": shard} for shard in shards]


@task(retries=2, retry_delay=timedelta(seconds=5))  # a retried shard adds nothing twice
def remediate(shard: dict, **context) -> dict:
    """Re-read one shard with Document AI and publish what changed (needs review when Google is off)."""
    from rollout import remediation

    stores = OcrMigrationHook().get_stores()
    google, why_not = remediation.google_reader(stores.settings, stores.flags.snapshot().flags)
    counts = remediation.remediate(stores.db, shard["remediation_id"], shard["request_ids"],
                                   remediation.retention_from(stores.settings), google, why_not,
                                   remediation.publisher_from(stores.settings),
                                   stores.settings.remediation_concurrency)
    log.info("remediation %s shard: %s", shard["remediation_id"], counts)
    return {"remediation_id": shard["remediation_id"], **counts}


def remediation_report(shard_counts, **context) -> dict:
    """The reduce: the run's counts, in ocr_remediations and the log; what is past retention goes."""
    from rollout import remediation

    shard_counts = list(shard_counts)
    stores = OcrMigrationHook().get_stores()
    row = remediation.finish(stores.db, shard_counts[0]["remediation_id"], shard_counts)
    retention = remediation.retention_from(stores.settings)
    if retention is not None:
        retention.purge()
    log.warning("%s", remediation.summary_line(row))
    return row


def cutover_preconditions(**context) -> dict:
    from rollout.migration import cutover_problems

    stores = OcrMigrationHook().get_stores()
    problems = cutover_problems(stores.db, plan_of(context), context["run_id"], stores.flags)
    if problems:
        raise AirflowFailException("cutover refused: " + "; ".join(problems))
    return {"ok": True}


def backup_before_cutover(**context) -> str:
    from rollout.migration import backup_state

    stores = OcrMigrationHook().get_stores()
    return str(backup_state(stores.db, stores.flags, stores.settings.data_dir / "backups", context["run_id"]))


def cut_over(backup: str, **context) -> dict:
    from rollout.migration import cut_over as switch, write_rollback_script

    stores = OcrMigrationHook().get_stores()
    script = write_rollback_script(Path(backup), stores.settings.data_dir / "rollback_cutover.sh",
                                   stores.settings.database_url or None)
    state = switch(stores.flags, actor(context), "cutover: all stages passed; Google switched off")
    now = datetime.now(timezone.utc)
    return {"at": now.isoformat(), "state": state, "rollback_script": str(script), "backup": backup,
            "cost": migration_cost(stores, context, now)}


def migration_cost(stores: "Stores", context, now: datetime) -> dict:
    """The cutover summary's cost ledger: this migration run, from its start to the cutover."""
    from rollout.health.ledger import cost_ledger

    dag_run = context.get("dag_run")
    since = getattr(dag_run, "start_date", None) or now - timedelta(days=30)
    ledger = cost_ledger(stores.db, since, now, stores.settings.documentai_price_per_page,
                         stores.settings.documentai_price_currency)
    total = ledger["total"]
    log.info("migration cost ledger since %s: %d pages needed, %d read by Google (%d shadow), %d avoided "
             "(tesseract %d, ksef %d), %d saved%s", since.isoformat(), total["pages_needed"], total["google_pages"],
             total["google_shadow_pages"], total["pages_avoided"], total["avoided_by"]["tesseract"],
             total["avoided_by"]["ksef"], total["pages_saved"],
             f" = {total['saved']} {ledger['currency']}" if total["saved"] is not None else " (no price set)")
    return ledger


EMERGENCY_ACTIONS = ("rollback", "disable", "maintenance-on", "maintenance-off")


def emergency(**context) -> dict:
    """ocr_emergency: rollback | disable | maintenance-on | maintenance-off (the underscore
    spellings are aliases), with a reason; through ``actions.apply_action`` like every change."""
    from rollout.actions import action as lookup, apply_action
    from rollout.flags import ConcurrentUpdateError
    from rollout.stages import InvalidTransition

    params = context["params"]
    requested, reason = params["action"], (params.get("reason") or "").strip()
    if not reason:
        raise AirflowFailException("an emergency action needs a reason")
    try:
        action = lookup(requested).name
    except InvalidTransition:
        action = None
    if action not in EMERGENCY_ACTIONS:
        raise AirflowFailException(f"unknown action {requested!r}; one of {', '.join(EMERGENCY_ACTIONS)}")
    stores = OcrMigrationHook().get_stores(at_start=True)  # this DAG's first task
    try:
        snap = apply_action(stores.flags, action, actor(context), reason, expect_version=params.get("expect_version"))
    except InvalidTransition as exc:
        raise AirflowFailException(f"{action} refused: {exc}") from None
    except ConcurrentUpdateError as exc:  # audited: decided on another state than the current one
        raise AirflowFailException(f"{action}: {exc}") from None
    log.warning("emergency %s: now stage %s (%s %%)", action, snap.stage, snap.percentage)
    return snap.as_dict()


def monitoring_check(**context) -> dict:
    """ocr_monitoring: the last hour's gate at the current percentage (stored, alerts raised and
    resolved) and the OCR service's /health when its URL is configured."""
    from datetime import timedelta

    from rollout.health.judge import judge

    stores = OcrMigrationHook().get_stores(at_start=True)  # this DAG's first task
    snap = stores.flags.snapshot()
    now = datetime.now(timezone.utc)
    out = {"stage": snap.stage, "percentage": snap.percentage}
    if snap.percentage > 0:
        judged = judge(stores.db, now - timedelta(hours=1), now, percentage=snap.percentage,
                       run_id=context["run_id"], notifiers=stores.notifiers, source="monitor")
        out.update(verdict=judged.result.verdict, reason=judged.result.reason, alerts_raised=len(judged.raised))
    url = variable(SERVICE_VAR)
    if url:
        import httpx

        try:
            out["service"] = httpx.get(f"{url.rstrip('/')}/health", timeout=5).json().get("status")
        except (httpx.HTTPError, ValueError) as exc:
            out["service"] = f"unreachable: {exc}"
    log.info("monitoring: %s", out)
    return out


# ------------------------------------------------------------------------------------ staging

STAGING_VAR = "ocr_staging"  # JSON: StagingConfig fields (ports, base_dir, database_url, redis_url, ...)


def staging_config(**overrides):
    import json

    from staging import StagingConfig

    raw = json.loads(variable(STAGING_VAR) or "{}")
    settings = migration_settings()
    raw.setdefault("base_dir", str((settings.data_dir / "staging").resolve()))
    return StagingConfig.from_dict({**raw, **overrides})


def staging_results_dir() -> Path:
    return Path(variable("ocr_staging_results_dir") or REPO_ROOT / "staging_test_results")


def staging_deploy(**context) -> dict:
    """Bring the staging stack up (idempotent), load its test data, smoke-check it."""
    from staging import StagingError, get_deployer

    kind = context["params"].get("deployer", "local")
    deployer = get_deployer(kind, staging_config())
    try:
        endpoints = deployer.up()
        deployer.load_test_data(endpoints)
        smoke = deployer.smoke_check(endpoints)
    except StagingError as exc:
        raise AirflowFailException(f"staging deploy ({kind}) failed: {exc}") from None
    log.info("staging up: %s; smoke check %s", endpoints.service_url, smoke)
    return endpoints.to_dict()


def staging_tests(**context) -> dict:
    """The staging suites against the running staging stack; a failed suite fails the task."""
    from staging import StagingError, get_deployer, run_staging_tests

    kind = context["params"].get("deployer", "local")
    deployer = get_deployer(kind, staging_config())
    try:
        endpoints = deployer.up()  # already running: reused, not restarted
        summary = run_staging_tests(endpoints, out_dir=staging_results_dir(),
                                    suites=context["params"].get("staging_suites") or None)
    except StagingError as exc:
        raise AirflowFailException(f"staging tests could not run: {exc}") from None
    return _staging_outcome(summary)


def _staging_outcome(summary: dict) -> dict:
    log.info("staging tests %s: %s; report %s", summary["status"], summary["suites"], summary["report_html"])
    if summary["status"] != "passed":
        failed = {k: v for k, v in summary["suites"].items() if v["status"] != "passed"}
        raise AirflowFailException(f"staging tests failed: {failed}; report {summary['report_html']}")
    return {"status": summary["status"], "report_html": str(summary["report_html"]),
            "results_json": str(summary["results_json"])}


# With deployer 'docker' the checks run in a container of the project's image, on the compose
# network (the staging services by name), through the DockerOperator of dags/ocr_staging_tests.py:
# staging_container_run prepares the run, the container runs `python -m staging.suites`, and
# staging_container_report turns its JUnit XML into the report. The secrets never travel: the
# container reads the staging keys from the staging state volume (read-only).
STAGING_STATE_IN_CONTAINER, RESULTS_IN_CONTAINER = "/staging", "/results"


def staging_where(**context) -> str:
    """The branch: the checks in this worker (local deployer) or in a container (docker)."""
    return "run_suites_in_container_prepare" if context["params"].get("deployer") == "docker" else "run_suites"


def staging_container_run(**context) -> dict:
    """The container's run: the stack's endpoints as seen from the compose network (no secrets:
    a keys file path inside the container), the suites, thresholds and options, the run folder."""
    from staging import StagingError, get_deployer
    from staging.suites import checks_environment, prepare_run

    config = staging_config()
    try:
        endpoints = get_deployer("docker", config, address="internal").up()
        run = prepare_run(staging_results_dir(), context["params"].get("staging_suites") or None, None, None)
    except StagingError as exc:
        raise AirflowFailException(f"staging tests could not run: {exc}") from None
    seen = {**endpoints.to_dict(), "keys_file": f"{STAGING_STATE_IN_CONTAINER}/{config.keys_file.name}"}
    return {"suites": ",".join(run["suites"]), "run_name": run["run_dir"].name, "run_dir": str(run["run_dir"]),
            "started_at": run["started_at"].isoformat(), "thresholds": run["thresholds"], "options": run["options"],
            "environment": checks_environment(seen, run["thresholds"], run["options"])}


def staging_container_report(**context) -> dict:
    """The container's JUnit XML as results.json and report.html; a failed suite fails the task."""
    from staging import StagingError
    from staging.suites import finish_run

    run = context["ti"].xcom_pull(task_ids="run_suites_in_container_prepare")
    endpoints = json.loads(run["environment"]["OCR_STAGING_ENDPOINTS"])
    try:
        summary = finish_run({**run, "suites": run["suites"].split(",")}, endpoints,
                             {"command": "python -m staging.suites (container)", "exit_code": None})
    except StagingError as exc:
        raise AirflowFailException(f"staging tests did not run in the container: {exc}") from None
    return _staging_outcome(summary)


def staging_teardown(**context) -> dict:
    from staging import get_deployer

    if not context["params"].get("run_staging", True):
        return {"skipped": True}
    return get_deployer(context["params"].get("deployer", "local"), staging_config()).down()


def staging_needed(**context) -> bool:
    return bool(context["params"].get("run_staging", True))
