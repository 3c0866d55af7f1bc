"""The staging stack and its test suites: the logic behind the ``ocr_staging_deploy`` and
``ocr_staging_tests`` DAGs (the DAG files only wire these functions into tasks).

Light to import: heavy modules (httpx, psycopg, yaml, the OCR engines) load inside the functions.
"""

from .deploy import (COMPOSE_SERVICES, STAGING_FLAGS, Deployer, DockerDeployer, LocalProcessDeployer,
                     StagingConfig, StagingEndpoints, StagingError, get_deployer)
from .suites import SUITES, SuiteOptions, SuiteResult, run_staging_tests

__all__ = [
    "COMPOSE_SERVICES", "STAGING_FLAGS", "Deployer", "DockerDeployer", "LocalProcessDeployer", "StagingConfig",
    "StagingEndpoints", "StagingError", "get_deployer", "SUITES", "SuiteOptions", "SuiteResult",
    "run_staging_tests",
]
