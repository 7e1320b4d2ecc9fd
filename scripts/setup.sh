#!/usr/bin/env bash
# Set up VAE Lab in .venv beside this script's repository, from any folder. With --dev: the test tools
# too, and Debian's chromium for the browser tests. --quiet-end leaves out the closing hint (scripts/app.sh).
#   PYTHON=python3.12 scripts/setup.sh    chooses the interpreter (3.11 or newer; default python3)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null; then
  echo "error: $python not found; install Python 3.11 or newer, or set PYTHON=/path/to/python3" >&2
  exit 1
fi
# Run it before judging its version: a pyenv shim for a version that is not active exists but cannot run.
if ! version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>&1); then
  echo "error: $python could not be run: $(echo "$version" | head -n 1)" >&2
  exit 1
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: $python is Python $version; VAE Lab needs 3.11 or newer (set PYTHON=...)" >&2
  exit 1
fi
if [ -x .venv/bin/python ]; then
  have=$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo broken)
  if [ "$have" != "$version" ]; then
    echo "error: .venv holds Python $have but $python is $version; remove it (rm -rf $repo/.venv) and run this again" >&2
    exit 1
  fi
else
  echo "Making $repo/.venv with Python $version…"
  if ! "$python" -m venv .venv >/dev/null 2>&1; then
    rm -rf .venv
    echo "error: '$python -m venv' failed; on Debian or Ubuntu install it first: sudo apt-get install python3-venv" >&2
    exit 1
  fi
fi

requirements=requirements.txt
[ "${1:-}" = "--dev" ] && requirements=requirements-dev.txt
if ! .venv/bin/python -c 'import torch' >/dev/null 2>&1; then
  # requirements.txt asks PyTorch's CPU index first; where it cannot be reached, pip takes PyPI's CUDA build.
  if ! .venv/bin/python -c 'import urllib.request as u; u.urlopen("https://download.pytorch.org/whl/cpu/", timeout=5)' \
      >/dev/null 2>&1; then
    echo "warning: PyTorch's CPU index cannot be reached, so pip installs PyPI's CUDA build of torch: about 6 GB with" \
         "15 nvidia-* packages instead of about 200 MB; it runs the same on a CPU (see README, Two commands)" >&2
  fi
  echo "Installing torch, streamlit and the rest of $requirements into .venv (a first install takes minutes)…"
else
  echo "Checking .venv against $requirements…"
fi
# --retries 0: where PyTorch's CPU index cannot be reached, pip moves on at once to the other indexes
# instead of retrying it for about 8 s on every lookup. -c: the releases that CI tested (scripts/lock.sh), so a
# new upstream release changes nothing here until the lock is refreshed; a venv that holds them is left as it is.
.venv/bin/python -m pip install -q --disable-pip-version-check --retries 0 -r "$requirements" -c requirements.lock
# A path file in the venv's site-packages: its python finds VAE Lab's packages from any folder.
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$repo" > "$site/vae-lab.pth"
build=$(.venv/bin/python -c 'import torch; print(f"torch {torch.__version__}, " + ("CUDA " + torch.version.cuda + " build" if torch.version.cuda else "CPU-only build"))')
echo "Installed: $build; .venv takes $(du -sh .venv | cut -f1)."

if [ "${1:-}" = "--dev" ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's chromium for the browser tests (apt-get, a minute or two)…"
    apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null
    echo "Installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)."
  else
    echo "warning: /usr/bin/chromium is missing; run 'apt-get install -y chromium' as root or the browser tests are skipped" >&2
  fi
fi
if [ -z "${1:-}" ]; then
  echo "Ready. Start the app with: $repo/scripts/app.sh   (or: $repo/.venv/bin/streamlit run $repo/streamlit_app.py)"
fi
