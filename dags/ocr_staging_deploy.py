"""
### OCR staging deploy

Brings up the staging stack on its own ports — the OCR service, Redis and PostgreSQL (defaults
8001 / 6380 / 5433; override with the `ocr_staging` Variable, a JSON of `StagingConfig` fields)
— with staging settings, loads its test data and smoke-checks it (`/health`, one golden invoice).

Two deployers behind one interface: `local` starts real processes (redis-server, a PostgreSQL
cluster, the Document AI test double, `ocr-migrate serve`) and reuses what already runs;
`docker` runs the compose file's `staging` profile on hosts with a Docker engine.

`airflow dags trigger ocr_staging_deploy --conf '{"deployer": "local"}'`
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Param

import ocr_migration_ops as ops

with DAG(
    dag_id="ocr_staging_deploy",
    description="Staging stack up (local processes or Docker), test data, smoke check",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["ocr", "staging"],
    doc_md=__doc__,
    params={"deployer": Param("local", enum=["local", "docker"], description="how to run the staging stack")},
) as dag:
    PythonOperator(task_id="deploy", python_callable=ops.staging_deploy)
