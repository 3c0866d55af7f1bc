#!/usr/bin/env bash
# The migration on Airflow's distributed engine, on this machine (README "Scaling out"): set up,
# then PostgreSQL metadata, a Redis broker, CeleryExecutor with 2 workers, 2 OCR service
# replicas behind haproxy, and ocr_migration end to end. Takes the demo's options (--exit, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# The run's databases live on the PostgreSQL at 127.0.0.1:5432: start the local cluster when it is
# down, as .ci/run does (the script itself checks again and says so if it is still not there).
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$version" ]; then
    echo "distributed: starting the local PostgreSQL cluster ($version main)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 30); do pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && break; sleep 1; done
  fi
fi
export OMP_THREAD_LIMIT=1
exec .venv/bin/python scripts/distributed.py "$@"
