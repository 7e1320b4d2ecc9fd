"""Draw a digit: sketch or upload one, and see how the model encodes and reconstructs it."""

import io

import numpy as np
import streamlit as st
import torch
from PIL import Image, UnidentifiedImageError

from ui import browser_draw, browser_model, charts, figures, loaders, routing, sketch, widgets
from vae.analysis.latents import decode_images, encode_mu
from vae.data.datasets import to_float
from vae.data.drawing import mnist_style, nearest

routing.ensure_routed()

info, run, data = widgets.run_page("Draw a digit")
st.caption(
    "Draw with the mouse, or upload a picture. It is prepared the way MNIST was made: the ink is cropped, "
    "scaled to fit a 20×20 box and placed in a 28×28 field with its centre of mass in the middle."
)

test_mu, labels = loaders.latents_of(info)
shown = min(len(test_mu), browser_draw.MAX_MAP_POINTS)
points = loaders.project_2d(info, test_mu[:shown])
decoder, encoder = browser_model.decoder_for(run), browser_draw.encoder_for(run)
prepared = drawn = None
live = decoder is not None and encoder is not None and bool(np.isfinite(points).all())
if live:  # the run in the browser: the posterior moves while you draw
    live_map = browser_draw.DrawMap(points, labels[:shown], loaders.pca_of(info))
    prepared = browser_draw.draw_board(run, decoder, encoder, info.name, live_map)
    upload = st.file_uploader("…or upload an image", type=["png", "jpg", "jpeg", "bmp", "gif", "webp"])
    if upload is not None:
        st.caption("The uploaded image is what is analysed below; remove it to analyse your drawing.")
else:  # a model over the browser's bound (or a map of no finite points): the pad sends the drawing to the server
    left, _ = st.columns([1, 2])
    with left:
        drawn = sketch.drawn_image()
        upload = st.file_uploader("…or upload an image", type=["png", "jpg", "jpeg", "bmp", "gif", "webp"])

source = None
if upload is not None:
    try:
        source = np.asarray(Image.open(io.BytesIO(upload.getvalue())).convert("RGBA"))
    except UnidentifiedImageError:  # PIL's message names an in-memory object, which means nothing to a visitor
        st.error(
            "That file is not an image this page can read: not a PNG, JPEG, BMP, GIF or WebP.", icon=":material/error:"
        )
        st.stop()
    except (OSError, Image.DecompressionBombError) as exc:
        st.error(f"That file is not an image this page can read: {exc}", icon=":material/error:")
        st.stop()
elif drawn is not None:
    source = drawn

try:
    digit = mnist_style(source) if source is not None else prepared
except ValueError:
    digit = None
if digit is None:
    st.info("Draw a digit in the box, or upload an image of one.")
    st.stop()

mu = encode_mu(run.model, torch.from_numpy(digit)[None, None])
with torch.no_grad():
    sigma = run.model.encode(torch.from_numpy(digit)[None, None]).std  # [1, D]: q(z|x)'s spread, beside its mean
reconstruction = decode_images(run.model, mu)[0]
if source is not None:  # the pad's own pictures are in the browser
    st.markdown("**The prepared input and its reconstruction**")
    widgets.show_images(torch.stack([torch.from_numpy(digit), reconstruction]), ncols=2, scale=5)

closest = nearest(mu[0].numpy(), test_mu, k=8)
names = ", ".join(data.class_names[int(labels[i])] for i in closest)
st.subheader("Nearest test digits in latent space")
widgets.show_images(to_float(data.test_x[closest]).squeeze(1).numpy(), ncols=8, scale=2)
st.caption(f"labels: {names}")

st.subheader("Where it lands")
here = loaders.project_2d(info, mu.numpy())[0]
fig = figures.latent_scatter(points, labels[:shown], data.class_names, "z" if info.config.latent_dim == 2 else "PC")
figures.mark(
    fig, here, "your digit", {"symbol": "star", "size": 22, "color": "black", "line": {"color": "white", "width": 2}}
)
if info.config.latent_dim == 2:  # q(z|x) is a diagonal Gaussian: its 1σ and 2σ ellipses are axis-aligned here
    for k in (1, 2):
        (x0, y0), (x1, y1) = (mu[0] - k * sigma[0]).tolist(), (mu[0] + k * sigma[0]).tolist()
        fig.add_shape(type="circle", x0=x0, y0=y0, x1=x1, y1=y1, line={"color": "black", "dash": "dot", "width": 1})
charts.plotly_chart(fig, key="draw_scatter")
if info.config.latent_dim > 2:
    st.caption("The latent space has more than 2 dimensions, so this shows its first two principal components.")
else:
    st.caption("The star is the posterior mean μ; the dotted ellipses are 1σ and 2σ of q(z|x).")
st.dataframe(
    {"dimension": [f"z{j}" for j in range(info.config.latent_dim)], "μ": mu[0].tolist(), "σ": sigma[0].tolist()},
    hide_index=True,
    key="draw_posterior",
)
