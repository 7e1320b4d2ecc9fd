"""Disentanglement: what β is for, on data whose true factors are known (``shapes``)."""

import numpy as np
import streamlit as st
import torch

from ui import charts, factors, loaders, picker, routing, state, study, widgets
from vae.analysis.latents import traversal_start, traverse
from vae.analysis.likelihood import ACTIVE_UNIT_THRESHOLD
from vae.analysis.pictures import traversal_grid
from vae.analysis.study import STUDY_FOLDER, medians, read_scores
from vae.data.files import GENERATED_DATASET
from vae.data.shapes import FACTORS
from vae.model.config import strength_label
from vae.runfile.schema import DISENTANGLEMENT
from vae.vocabulary import CheckpointError, StudyError

routing.ensure_routed()

TRAVERSAL_STEPS = 9

st.title("Disentanglement")
st.caption(
    "A latent is *disentangled* when it moves one true factor of the data and nothing else. MNIST's factors are "
    f"unknown, so this page reads runs trained on **{GENERATED_DATASET}**: dSprites' five factors (shape, scale, "
    "orientation, position x and y), drawn at 28 × 28. Higgins et al. 2017 raised β to get such latents."
)
candidates = factors.factor_runs()
if not candidates:
    st.info(
        ("There are no runs yet. " if not state.runs() else f"No run is trained on {GENERATED_DATASET} yet. ")
        + f"Train one on {GENERATED_DATASET}: the shipped sweep's best is an MLP with hidden widths 128,128, "
        "d = 10 and β = 8."
    )
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()
info = picker.select_run(among=candidates, help=f"The runs trained on {GENERATED_DATASET}.")
try:
    run = loaders.load(info)
except CheckpointError as exc:
    widgets.checkpoint_error(exc)
    st.stop()

measured = factors.scores(info)
mi, entropy = np.array(measured["mi"]), np.array(measured["entropy"])
left, right, third = st.columns(3)
left.metric(
    "MIG",
    f"{measured['mig']:.3f}",
    help="Mutual Information Gap (Chen et al. 2018): per factor, the gap in mutual information between the two "
    "latents that know it best, over the factor's entropy; the mean over factors. 10,000 points, 20 bins.",
)
right.metric(
    "FactorVAE score",
    f"{measured['factor_vae']:.3f}",
    help="Kim & Mnih 2018: fix one factor over 64 images; the latent whose (normalised) variance drops most votes "
    "for it. The accuracy of the majority vote on 5,000 held-out batches.",
)
third.metric(
    "DCI disentanglement",
    f"{measured['dci']:.3f}" if "dci" in measured else "not measured",
    help="Eastwood & Williams 2018, with gradient-boosted trees per factor. Minutes a run: "
    "`python -m vae eval RUN --disentanglement --dci` stores it with the run.",
)
st.caption(
    "MIG per factor: "
    + " · ".join(f"{f.name} {gap:.2f}" for f, gap in zip(FACTORS, measured["mig_per_factor"], strict=True))
)
st.caption(
    "Both are 1 when each factor lives in one latent alone. MIG near 0: every factor's information is spread over "
    "several latents. A FactorVAE score of 0.2 is chance (5 factors). As disentanglement_lib defines them; "
    + ("stored with the run." if info.final.get(DISENTANGLEMENT) else "measured here, not stored in the file.")
)

variance = np.array(measured.get("mu_variance") or loaders.diagnostics_of(info)["mu_variance"])
active = variance > ACTIVE_UNIT_THRESHOLD
st.subheader("Which latent holds which factor")
charts.plotly_chart(factors.mi_heatmap(mi, entropy, active), key="mi_heatmap")
st.caption(
    "Each cell: the mutual information of a latent's mean μ with a factor, as a share of that factor's entropy. "
    f"A row names the factor its latent knows best, or says it is inactive (Var[μ] ≤ {ACTIVE_UNIT_THRESHOLD}); a "
    "disentangled run has one bright cell per column."
)

