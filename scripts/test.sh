#!/usr/bin/env bash
# README command 2: set up, then run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export OMP_THREAD_LIMIT=1
# Lint and structure first (seconds): the rule set and the import contracts are in pyproject.toml.
.venv/bin/ruff check .
.venv/bin/lint-imports --no-cache
# Two worker processes, one test file each at a time (module fixtures and the files' own servers stay
# in one process): the suite waits on subprocesses and servers as much as it computes, so on 2
# cores this is ~1.5x faster than one process. PYTEST_WORKERS=0 runs it in this process.
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" --dist loadfile --durations=15 "$@"
