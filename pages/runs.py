"""Runs & loss curves: compare runs, the rate–distortion plane, continue, download, upload (VAE Lab runs and
VAEs trained elsewhere) and delete checkpoints."""

import pandas as pd
import streamlit as st

from ui import figures, routing, state, widgets
from vae.checkpoints import MAX_CHECKPOINT_BYTES, CheckpointError, RunInfo, delete_run, import_run, load_run
from vae.config import ConfigError, bounds, field_spec
from vae.data import default_dataset
from vae.importers import import_foreign, read_state_dict, recognise
from vae.jobs import TrainingJob
from vae.runs import CONTINUABLE, continue_config
from vae.train import StepHistory

routing.ensure_routed()


def continue_run(info: RunInfo) -> None:
    """Continue the picked run for more epochs: the job starts here and is watched on Train."""
    if info.status not in CONTINUABLE:
        st.caption(f"{info.name} is {info.status or 'of unknown status'}: only a run that completed, was stopped, "
                   "was interrupted or was imported can be continued.")  # fmt: skip
        return
    more = st.number_input(
        "More epochs", min_value=1, max_value=bounds("epochs")[1], value=2, step=1, key="more_epochs"
    )
    label = f"Continue {info.name}" + (" as a new run" if info.shipped else "")
    if not st.button(label, icon=":material/resume:"):
        return
    if state.session_busy():
        st.error("One training per session: yours is still running (see Train).", icon=":material/error:")
        return
    blocked = "" if info.shipped else state.may_change_run(info.name)
    try:
        if blocked:
            raise CheckpointError(blocked)
        run = load_run(info.path)
        job = TrainingJob(continue_config(run, int(more)), f"{info.name}-continued", state.checkpoint_dir(),
                          resume=run)  # fmt: skip
    except (CheckpointError, ConfigError, ValueError) as exc:
        st.error(f"Cannot continue: {exc}", icon=":material/error:")
        return
    state.start_job(job)
    st.switch_page("pages/train.py")


def upload_section(upload) -> None:
    """Add an uploaded file as a run: a VAE Lab checkpoint as it is, a foreign model after evaluating it."""
    data = upload.getvalue()
    stem = upload.name.rsplit(".", 1)[0] or "uploaded"
    try:
        state_dict = read_state_dict(data) if len(data) <= MAX_CHECKPOINT_BYTES else None
        foreign = recognise(state_dict, upload.name) if state_dict is not None else None
    except CheckpointError as exc:
        widgets.checkpoint_error(exc)
        return
    if foreign is None:
        if st.button("Add to my runs", icon=":material/upload:"):
            add(lambda: import_run(state.checkpoint_dir(), data, stem))
        return
    st.info(f"Recognised **{foreign.layout.description}**, d = {foreign.latent_dim}. It is mapped onto VAE Lab's "
            f"{foreign.layout.arch} model with the same outputs, and measured on a test set.",
            icon=":material/input:")  # fmt: skip
    datasets = field_spec("dataset")["choices"]
    dataset = st.selectbox("Evaluate it on", datasets, index=datasets.index(default_dataset()))
    if st.button("Import", icon=":material/upload:"):
        add(lambda: import_foreign(state.checkpoint_dir(), foreign, stem, dataset, source=upload.name))


def add(save) -> None:
    """Run ``save`` (which writes a run) and report the result; nothing is written for a bad file."""
    try:
        with st.spinner("Checking and measuring it…"):
            path = save()
    except (CheckpointError, ValueError) as exc:
        widgets.checkpoint_error(exc)
    else:
        st.success(f"Added **{path.stem}**.")
        st.session_state[state.CURRENT_RUN_KEY] = path.stem


sweep = state.session_batch()
sweeping = sweep is not None and not all(job.snapshot().done for job in sweep[1])


