"""Session state and cached loaders shared by the pages.

Loaded models and datasets are cached read-only with ``st.cache_resource`` (shared by every
user); a model being trained lives in the worker's job, never here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from vae.analysis import digit_means, encode_mu
from vae.checkpoints import CheckpointError, Run, load_run
from vae.config import VAEConfig, apply_valid
from vae.data import Dataset, load_dataset
from vae.folder import RunInfo, clean_stale_tmp, list_runs
from vae.jobs import TrainingJob
from vae.likelihood import latent_diagnostics
from vae.names import new_owner_token, owner_hash
from vae.registry import JobRegistry
from vae.runfile import UPLOAD
from vae.settings import default_checkpoint_dir
from vae.views import cached_view

ROOT = Path(__file__).resolve().parent.parent
CURRENT_RUN_KEY = "current_run"
JOB_TOKEN_KEY = "training_job_token"
STALE_LINK_KEY = "stale_job_link"
DELETED_KEY = "run_just_deleted"  # said once on the Runs page after the rerun that a delete causes
DONE_SEEN_KEY = "job_done_seen"  # the token of this tab's job (or sweep) whose ending the page has taken in
LIVE_CURVES_KEY = "live_curves_figure"  # (token, when, figure): the live curves, rebuilt every few seconds
EXPLORER_START_KEY = "explorer_start"  # the start point the explorer's board was last set from
EXPLORER_CLICK_KEY = "explorer_last_click"  # the last point clicked on the explorer's plane


def checkpoint_dir() -> Path:
    """Where runs live: ``$VAE_CHECKPOINT_DIR`` or the repo's ``checkpoints/``, as for the CLI."""
    return default_checkpoint_dir()


def _dir_signature(directory: Path) -> tuple:
    """Changes whenever a run is added, replaced or removed: the cache key for the run list."""
    try:
        entries = sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in directory.iterdir())
    except OSError:
        return ()
    return tuple(entries)


@st.cache_data(max_entries=8, show_spinner=False)
def _list_runs_cached(directory: str, signature: tuple) -> list[RunInfo]:
    clean_stale_tmp(Path(directory))  # leftovers of a writer killed mid-save; young ones are left alone
    return list_runs(Path(directory))


def runs() -> list[RunInfo]:
    """Readable runs in the checkpoint directory, shipped first."""
    directory = checkpoint_dir()
    return [r for r in _list_runs_cached(str(directory), _dir_signature(directory)) if not r.error]


def unreadable_runs() -> list[RunInfo]:
    directory = checkpoint_dir()
    return [r for r in _list_runs_cached(str(directory), _dir_signature(directory)) if r.error]


def uploaded_sizes() -> list[int]:
    """The sizes of the runs that browsers uploaded, readable or not: what the upload limits count."""
    directory = checkpoint_dir()
    return [r.size for r in _list_runs_cached(str(directory), _dir_signature(directory)) if r.origin == UPLOAD]


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
    return load_dataset(name)


def dataset_of(info: RunInfo) -> Dataset:
    """The run's test data, with a visible notice when a stand-in replaces the dataset it was trained on."""
    data = dataset(info.config.dataset)
    if data.notice:
        st.warning(f"{data.notice}. Pictures and metrics below use that stand-in.", icon=":material/cloud_off:")
    return data


