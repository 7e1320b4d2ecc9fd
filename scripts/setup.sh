#!/usr/bin/env bash
# Set up VAE Lab in ./.venv. With --dev: the test tools too, and Debian's chromium for the browser tests.
#   PYTHON=python3.12 scripts/setup.sh    chooses the interpreter (3.11 or newer; default python3)
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null; then
  echo "error: $python not found; install Python 3.11 or newer, or set PYTHON=/path/to/python3" >&2
  exit 1
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: $("$python" --version 2>&1) is too old; VAE Lab needs Python 3.11 or newer (set PYTHON=...)" >&2
  exit 1
fi
if [ -x .venv/bin/python ]; then
  want=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  have=$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo broken)
  if [ "$have" != "$want" ]; then
    echo "error: .venv holds Python $have but $python is $want; remove it (rm -rf .venv) and run this again" >&2
    exit 1
  fi
else
  if ! "$python" -m venv .venv >/dev/null 2>&1; then
    rm -rf .venv
    echo "error: '$python -m venv' failed; on Debian or Ubuntu install it first: sudo apt-get install python3-venv" >&2
    exit 1
  fi
fi

# --retries 0: where PyTorch's CPU index (requirements.txt) cannot be reached, pip moves on at once
# to the other indexes instead of retrying it for about 8 s on every lookup.
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check --retries 0)
if [ "${1:-}" = "--dev" ]; then
  "${pip[@]}" -r requirements-dev.txt
  if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "Installing Debian's chromium for the browser tests (apt-get, a minute or two)…"
      apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null
      echo "Installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)."
    else
      echo "warning: /usr/bin/chromium is missing; run 'apt-get install -y chromium' as root or the browser tests are skipped" >&2
    fi
  fi
else
  "${pip[@]}" -r requirements.txt
fi
