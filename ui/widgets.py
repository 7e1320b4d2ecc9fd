"""Widgets and small drawing helpers the pages share once a model is loaded: the top of a run's page, image grids,
progress. The run picker, which comes before any model, is ``ui.picker``."""

from __future__ import annotations

import io
import time

import numpy as np
import streamlit as st
import torch

from ui import charts, curves
from ui.loaders import dataset_of, load
from ui.picker import select_run
from ui.state import LIVE_CURVES_KEY
from vae.analysis.pictures import chain_grid, png_bytes, scaled_grid, to_uint8
from vae.data.datasets import Dataset
from vae.data.facts import IMAGE_SIZE
from vae.model.config import RECON_UNITS
from vae.runfile import Run, RunInfo
from vae.settings import retention_text
from vae.training.jobs import JobSnapshot, TrainingJob, max_concurrent
from vae.vocabulary import CheckpointError, RunStatus


def require_run() -> RunInfo:
    """The selected run, or an empty state that points to Train (and stops the page)."""
    info = select_run()
    if info is None:
        st.info("There are no runs yet. Train one first; it takes seconds on the embedded digits.")
        st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
        st.stop()
    return info


def run_page(title: str) -> tuple[RunInfo, Run, Dataset]:
    """The top of a page that explores one run: its title, the run picker, the loaded model and its data."""
    st.title(title)
    info = require_run()
    try:
        run = load(info)
    except CheckpointError as exc:  # changed on disk since it was listed; the picker still offers the others
        checkpoint_error(exc)
        st.stop()
    return info, run, dataset_of(info)


def show_images(
    images: np.ndarray | torch.Tensor, ncols: int, caption: str | None = None, scale: int = 2
) -> np.ndarray:
    """Draw ``[N, 28, 28]`` images as one crisp grid (nearest-neighbour upscaled). Returns the uint8 grid."""
    grid = scaled_grid(images, ncols, scale)
    st.image(grid, caption=caption, output_format="PNG")  # JPEG smears 28-pixel digits
    return grid


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


def job_progress(snap: JobSnapshot) -> None:
    """A job's progress bar, ETA and latest test metrics (``job_curves`` draws its curves)."""
    eta = snap.eta_seconds
    text = f"{snap.name}: {snap.message}" + (f" · ETA {eta:.0f} s" if eta is not None and not snap.done else "")
    st.progress(snap.progress, text=text)
    if snap.notice:
        st.warning(snap.notice, icon=":material/cloud_off:")
    if snap.status == RunStatus.QUEUED:
        st.caption(f"Waiting in the queue: at most {max_concurrent()} trainings run at once on this server.")
    if snap.epochs:
        last = snap.epochs[-1]
        cols = st.columns(4)
        cols[0].metric("Epoch", f"{last.epoch}/{snap.config.epochs}")
        likelihood = snap.config.likelihood
        cols[1].metric(f"Test recon ({curves.recon_unit(likelihood)})", f"{last.test['recon']:.2f}")
        cols[2].metric(f"Test KL ({curves.KL_UNIT})", f"{last.test['kl']:.2f}")
        cols[3].metric(f"Test loss ({curves.loss_unit(likelihood)})", f"{last.test['loss']:.2f}")


# The live curves are rebuilt at most this often; the live view's reruns in between send the same
# figure again, which the browser does not redraw (a redraw of the curves is the costly part).
CURVES_EVERY_S = 6.0


def job_curves(snap: JobSnapshot, token: str) -> None:
    """The curves of the job ``token``: per step (thinned) and per epoch; new ones every ``CURVES_EVERY_S``,
    and as soon as there is a first point to draw."""
    held = st.session_state.get(LIVE_CURVES_KEY)
    if held is not None and held[0] == token and not snap.done and time.monotonic() - held[1] < CURVES_EVERY_S:
        charts.plotly_chart(held[2], key="live_curves")
        return
    series = []
    if len(snap.steps):
        scheduled = snap.config.kl_warmup_epochs > 0 or snap.config.capacity > 0
        series.append(curves.step_series(snap.steps, "train (per step)", "#9aa5b1", scheduled=scheduled, opacity=0.7))
    history = [e.to_dict() for e in snap.epochs]
    series += curves.epoch_series(history, "epoch", color="#6f42c1") if history else []
    if series:
        fig = curves.loss_figure(series, units=(RECON_UNITS[snap.config.likelihood],))
        st.session_state[LIVE_CURVES_KEY] = (token, time.monotonic(), fig)
        charts.plotly_chart(fig, key="live_curves")


