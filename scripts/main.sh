#!/usr/bin/env bash
# README command 1: the main job on embedded defaults (SQLite, Airflow standalone, the Document AI
# test double as Google, no credentials): set up, then run the whole migration end to end —
# staging deploy + tests, golden gates, stages 5 -> 100 % under real traffic, cutover — printing
# the timeline, the gate verdicts and where the reports are. Airflow stays up on :8080 until
# Ctrl-C (pass --exit to stop at the end). --bad-engine injects a failing open-source engine to
# show an automatic rollback.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export OMP_THREAD_LIMIT=1
exec .venv/bin/python scripts/migration_demo.py "$@"
