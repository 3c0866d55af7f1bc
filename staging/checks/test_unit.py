"""The project's unit tests (those marked ``unit``: pure logic, seconds), run with the deployed
environment's Python and packages from a checkout (options.project_dir)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def unit_run(options, suite_data) -> tuple[int, str, dict]:
    tests = options.project_dir / "tests"
    if not tests.is_dir():
        pytest.fail(f"unit tests not found in {options.project_dir} (a deployed image ships without tests/; "
                    "point the run's project_dir at a checkout)", pytrace=False)
    argv = [sys.executable, "-m", "pytest", str(tests), "-m", "unit", "-q", "-x", "-p", "no:cacheprovider",
            "-p", "no:xdist"]
    try:
        proc = subprocess.run(argv, cwd=options.project_dir, capture_output=True, text=True,
                              timeout=options.unit_timeout_s)
    except subprocess.TimeoutExpired:
        pytest.fail(f"pytest did not finish within {options.unit_timeout_s:.0f} s", pytrace=False)
    if proc.returncode != 0 and "No module named pytest" in proc.stderr:
        pytest.fail("pytest is not installed in this environment", pytrace=False)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    summary = next((line.strip("= ") for line in reversed(lines) if re.search(r"\d+ (passed|failed|error)", line)),
                   (lines[-1] if lines else proc.stderr.strip()[-300:]))
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|errors?|skipped|deselected)", summary)}
    suite_data["unit"] = {"command": " ".join(argv[1:]), "summary": summary, "counts": counts,
                          "output_tail": "\n".join(lines[-15:]) if proc.returncode else ""}
    return proc.returncode, summary, counts


def test_pytest_exit_code(unit_run, check):
    code, summary, _ = unit_run
    check("pytest_exit_code", code == 0, summary, code, 0)


def test_tests_passed(unit_run, check):
    _, summary, counts = unit_run
    check("tests_passed", counts.get("passed", 0) > 0 and not counts.get("failed") and not counts.get("error")
          and not counts.get("errors"), summary, counts.get("passed", 0))