def server_jobs_table(jobs: list[TrainingJob], own: TrainingJob | None, key: str = "server_jobs") -> None:
    """The compact list of every training on this server: name, config, progress, ETA, status."""
    if not jobs:
        st.caption(f"No trainings on this server; finished ones are listed for {retention_text()}.")
        return
    rows = []
    for job in reversed(jobs):
        snap = job.snapshot()
        eta = snap.eta_seconds
        rows.append(
            {
                "run": snap.name + ("  (yours)" if job is own else ""),
                "config": snap.config.label,
                "progress": snap.progress,
                "ETA": "" if snap.done or eta is None else f"{eta:.0f} s",
                "status": snap.status,
                "epochs": f"{len(snap.epochs)}/{snap.config.epochs}",
                "on": job.where,
            }
        )
    st.dataframe(
        rows,
        hide_index=True,
        column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0)},
        key=key,
    )


# 28 px × 12 = 336 px: big enough for a projector, each pixel a crisp block (nearest neighbour, never blurred).
GIF_SCALE = 12


def gif_bytes(images: np.ndarray | torch.Tensor, scale: int = GIF_SCALE, frame_ms: int = 90) -> bytes:
    """``[N, 28, 28]`` intensities as a looping GIF that plays them forth and back (Pillow)."""
    from PIL import Image

    tiles = [np.kron(to_uint8(image), np.ones((scale, scale), dtype=np.uint8)) for image in images]
    frames = [Image.fromarray(t) for t in tiles + tiles[-2:0:-1]]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
    return buffer.getvalue()


EXPORT_SIZES = (56, 112, 224, 336)  # pixels a frame: 2, 4, 8 and 12 screen pixels for each of the digit's 28


def walk_downloads(images: torch.Tensor, names: list[str], along: torch.Tensor) -> None:
    """The strip of the legs ``[L, S, 28, 28]`` through ``names`` as a PNG, and the walk ``along`` ``[N, 28, 28]``
    as a GIF played forth and back, both at the size chosen here (nearest-neighbour: a projector shows pixels)."""
    size_col, png_col, gif_col = st.columns([1, 1, 1], vertical_alignment="bottom")
    size = size_col.selectbox(
        "Export size",
        EXPORT_SIZES,
        index=EXPORT_SIZES.index(224),
        format_func=lambda px: f"{px} px a frame",
        key="export_size",
        help="Each of a digit's 28 pixels becomes a square block: sharp on a projector.",
    )
    scale = size // IMAGE_SIZE[-1]
    # Deferred: each file is made when the user clicks, not on every slider move. No rerun on a click: a rerun
    # registers each file anew, and a second click during it asked for the file it had just replaced.
    png_col.download_button(
        "Download the strip (PNG)",
        lambda: png_bytes(chain_grid(images, names, scale)),
        "interpolation.png",
        "image/png",
        icon=":material/download:",
        key="strip_png",
        on_click="ignore",
    )
    gif_col.download_button(
        "Download GIF",
        lambda: gif_bytes(along, scale=scale),
        "interpolation.gif",
        "image/gif",
        icon=":material/gif:",
        key="strip_gif",
        help="The walk, played forth and back, looping.",
        on_click="ignore",
    )


def data_url(grid: np.ndarray) -> str:
    """A uint8 image as a ``data:`` URL, for a plotly background."""
    import base64

    return "data:image/png;base64," + base64.b64encode(png_bytes(grid)).decode("ascii")


def selected_point(event: object) -> tuple[float, ...] | None:
    """The ``customdata`` coordinates of the first clicked point of a plotly selection event."""
    try:
        points = event.get("selection", {}).get("points", [])  # type: ignore[union-attr]
    except AttributeError:
        return None
    custom = points[0].get("customdata") if points else None
    if isinstance(custom, dict):  # a 2-D customdata row arrives as {"0": x, "1": y}
        custom = [custom[k] for k in sorted(custom, key=int)]
    if not isinstance(custom, (list, tuple)) or not custom:
        return None
    return tuple(round(float(v), 4) for v in custom)