@st.cache_data(max_entries=12, show_spinner="Encoding the test set…")
def test_latents(path: str, mtime_ns: int, dataset_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means ``[N, D]`` and labels ``[N]`` of the run's test split; kept on disk beside the run."""
    data = dataset(dataset_name)

    def encode() -> np.ndarray:
        return encode_mu(_load_run_cached(path, mtime_ns).model, data.test_x).numpy()

    mu = cached_view(Path(path), f"mu-{dataset_name}", encode, (len(data.test_x), None), np.float32)
    return mu, data.test_y.numpy()


def latents_of(info: RunInfo) -> tuple[np.ndarray, np.ndarray]:
    return test_latents(str(info.path), info.path.stat().st_mtime_ns, info.config.dataset)


def class_means(info: RunInfo) -> torch.Tensor:
    """Per-class mean latents ``[C, D]`` of the run's test split."""
    mu, labels = latents_of(info)
    return digit_means(torch.from_numpy(mu), torch.from_numpy(labels), len(dataset(info.config.dataset).class_names))


@st.cache_resource(max_entries=6, show_spinner=False)
def _pca_of(path: str, mtime_ns: int, dataset_name: str):
    from sklearn.decomposition import PCA

    mu, _ = test_latents(path, mtime_ns, dataset_name)
    return PCA(n_components=2, random_state=0).fit(mu)


def project_2d(info: RunInfo, mu: np.ndarray) -> np.ndarray:
    """Latents ``[N, D]`` in the plane of the run's test set: as they are for d = 2, else its first two PCs."""
    if mu.shape[1] == 2:
        return mu
    return _pca_of(str(info.path), info.path.stat().st_mtime_ns, info.config.dataset).transform(mu)


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


def config_from_query(params: Mapping[str, str], base: VAEConfig) -> tuple[VAEConfig, str]:
    """Form defaults from URL parameters such as ``?arch=conv&beta=4``; unknown keys are ignored.

    Returns ``base`` with every valid field applied, and a message that names each bad one with what it
    allows ("" when all were good).
    """
    known = {k: v for k, v in params.items() if k in base.to_dict()}
    config, errors = apply_valid(base, known)
    if not errors:
        return config, ""
    named = " · ".join(str(e) for e in errors)
    kept = "The rest of the link's settings were applied." if len(errors) < len(known) else ""
    return config, f"The link's training settings were ignored where they are not valid: {named}. {kept}".strip()


# --- Training jobs: they belong to the server; a tab holds only its job's token. ---

JOB_PARAM = "job"


@st.cache_resource(show_spinner=False)
def job_registry() -> JobRegistry:
    """The process-wide registry of training jobs, shared by every session (never per-user state)."""
    return JobRegistry()


def _session_token(key: str, param: str, lookup: Callable[[str | None], object]) -> str | None:
    """This tab's token under ``key``: from session state, else from the URL's ``?param=`` after a reload,
    a reconnect or a copied link; kept in the URL so that the next reload finds it too. A URL token
    that ``lookup`` does not know (unknown, or finished longer ago than ``VAE_JOB_RETENTION_S``) is dropped and flagged."""
    token = st.session_state.get(key)
    if not lookup(token):
        token = st.query_params.get(param)
        if token is not None and not lookup(token):
            st.session_state[STALE_LINK_KEY] = True
            del st.query_params[param]
            token = None
    if token is None:
        st.session_state.pop(key, None)
        return None
    st.session_state[key] = token
    if st.query_params.get(param) != token:
        st.query_params[param] = token
    return token


def session_job() -> tuple[str, TrainingJob] | None:
    """This tab's own training job and its token (``?job=``)."""
    registry = job_registry()
    token = _session_token(JOB_TOKEN_KEY, JOB_PARAM, registry.get)
    job = registry.get(token)
    return (token, job) if token is not None and job is not None else None


BATCH_KEY = "sweep_batch_token"
BATCH_PARAM = "batch"


def session_batch() -> tuple[str, list[TrainingJob]] | None:
    """This tab's own sweep and its token (``?batch=``)."""
    registry = job_registry()
    token = _session_token(BATCH_KEY, BATCH_PARAM, registry.batch)
    batch = registry.batch(token)
    return (token, batch) if token is not None and batch else None


def start_batch(jobs: list[TrainingJob]) -> str:
    """Queue a sweep's jobs as one batch owned by this tab: its token goes to session state and the URL."""
    token = job_registry().submit_batch(jobs)
    st.session_state[BATCH_KEY] = token
    st.query_params[BATCH_PARAM] = token
    return token


def session_busy() -> bool:
    """One training per session: its own job, or its own sweep, is still queued or running."""
    mine, batch = session_job(), session_batch()
    return (mine is not None and not mine[1].snapshot().done) or (
        batch is not None and not all(j.snapshot().done for j in batch[1])
    )


def start_job(job: TrainingJob) -> str:
    """Submit ``job`` to the registry and make it this tab's own: its token goes to session state and the URL."""
    token = job_registry().submit(job)
    st.session_state[JOB_TOKEN_KEY] = token
    st.query_params[JOB_PARAM] = token
    return token


# --- Owners: a run made in the app belongs to the browser that made it, for good. ---

OWNER_KEY = "owner_token"
OWNER_PARAM = "owner"
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def session_owner(create: bool = False) -> str | None:
    """This browser's owner token (``?owner=``): from session state, else from the URL after a reload or
    on a copied link; with ``create``, a new one when it has none. Kept in the URL on every page."""
    token = st.session_state.get(OWNER_KEY)
    if token is None:
        linked = st.query_params.get(OWNER_PARAM)
        if linked is not None and 16 <= len(linked) <= 64 and set(linked) <= _TOKEN_CHARS:
            token = linked
        elif create:
            token = new_owner_token()
    if token is None:
        return None
    st.session_state[OWNER_KEY] = token
    if st.query_params.get(OWNER_PARAM) != token:
        st.query_params[OWNER_PARAM] = token
    return token


def owner_hash_for_new_run() -> str:
    """What a run made by this browser stores of its owner (a token is made now if it has none)."""
    return owner_hash(session_owner(create=True))


def owns(info: RunInfo) -> bool:
    """Whether this browser may delete ``info`` or change it in place."""
    return info.owned_by(session_owner())


def may_change_run(info: RunInfo) -> str:
    """Why this browser may not delete or change run ``info`` in place now, or "" when it may."""
    if info.shipped:
        return f"{info.name} is a shipped run: read-only for everyone"
    if not owns(info):
        return f"{info.name} is not yours: only the browser that made it can delete it or change it in place"
    job = job_registry().job_for_run(info.name)
    if job is not None and not job.snapshot().done:
        return f"{info.name} is being trained right now; stop the training first"
    return ""
