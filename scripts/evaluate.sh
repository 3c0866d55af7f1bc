#!/usr/bin/env bash
# Set up, generate the golden corpus (>= 300 documents) and evaluate the
# open-source engine on it with embedded defaults (no database, no credentials).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
WORKERS=${OCR_MIGRATE_WORKERS:-$(nproc)}  # before OMP_THREAD_LIMIT, which nproc also obeys
export OMP_THREAD_LIMIT=1
CORPUS=${OCR_MIGRATE_CORPUS_DIR:-data/golden-full}
COUNT=${OCR_MIGRATE_CORPUS_COUNT:-100}
if [ ! -f "$CORPUS/manifest.json" ]; then
  .venv/bin/ocr-migrate corpus --out "$CORPUS" --count "$COUNT" --workers "$WORKERS"
fi
exec .venv/bin/ocr-migrate evaluate --golden "$CORPUS" --workers "$WORKERS" "$@"
