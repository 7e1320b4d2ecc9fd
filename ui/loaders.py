"""The models and datasets the pages use, and what is computed from them, cached read-only with
``st.cache_resource`` / ``st.cache_data`` (shared by every user; a model being trained lives in its job, never here).

This is where torch comes in: ``ui.state`` and Home's first screen do without it.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from ui.state import heavy_work
from vae.analysis import precompute
from vae.analysis.latents import EMBEDDING_NAMES, pca_fit, pca_project
from vae.analysis.likelihood import latent_diagnostics
from vae.data.datasets import Dataset, load_test_split
from vae.runfile import Run, RunInfo, load_run
from vae.vocabulary import CheckpointError, LimitError


@st.cache_resource(max_entries=6, show_spinner="Loading the model…")
def _load_run_cached(path: str, mtime_ns: int) -> Run:
    return load_run(Path(path))


def load(info: RunInfo) -> Run:
    """The run's model, cached read-only and keyed on path and modification time; ``CheckpointError`` when the
    file is gone or no longer valid."""
    try:
        mtime_ns = info.path.stat().st_mtime_ns
    except OSError:
        raise CheckpointError(f"{info.name} is no longer in the checkpoint folder") from None
    return _load_run_cached(str(info.path), mtime_ns)


@st.cache_resource(max_entries=3, show_spinner="Loading the dataset…")
def dataset(name: str) -> Dataset:
    return load_test_split(name)  # the pages read test images only: no training split held here


def dataset_of(info: RunInfo) -> Dataset:
    """The run's test data, with a visible notice when a stand-in replaces the dataset it was trained on."""
    data = dataset(info.config.dataset)
    if data.notice:
        st.warning(f"{data.notice}. Pictures and metrics below use that stand-in.", icon=":material/cloud_off:")
    return data


@st.cache_data(max_entries=12, show_spinner="Encoding the test set…")
def test_latents(path: str, mtime_ns: int, dataset_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means ``[N, D]`` and labels ``[N]`` of the run's test split (``vae.analysis.precompute.test_latents``)."""
    data = dataset(dataset_name)
    mu = precompute.test_latents(Path(path), lambda: _load_run_cached(path, mtime_ns).model, data)
    return mu, data.test_y.numpy()


def latents_of(info: RunInfo) -> tuple[np.ndarray, np.ndarray]:
    return test_latents(str(info.path), info.path.stat().st_mtime_ns, info.config.dataset)


def class_means(info: RunInfo) -> torch.Tensor:
    """Per-class mean latents ``[C, D]`` of the run's test split."""
    mu, _ = latents_of(info)
    return torch.from_numpy(precompute.class_means(mu, dataset(info.config.dataset)))


@st.cache_resource(max_entries=6, show_spinner=False)
def _pca_of(path: str, mtime_ns: int, dataset_name: str) -> tuple[np.ndarray, np.ndarray]:
    mu, _ = test_latents(path, mtime_ns, dataset_name)
    return pca_fit(mu)


def pca_of(info: RunInfo) -> tuple[np.ndarray, np.ndarray] | None:
    """The mean ``[D]`` and first two principal axes ``[2, D]`` of the run's test μ; None for d = 2 (the plane is z)."""
    if info.config.latent_dim == 2:
        return None
    return _pca_of(str(info.path), info.path.stat().st_mtime_ns, info.config.dataset)


def project_2d(info: RunInfo, mu: np.ndarray) -> np.ndarray:
    """Latents ``[N, D]`` in the plane of the run's test set: as they are for d = 2, else its first two PCs."""
    pca = pca_of(info)
    return mu if pca is None else pca_project(mu, *pca)


@st.cache_data(max_entries=12, show_spinner="Measuring each latent dimension…")
def diagnostics(path: str, mtime_ns: int, dataset_name: str) -> dict:
    """KL per dimension and active units of the run on its test split (see ``latent_diagnostics``)."""
    return latent_diagnostics(_load_run_cached(path, mtime_ns).model, dataset(dataset_name).test_x)


def diagnostics_of(info: RunInfo) -> dict:
    return diagnostics(str(info.path), info.path.stat().st_mtime_ns, info.config.dataset)


def kl_and_activity(info: RunInfo) -> tuple[np.ndarray, np.ndarray]:
    """KL per latent dimension ``[D]`` (nats) and whether each is active ``[D]``, on the run's test split."""
    diag = diagnostics_of(info)
    return np.array(diag["kl_per_dim"]), np.array(diag["active"])


@st.cache_data(max_entries=16, show_spinner=False)
def _embedding(path: str, mtime_ns: int, method: str, n: int, perplexity: float, _mu: np.ndarray, data: str):
    """``[n, 2]``, cached per run file, method, point count and perplexity, in memory and on disk beside the run
    (a restarted server does not run t-SNE again; the shipped runs ship the default); ``_mu`` is not hashed.
    A t-SNE waits its turn among the server's heavy computations (``state.heavy_work``)."""
    slot = (lambda: heavy_work().slot("t-SNE")) if method == "tsne" else nullcontext
    return precompute.embedding_view(Path(path), _mu, method, n, perplexity, data, slot)


def plane(
    run_info: RunInfo, latents: np.ndarray, n: int, method: str, perplexity: float, data_name: str
) -> tuple[np.ndarray, str]:
    """The first ``n`` test latents ``[N, D]`` of ``run_info`` in 2-D ``[n, 2]``, and the axis name: μ itself for
    d = 2. Past the server's wait for a heavy-computation slot, one line and the page stops."""
    if run_info.config.latent_dim == 2:
        return latents[:n], "z"
    dim = run_info.config.latent_dim
    name = EMBEDDING_NAMES[method]
    with st.spinner(f"Running {name} on {n} points of dimension {dim}…", show_time=True):
        path = run_info.path
        mtime_ns = path.stat().st_mtime_ns
        try:
            return _embedding(str(path), mtime_ns, method, n, float(perplexity), latents, data_name), name
        except LimitError as exc:
            st.error(str(exc), icon=":material/hourglass_top:")
            st.stop()
