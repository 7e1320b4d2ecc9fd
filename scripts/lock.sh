#!/usr/bin/env bash
# Write requirements.lock: the exact release of every package that requirements-dev.txt installs today, from a
# throwaway venv (pip's cache makes a second build quick). setup.sh and CI install through it as pip constraints,
# so an upstream release reaches the project only through a refreshed lock, in a commit of its own:
#   scripts/lock.sh && scripts/setup.sh --dev && scripts/test.sh && git commit -m "Lock: ..." requirements.lock
#   PYTHON=python3.12 scripts/lock.sh    chooses the interpreter (the lock is made with the Python that CI runs)
#   scripts/lock.sh --keep               keeps every release the old lock names (after a dependency is dropped or
#                                        added, only that change reaches the lock, not every upstream release)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
keep=()
if [[ "${1:-}" == "--keep" ]]; then
  cp requirements.lock "$work/old.lock" && keep=(-c "$work/old.lock")
fi
echo "Building a throwaway venv from requirements-dev.txt in $work (minutes)…" >&2
"$python" -m venv "$work/venv"
# --retries 0: where PyTorch's CPU index cannot be reached, pip moves on at once to the other indexes.
"$work/venv/bin/python" -m pip install -q --disable-pip-version-check --retries 0 -r requirements-dev.txt "${keep[@]}"
version=$("$work/venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

{
  echo "# Exact releases that CI tested: written by scripts/lock.sh (do not edit by hand; refresh it in a commit of"
  echo "# its own, see README, Two commands), from a fresh install of requirements-dev.txt with Python $version."
  echo "# scripts/setup.sh installs requirements*.txt with this file as pip constraints (-c): requirements*.txt"
  echo "# keep their ranges (Streamlit Community Cloud installs requirements.txt as it is), and the lock picks one"
  echo "# release inside each; tests/test_deploy.py checks that it satisfies every range."
  echo "# Left out: nvidia-*, cuda-* and triton, which only PyPI's CUDA build of torch pulls in, each pinned exactly"
  echo "# by that torch release itself; the CPU build (PyTorch's CPU index) has none of them. torch==X also admits"
  echo "# X+cpu (PEP 440), so the lock holds both builds of one release."
  # Local labels (+cpu, +cu130) are dropped for the same reason: one line for either build of a release.
  "$work/venv/bin/python" -m pip freeze --disable-pip-version-check --exclude-editable \
    | grep -v -E '^(nvidia-|cuda-|triton==)' \
    | sed -E 's/^([^=]+==[^+]+)\+.*$/\1/' \
    | LC_ALL=C sort -f
} > requirements.lock.tmp
mv requirements.lock.tmp requirements.lock
echo "Wrote $repo/requirements.lock: $(grep -c '==' requirements.lock) packages." >&2
