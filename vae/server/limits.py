"""What one visitor may ask of a shared server: the app's limits, each a setting (``vae.settings``).

The CLI is not limited: whoever runs it owns the machine. A request over a limit gets ``LimitError``,
one line that names the limit and the setting that raises it; nothing already saved changes.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from vae.data.facts import dataset_facts
from vae.model.config import VAEConfig
from vae.model.size import parameter_count, training_gflop
from vae.runfile.names import SUFFIX, shipped_names
from vae.settings import setting
from vae.vocabulary import LimitError


def _over(what: str, limit: float, unit: str, name: str) -> str:
    return f"{what} is over this server's limit of {limit:,} {unit} (setting {name})"


def training_images(config: VAEConfig, first_epoch: int = 1) -> int:
    """Images seen in epochs ``first_epoch``..``config.epochs``, priced on the most training images its dataset can
    have (``vae.data.facts``)."""
    return max(0, config.epochs - first_epoch + 1) * dataset_facts(config.dataset).max_train_images


def training_steps(config: VAEConfig, first_epoch: int = 1) -> int:
    """Optimizer steps of epochs ``first_epoch``..``config.epochs``, priced on the most training images its dataset
    can have."""
    per_epoch = math.ceil(dataset_facts(config.dataset).max_train_images / config.batch_size)
    return max(0, config.epochs - first_epoch + 1) * per_epoch


def _check_steps(config: VAEConfig, first_epoch: int = 1) -> None:
    """Refuse more optimizer steps than ``VAE_MAX_TRAINING_STEPS``: small batches cost time beyond their FLOPs."""
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


def check_training(config: VAEConfig, first_epoch: int = 1) -> None:
    """Refuse a model over ``VAE_MAX_PARAMETERS`` parameters, or a training that costs more than
    ``VAE_MAX_TRAINING_GFLOP`` or ``VAE_MAX_TRAINING_STEPS``: what a training books of the server is its compute
    (``vae.model.size``) and, for small batches, its steps."""
    params, cap = parameter_count(config), setting("VAE_MAX_PARAMETERS")
    if params > cap:
        raise LimitError(_over(f"a model of {params:,} parameters", cap, "parameters", "VAE_MAX_PARAMETERS"))
    cost, limit = training_gflop(config, training_images(config, first_epoch)), setting("VAE_MAX_TRAINING_GFLOP")
    if cost > limit:
        epochs = config.epochs - first_epoch + 1
        model = f"{config.arch} {'-'.join(map(str, config.hidden)) + ' ' if config.arch == 'mlp' else ''}"
        raise LimitError(
            _over(
                f"{epochs:,} epochs of {config.dataset} for the {model}d={config.latent_dim} model ({cost:,.0f} GFLOP)",
                limit,
                "GFLOP",
                "VAE_MAX_TRAINING_GFLOP",
            )
        )
    _check_steps(config, first_epoch)


def check_disk(directory: Path, adding_mb: float) -> None:
    """Refuse what would take the runs in ``directory`` (shipped ones aside) past ``VAE_MAX_RUNS_MB``."""
    shipped = set(shipped_names(directory))
    try:
        files = [p for p in directory.glob(f"*{SUFFIX}") if p.stem not in shipped]
        used = sum(p.stat().st_size for p in files if p.is_file()) / 2**20
    except OSError:
        used = 0.0  # a folder that cannot be listed holds nothing we could count
    limit = setting("VAE_MAX_RUNS_MB")
    if used + adding_mb > limit:
        raise LimitError(
            _over(f"{used:,.1f} MB of runs and about {adding_mb:,.1f} MB more", limit, "MB", "VAE_MAX_RUNS_MB")
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


HEAVY_WAIT_S = 90.0  # how long an on-demand computation waits for a slot before it is refused


class HeavyWork:
    """A server-wide bound on on-demand heavy computations (the IW bound, t-SNE, disentanglement scores): at most
    ``VAE_MAX_HEAVY_COMPUTATIONS`` run at once over every session; the others wait their turn for up to ``wait_s``
    and are then refused in one line. One per process (the app keeps it in ``st.cache_resource``)."""

    def __init__(self, slots: int | None = None, wait_s: float = HEAVY_WAIT_S) -> None:
        self.slots = setting("VAE_MAX_HEAVY_COMPUTATIONS") if slots is None else slots
        self.wait_s = wait_s
        self._free = threading.BoundedSemaphore(self.slots)

    @contextmanager
    def slot(self, what: str) -> Iterator[None]:
        """Hold one slot while the block runs ``what``; ``LimitError`` when none frees up within ``wait_s``."""
        if not self._free.acquire(timeout=self.wait_s):
            raise LimitError(
                f"{what} waited {self.wait_s:g} s for one of this server's {self.slots:,} slots for heavy "
                "computations, all busy (setting VAE_MAX_HEAVY_COMPUTATIONS); try again in a moment"
            )
        try:
            yield
        finally:
            self._free.release()
