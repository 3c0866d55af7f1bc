#!/usr/bin/env bash
# README command 2: set up, then run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export OMP_THREAD_LIMIT=1
# Lint and structure first (seconds): the rule set and the import contracts are in pyproject.toml.
.venv/bin/ruff check .
.venv/bin/lint-imports --no-cache
exec .venv/bin/python -m pytest "$@"
