#!/usr/bin/env bash
# Set up (idempotent) and run every test: lint, unit, AppTest and the real-browser test.
# Tests that need full MNIST read it from $VAE_DATA_DIR and are skipped when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest -q --durations=10 "$@"
