#!/usr/bin/env bash
# Regenerates the digits fixture models and data, deterministically:
#   fixtures/models/digits-{mlp,cnn,resnet}.{json,safetensors}
#   fixtures/data/digits-test-{x,y}.npy, fixtures/data/digits-test-x-int8.npy
# It trains three small classifiers on scikit-learn's 8x8 digits (seconds, CPU, one
# thread, float64) and imports them with tools/importer (refute_import).
# Usage: scripts/make-fixtures.sh [ROOT]   (writes under ROOT/fixtures; default: the repo)
# Needs the project venv (scripts/setup.sh). Re-running gives identical bytes.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$REPO}"
PY="$REPO/.venv/bin/python"
[ -x "$PY" ] || { echo "make-fixtures: no venv at $REPO/.venv (run scripts/setup.sh)" >&2; exit 1; }
export PYTHONPATH="$REPO/tools/importer${PYTHONPATH:+:$PYTHONPATH}"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONHASHSEED=0
exec "$PY" "$REPO/tools/importer/digits_fixtures.py" "$OUT"
