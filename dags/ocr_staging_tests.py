"""
### OCR staging tests

Against the running staging stack (started by `ocr_staging_deploy`; reused, never restarted):
infrastructure health, the unit suite, OCR integration on golden invoices through the service,
performance figures against thresholds, API compatibility (the service's JSON versus the
Document AI engine's for the same invoice) and security checks (auth required, limits
enforced). Writes `staging_test_results/<time>/results.json` and `report.html`.

`airflow dags trigger ocr_staging_tests --conf '{"staging_suites": ["security", "integration"]}'`
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Param

import ocr_migration_ops as ops
from staging.suites import SUITES

with DAG(
    dag_id="ocr_staging_tests",
    description="Staging test suites with a JSON + HTML report",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["ocr", "staging"],
    doc_md=__doc__,
    params={
        "deployer": Param("local", enum=["local", "docker"]),
        "staging_suites": Param(list(SUITES), type="array", items={"enum": list(SUITES)}, description="suites to run"),
    },
) as dag:
    PythonOperator(task_id="run_suites", python_callable=ops.staging_tests)
