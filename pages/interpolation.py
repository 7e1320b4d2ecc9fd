"""Interpolation: walk between per-class mean latents, or between two test images, and decode each step."""

import streamlit as st
import torch

from ui import browser_model, charts, figures, loaders, picker, routing, widgets
from vae.analysis import pictures
from vae.analysis.latents import (
    INTERPOLATION_METHODS,
    chain_path,
    decode_images,
    default_chain,
    encode_mu,
    interpolate,
    interpolate_chain,
    parse_chain,
)
from vae.data.datasets import to_float
from vae.model.networks import IMAGE_SHAPE

routing.ensure_routed()

STRIP_SCALE = pictures.HOME_SCALE  # each pixel a 2 × 2 block, as on Home and in the PNG download

info, run, data = widgets.run_page("Interpolation")
means = loaders.class_means(info)

st.markdown(
    "Each class's **mean latent** is the average posterior mean μ over its test images. "
    "The strip decodes evenly spaced points on the path from one mean to the next."
)


other = picker.compare_with(info)
other_means = loaders.class_means(other) if other is not None else None


def show_chain(images: torch.Tensor, names: list[str], caption: str | None = None) -> None:
    """Draw the decoded legs ``[L, S, 28, 28]`` of the walk through ``names``, one labelled leg a row (the picture
    Home shows, ``pictures.chain_grid``)."""
    st.image(pictures.chain_grid(images, names, STRIP_SCALE), caption=caption, output_format="PNG")  # JPEG smears


def scrubber(chain: list[int], names: list[str], method: str) -> None:
    """Under the strip, a scrubber along the same walk, decoded in the browser as it moves (no rerun). A decoder
    too large for the browser shows nothing more: the strip above is its server path."""
    web = browser_model.decoder_for(run)
    if web is None:
        return
    st.caption(f"Scrub along the whole path ({method}): each place decoded in your browser as you drag.")
    walk = browser_model.Walk(info.name, names, means[chain].numpy(), method)
    plane = loaders.latents_of(info) if info.config.latent_dim == 2 else None  # kept for the explorer's board
    browser_model.path_board(web, run, walk, plane)


@st.fragment
def chain_strip() -> None:
    """The chain's controls and strip: a fragment, so moving a slider redraws only this part."""
    left, middle, right = st.columns([2, 1, 1])
    chain = default_chain(len(data.class_names))
    chain_text = left.text_input(
        "Chain of classes", ", ".join(map(str, chain)), help=f"class numbers, e.g. {', '.join(map(str, chain))}"
    )
    steps = middle.slider("Steps per pair", 2, 20, 8, help="Points on each leg, both ends included.")
    method = right.radio(
        "Method",
        INTERPOLATION_METHODS,
        horizontal=True,
        help="Spherical (slerp) keeps the path near the prior's shell of radius ≈ √d.",
    )

    try:
        chain = parse_chain(chain_text, len(data.class_names))
    except ValueError as exc:
        st.error(str(exc), icon=":material/error:")
        return

    missing = [
        c for c in chain if bool(means[c].isnan().any()) or (other is not None and bool(other_means[c].isnan().any()))
    ]
    if missing:
        st.error(f"Classes {missing} have no test images in {info.config.dataset}, so they have no mean.")
        return

    legs = interpolate_chain(means, chain, steps, method)  # [L, S, D]
    images = decode_images(run.model, legs.flatten(0, 1)).reshape(len(legs), steps, *IMAGE_SHAPE[1:])
    names = [data.class_names[c] for c in chain]
    st.caption(f"{len(legs) * (steps - 1) + 1} images: {' → '.join(names)}, {method}, one row per leg")
    # One row per leg (its shared ends repeated), labelled "a → b", so a room reads the walk leg by leg.
    if other is None:
        show_chain(images, names)
    else:  # the same chain, steps and method through the other run's own class means
        other_legs = interpolate_chain(other_means, chain, steps, method)
        other_images = decode_images(loaders.load(other).model, other_legs.flatten(0, 1))
        mine_col, other_col = st.columns(2)
        with mine_col:
            show_chain(images, names, f"{info.name} · {info.config.label}")
        with other_col:
            show_chain(other_images.reshape(images.shape), names, f"{other.name} · {other.config.label}")
    along = torch.cat([images[0], images[1:, 1:].flatten(0, 1)])  # the walk, ends shared
    widgets.walk_downloads(images, names, along)
    scrubber(chain, names, method)

    # A toggle rather than an expander: a collapsed expander still draws its chart on every redraw.
    if st.toggle("Why spherical interpolation? Show the latent norm along the path", value=False):
        paths = {
            kind: chain_path(legs if kind == method else interpolate_chain(means, chain, steps, kind))
            for kind in INTERPOLATION_METHODS
        }
        charts.plotly_chart(figures.latent_norms_figure(paths, info.config.latent_dim), key="norms")
        st.caption(
            "Under the prior N(0, I) in d dimensions almost all the mass lies near the shell ‖z‖ ≈ √d, the typical set. "
            "A straight line between two codes cuts through the interior, where the decoder saw few codes, so its "
            "middle frames can fade; slerp follows the arc and interpolates the norm, staying near the shell. "
            "Class means sit inside the shell, since averaging shrinks norms; the dip of the straight path is still visible."
        )


chain_strip()

st.subheader("Between two test images")
n_test = len(data.test_x)
a_col, b_col, s_col, m_col = st.columns(4)
a = a_col.number_input("First test image", 0, n_test - 1, 0)
b = b_col.number_input("Second test image", 0, n_test - 1, min(1, n_test - 1))
pair_steps = s_col.slider("Steps", 2, 20, 10, key="pair_steps")
pair_method = m_col.radio("Method", ("linear", "spherical"), horizontal=True, key="pair_method")
ends = encode_mu(run.model, data.test_x[[int(a), int(b)]])
between = decode_images(run.model, interpolate(ends[0], ends[1], pair_steps, pair_method))
originals = to_float(data.test_x[[int(a), int(b)]]).squeeze(1)
strip = torch.cat([originals[:1], between, originals[1:]])
st.caption(f"original {int(a)} | {pair_steps} decoded steps | original {int(b)}")
widgets.show_images(strip, ncols=len(strip))
