"""Generate: samples from the prior, reconstructions, the 2-D manifold, and a latent traversal."""

import streamlit as st
import torch

from ui import routing, widgets
from vae.analysis.latents import manifold_grid, reconstruct, sample_prior, traversal_start, traverse
from vae.analysis.pictures import traversal_grid
from vae.data.datasets import to_float
from vae.model.config import bounds

routing.ensure_routed()

info, run, data = widgets.run_page("Generate")
d = info.config.latent_dim

st.subheader("Samples from the prior")
left, right = st.columns(2)
count = left.slider("How many", 4, 64, 32, step=4)
seed = right.number_input("Seed", *bounds("seed"), 0, key="prior_seed")
widgets.show_images(sample_prior(run.model, count, int(seed)), ncols=16, caption="z ~ N(0, I), decoded")

st.subheader("Reconstructions")
left, right = st.columns(2)
n_recon = left.slider("Test images", 2, 16, 8)
recon_seed = right.number_input("Seed", *bounds("seed"), 0, key="recon_seed")
picks = torch.randperm(len(data.test_x), generator=torch.Generator().manual_seed(int(recon_seed)))[:n_recon]
originals = to_float(data.test_x[picks])
pairs = torch.stack([originals.squeeze(1), reconstruct(run.model, originals)], dim=1).flatten(0, 1)
widgets.show_images(pairs, ncols=2 * min(n_recon, 8), caption="each original, then its reconstruction")

if d == 2:
    st.subheader("The learned manifold")
    size = st.slider("Grid size", 5, 25, 15)
    grid = manifold_grid(run.model, size)
    widgets.show_images(
        grid.flatten(0, 1), ncols=size, caption="decoded at normal quantiles of z₁ (left→right) and z₂ (top→bottom)"
    )

st.subheader("Traverse one latent dimension")
left, middle, right = st.columns(3)
dim = left.number_input("Dimension", 0, d - 1, 0)
base_kind = middle.radio("Around", ("the origin", "a test image"), horizontal=True)
span = right.slider("Range ±", 0.5, 4.0, 3.0, step=0.5)
values = torch.linspace(-span, span, 11)
caption = f"z[{int(dim)}] from {-span:g} to {span:g}, other dimensions fixed"
if base_kind == "a test image":
    idx = int(st.number_input("Test image", 0, len(data.test_x) - 1, 0))
    # The image first: it is the point the traversal moves away from, so the room sees what is held fixed.
    base, start = traversal_start(run.model, data.test_x[idx])
    row = traverse(run.model, base, int(dim), values)[None]  # [1, 11, 28, 28]
    st.image(
        traversal_grid(row, [int(dim)], 2, start=start, start_label=f"test {idx}"),
        caption=f"first, test image {idx} ({data.class_names[int(data.test_y[idx])]}) and its reconstruction; "
        f"then {caption}",
        output_format="PNG",  # JPEG smears 28-pixel digits
    )
else:
    widgets.show_images(traverse(run.model, torch.zeros(d), int(dim), values), ncols=11, caption=caption)
