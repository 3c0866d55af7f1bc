"""
### OCR migration: Google Document AI → open source (Tesseract), in stages

Built from the stage plan as data: one TaskGroup per plan slot (`stage_1` … `stage_6`), each
**set percentage** (audited, idempotent) → **health gate** (sensor on the events table, reschedule
mode: no worker slot held while waiting; PASS after the soak time, FAIL at once) → **golden gate**
(Great Expectations suites on the golden invoices; Data Docs under *OCR migration* in the nav; the
invoices are read in `golden_shards` mapped tasks, `golden_read`, spread over the workers) →
optional **approval** (Human-in-the-loop, with `require_approval`: answer it on *Browse →
Required Actions*; a rejection rolls back to the previous stage with your reason in the audit
log) → next stage. Then the **cutover**: preconditions (every stage PASSed in this run, no open
critical alert), backup of the flag state and a metrics snapshot, 100 %, Google off,
`rollback_cutover.sh` written, and the **post-cutover watch**. Before the
stages: the staging stack is deployed and its test suites run (`run_staging`), and, side by side
with them, the golden gate checks the open-source engine once more (`ready` waits for both).

**On FAIL** the stage's `rollback` task returns to the previous percentage, raises a critical
alert, and the run stops (failed) with the rollout in that state. With remediation on
(`OCR_MIGRATE_REMEDIATION`), **remediation** follows: every document the open-source engine served
during the stage is re-read with Document AI (`remediate`, mapped), and each changed result is
published as a correction (`ocr-migrate corrections`); after a failed post-cutover watch, with
Google off, the documents are listed as needing review. **INCONCLUSIVE** until
`stage_timeout_s`: the run stops without advancing or rolling back — a human decides.

**Rollback points.** Every task is idempotent. *Clear* a stage's `set_percentage` task (with
downstream) to re-apply that stage: the rollout goes back (or forward) to its percentage and the
gate judges the traffic from then on. Clearing a task twice gives the same state.

**Trigger from the CLI** (conf keys = the params below):
`airflow dags trigger ocr_migration --conf '{"stages": [5, 15, 35, 60, 85, 100], "soak_s": 900}'`

Plan slots beyond the plan's length are skipped (a 3-stage plan runs `stage_1`–`stage_3`; the grid
shows `stage_4`–`stage_6` as skipped, and the cutover follows the last real stage).
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import (BranchPythonOperator, PythonOperator,
                                                        ShortCircuitOperator)
from airflow.sdk import DAG, Param, TaskGroup, TriggerRule

import ocr_migration_ops as ops
from ocr_migration_operators import GoldenGateOperator, StageApprovalOperator, approval_form
from ocr_migration_sensors import PostCutoverSensor, StageGateSensor
from rollout.health.golden_subsets import GOLDEN_SUBSET_CHOICES
from rollout.migration import DEFAULT_PLAN, MAX_GOLDEN_SHARDS, MigrationPlan

PLAN = MigrationPlan()  # every Param default below is the plan's own (one place for the defaults)
SLOTS = len(DEFAULT_PLAN)
SEED = PLAN.thresholds


def remediation_tasks(upstream, trigger_rule=TriggerRule.ALL_SUCCESS, **kwargs):
    """Remediation as map/reduce after ``upstream``: the documents the open-source engine served
    in the failed window, re-read with Document AI in mapped shards; the report closes the run."""
    shards = PythonOperator(task_id="remediation_shards", python_callable=ops.remediation_shards, op_kwargs=kwargs,
                            trigger_rule=trigger_rule)
    counts = ops.remediate.expand(shard=shards.output)
    report = PythonOperator(task_id="remediation_report", python_callable=ops.remediation_report,
                            op_kwargs={"shard_counts": counts})
    upstream >> shards
    return report


def golden_gate_tasks(suffix: str = "", trigger_rule=TriggerRule.ALL_SUCCESS, **gate_kwargs):
    """The golden gate as map/reduce: ``golden_shards`` splits the golden subset into lists of
    paths, ``golden_read`` reads one shard per mapped task, ``golden_gate`` (the reduce) validates
    every row with the GX suites and decides. Returns (first, last)."""
    shards = PythonOperator(task_id=f"golden_shards{suffix}", python_callable=ops.golden_shards,
                            trigger_rule=trigger_rule)
    rows = ops.golden_read.override(task_id=f"golden_read{suffix}").expand(shard=shards.output)
    gate = GoldenGateOperator(task_id=f"golden_gate{suffix}", python_callable=ops.golden_gate,
                                  op_kwargs={**gate_kwargs, "shard_rows": rows})
    return shards, gate


with DAG(
    dag_id="ocr_migration",
    description="Staged migration of invoice OCR from Google Document AI to Tesseract, with health gates",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["ocr", "migration"],
    doc_md=__doc__,
    params={
        "stages": Param(list(PLAN.stages), type="array", items={"type": "integer", "minimum": 1, "maximum": 100},
                        minItems=1, maxItems=SLOTS, description="open-source percentage per stage, ending at 100"),
        "soak_s": Param(PLAN.soak_s, type="number", minimum=0, description="seconds each stage runs before it may PASS"),
        "min_documents": Param(PLAN.min_documents, type="integer", minimum=0, description="canary documents per stage"),
        "stage_timeout_s": Param(PLAN.stage_timeout_s, type="number", minimum=1,
                                 description="INCONCLUSIVE this long: stop for a human"),
        "thresholds": Param({"max_error_rate": SEED.max_error_rate, "min_success_rate": SEED.min_success_rate,
                             "min_confidence": SEED.min_confidence,
                             "max_processing_time_s": SEED.max_processing_time_s,
                             "critical_error_rate": SEED.critical_error_rate,
                             "critical_processing_time_s": SEED.critical_processing_time_s,
                             "critical_success_rate": SEED.critical_success_rate},
                            type="object", description="gate thresholds (seed defaults); unknown names are refused"),
        "require_approval": Param(PLAN.require_approval, type="boolean", description="a human approves each stage"),
        "auto_rollback": Param(PLAN.auto_rollback, type="boolean", description="roll back to the previous stage on FAIL"),
        "post_cutover_watch_s": Param(PLAN.post_cutover_watch_s, type="number", minimum=0,
                                      description="no critical alert this long after the cutover"),
        "run_staging": Param(True, type="boolean", description="deploy staging and run its test suites first"),
        "deployer": Param("local", enum=["local", "docker"], description="how the staging stack runs"),
        "golden_subset": Param(PLAN.golden_subset, enum=list(GOLDEN_SUBSET_CHOICES),
                               description="golden documents the GX gate reads (scans take ~2 s a page); "
                                           "mixed: 4 digital, 4 clean and 4 degraded scans of the golden set, "
                                           "all of ksef-official and ksef-thirdparty's PDFs; ksef-official: "
                                           "invoices of the official KSeF visualiser; ksef-thirdparty: three "
                                           "other renderers"),
        "golden_shards": Param(PLAN.golden_shards, type="integer", minimum=1, maximum=MAX_GOLDEN_SHARDS,
                               description="the golden gate reads its documents in this many mapped tasks, "
                                           "side by side on the workers"),
    },
) as dag:
    upgrade = PythonOperator(task_id="upgrade_database", python_callable=ops.upgrade_database)
    validate = PythonOperator(task_id="validate_plan", python_callable=ops.validate_plan)
    upgrade >> validate
    with TaskGroup("staging", tooltip="staging stack up, test suites, down") as staging:
        needed = ShortCircuitOperator(task_id="needed", python_callable=ops.staging_needed,
                                      ignore_downstream_trigger_rules=False)
        deploy = PythonOperator(task_id="deploy", python_callable=ops.staging_deploy)
        tests = PythonOperator(task_id="tests", python_callable=ops.staging_tests)
        teardown = PythonOperator(task_id="teardown", python_callable=ops.staging_teardown,
                                  trigger_rule=TriggerRule.ALL_DONE)
        needed >> deploy >> tests >> teardown
    # the baseline golden gate reads beside the staging suites (neither needs the other: 30-40 s of
    # the demo's 8 minutes); the stages start once both are through (staging may be off: skipped)
    golden_split, golden_before = golden_gate_tasks("_baseline")
    validate >> [needed, golden_split]
    ready = EmptyOperator(task_id="ready", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    [tests, golden_before] >> ready
    previous = ready

    for position in range(1, SLOTS + 1):
        group_id = f"stage_{position}"
        with TaskGroup(group_id, tooltip=f"plan slot {position}") as group:
            set_pct = PythonOperator(task_id="set_percentage", python_callable=ops.set_stage_percentage,
                                     op_kwargs={"position": position})
            gate = StageGateSensor(task_id="health_gate", position=position,
                                       set_task_id=f"{group_id}.set_percentage")
            golden_split, golden = golden_gate_tasks(position=position)
            branch = BranchPythonOperator(task_id="approval_needed", python_callable=ops.approval_branch,
                                          op_kwargs={"position": position, "group": group_id})
            approve = StageApprovalOperator(
                task_id="approve",
                subject=f"Stage {position} ({{{{ params.stages[{position - 1}] }}}} % open source) passed its gates: "
                        "advance?",
                body="The health and golden gates passed for this stage. Approve to continue the migration. "
                     "Reject (with a reason) to roll back to the previous stage and stop the run.",
                params=approval_form())
            auto = EmptyOperator(task_id="auto_approved")
            done = EmptyOperator(task_id="done", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
            rollback = PythonOperator(task_id="rollback", python_callable=ops.stage_rollback,
                                      op_kwargs={"position": position, "set_task_id": f"{group_id}.set_percentage",
                                                 "golden_task_id": f"{group_id}.golden_gate",
                                                 "approve_task_id": f"{group_id}.approve"},
                                      trigger_rule=TriggerRule.ONE_FAILED)
            set_pct >> gate >> golden_split
            golden >> branch >> [approve, auto] >> done
            [gate, golden, approve] >> rollback
            remediation_tasks(rollback, position=position, set_task_id=f"{group_id}.set_percentage",
                              rollback_task_id=f"{group_id}.rollback")
        previous >> set_pct
        previous = done

    with TaskGroup("cutover", tooltip="switch Google off, keep a way back") as cutover:
        # after the plan's last stage: the slots beyond it are skipped, not failed
        pre = PythonOperator(task_id="preconditions", python_callable=ops.cutover_preconditions,
                             trigger_rule=TriggerRule.NONE_FAILED)
        backup = PythonOperator(task_id="backup", python_callable=ops.backup_before_cutover)
        switch = PythonOperator(task_id="switch", python_callable=ops.cut_over,
                                op_kwargs={"backup": "{{ ti.xcom_pull(task_ids='cutover.backup') }}"})
        watch = PostCutoverSensor(task_id="post_cutover_watch", cutover_task_id="cutover.switch")
        # the run's last task: its state is the run's (remediation after a failure is a leaf that
        # succeeds; without this, a failed migration would end "success")
        finished = EmptyOperator(task_id="finished")
        pre >> backup >> switch >> watch >> finished
        # a failed watch: Google is off, nothing can re-read, the documents are listed for review
        remediation_tasks(watch, TriggerRule.ONE_FAILED, position=None, set_task_id="cutover.switch")
    previous >> pre
