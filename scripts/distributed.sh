#!/usr/bin/env bash
# The migration on Airflow's distributed engine, on this machine (README "Scaling out"): set up,
# then PostgreSQL metadata, a Redis broker, CeleryExecutor with 2 workers, 2 OCR service
# replicas behind haproxy, and ocr_migration end to end. Takes the demo's options (--exit, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export OMP_THREAD_LIMIT=1
exec .venv/bin/python scripts/distributed.py "$@"
