#!/usr/bin/env bash
# Set up (idempotent), lint and test, from any folder.
#   scripts/test.sh          the fast tier: unit, AppTest and CLI tests under 3 s each (a few minutes on 2 cores)
#   scripts/test.sh --all    every test: adds the slow, Ray, real-browser and full-data tiers (.ci/run runs this)
# Other arguments go to pytest. Tests that need full MNIST read it from $VAE_DATA_DIR and are skipped without it.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
# A relative VAE_DATA_DIR means the folder where this was typed, not the repository.
if [ -n "${VAE_DATA_DIR:-}" ] && [ "${VAE_DATA_DIR#/}" = "$VAE_DATA_DIR" ]; then
  export VAE_DATA_DIR="$PWD/$VAE_DATA_DIR"
fi
tier=(-m "not slow and not ray and not browser and not full_data")
if [ "${1:-}" = "--all" ]; then
  tier=()
  shift
fi
cd "$repo"

scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest -q --durations=10 ${tier[@]+"${tier[@]}"} "$@"
