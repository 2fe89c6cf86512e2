#!/usr/bin/env bash
# Create .venv and install colorgan with everything it and its tests need. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch 2.13.0 is the version this project is tested with. PyPI's default torch on Linux is the CUDA build
# (gigabytes), so the CPU build comes from PyTorch's CPU index where it is reachable; else from the configured
# index (on our machines a local CPU wheel). Progress is shown: it can be a large download.
# A user with a GPU can install their own CUDA build first; a satisfied torch is left alone.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/pip install --progress-bar on --timeout 15 --retries 0 "torch==2.13.0" \
      --index-url "${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}" 2>/dev/null \
    || .venv/bin/pip install --progress-bar on "torch==2.13.0"
fi
.venv/bin/pip install -q -e ".[serve,onnx,demo${EXTRAS:+,$EXTRAS}]"
