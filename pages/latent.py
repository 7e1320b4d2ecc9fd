"""Latent space: the encoded test set, directly in 2-D or through t-SNE / PCA; click a point to see it."""

import streamlit as st
import torch

from ui import charts, factors, figures, loaders, picker, routing, widgets
from vae.analysis import precompute
from vae.analysis.latents import EMBEDDING_METHODS, EMBEDDING_NAMES, reconstruct
from vae.data.datasets import to_float
from vae.server.limits import tsne_over_budget
from vae.settings import setting
from vae.training.record import align_frames

routing.ensure_routed()

info, run, data = widgets.run_page("Latent space")
mu, labels = loaders.latents_of(info)
n_total = len(mu)


d = info.config.latent_dim
other = picker.compare_with(info)
other_d = other.config.latent_dim if other is not None else 2
if d == 2 and other_d == 2:
    st.caption(f"{info.name} has a 2-D latent space, so the posterior means μ are plotted as they are.")
    n = st.slider("Points", 100, n_total, min(n_total, 5000), step=100)
    method, perplexity = "direct", 0.0
else:
    left, middle = st.columns([1, 2])
    method = left.radio(
        "Projection",
        EMBEDDING_METHODS,
        format_func=EMBEDDING_NAMES.get,
        horizontal=True,
        help="For runs with d > 2; a 2-D run is always drawn as it is.",
    )
    # A form: t-SNE runs once on "Redraw", not for every value a slider passes through on its way.
    with middle, st.form("projection", border=False, enter_to_submit=False):
        inner_left, inner_right = st.columns(2)
        n = inner_left.slider(
            "Points",
            200,
            n_total,
            min(n_total, precompute.DEFAULT_POINTS),
            step=100,
            help="t-SNE on the whole test set takes a while on a small CPU.",
        )
        perplexity = inner_right.slider(
            "Perplexity", 5, 100, precompute.DEFAULT_PERPLEXITY, disabled=method != "tsne", help="t-SNE only"
        )
        st.form_submit_button("Redraw", icon=":material/refresh:")
    over_budget = tsne_over_budget(n) if method == "tsne" else ""
    if over_budget:
        n = setting("VAE_MAX_TSNE_POINTS")
        st.info(f"{over_budget}, so the first {n:,} points are shown; PCA draws them all.", icon=":material/speed:")

labels, class_names, legend = factors.colouring(data, labels)
points, axis = loaders.plane(info, mu, n, method, perplexity, data.name)
fig = figures.latent_scatter(points, labels[:n], class_names, axis, legend)
if other is None:
    event = charts.plotly_chart(fig, on_select="rerun", selection_mode="points", key="latent_scatter")
else:
    # Side by side: the same n test digits, each run in its own plane.
    other_points, other_axis = loaders.plane(other, loaders.latents_of(other)[0], n, method, perplexity, data.name)
    mine_col, other_col = st.columns(2)
    with mine_col:
        st.markdown(f"**{info.name}** · {info.config.label}")
        event = charts.plotly_chart(fig, on_select="rerun", selection_mode="points", key="latent_scatter")
    with other_col:
        st.markdown(f"**{other.name}** · {other.config.label}")
        other_fig = figures.latent_scatter(other_points, labels[:n], class_names, other_axis, legend)
        charts.plotly_chart(other_fig, key="latent_scatter_compare")

index = widgets.selected_point_index(event)
if index is None:
    st.caption("Click a point to see that test image and its reconstruction.")
else:
    image = to_float(data.test_x[index : index + 1])
    shown = [image.squeeze(1), reconstruct(run.model, image)]
    if other is not None:
        shown.append(reconstruct(loaders.load(other).model, image))
    names = "original, reconstruction" + (f", {other.name}'s reconstruction" if other is not None else "")
    st.markdown(f"**Test image {index}** (label {class_names[int(labels[index])]}): {names}")
    widgets.show_images(torch.cat(shown), ncols=len(shown), scale=4)

st.subheader("Watch it form, epoch by epoch")
frames = run.history.get("frames")
if not isinstance(frames, dict) or not len(frames.get("positions", ())):
    st.info(
        f"{info.name} has no per-epoch record of its latent space: it was trained before VAE Lab kept one, "
        "or imported. Runs trained now keep 1,000 test digits' positions after every epoch.",
        icon=":material/history:",
    )
# A toggle, not always drawn: the animation carries every epoch's frame (up to ~1 MB of JSON for the
# browser), which would weigh on every visit to this page.
elif st.toggle(
    # A long run records a frame every few epochs: say how many frames, of how many epochs.
    f"Play the {len(run.epochs):,} epochs of {info.name}"
    if len(frames["epochs"]) == len(run.epochs)
    else f"Play {len(frames['epochs'])} frames of the {len(run.epochs):,} epochs of {info.name}",
    value=False,
    key="play_forming",
):
    epochs_shown = [int(e) for e in frames["epochs"]]
    positions = frames["positions"].float()
    if d > 2:
        positions = align_frames(positions)  # each epoch's PCA, turned onto the last epoch's axes
    frame_labels = frames["labels"].long().numpy()
    charts.plotly_chart(
        figures.latent_animation(
            positions.numpy(), epochs_shown, frame_labels, data.class_names, "z" if d == 2 else "PC"
        ),
        key="latent_animation",
    )
    st.caption(
        f"The same {positions.shape[1]:,} test digits after epochs {epochs_shown[0]}–{epochs_shown[-1]} "
        f"({len(epochs_shown)} frames): "
        + (
            "their posterior means μ."
            if d == 2
            else "each epoch's first two principal components of μ, "
            "aligned to the last epoch by orthogonal Procrustes so the picture neither spins nor flips."
        )
    )
    recons = frames["recons"].float() / 255.0  # [E, R, 28, 28]
    if data.name == info.config.dataset:
        originals = to_float(data.test_x[frames["recon_index"]]).squeeze(1)  # [R, 28, 28]
        panel = torch.cat([originals[None], recons]).transpose(0, 1).flatten(0, 1)  # row r: digit r, then each epoch
        caption = "each row: a test digit, then its reconstruction after each epoch"
    else:  # the digits were recorded from a test set that a stand-in replaces here
        panel = recons.transpose(0, 1).flatten(0, 1)
        caption = f"each row: one {info.config.dataset} test digit's reconstruction after each epoch"
    widgets.show_images(panel, ncols=len(recons) + (data.name == info.config.dataset), scale=2, caption=caption)
