"""
### OCR emergency actions

One task, one audited change to the rollout, for when something is wrong *now*:
`rollback` (previous stage, Google back on), `disable` (everyone back to Google),
`maintenance-on` (the OCR service answers 503 with Retry-After and the reason) and
`maintenance-off` (the spellings of `ocr-migrate` and the admin API; `maintenance_on` and
`maintenance_off` are accepted too). The reason is kept in the audit log (`ocr-migrate history`).

`airflow dags trigger ocr_emergency --conf '{"action": "disable", "reason": "totals misread on KSeF invoices"}'`
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Param

import ocr_migration_ops as ops
from rollout.actions import ALIASES

# the registry's spellings of the emergency actions, then the underscore aliases still accepted
CHOICES = [*ops.EMERGENCY_ACTIONS, *(alias for alias, name in ALIASES.items() if name in ops.EMERGENCY_ACTIONS)]

with DAG(
    dag_id="ocr_emergency",
    description="Emergency rollout actions: rollback, disable, maintenance on/off",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["ocr", "migration", "emergency"],
    doc_md=__doc__,
    params={
        "action": Param("rollback", enum=CHOICES,
                        description="what to do (maintenance_on/_off: aliases of maintenance-on/-off)"),
        "reason": Param("", type="string", minLength=5, description="why (kept in the audit log)"),
        "expect_version": Param(None, type=["null", "integer"], minimum=0,
                                description="the state version you decided on (the UI's or `ocr-migrate status`); "
                                            "from another version the action is refused as a conflict"),
    },
) as dag:
    PythonOperator(task_id="apply", python_callable=ops.emergency)
