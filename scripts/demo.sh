#!/usr/bin/env bash
# README command 1: set up, then colorize the sample photos shipped inside scikit-image and scikit-learn.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/colorgan demo --out demo_out "$@"
