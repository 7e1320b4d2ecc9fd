#!/usr/bin/env bash
# Set up (idempotent) and run every test, from any folder: lint, unit, AppTest and the real-browser tests.
# Tests that need full MNIST read it from $VAE_DATA_DIR and are skipped when it does not hold it.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
# A relative VAE_DATA_DIR means the folder where this was typed, not the repository.
if [ -n "${VAE_DATA_DIR:-}" ] && [ "${VAE_DATA_DIR#/}" = "$VAE_DATA_DIR" ]; then
  export VAE_DATA_DIR="$PWD/$VAE_DATA_DIR"
fi
cd "$repo"

scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest -q --durations=10 "$@"
