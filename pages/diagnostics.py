"""Diagnostics: KL per latent dimension, active units, and an importance-weighted likelihood."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui import charts, loaders, routing, state, widgets
from ui.curves import KL_UNIT, loss_unit
from vae.analysis.likelihood import ACTIVE_UNIT_THRESHOLD, iw_nll
from vae.data.files import BINARIZED
from vae.server.limits import iw_over_budget
from vae.training.loop import evaluate
from vae.vocabulary import LimitError

routing.ensure_routed()

info, run, data = widgets.run_page("Diagnostics")
d = info.config.latent_dim
kl, active = loaders.kl_and_activity(info)

cols = st.columns(3)
cols[0].metric("Active units", f"{int(active.sum())} / {d}")
cols[1].metric(f"Total KL ({KL_UNIT})", f"{kl.sum():.2f}")
cols[2].metric(f"Largest KL in one dimension ({KL_UNIT})", f"{kl.max():.2f}")
fig = go.Figure(
    go.Bar(
        x=list(range(d)),
        y=kl,
        marker_color=np.where(active, "#6f42c1", "#cccccc"),
        customdata=np.array(loaders.diagnostics_of(info)["mu_variance"]),
        # Each bar is one dimension's share of the total KL: still a mean over the test images, so per image.
        hovertemplate=f"z%{{x}}: KL %{{y:.3f}} {KL_UNIT}, Var[μ] %{{customdata:.3f}}<extra></extra>",
    )
)
fig.update_layout(
    height=320,
    xaxis_title="latent dimension",
    yaxis_title=f"KL of the dimension ({KL_UNIT})",
    margin={"t": 10, "b": 10, "l": 10, "r": 10},
)
charts.plotly_chart(fig, key="kl_per_dim")
st.caption(
    f"A dimension is **active** when its posterior mean varies with the input: Cov_x(E_q[z_u]) > "
    f"{ACTIVE_UNIT_THRESHOLD} (Burda et al. 2015). Grey bars are inactive."
)
if active.sum() < d:
    st.warning(
        f"Posterior collapse: {d - int(active.sum())} of {d} dimensions are inactive. Their posterior equals the "
        "prior whatever the input, so they carry no information about x. Lower β, or try KL warm-up or free bits "
        "on the Train page.",
        icon=":material/warning:",
    )

reference, measured = info.final.get("reference"), info.final.get("iw")
if reference and measured:
    st.subheader("Against the published figure")
    a, b, c = st.columns(3)
    a.metric(
        f"−log p(x), IW k = {measured['k']:,}, {measured['n']:,} test images",
        f"{measured['nll']:.2f} {loss_unit(info.config.likelihood)}",
        f"{measured['nll'] - reference['nll']:+.2f} against the paper's {reference['nll']}",
        delta_color="inverse",
        help="Measured once by scripts/build_pretrained.py and stored with the run.",
    )
    b.metric(
        "Active units, as the paper counts them",
        f"{int(active.sum())} / {d}",
        f"{int(active.sum()) - reference['active_units']:+d} against the paper's {reference['active_units']}",
        delta_color="off",
    )
    c.metric(
        "Epochs trained", f"{info.final['epochs']:,}", f"of the paper's {reference['epochs']:,}", delta_color="off"
    )
    st.caption(
        f"Reference: {reference['source']}. Same architecture, data, optimiser and schedule; see the README "
        "for what differs."
    )

# A Bernoulli decoder gives a likelihood only of binary pixels; on grey levels its bound is a cross-entropy bound.
binary = info.config.dataset in BINARIZED
bound = "−log p(x)" if binary else "the Bernoulli bound"
st.subheader("Importance-weighted log-likelihood" if binary else "Importance-weighted Bernoulli bound")
st.markdown(
    f"The IWAE bound (Burda et al. 2015) estimates {bound} with K samples from q(z|x). "
    "**−ELBO ≥ IW(K) ≥ −log p(x)**: with K = 1 it is the −ELBO, and it tightens towards the true "
    "negative log-likelihood as K grows, so the gap shows how loose the ELBO is."
)
if not binary:
    st.caption(
        f"{info.config.dataset} has grey-level pixels: a Bernoulli decoder's bound on them is a cross-entropy bound, "
        "**not a likelihood**, and must not be compared with published −log p(x) figures such as Burda et al.'s "
        "86.76 nats (those are on binarized MNIST: train on binarized-mnist for one)."
    )


def iw_estimate() -> None:
    """The IW bound of a BCE run on the first test images, on the visitor's click."""
    left, right = st.columns(2)
    k = left.select_slider("Samples K", (1, 10, 100, 1000), value=100)
    n = right.slider(
        "Test images",
        100,
        len(data.test_x),
        min(500, len(data.test_x)),
        step=100,
        help="Cost grows with K × images; 500 images at K = 100 takes seconds.",
    )
    key = ("iw", info.name, info.path.stat().st_mtime_ns, k, n)
    over_budget = iw_over_budget(k, n)
    if over_budget:
        st.info(f"{over_budget}: choose fewer samples K or fewer test images.", icon=":material/speed:")
    if st.button("Estimate", icon=":material/calculate:", disabled=bool(over_budget)):
        bar = st.progress(0.0, text="Waiting for a free slot: heavy computations take turns on this server…")
        x = data.test_x[:n]
        try:
            with state.heavy_work().slot("The IW estimate"):
                bar.progress(0.0, text=f"Decoding {k} samples for each of {n} images…")
                value = iw_nll(run.model, x, k, progress=lambda f: bar.progress(f, text=f"{f:.0%} of {n} images"))
                st.session_state[key] = (value, evaluate(run.model, x)["loss"])
        except LimitError as exc:
            st.error(str(exc), icon=":material/hourglass_top:")
        bar.empty()
    if key in st.session_state:
        value, elbo = st.session_state[key]
        a, b, c = st.columns(3)
        unit = loss_unit(info.config.likelihood)  # a BCE run's (an MSE run has no estimate): nats per image
        what = f"IW estimate of −log p(x), K={k}" if binary else f"IW Bernoulli bound (not a likelihood), K={k}"
        a.metric(f"{what} ({unit})", f"{value:.2f}")
        b.metric(f"−ELBO on the same images ({unit})", f"{elbo:.2f}")
        c.metric(f"ELBO gap ({unit})", f"{elbo - value:.2f}")


# Not ``st.stop()`` for an MSE run: a stop after a chart would keep a new visitor's box in place of it (ui.charts).
if info.config.likelihood == "bce":
    iw_estimate()
else:
    st.info("This run was trained with MSE, which is not a likelihood: the bound needs a BCE (Bernoulli) run.")
