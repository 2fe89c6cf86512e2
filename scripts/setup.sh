#!/usr/bin/env bash
# Create .venv and install colorgan with everything it and its tests need. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# The CPU build of torch: 2.13.0 is the version this project is tested with (a local wheel on our machines).
# A user with a GPU can install their own CUDA build first; a satisfied torch is left alone.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install -q "torch==2.13.0"
.venv/bin/pip install -q -e ".[serve,onnx,demo${EXTRAS:+,$EXTRAS}]"
