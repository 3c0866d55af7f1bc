"""The staging checks are pytest tests against a deployed staging stack: one module and one marker
per suite (``-m integration``), a test per check. ``staging.suites.run_staging_tests`` runs them in
a pytest process of their own, with the stack's endpoints (secrets included) in the environment
(``OCR_STAGING_ENDPOINTS``) and the run's thresholds and options in ``OCR_STAGING_RUN`` (JSON), and
turns the JUnit XML into results.json and the HTML report.

Every check calls the ``check`` fixture once: it records the check's name, detail, value and
threshold as JUnit properties (what the report shows, passed or not) and asserts. A fixture that
cannot do its suite's work (no documents, the stack unreachable) errors its tests: the suite
fails with that reason.
"""

from __future__ import annotations

import contextlib
import json
import os

import pytest

from staging.config import StagingEndpoints
from staging.suites import (NEEDS_OPENSOURCE, SUITES, SuiteOptions, forced_opensource, integration_requests,
                            run_from_environment)


def pytest_configure(config):
    for name, what in SUITES.items():
        config.addinivalue_line("markers", f"{name}: {what}")


def pytest_collection_modifyitems(items):
    """The suites in SUITES order (infrastructure first), each module's tests as written."""
    order = {name: i for i, name in enumerate(SUITES)}
    items.sort(key=lambda item: min((order[m.name] for m in item.iter_markers() if m.name in order),
                                    default=len(order)))


@pytest.fixture(scope="session")
def endpoints() -> StagingEndpoints:
    raw = os.environ.get("OCR_STAGING_ENDPOINTS")
    if not raw:
        pytest.exit("OCR_STAGING_ENDPOINTS is not set: run the checks through `ocr-migrate` or "
                    "staging.run_staging_tests, which deploy-aware code fills in", returncode=4)
    return StagingEndpoints.from_dict(json.loads(raw))


@pytest.fixture(scope="session")
def thresholds() -> dict:
    return run_from_environment()[0]


@pytest.fixture(scope="session")
def options() -> SuiteOptions:
    return run_from_environment()[1]


@pytest.fixture(scope="session", autouse=True)
def opensource_for_the_run(request, endpoints):
    """force_opensource_for_testing on once for the whole run when a suite that reads with the
    open-source engine is selected (one audited change, not one per check), put back after."""
    selected = {mark.name for item in request.session.items for mark in item.iter_markers()}
    with contextlib.ExitStack() as stack:
        if NEEDS_OPENSOURCE & selected:
            try:
                stack.enter_context(forced_opensource(endpoints))
            except Exception:  # noqa: BLE001 - the suites' own checks then say why it cannot be done
                pass
        yield


@pytest.fixture(scope="session")
def integration_run(endpoints, options, suite_data) -> dict:
    """The golden invoices through the service as the open-source engine, each scored against its
    truth: the integration suite's checks, and the latencies the performance suite judges."""
    return integration_requests(endpoints, options, suite_data)


@pytest.fixture
def check(record_property):
    """Record one check (name, detail, value, threshold) and assert it."""

    def record(name: str, passed: bool, detail: str = "", value=None, threshold=None) -> None:
        record_property("check", name)
        record_property("detail", detail)
        record_property("value", json.dumps(value, default=str))
        record_property("threshold", json.dumps(threshold, default=str))
        assert passed, f"{name}: {detail}"

    return record


@pytest.fixture(scope="session")
def suite_data(record_testsuite_property):
    """Figures a suite keeps for the report beyond its checks (per-document rows and the like):
    written as one JUnit test-suite property per suite at the end of the run."""
    data: dict = {}
    yield data
    for name, value in data.items():
        record_testsuite_property(f"data:{name}", json.dumps(value, default=str))
