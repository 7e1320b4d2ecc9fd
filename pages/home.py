"""Home: the current run at work (its interpolation chain and prior samples), the run picker, what a VAE
is, and where to go next."""

import streamlit as st

from ui import picker, routing
from ui.curves import KL_UNIT, loss_unit
from ui.home_pictures import home_pictures
from vae.vocabulary import CheckpointError

routing.ensure_routed()

st.title("VAE Lab")
info = picker.select_run(st)
if info is None:
    st.info("No runs yet. Train one on the Train page; on the embedded digits it takes seconds.")
else:
    chain_col, samples_col = st.columns([3, 2])
    try:  # the run's stored pictures when it has them: on a cold server, Home is drawn before torch is loaded
        pictures = home_pictures(info)
    except CheckpointError as exc:  # changed on disk since it was listed; the picker still offers the others
        st.error(str(exc), icon=":material/error:")
    else:
        if pictures.chain_png is not None:  # PNG as stored: a JPEG would smear 28-pixel digits
            chain_col.image(pictures.chain_png, caption=pictures.chain_caption, output_format="PNG")
        samples_col.image(pictures.samples_png, caption="New digits: z ~ N(0, I), decoded", output_format="PNG")
    test = info.final.get("test", {})
    cols = st.columns(5)
    cols[0].metric("Architecture", f"{info.config.arch} · d={info.config.latent_dim}")
    cols[1].metric("β", f"{info.config.beta:g}")
    cols[2].metric("Dataset", info.config.dataset)
    cols[3].metric(f"Test loss ({loss_unit(info.config.likelihood)})", f"{test.get('loss', float('nan')):.2f}")
    cols[4].metric(f"Test KL ({KL_UNIT})", f"{test.get('kl', float('nan')):.2f}")
    if info.shipped:
        st.caption("A shipped run: read-only. Runs you train or upload are saved next to it.")

picker.dataset_notice()
st.markdown(
    """
A **variational autoencoder** (Kingma & Welling, 2013) learns to compress an image *x* into a small
latent code *z* and back. The encoder outputs a Gaussian q(z|x) = N(μ, σ²); a sample
z = μ + σ·ε (the reparameterisation trick) goes through the decoder. Training maximises the
**ELBO** = E_q[log p(x|z)] − KL(q(z|x) ‖ N(0, I)): reconstruct well, but keep the codes close to the
prior so that the latent space is smooth enough to sample from and walk through.
A **β-VAE** weighs the KL term by β: more β, smoother but blurrier; less β, sharper but less regular.
What more β buys is **disentanglement**: latents that each move one true factor of the data. The Disentanglement
page measures it on `shapes`, whose factors are known.
"""
)

st.subheader("Explore")
left, right = st.columns(2)
with left:
    st.page_link("pages/train.py", label="Train a model", icon=":material/model_training:")
    st.page_link("pages/runs.py", label="Compare runs and loss curves", icon=":material/monitoring:")
    st.page_link("pages/latent.py", label="See the latent space", icon=":material/scatter_plot:")
    st.page_link("pages/explorer.py", label="Move through the latent space, slider by slider", icon=":material/tune:")
with right:
    st.page_link("pages/interpolation.py", label="Interpolate between digits", icon=":material/linear_scale:")
    st.page_link("pages/generate.py", label="Generate samples", icon=":material/auto_awesome:")
    st.page_link("pages/diagnostics.py", label="KL per dimension and the IWAE bound", icon=":material/troubleshoot:")
    st.page_link("pages/draw.py", label="Draw a digit and encode it", icon=":material/draw:")
    st.page_link("pages/disentanglement.py", label="What β is for: disentangled factors", icon=":material/grid_view:")
