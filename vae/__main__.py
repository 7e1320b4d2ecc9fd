"""``python -m vae``: the command line (``vae.cli``). Where the environment is not set up, one line says how."""

import importlib.util
import sys

REQUIRED = ("torch", "numpy", "tqdm")

if __name__ == "__main__":
    missing = [name for name in REQUIRED if importlib.util.find_spec(name) is None]
    if missing:
        sys.exit(
            f"vae: error: {missing[0]} is not installed for {sys.executable}; set up with scripts/setup.sh, then "
            "run .venv/bin/python -m vae (or source .venv/bin/activate first)"
        )
    from vae.cli import main  # after the check, so that a missing package gets the line above

    sys.exit(main())
