"""The views a run's pages draw from, computed here for the app and for ``scripts/build_pretrained.py`` alike (one
writer for each key), and the set a shipped run ships with, so that a cold server draws its pages at once:

- ``summary``: what the run list shows (``vae.runfile.folder``);
- ``home-DATA``: Home's pictures (``vae.analysis.pictures``);
- ``tsne-2000-p30-DATA`` and ``pca-2000-DATA``: the Latent page's default projections of the test set (d > 2).

A view belongs to one version of the run file (``vae.runfile.views``), so a run trained or continued after its
views were made never shows them. The test-set μ is not shipped: 10,000 × d floats would take 0.8 MB a run, and
the default run encodes them in a fraction of a second (the warm-up does it while the visitor reads Home).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import numpy as np

from vae.analysis.latents import digit_means, embed_2d, encode_mu
from vae.analysis.pictures import HomePictures, draw_home, home_key
from vae.data.datasets import Dataset, load_dataset
from vae.model.networks import VAE
from vae.runfile import Run, cached_view, list_runs, load_run, write_json
from vae.runfile.folder import SUMMARY
from vae.runfile.views import version_of, view_path

DEFAULT_POINTS = 2000  # the Latent page's default number of points: more makes t-SNE slow on a small CPU
DEFAULT_PERPLEXITY = 30
EMBEDDING_SEED = 0


def embedding_key(method: str, n: int, perplexity: float, data_name: str) -> str:
    """The view of the first ``n`` test latents of ``data_name`` projected by ``method`` (PCA has no perplexity)."""
    return f"tsne-{n}-p{perplexity:g}-{data_name}" if method == "tsne" else f"{method}-{n}-{data_name}"


def embedding_view(
    path: Path,
    mu: np.ndarray,
    method: str,
    n: int,
    perplexity: float,
    data_name: str,
    slot: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> np.ndarray:
    """``[n, 2]``: the first ``n`` rows of the test latents ``mu`` ``[N, D]`` in 2-D, from the run's view or computed
    (seeded) and kept as one; a computation runs inside ``slot()`` (the app's bound on heavy work), a read does not."""
    key = embedding_key(method, n, perplexity, data_name)

    def compute() -> np.ndarray:
        with slot():
            return embed_2d(mu[:n], method, perplexity=perplexity, seed=EMBEDDING_SEED)

    return cached_view(Path(path), key, compute, (n, 2), np.float32)


def test_latents(path: Path, model: Callable[[], VAE], data: Dataset) -> np.ndarray:
    """The posterior means ``[N, D]`` of ``data``'s test split under the run at ``path``: its view, else encoded by
    ``model()`` (loaded only then) and kept. Keyed by the data actually loaded, so that a stand-in's latents are
    never shown for the full set."""
    compute = lambda: encode_mu(model(), data.test_x).numpy()
    return cached_view(Path(path), f"mu-{data.name}", compute, (len(data.test_x), None), np.float32)


def home_view(path: Path, run: Run, means: np.ndarray, data: Dataset) -> HomePictures:
    """Home's pictures of ``run`` (read from ``path``) on ``data``, drawn from its class means ``[C, D]`` and stored
    as the view of the version that was read."""
    pictures = draw_home(run.model, means, data.class_names)
    write_json(path, home_key(data.name), pictures.to_json(), version_of(run.version))
    return pictures


def class_means(mu: np.ndarray, data: Dataset) -> np.ndarray:
    """The mean latent of each class ``[C, D]`` of ``data``'s test split (NaN for a class without images)."""
    import torch

    return digit_means(torch.from_numpy(mu), data.test_y.long(), len(data.class_names)).numpy()


def shipped_views(path: Path) -> list[Path]:
    """Compute and store every view that the run at ``path`` ships with, on the full dataset it was trained on;
    the files written. ``SystemExit`` when that dataset is not on disk (a stand-in's views would be of other data)."""
    run = load_run(path)
    data = load_dataset(run.config.dataset)
    if data.name != run.config.dataset:
        raise SystemExit(f"{run.config.dataset} is not available ({data.notice}); set VAE_DATA_DIR")
    list_runs(path.parent)  # writes the run's summary
    mu = test_latents(path, lambda: run.model, data)
    home_view(path, run, class_means(mu, data), data)
    keys = [SUMMARY, home_key(data.name)]
    if run.config.latent_dim > 2:
        for method in ("tsne", "pca"):
            embedding_view(path, mu, method, DEFAULT_POINTS, DEFAULT_PERPLEXITY, data.name)
            keys.append(embedding_key(method, DEFAULT_POINTS, DEFAULT_PERPLEXITY, data.name))
    suffix = {SUMMARY: "json", home_key(data.name): "json"}
    return [view_path(path, key, suffix.get(key, "npy")) for key in keys]