@st.fragment(run_every=2.0 if sweeping else None)
def rate_distortion() -> None:
    """Every likelihood run on the R–D plane; while this tab's sweep trains, it fills in as runs land."""
    st.subheader("Rate–distortion plane")
    st.caption(
        "Each run is a point: rate R = test KL, distortion D = test reconstruction, both in nats. Dashed lines are "
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
    st.plotly_chart(figures.rate_distortion_figure(rd_runs, names), key="rate_distortion")
    if names:
        landed = sum(r.name in names for r in rd_runs)
        st.caption(f"Your sweep, ringed in red and joined in β order: {landed} of {len(names)} runs on the plane.")


st.title("Runs & loss curves")
available = state.runs()
if not available:
    st.info("There are no runs yet. Train one, or upload a checkpoint below.")
by_name = {r.name: r for r in available}

interrupted = [r.name for r in available if r.status == "interrupted"]
if interrupted:
    st.info(f"Interrupted: {', '.join(interrupted)}. Their training process ended before they finished (a restart or "
            "a crash); the finished epochs are kept. Pick one under *Checkpoint files* to continue it.",
            icon=":material/pause_circle:")  # fmt: skip

if available:
    current = st.session_state.get(state.CURRENT_RUN_KEY)
    chosen = st.multiselect(
        "Runs to compare",
        list(by_name),
        default=[current] if current in by_name else list(by_name)[:1],
        help="Train is dashed, test is solid.",
    )
    per_step = st.toggle("Show per-step training curves", value=False)
    series = []
    for i, name in enumerate(chosen):
        run = state.load(by_name[name])
        color = figures.PALETTE[i % len(figures.PALETTE)]
        steps = StepHistory.from_history(run.history) if per_step else None
        if steps:
            series.append(figures.step_series(steps, f"{name} per step", color))
        if run.epochs:
            series += figures.epoch_series(run.epochs, name, color)
        else:
            st.caption(f"**{name}** was imported: it has no training history, only its test metrics below.")
    if series:
        st.plotly_chart(figures.loss_figure(series), key="run_curves")

    rows = []
    for info in available:
        test = info.final.get("test", {})
        rows.append(
            {
                "run": info.name,
                "shipped": info.shipped,
                "dataset": info.config.dataset,
                "arch": info.config.arch,
                "d": info.config.latent_dim,
                "beta": info.config.beta,
                "epochs": info.final.get("epochs"),
                "status": info.status,
                "test recon": round(test.get("recon", float("nan")), 3),
                "test KL": round(test.get("kl", float("nan")), 3),
                "test loss": round(test.get("loss", float("nan")), 3),
                "saved": info.created.replace("T", " ")[:16],
            }
        )
    table = pd.DataFrame(rows)
    st.subheader("Final test metrics")
    st.dataframe(table, hide_index=True)
    st.download_button("Download the table (CSV)", table.to_csv(index=False), "vae_lab_runs.csv", "text/csv")

    rate_distortion()

    st.subheader("Checkpoint files")
    left, right = st.columns(2)
    with left:
        pick = st.selectbox("Run", list(by_name), key="file_run")
        info = by_name[pick]
        st.download_button(
            # Deferred: the file is read when the user clicks, not on every rerun of this page.
            f"Download {pick}.pt", info.path.read_bytes, f"{pick}.pt", "application/octet-stream",
            icon=":material/download:",
        )  # fmt: skip
        if info.shipped:
            st.caption("Shipped runs are read-only and cannot be deleted.")
        else:
            confirm = st.checkbox(f"Yes, delete {pick} for good", key=f"confirm_{pick}")
            if st.button("Delete run", disabled=not confirm, icon=":material/delete:"):
                try:
                    blocked = state.may_change_run(pick)
                    if blocked:
                        raise CheckpointError(f"Cannot delete: {blocked}.")
                    delete_run(state.checkpoint_dir(), pick)
                except CheckpointError as exc:
                    widgets.checkpoint_error(exc)
                else:
                    if st.session_state.get(state.CURRENT_RUN_KEY) == pick:
                        st.session_state.pop(state.CURRENT_RUN_KEY)
                    st.toast(f"Deleted {pick}")
                    st.rerun()

    with right:
        continue_run(info)

with st.container():
    st.subheader("Upload a checkpoint")
    st.caption(
        f"A `.pt` file saved by VAE Lab, or a plain `state_dict` of the pytorch/examples VAE or of the design "
        f"notes' conv VAE; at most {MAX_CHECKPOINT_BYTES // 2**20} MB. It is checked before anything is written, "
        "and loaded without ever running code from it."
    )
    upload = st.file_uploader("Checkpoint", type=["pt", "pth"], key="upload")
    if upload is not None:
        upload_section(upload)

for bad in state.unreadable_runs():
    st.warning(f"`{bad.path.name}` in the checkpoint folder cannot be used: {bad.error}")
