"""UI helpers shared by the pages: cached loaders, the run picker, image grids and charts.

Loaded models and datasets are cached read-only with ``st.cache_resource`` (shared by every
user); a model being trained lives in the worker's job, never here.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch
from plotly.subplots import make_subplots

from vae.analysis import digit_means, encode_mu, image_grid, to_uint8
from vae.checkpoints import CheckpointError, Run, RunInfo, clean_stale_tmp, list_runs, load_run
from vae.config import ConfigError, VAEConfig, from_dict
from vae.data import OFFLINE_DATASET, Dataset, data_root, default_dataset, load_dataset

ROOT = Path(__file__).resolve().parent
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
CURRENT_RUN_KEY = "current_run"
JOB_KEY = "training_job"


def checkpoint_dir() -> Path:
    """Where runs live: ``$VAE_CHECKPOINT_DIR`` or the repo's ``checkpoints/``."""
    return Path(os.environ.get("VAE_CHECKPOINT_DIR", ROOT / "checkpoints"))


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


@st.cache_resource(max_entries=6, show_spinner="Loading the model…")
def _load_run_cached(path: str, mtime_ns: int) -> Run:
    return load_run(Path(path))


def load(info: RunInfo) -> Run:
    """The run's model, cached read-only and keyed on path and modification time."""
    return _load_run_cached(str(info.path), info.path.stat().st_mtime_ns)


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
    """Posterior means ``[N, D]`` and labels ``[N]`` of the run's test split."""
    run = _load_run_cached(path, mtime_ns)
    data = dataset(dataset_name)
    return encode_mu(run.model, data.test_x).numpy(), data.test_y.numpy()


def latents_of(info: RunInfo) -> tuple[np.ndarray, np.ndarray]:
    return test_latents(str(info.path), info.path.stat().st_mtime_ns, info.config.dataset)


def class_means(info: RunInfo) -> torch.Tensor:
    """Per-class mean latents ``[C, D]`` of the run's test split."""
    mu, labels = latents_of(info)
    return digit_means(torch.from_numpy(mu), torch.from_numpy(labels), len(dataset(info.config.dataset).class_names))


def select_run(where: st.delta_generator.DeltaGenerator | None = None) -> RunInfo | None:
    """The run picker. The choice is kept in session state, so it follows the user across pages."""
    available = runs()
    if not available:
        return None
    names = [r.name for r in available]
    current = st.session_state.get(CURRENT_RUN_KEY)
    index = names.index(current) if current in names else 0
    target = where if where is not None else st.sidebar
    chosen = target.selectbox(
        "Run",
        names,
        index=index,
        format_func=lambda n: f"{n}  ·  {next(r for r in available if r.name == n).config.label}",
        help="Shipped runs are read-only; runs you train are added here.",
    )
    st.session_state[CURRENT_RUN_KEY] = chosen
    return next(r for r in available if r.name == chosen)


def require_run() -> RunInfo:
    """The selected run, or an empty state that points to Train (and stops the page)."""
    info = select_run()
    if info is None:
        st.info("There are no runs yet. Train one first; it takes seconds on the embedded digits.")
        st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
        st.stop()
    return info


def dataset_notice() -> None:
    """Tell the user which dataset is in use when the offline subset stands in for full MNIST."""
    if default_dataset() == OFFLINE_DATASET:
        st.warning(
            f"Full MNIST was not found under `{data_root()}`, so new runs default to the offline **mnist-5k** "
            "subset (5,000 real digits). Set `VAE_DATA_DIR` to a folder with MNIST's files to use all 70,000; "
            "online, the app downloads them when you train on `mnist`.",
            icon=":material/cloud_off:",
        )


def show_images(images: np.ndarray, ncols: int, caption: str | None = None, scale: int = 2) -> np.ndarray:
    """Draw ``[N, 28, 28]`` images as one crisp grid (nearest-neighbour upscaled). Returns the uint8 grid."""
    grid = to_uint8(image_grid(images, ncols))
    grid = np.kron(grid, np.ones((scale, scale), dtype=np.uint8))
    st.image(grid, caption=caption)
    return grid


def png_bytes(grid: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(grid).save(buffer, format="PNG")
    return buffer.getvalue()


def loss_figure(series: list[dict], title: str = "") -> go.Figure:
    """Three panels (reconstruction, KL, total) on their own axes: the terms differ by orders of magnitude.

    Each series is ``{"name", "x", "recon", "kl", "loss", "dash", "color"}``; ``loss`` may be None.
    """
    fig = make_subplots(rows=1, cols=3, subplot_titles=("Reconstruction (nats)", "KL (nats)", "Total: recon + β·KL"))
    for s in series:
        for col, key in enumerate(("recon", "kl", "loss"), start=1):
            if s.get(key) is None:
                continue
            fig.add_trace(
                go.Scatter(
                    x=s["x"],
                    y=s[key],
                    name=s["name"],
                    legendgroup=s["name"],
                    showlegend=col == 1,
                    mode=s.get("mode", "lines+markers"),
                    line={"dash": s.get("dash", "solid"), "color": s.get("color"), "width": s.get("width", 2)},
                    opacity=s.get("opacity", 1.0),
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(height=340, margin={"t": 40, "b": 10, "l": 10, "r": 10}, title=title or None)
    fig.update_layout(legend={"orientation": "h", "y": -0.25})
    return fig


def epoch_series(epochs: list[dict], name: str, color: str | None = None) -> list[dict]:
    """Train (dashed) and test (solid) series from a run's epoch history."""
    x = [e["epoch"] for e in epochs]
    return [
        {
            "name": f"{name} {split}",
            "x": x,
            "recon": [e[split]["recon"] for e in epochs],
            "kl": [e[split]["kl"] for e in epochs],
            "loss": [e[split]["loss"] for e in epochs],
            "dash": "dash" if split == "train" else "solid",
            "color": color,
        }
        for split in ("train", "test")
    ]


def config_from_query(params: Mapping[str, str], base: VAEConfig) -> tuple[VAEConfig, str]:
    """Form defaults from URL parameters such as ``?arch=conv&beta=4``; unknown keys are ignored.

    Returns the config and an error message: on a bad value the message names the field and
    ``base`` is returned unchanged.
    """
    known = {k: v for k, v in params.items() if k in base.to_dict()}
    if not known:
        return base, ""
    try:
        return from_dict({**base.to_dict(), **known}), ""
    except ConfigError as exc:
        return base, f"The link's training settings were ignored: {exc}"


def selected_point_index(event: object) -> int | None:
    """The test-set index of the first clicked point of a plotly selection event, via its ``customdata``."""
    try:
        points = event.get("selection", {}).get("points", [])  # type: ignore[union-attr]
    except AttributeError:
        return None
    if not points:
        return None
    custom = points[0].get("customdata")
    if isinstance(custom, (list, tuple)):
        custom = custom[0] if custom else None
    return int(custom) if custom is not None else None


def checkpoint_error(exc: CheckpointError) -> None:
    st.error(str(exc), icon=":material/error:")
