#!/usr/bin/env bash
# Set up VAE Lab in ./.venv. With --dev: the test tools too, and Debian's chromium for the browser test.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
if [ "${1:-}" = "--dev" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
  if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null
    else
      echo "warning: /usr/bin/chromium is missing; run 'apt-get install -y chromium' as root or the browser test is skipped" >&2
    fi
  fi
else
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
fi
