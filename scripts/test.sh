#!/usr/bin/env bash
# README command 2 (and what CI runs): set up with the test extras, lint, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=dev bash scripts/setup.sh
# The browser test drives Debian's Chromium (Playwright must never download a browser).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "warning: could not install chromium"
fi
.venv/bin/ruff check src tests benchmarks train.py evaluate.py
.venv/bin/ruff format --check src tests benchmarks train.py evaluate.py
.venv/bin/python -m pytest -q "$@"
