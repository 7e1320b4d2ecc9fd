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

from vae.analysis import digit_means, encode_mu, image_grid, latent_diagnostics, to_uint8
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
    """Panels for reconstruction, KL and total on their own axes (the terms differ by orders of magnitude),
    plus the β or C in effect when any series carries a schedule.

    Each series is ``{"name", "x", "recon", "kl", "loss", "dash", "color"}`` with optional ``"beta"``
    and ``"capacity"`` lists; a key set to None is not drawn.
    """
    panels = ["recon", "kl", "loss"]
    titles = ["Reconstruction (nats)", "KL (nats)", "Total: recon + β·KL"]
    if any(s.get("beta") is not None for s in series):
        panels.append("beta")
        titles.append("β in effect (C dotted)")
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=titles)
    for s in series:
        for col, key in enumerate(panels, start=1):
            if s.get(key) is None:
                continue
            style = {"dash": s.get("dash", "solid"), "color": s.get("color"), "width": s.get("width", 2)}
            common = {
                "legendgroup": s["name"],
                "mode": s.get("mode", "lines+markers"),
                "opacity": s.get("opacity", 1.0),
            }
            fig.add_trace(
                go.Scatter(x=s["x"], y=s[key], name=s["name"], showlegend=col == 1, line=style, **common),
                row=1,
                col=col,
            )
            if key == "beta" and any(s.get("capacity") or []):
                fig.add_trace(
                    go.Scatter(x=s["x"], y=s["capacity"], name=f"{s['name']} C", showlegend=False,
                               line={**style, "dash": "dot"}, **common),
                    row=1,
                    col=col,
                )  # fmt: skip
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
            # The schedule is the same for both splits: draw it once.
            "beta": [e.get("beta") for e in epochs] if split == "test" and _scheduled(epochs) else None,
            "capacity": [e.get("capacity", 0.0) for e in epochs] if split == "test" else None,
        }
        for split in ("train", "test")
    ]


def _scheduled(epochs: list[dict]) -> bool:
    """Whether β or C changed during the run, so that its panel says something."""
    betas = {e.get("beta") for e in epochs}
    return len(betas) > 1 or any(e.get("capacity", 0.0) for e in epochs)


def latent_scatter(points: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...], axis: str) -> go.Figure:
    """Points ``[N, 2]`` coloured by label, one legend entry per class; ``customdata`` is the row index."""
    fig = go.Figure()
    for c, class_name in enumerate(class_names):
        idx = np.flatnonzero(labels == c)
        fig.add_trace(
            go.Scattergl(
                x=points[idx, 0],
                y=points[idx, 1],
                mode="markers",
                name=class_name if class_name == str(c) else f"{c}: {class_name}",
                marker={"size": 5, "color": PALETTE[c % len(PALETTE)], "opacity": 0.75},
                customdata=idx,
                hovertemplate="test image %{customdata}<extra>" + class_name + "</extra>",
            )
        )
    fig.update_layout(height=560, xaxis_title=f"{axis} 1", yaxis_title=f"{axis} 2", legend_title="label",
                      margin={"t": 10, "b": 10, "l": 10, "r": 10})  # fmt: skip
    return fig


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


def rate_distortion_figure(infos: list[RunInfo]) -> go.Figure:
    """Runs as points at (rate = test KL, distortion = test recon), coloured by β, with iso-ELBO lines R + D = c."""
    rate = np.array([i.final["test"]["kl"] for i in infos])
    distortion = np.array([i.final["test"]["recon"] for i in infos])
    betas = np.array([i.config.beta for i in infos])
    fig = go.Figure()
    totals = rate + distortion
    span = (totals.max() - totals.min()) or 10.0
    x_max, y_max = rate.max() * 1.15 + 1, distortion.max() * 1.05 + 1
    for c in np.linspace(totals.min() - 0.25 * span, totals.max() + 0.25 * span, 6):
        fig.add_trace(
            go.Scatter(x=[0, c], y=[c, 0], mode="lines", line={"dash": "dash", "color": "#bbbbbb", "width": 1},
                       hoverinfo="skip", showlegend=False)
        )  # fmt: skip
    color = np.log10(np.maximum(betas, 0.01))
    ticks = [b for b in (0.01, 0.1, 0.25, 0.5, 1, 2, 4, 8, 10) if betas.min() <= b <= max(betas.max(), 0.01)]
    fig.add_trace(
        go.Scatter(
            x=rate,
            y=distortion,
            mode="markers+text",
            text=[f"β={b:g}" for b in betas],
            textposition="top center",
            customdata=[[i.name, i.config.label] for i in infos],
            hovertemplate="%{customdata[0]}<br>%{customdata[1]}<br>R=%{x:.2f}, D=%{y:.2f}<extra></extra>",
            marker={"size": 12, "color": color, "colorscale": "Viridis", "showscale": True,
                    "colorbar": {"title": "β", "tickvals": np.log10(ticks).tolist(), "ticktext": [f"{t:g}" for t in ticks]}},
            showlegend=False,
        )
    )  # fmt: skip
    fig.update_layout(
        height=460, margin={"t": 10, "b": 10, "l": 10, "r": 10},
        xaxis={"title": "rate R = test KL (nats)", "range": [0, x_max]},
        yaxis={"title": "distortion D = test reconstruction (nats)", "range": [max(0, distortion.min() * 0.9 - 1), y_max]},
    )  # fmt: skip
    return fig


@st.cache_data(max_entries=12, show_spinner="Measuring each latent dimension…")
def diagnostics(path: str, mtime_ns: int, dataset_name: str) -> dict:
    """KL per dimension and active units of the run on its test split (see ``latent_diagnostics``)."""
    return latent_diagnostics(_load_run_cached(path, mtime_ns).model, dataset(dataset_name).test_x)


def diagnostics_of(info: RunInfo) -> dict:
    return diagnostics(str(info.path), info.path.stat().st_mtime_ns, info.config.dataset)


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
