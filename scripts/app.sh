#!/usr/bin/env bash
# Set up (idempotent) and start the app, from any folder: http://localhost:8501. Extra arguments go to
# `streamlit run`, e.g. scripts/app.sh --server.port 8502.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
# A relative VAE_DATA_DIR or VAE_CHECKPOINT_DIR means the folder where this was typed, not the repository.
for name in VAE_DATA_DIR VAE_CHECKPOINT_DIR; do
  if [ -n "${!name:-}" ] && [ "${!name#/}" = "${!name}" ]; then
    export "$name=$PWD/${!name}"
  fi
done
"$repo/scripts/setup.sh" --quiet-end
cd "$repo"
exec .venv/bin/streamlit run streamlit_app.py "$@"
