#!/usr/bin/env bash
# Every chapter in full mode on a CUDA machine; measurements saved under results/ with provenance.
# Uses the book's environment (.venv, papermill) when it is there; otherwise runs the cells
# in-process (--script) with the python3 that holds torch and timm, e.g. a bare GPU image.
# Usage: scripts/gpu_full_run.sh [RESULTS_DIR] [NOTEBOOK ...]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results}
shift || true
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg PYTHONUNBUFFERED=1
if [ -x .venv/bin/python ] && .venv/bin/python -c "import papermill, jupytext" 2>/dev/null; then
  .venv/bin/python -m gpuefficient.book.notebooks --quick 0 --results-dir "$out" "$@"
else
  echo "papermill/jupytext not installed: running the notebooks' cells in-process (--script)"
  python3 -m gpuefficient.book.notebooks --script --quick 0 --results-dir "$out" "$@"
fi
