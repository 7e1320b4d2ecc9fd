"""Settings read from the environment, in one place so that the app, the CLI and the README agree.

Kept free of torch so that ``python -m vae --help`` stays instant. ``SETTINGS`` is the one list of the
numeric settings, their defaults and what they mean; the README's settings table is checked against it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REPO_CHECKPOINTS = REPO / "checkpoints"
REPO_DATA = REPO / "data"
log = logging.getLogger(__name__)


# A run file holds the weights and Adam's two moments (12 bytes a parameter in fp32), FactorVAE's critic with its
# own Adam, and the history. 3 M parameters take 36 MB of the reader's 50 MB (``vae.runfile.reading``'s
# ``MAX_CHECKPOINT_BYTES``): the config refuses more, and ``VAE_MAX_PARAMETERS`` may only lower it.
MAX_PARAMETERS = 3_000_000


def data_root() -> Path:
    """Where full MNIST and Fashion-MNIST are read: ``$VAE_DATA_DIR``, else the repository's ``data/``.

    The same for the app and the CLI, whatever the current directory.
    """
    return Path(os.environ.get("VAE_DATA_DIR", REPO_DATA)).expanduser()


def default_checkpoint_dir() -> Path:
    """Where runs are read and saved: ``$VAE_CHECKPOINT_DIR``, else the repository's ``checkpoints/``.

    The same for the app and the CLI, whatever the current directory.
    """
    return Path(os.environ.get("VAE_CHECKPOINT_DIR", REPO_CHECKPOINTS)).expanduser()


@dataclass(frozen=True)
class Setting:
    """A whole-number setting: its default, the least value that makes sense, and what it limits."""

    default: int
    low: int
    help: str


SETTINGS = {
    "VAE_MAX_TRAINING_JOBS": Setting(2, 1, "trainings that run at once in the app; the rest wait in a queue"),
    "VAE_MAX_QUEUED_TRAININGS": Setting(
        32, 1, "trainings that may wait in the app's queue, over all users (each run of a sweep counts)"
    ),
    "VAE_MAX_TRAINING_GFLOP": Setting(
        100_000,
        1,
        "the largest training the app starts, in GFLOP (6 × the model's multiply-adds an image × images seen: about "
        "420 epochs of the default MLP on MNIST, 40 of the conv); the CLI has no limit",
    ),
    "VAE_MAX_TRAINING_STEPS": Setting(
        250_000,
        1,
        "the largest training the app starts, in optimizer steps (epochs × steps per epoch): small batches cost "
        "time beyond their FLOPs",
    ),
    "VAE_MAX_PARAMETERS": Setting(
        MAX_PARAMETERS,
        1,
        f"the largest model the app trains, in parameters (a run file holds at most {MAX_PARAMETERS:,})",
    ),
    "VAE_MAX_RUNS_MB": Setting(
        2000, 0, "megabytes that the runs in the checkpoint folder may take, shipped ones aside"
    ),
    "VAE_MAX_UPLOADS": Setting(50, 0, "runs that browsers may upload to the server, in all"),
    "VAE_MAX_UPLOAD_MB": Setting(500, 0, "megabytes that the uploaded runs may take, in all"),
    "VAE_MAX_IW_SAMPLES": Setting(
        1_000_000, 1, "the importance-weighted bound on demand: at most K × test images decoded"
    ),
    "VAE_MAX_TSNE_POINTS": Setting(5000, 100, "t-SNE on demand: at most this many points"),
    "VAE_MAX_WEB_PARAMETERS": Setting(
        1_000_000,
        0,
        "decoders up to this many parameters run in the visitor's browser (Latent explorer); larger ones, and all "
        "with 0, on the server",
    ),
    "VAE_MAX_HEAVY_COMPUTATIONS": Setting(
        1,
        1,
        "on-demand computations (IW bound, t-SNE, disentanglement scores) that run at once over all visitors; the "
        "others wait their turn",
    ),
    "VAE_JOB_RETENTION_S": Setting(
        3600, 1, "seconds a finished training stays listed on the server, with its live view and Stop link"
    ),
}


def warm_up_enabled() -> bool:
    """Whether the app warms a cold server in the background after its first request (``VAE_WARM_UP``, on unless
    ``0``): torch, the pages' modules, the default run's model, data and latents."""
    return os.environ.get("VAE_WARM_UP", "1").strip() != "0"


def threads_per_job(jobs: int) -> int:
    """Torch threads for each of ``jobs`` trainings that run at once, one process each: the cores shared out."""
    return max(1, (os.cpu_count() or 1) // max(jobs, 1))


def setting(name: str) -> int:
    """The setting's value from the environment; its default when unset, or (with a logged warning) when the
    value is not a whole number at least the setting's least value."""
    spec = SETTINGS[name]
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return spec.default
    try:
        value = int(raw)
        if value < spec.low:
            raise ValueError
    except ValueError:
        log.warning("%s=%r is not a whole number of at least %d; using %d", name, raw, spec.low, spec.default)
        return spec.default
    return value


def retention_text() -> str:
    """How long a finished training stays listed, for a person: "an hour", "10 minutes", "45 seconds"."""
    seconds = setting("VAE_JOB_RETENTION_S")
    if seconds % 3600 == 0:
        return "an hour" if seconds == 3600 else f"{seconds // 3600} hours"
    if seconds % 60 == 0:
        return "a minute" if seconds == 60 else f"{seconds // 60} minutes"
    return f"{seconds} seconds"
