"""
### OCR monitoring

Every five minutes: the last hour's health gate at the current percentage (stored in
`gate_evaluations`; alerts raised, de-duplicated and resolved; notifiers called for new ones)
and the OCR service's `/health` when the `ocr_service_url` Variable is set. After the cutover
this is what keeps the "no critical alert" watch fed with verdicts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

import ocr_migration_ops as ops

with DAG(
    dag_id="ocr_monitoring",
    description="Health gate, alerts and service health every few minutes",
    schedule=timedelta(minutes=5),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["ocr", "monitoring"],
    doc_md=__doc__,
) as dag:
    PythonOperator(task_id="check", python_callable=ops.monitoring_check,
                   execution_timeout=timedelta(minutes=4))
