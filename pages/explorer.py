"""Latent explorer: a mixing board with one slider per latent dimension, and for d = 2 a plane.

The board runs the decoder in the visitor's browser (``ui.browser_model``): a drag redraws on every input event,
with no script rerun. A decoder above the setting ``VAE_MAX_WEB_PARAMETERS`` keeps the server path below it.
"""

import numpy as np
import streamlit as st
import torch

from ui import browser_model, charts, figures, loaders, routing, state, widgets
from vae.analysis.latents import decode_grid, decode_images, start_point
from vae.analysis.pictures import image_grid, to_uint8
from vae.data.datasets import to_float
from vae.model.config import bounds

routing.ensure_routed()

PRIOR_RANGE = 4.0  # in prior standard deviations: the prior puts 99.99% of each coordinate inside
STARTS = {"origin": "the origin", "mean": "a digit mean", "mu": "a test image's μ", "prior": "a random prior draw"}

info, run, data = widgets.run_page("Latent explorer")
d = info.config.latent_dim
kl, active = loaders.kl_and_activity(info)
order = np.argsort(-kl, kind="stable")  # the most informative dimensions first


mu_all, labels = loaders.latents_of(info)
# The sliders and the plane span the prior's ±4 σ, or further where the test digits' μ lie further out.
limit = max(PRIOR_RANGE, float(np.ceil(np.abs(mu_all).max()))) if len(mu_all) else PRIOR_RANGE


def slider_key(dim: int) -> str:
    return f"explorer_z{dim}_{info.name}"


def set_board(z: torch.Tensor | np.ndarray) -> None:
    """Move every slider to ``z`` ``[D]``. Only before the sliders are drawn in this run (or in a callback)."""
    values = np.clip(np.asarray(z, dtype=np.float64), -limit, limit)
    for dim in range(d):
        st.session_state[slider_key(dim)] = round(float(values[dim]), 2)


left, middle = st.columns([2, 3])
kind = left.radio("Start from", list(STARTS), format_func=STARTS.get, horizontal=True)
param: int = 0
if kind == "mean":
    param = middle.selectbox("Class", range(len(data.class_names)), format_func=lambda c: data.class_names[c])
elif kind == "mu":
    param = int(middle.number_input("Test image", 0, len(data.test_x) - 1, 0))
elif kind == "prior":
    param = int(middle.number_input("Seed", *bounds("seed"), 0))

source = (info.name, kind, param)
# ``param`` is a class, a test image or a seed, as ``kind`` says: only a test image indexes the test set.
mu_start = torch.from_numpy(mu_all[param]) if kind == "mu" else None
start = start_point(kind, d, means=loaders.class_means(info), digit=param, mu=mu_start, seed=param)
if kind == "mu":
    start_image = to_float(data.test_x[param]).squeeze(0)
    start_caption = f"test image {param} ({data.class_names[int(labels[param])]})"
else:
    start_image = decode_images(run.model, start[None])[0]
    start_caption = f"{STARTS[kind]}, decoded"
if st.session_state.get(state.EXPLORER_START_KEY) != source or slider_key(0) not in st.session_state:
    st.session_state[state.EXPLORER_START_KEY] = source  # a new start point (or run) resets the board; a click does not
    set_board(start)


def server_plane() -> None:
    """The plotly plane to click (the server path): a click decodes that spot."""
    if d != 2:
        return
    st.subheader("The plane: click anywhere to decode that spot")
    show_manifold = st.toggle("Show the decoded manifold underneath", value=False)
    extent = (-limit, limit, -limit, limit)
    background = None
    if show_manifold:
        grid = decode_grid(run.model, extent[:2], extent[2:], 20)
        background = widgets.data_url(to_uint8(image_grid(grid.flatten(0, 1), 20, pad=0)))
    shown = min(len(mu_all), 3000)
    here = np.array([st.session_state[slider_key(i)] for i in range(d)])
    fig = figures.latent_plane(
        mu_all[:shown], labels[:shown], data.class_names, extent, background=background, here=here
    )
    event = charts.plotly_chart(fig, on_select="rerun", selection_mode="points", key=f"explorer_plane_{info.name}")
    clicked = widgets.selected_point(event)
    if clicked is not None and st.session_state.get(state.EXPLORER_CLICK_KEY) != clicked:
        # A new click: move the board there. The same selection comes back on every rerun, so it is
        # applied once, and the sliders stay free to move afterwards.
        st.session_state[state.EXPLORER_CLICK_KEY] = clicked
        set_board(np.array(clicked))
        st.rerun()


@st.fragment
def board() -> None:
    """The sliders and the decoded digit: a fragment, so a slider move redraws only this part."""
    z = np.zeros(d, dtype=np.float32)
    image_col, board_col = st.columns([1, 3])
    with board_col:
        shown = [int(i) for i in order if active[i]]
        hidden = [int(i) for i in order if not active[i]]
        columns = st.columns(4)
        for n, dim in enumerate(shown):
            z[dim] = columns[n % 4].slider(f"z{dim} · KL {kl[dim]:.2f}", -limit, limit, step=0.05, key=slider_key(dim))
        if hidden:
            with st.expander(f"{len(hidden)} inactive dimensions (KL ≈ 0: the decoder ignores them)"):
                columns = st.columns(4)
                for n, dim in enumerate(hidden):
                    z[dim] = columns[n % 4].slider(
                        f"z{dim} · KL {kl[dim]:.2f}", -limit, limit, step=0.05, key=slider_key(dim)
                    )
        # A callback: it runs before the sliders are drawn again, which is when their values may change.
        st.button("Back to the start point", icon=":material/restart_alt:", on_click=set_board, args=(start,))
    decoded = decode_images(run.model, torch.from_numpy(z)[None])[0]
    with image_col:
        widgets.show_images(torch.stack([start_image, decoded]), ncols=2, scale=5)
        st.caption(f"left: {start_caption}; right: the sliders' point, decoded")


web = browser_model.decoder_for(run)
about = (
    "One slider per latent dimension, most informative first (sorted by KL per dimension on the test set). "
    f"{int(active.sum())} of {d} dimensions are active."
)
if web is None:  # above the browser's bound: each slider step reruns the fragment on the server
    server_plane()
    st.subheader("The mixing board")
    st.caption(about)
    board()
else:
    st.subheader("The mixing board")
    plane_note = "; drag on the plane to move z0 and z1" if d == 2 else ""
    st.caption(f"Decoded in your browser as you drag{plane_note}. {about}")
    shown_board = browser_model.Board(
        title=info.name,
        dims=[browser_model.Dim(int(i), f"z{i} · KL {kl[i]:.2f}", bool(active[i])) for i in order],
        start=start.numpy(),
        start_token=browser_model.token(*source),
        limit=limit,
        start_image=start_image.numpy(),
        start_caption=start_caption,
        plane=(mu_all, labels) if d == 2 else None,
        manifold=d == 2 and st.toggle("Show the decoded manifold underneath", value=False),
    )
    browser_model.explorer_board(web, run, shown_board)
