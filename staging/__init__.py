"""The staging stack and its test suites: the logic behind the ``ocr_staging_deploy`` and
``ocr_staging_tests`` DAGs (the DAG files only wire these functions into tasks).

Rooms: ``config`` (settings, endpoints, keys), ``deploy`` (the ``Deployer`` interface and its
checks), ``local`` (processes on this host), ``docker`` (the compose profile), ``processes`` (the
process helpers), ``suites`` (the staging test suites).

Light to import: heavy modules (httpx, psycopg, yaml, the OCR engines) load inside the functions.
"""

from .config import STAGING_FLAGS, StagingConfig, StagingEndpoints, StagingError
from .deploy import Deployer
from .docker import COMPOSE_SERVICES, DockerDeployer
from .local import LocalProcessDeployer
from .suites import SUITES, SuiteOptions, SuiteResult, run_staging_tests


def get_deployer(kind: str = "local", config: StagingConfig | None = None, **options) -> Deployer:
    """The staging deployer ``kind`` ('local': processes on this host; 'docker': the compose profile)."""
    if kind == "local":
        return LocalProcessDeployer(config)
    if kind == "docker":
        return DockerDeployer(config, **options)
    raise StagingError(f"unknown staging deployer {kind!r}: 'local' or 'docker'")

__all__ = [
    "COMPOSE_SERVICES", "STAGING_FLAGS", "Deployer", "DockerDeployer", "LocalProcessDeployer", "StagingConfig",
    "StagingEndpoints", "StagingError", "get_deployer", "SUITES", "SuiteOptions", "SuiteResult",
    "run_staging_tests",
]
