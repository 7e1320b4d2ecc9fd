"""Settings read from the environment, in one place so that the app and the CLI agree.

Kept free of torch so that ``python -m vae --help`` stays instant.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


def default_checkpoint_dir() -> Path:
    """Where runs are read and saved: ``$VAE_CHECKPOINT_DIR``, else the repository's ``checkpoints/``.

    The same for the app and the CLI, whatever the current directory.
    """
    return Path(os.environ.get("VAE_CHECKPOINT_DIR", REPO_CHECKPOINTS)).expanduser()
