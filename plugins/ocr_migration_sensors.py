"""The migration's gates as sensors: a stage's health gate (``StageGateSensor``) and the watch
after the cutover (``PostCutoverSensor``). The judging is ``rollout.migration``'s."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowFailException

from ocr_migration_hook import OcrMigrationHook, plan_of, plan_percentage

# How often a waiting gate looks again (reschedule mode: no worker slot is held meanwhile).
POKE_INTERVAL_S = float(os.environ.get("OCR_MIGRATE_GATE_POKE_S", "60"))
# reschedule (default): no worker slot held between looks. poke: for short demo intervals, where
# reschedule-mode sensors hit apache/airflow#71172 (a stale executor event fails the next poke).
SENSOR_MODE = os.environ.get("OCR_MIGRATE_GATE_MODE", "reschedule")


class StageGateSensor(BaseSensorOperator):
    """Waits until the stage's health gate is PASS and its soak time is over; fails at once on
    FAIL, and with a clear INCONCLUSIVE message when the stage times out (no rollback then)."""

    template_fields = ("position", "set_task_id")  # the Rendered tab shows which plan slot it judges
    ui_color = "#ffe4b5"

    def __init__(self, *, position: int, set_task_id: str, **kwargs):
        kwargs.setdefault("mode", SENSOR_MODE)
        kwargs.setdefault("poke_interval", POKE_INTERVAL_S)
        kwargs.setdefault("timeout", 7 * 86400)  # the plan's stage_timeout_s is the real limit
        # Retries absorb infrastructure failures only (a gate FAIL raises AirflowFailException,
        # which is never retried): notably apache/airflow#71172, where a reschedule-mode sensor
        # is failed by the scheduler on a stale executor event from its previous poke.
        kwargs.setdefault("retries", 5)
        kwargs.setdefault("retry_delay", timedelta(seconds=5))
        super().__init__(**kwargs)
        self.position, self.set_task_id = position, set_task_id

    def poke(self, context) -> bool | PokeReturnValue:
        from rollout.migration import stage_gate

        plan = plan_of(context)
        percentage = plan_percentage(plan, self.position)
        stage = context["ti"].xcom_pull(task_ids=self.set_task_id)
        since = datetime.fromisoformat(stage["since"])
        stores = OcrMigrationHook().get_stores()
        out = stage_gate(stores.db, stores.flags, since, percentage, plan, context["run_id"], stores.notifiers)
        self.log.info("gate at %s %%: %s — %s (canary %s, baseline %s documents)", percentage, out["verdict"],
                      out["reason"], out.get("canary_documents"), out.get("baseline_documents"))
        if out["status"] == "pass":
            return PokeReturnValue(True, out)
        if out["status"] == "fail":
            raise AirflowFailException(f"gate FAIL at {percentage} %: {out['reason']}")
        if out["status"] == "timeout":
            raise AirflowFailException(
                f"gate still INCONCLUSIVE at {percentage} % after {plan.stage_timeout_s:g} s: {out['reason']}. "
                "Stopped without advancing or rolling back; decide, then clear this task to look again")
        return False


class PostCutoverSensor(BaseSensorOperator):
    """The post-cutover watch: success after the watch period without a critical alert and with
    a PASS gate at 100 % (no evidence by twice the period: failure)."""

    template_fields = ("cutover_task_id",)

    def __init__(self, *, cutover_task_id: str, **kwargs):
        kwargs.setdefault("mode", SENSOR_MODE)
        kwargs.setdefault("poke_interval", POKE_INTERVAL_S)
        kwargs.setdefault("timeout", 30 * 86400)
        kwargs.setdefault("retries", 3)  # see StageGateSensor
        kwargs.setdefault("retry_delay", timedelta(seconds=5))
        super().__init__(**kwargs)
        self.cutover_task_id = cutover_task_id

    def poke(self, context) -> bool | PokeReturnValue:
        from rollout.migration import post_cutover_status

        plan = plan_of(context)
        cut = context["ti"].xcom_pull(task_ids=self.cutover_task_id)
        stores = OcrMigrationHook().get_stores()
        out = post_cutover_status(stores.db, stores.flags, datetime.fromisoformat(cut["at"]),
                                  plan.post_cutover_watch_s, context["run_id"], stores.notifiers,
                                  thresholds=plan.thresholds, evidence_wait_s=plan.stage_timeout_s)
        self.log.info("post-cutover watch: %s — %s", out["status"], out["reason"])
        if out["status"] == "fail":
            raise AirflowFailException(f"{out['reason']}; run {cut['rollback_script']} to go back")
        return PokeReturnValue(True, out) if out["status"] == "pass" else False
