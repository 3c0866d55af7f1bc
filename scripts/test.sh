#!/usr/bin/env bash
# README command 2: set up, then run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export OMP_THREAD_LIMIT=1
exec .venv/bin/python -m pytest "$@"
