"""What one visitor may ask of a shared server: the app's limits, each a setting (``vae.settings``).

The CLI is not limited: whoever runs it owns the machine. A request over a limit gets ``LimitError``,
one line that names the limit and the setting that raises it; nothing already saved changes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from vae.config import VAEConfig
from vae.dataset_facts import dataset_facts
from vae.settings import setting


class LimitError(ValueError):
    """A request over one of the server's limits. The message names the limit and its setting."""


def _over(what: str, limit: float, unit: str, name: str) -> str:
    return f"{what} is over this server's limit of {limit:,} {unit} (setting {name})"


def training_steps(config: VAEConfig, first_epoch: int = 1) -> int:
    """Optimizer steps of epochs ``first_epoch``..``config.epochs``: what a training books of the server, priced on
    the most training images its dataset can have (``vae.dataset_facts``)."""
    per_epoch = math.ceil(dataset_facts(config.dataset).max_train_images / config.batch_size)
    return max(0, config.epochs - first_epoch + 1) * per_epoch


def check_training(config: VAEConfig, first_epoch: int = 1) -> None:
    """Refuse a training larger than ``VAE_MAX_TRAINING_STEPS``."""
    steps, limit = training_steps(config, first_epoch), setting("VAE_MAX_TRAINING_STEPS")
    if steps > limit:
        epochs = config.epochs - first_epoch + 1
        raise LimitError(
            _over(
                f"{epochs:,} epochs of {config.dataset} at batch {config.batch_size} ({steps:,} optimizer steps)",
                limit,
                "steps",
                "VAE_MAX_TRAINING_STEPS",
            )
        )


def check_queue(waiting: int, adding: int) -> None:
    """Refuse more trainings than ``VAE_MAX_QUEUED_TRAININGS`` waiting at once."""
    limit = setting("VAE_MAX_QUEUED_TRAININGS")
    if waiting + adding > limit:
        raise LimitError(
            _over(
                f"{waiting:,} waiting trainings and {adding:,} more",
                limit,
                "trainings in the queue",
                "VAE_MAX_QUEUED_TRAININGS",
            )
        )


def check_upload(uploaded_sizes: Iterable[int], size: int) -> None:
    """Refuse an upload past ``VAE_MAX_UPLOADS`` files or ``VAE_MAX_UPLOAD_MB`` in all."""
    sizes = list(uploaded_sizes)
    most, mb = setting("VAE_MAX_UPLOADS"), setting("VAE_MAX_UPLOAD_MB")
    if len(sizes) + 1 > most:
        raise LimitError(_over(f"another upload after {len(sizes):,}", most, "uploaded runs", "VAE_MAX_UPLOADS"))
    total = (sum(sizes) + size) / 2**20
    if total > mb:
        raise LimitError(_over(f"{total:,.1f} MB of uploaded runs", mb, "MB", "VAE_MAX_UPLOAD_MB"))


def iw_over_budget(k: int, n: int) -> str:
    """Why an IW bound with ``k`` samples for ``n`` images is refused, or "" when it fits the budget."""
    limit = setting("VAE_MAX_IW_SAMPLES")
    return _over(f"K × images = {k * n:,}", limit, "samples", "VAE_MAX_IW_SAMPLES") if k * n > limit else ""


def tsne_over_budget(n: int) -> str:
    """Why t-SNE of ``n`` points is refused, or "" when it fits the budget."""
    limit = setting("VAE_MAX_TSNE_POINTS")
    return _over(f"t-SNE of {n:,} points", limit, "points", "VAE_MAX_TSNE_POINTS") if n > limit else ""
