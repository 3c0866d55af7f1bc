"""
### OCR staging tests

Against the running staging stack (started by `ocr_staging_deploy`; reused, never restarted):
infrastructure health, the unit suite, OCR integration on golden invoices through the service,
performance figures against thresholds, API compatibility (the service's JSON versus the
Document AI engine's for the same invoice) and security checks (auth required, limits
enforced). The checks are pytest tests (`staging/checks`, a marker per suite). Writes
`staging_test_results/<time>/junit.xml`, `results.json` and `report.html`.

With `deployer: local` the checks run in the worker (`run_suites`). With `deployer: docker`
they run in a container of the project's image on the compose network, through the Docker
provider's `DockerOperator` (`run_suites_in_container`): the worker needs the Docker socket, and
the staging state and results volumes of docker-compose.airflow.yml.

`airflow dags trigger ocr_staging_tests --conf '{"staging_suites": ["security", "integration"]}'`
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.docker.operators.docker import DockerOperator
from airflow.providers.standard.operators.python import BranchPythonOperator, PythonOperator
from airflow.sdk import DAG, Param
from docker.types import Mount

import ocr_migration_ops as ops
from staging.suites import SUITES

# Where the container finds the stack and puts its results: the compose file's names, overridable
# for another deployment (read at parse time from the environment: no Variable lookups while parsing).
IMAGE = os.environ.get("OCR_STAGING_IMAGE", "ocr-migrate-airflow:3.3.2")
NETWORK = os.environ.get("OCR_STAGING_NETWORK", "ocr-migrate")
STATE_VOLUME = os.environ.get("OCR_STAGING_STATE_VOLUME", "ocr-migrate-staging-state")
RESULTS_VOLUME = os.environ.get("OCR_STAGING_RESULTS_VOLUME", "ocr-migrate-staging-results")

with DAG(
    dag_id="ocr_staging_tests",
    description="Staging test suites (pytest) with JUnit XML, a JSON and an HTML report",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["ocr", "staging"],
    doc_md=__doc__,
    render_template_as_native_obj=True,  # the container's environment is the prepare task's dict
    params={
        "deployer": Param("local", enum=["local", "docker"]),
        "staging_suites": Param(list(SUITES), type="array", items={"enum": list(SUITES)}, description="suites to run"),
    },
) as dag:
    where = BranchPythonOperator(task_id="where", python_callable=ops.staging_where)
    local = PythonOperator(task_id="run_suites", python_callable=ops.staging_tests)
    prepare = PythonOperator(task_id="run_suites_in_container_prepare", python_callable=ops.staging_container_run)
    in_container = DockerOperator(
        task_id="run_suites_in_container",
        image=IMAGE,
        command=["python", "-m", "staging.suites",
                 "--suites", "{{ ti.xcom_pull(task_ids='run_suites_in_container_prepare')['suites'] }}",
                 "--junit", f"{ops.RESULTS_IN_CONTAINER}/"
                            "{{ ti.xcom_pull(task_ids='run_suites_in_container_prepare')['run_name'] }}/junit.xml"],
        environment="{{ ti.xcom_pull(task_ids='run_suites_in_container_prepare')['environment'] }}",
        mounts=[Mount(target=ops.STAGING_STATE_IN_CONTAINER, source=STATE_VOLUME, type="volume", read_only=True),
                Mount(target=ops.RESULTS_IN_CONTAINER, source=RESULTS_VOLUME, type="volume")],
        network_mode=NETWORK,
        docker_url="unix://var/run/docker.sock",
        auto_remove="success",
        mount_tmp_dir=False,
        # pytest exits 1 when a check fails (this task fails); the report task reads the JUnit XML
        # either way and fails the run with the failed suites named
    )
    report = PythonOperator(task_id="run_suites_in_container_report", python_callable=ops.staging_container_report,
                            trigger_rule="all_done")
    where >> [local, prepare]
    prepare >> in_container >> report
