"""Runs & loss curves: compare runs, the rate–distortion plane, continue, download, upload (VAE Lab runs and
VAEs trained elsewhere) and delete checkpoints."""

import streamlit as st

from ui import charts, curves, figures, loaders, routing, run_files, state
from vae.model.config import RECON_UNITS
from vae.runfile.reading import MAX_CHECKPOINT_BYTES
from vae.training.record import StepHistory
from vae.vocabulary import CheckpointError, RunStatus

routing.ensure_routed()


sweep = state.session_batch()
sweeping = sweep is not None and not all(job.snapshot().done for job in sweep[1])


@st.fragment(run_every=2.0 if sweeping else None)
def rate_distortion() -> None:
    """Every likelihood run on the R–D plane; while this tab's sweep trains, it fills in as runs land."""
    st.subheader("Rate–distortion plane")
    st.caption(
        "Each Bernoulli (bce) run is a point: rate R = test KL, distortion D = test reconstruction, both in nats per "
        "image (MSE runs are left out: their distortion is a squared error, not nats). Dashed lines are "
        "iso-ELBO, R + D = constant: moving along one trades rate for distortion at the same ELBO. A β sweep traces "
        "the curve of Alemi et al. 2018, *Fixing a Broken ELBO*: small β buys low distortion with high rate."
    )
    batch = state.session_batch()
    names = tuple(job.name for job in batch[1]) if batch else ()
    # Only finished epochs count: a run still in its first epoch has no test metrics yet.
    likelihood_runs = [r for r in state.runs() if r.config.likelihood == "bce" and "test" in r.final]
    rd_datasets = sorted({r.config.dataset for r in likelihood_runs})
    if not rd_datasets:
        st.caption("No run with the Bernoulli (bce) likelihood yet.")
        return
    # Open on the sweep's dataset, else the current run's.
    chosen = st.session_state.get(state.CURRENT_RUN_KEY)
    lead = [r for r in likelihood_runs if r.name in names] or [r for r in likelihood_runs if r.name == chosen]
    current = lead[0] if lead else None
    first = rd_datasets.index(current.config.dataset) if current is not None else 0
    rd_dataset = (
        st.radio("Dataset", rd_datasets, index=first, horizontal=True) if len(rd_datasets) > 1 else rd_datasets[0]
    )
    rd_runs = [r for r in likelihood_runs if r.config.dataset == rd_dataset]
    charts.plotly_chart(curves.rate_distortion_figure(rd_runs, names), key="rate_distortion")
    if names:
        landed = sum(r.name in names for r in rd_runs)
        st.caption(f"Your sweep, ringed in red and joined in β order: {landed} of {len(names)} runs on the plane.")


def draw_curves(names: list[str], per_step: bool) -> None:
    """The loss curves of the chosen runs; a run that cannot be drawn says so, and the others are drawn."""
    series, units = [], set()
    for i, name in enumerate(names):
        try:
            run = loaders.load(by_name[name])
        except CheckpointError as exc:
            st.warning(f"{name} cannot be drawn: {exc}", icon=":material/warning:")
            continue
        color = figures.PALETTE[i % len(figures.PALETTE)]
        units.add(RECON_UNITS[run.config.likelihood])
        steps = StepHistory.from_history(run.history) if per_step else None
        if steps:
            series.append(curves.step_series(steps, f"{name} per step", color))
        if run.epochs:
            series += curves.epoch_series(run.epochs, name, color)
        else:
            st.caption(f"**{name}** was imported: it has no training history, only its test metrics below.")
    if series:
        # The first epoch's fall (from ~540 nats per image) would flatten the later epochs' progress: off by default.
        whole = curves.past_first_epoch(series) and st.toggle(
            "Show the first epoch",
            value=False,
            help="The curves start at the end of the first epoch, on axes fitted to what follows it.",
        )
        figure = curves.loss_figure(series, units=tuple(units), after_first_epoch=not whole)
        charts.plotly_chart(figure, key="run_curves")
        if len(units) > 1:
            st.caption("These runs' reconstructions are in different units (nats and squared error): compare KL only.")


st.title("Runs & loss curves")
run_files.deleted_notice()
available = state.runs()
if not available:
    st.info("There are no runs yet. Train one, or upload a checkpoint below.")
by_name = {r.name: r for r in available}

interrupted = [r.name for r in available if r.status == RunStatus.INTERRUPTED]
if interrupted:
    st.info(
        f"Interrupted: {', '.join(interrupted)}. Their training process ended before they finished (a restart or "
        "a crash); the finished epochs are kept. Pick one under *Checkpoint files* to continue it.",
        icon=":material/pause_circle:",
    )

if available:
    current = st.session_state.get(state.CURRENT_RUN_KEY)
    chosen = st.multiselect(
        "Runs to compare",
        list(by_name),
        default=[current] if current in by_name else list(by_name)[:1],
        help="Train is dashed, test is solid.",
    )
    draw_curves(chosen, st.toggle("Show per-step training curves", value=False))
    run_files.metrics_table(available)
    rate_distortion()

    st.subheader("Checkpoint files")
    left, right = st.columns(2)
    with left:
        pick = st.selectbox("Run", list(by_name), key="file_run")
        info = by_name[pick]
        st.download_button(
            # Deferred: the file is read when the user clicks, not on every rerun of this page.
            f"Download {pick}.pt",
            info.path.read_bytes,
            f"{pick}.pt",
            "application/octet-stream",
            icon=":material/download:",
        )
        run_files.delete_control(info)
    with right:
        run_files.continue_run(info)

with st.container():
    st.subheader("Upload a checkpoint")
    st.caption(
        f"A `.pt` file saved by VAE Lab, or a plain `state_dict` of the pytorch/examples VAE or of the design "
        f"notes' conv VAE; at most {MAX_CHECKPOINT_BYTES // 2**20} MB. It is checked whole before anything is "
        "written, loaded without ever running code from it, and becomes yours: only this browser can delete it."
    )
    upload = st.file_uploader("Checkpoint", type=["pt", "pth"], key="upload")
    if upload is not None:
        run_files.upload_section(upload)

run_files.unreadable_files()