st.subheader("Traversals")
rows = [int(j) for j in np.argsort(-variance) if active[j]] or [int(np.argmax(variance))]
start = st.radio("Start from", ("the origin", "a test image"), horizontal=True, help="It fixes every latent not moved.")
base, first, index = torch.zeros(info.config.latent_dim), None, 0
if start == "a test image":
    data = loaders.dataset_of(info)
    index = st.slider("Test image", 0, len(data.test_x) - 1, 0)
    base, first = traversal_start(run.model, data.test_x[index])  # the image and its reconstruction come first
values = torch.tensor(factors.traversal_values(TRAVERSAL_STEPS), dtype=torch.float32)
images = torch.stack([traverse(run.model, base, j, values) for j in rows])  # [R, T, 28, 28]
holds = factors.captured(mi, entropy)
image_col, text_col = st.columns([3, 1])
with image_col:
    picture = traversal_grid(images, rows, 3, start=first, start_label=f"test {index}")
    st.image(picture, output_format="PNG")  # JPEG smears 28-pixel shapes
with text_col:
    if first is not None:
        st.markdown(f"**test {index}**: the image, then its reconstruction")
    for j in rows:
        st.markdown(f"**z{j}**: {FACTORS[holds[j]].name}  \nVar[μ] {variance[j]:.2f}")
st.caption(
    f"One row per active latent (Var[μ] > {ACTIVE_UNIT_THRESHOLD}), most used first, from −3 to +3 (the prior's σ "
    "is 1), the other latents held where they start. A disentangled latent changes one thing: the shape grows, "
    "turns or slides."
    + (" The first row is the test image itself, then its reconstruction." if first is not None else "")
)

st.subheader("β against disentanglement")
sweeps: dict[str, list] = {}
for r in candidates:
    sweeps.setdefault(factors.sweep_key(r), []).append(r)
mine = factors.sweep_key(info)
members = sweeps[mine]
if len({r.config.beta for r in members}) < 2:
    st.info(
        f"Only one β among the {GENERATED_DATASET} runs like this one ({mine}). Sweep β on the Train page to see "
        "the trade-off.",
        icon=":material/linear_scale:",
    )
else:
    charts.plotly_chart(factors.beta_figure(factors.sweep_points(members)), key="beta_figure")
    st.caption(
        f"The {len(members)} runs on {GENERATED_DATASET} with {mine}. Raising β presses each latent toward the "
        "factorised prior, which rewards latents that each carry one factor; it also costs reconstruction "
        "(dotted, right axis). The β-VAE trade-off in one picture."
    )

st.subheader("The study: each objective over seeds")
try:
    rows = read_scores(state.checkpoint_dir() / STUDY_FOLDER)
except StudyError as exc:
    rows = []
    st.warning(f"The study's score table is not shown: {exc}", icon=":material/warning:")
if not rows:
    st.caption("No study in this folder yet: `scripts/study.py` trains one (the β-VAE family × 2 strengths × 3 seeds).")
else:
    charts.plotly_chart(study.spread_figure(rows), key="study_spread")
    best = max(medians(rows).items(), key=lambda item: (item[1]["mig"], item[1]["factor_vae"]))
    st.caption(
        f"{len(rows)} runs of {GENERATED_DATASET}, one dot a seed, the bar its median. Locatello et al. 2019 found "
        "that the seed moves these scores as much as the objective does. Best median MIG here: "
        f"{strength_label(*best[0])}, MIG {best[1]['mig']:.2f} and FactorVAE score {best[1]['factor_vae']:.2f} "
        f"over {best[1]['seeds']} seed{'s' if best[1]['seeds'] != 1 else ''}."
    )
    charts.plotly_chart(study.tradeoff_figure(rows), key="study_tradeoff")
    st.caption("What disentanglement costs: each run's MIG against its test reconstruction.")
