"""Train: a form for the config, a background worker, live progress and curves, and a Stop button."""

import streamlit as st

import dashboard
from vae.checkpoints import CheckpointError, run_path, sanitize_run_name
from vae.config import (
    ARCHITECTURES,
    CAPACITY_GAMMA_RANGE,
    CAPACITY_RANGE,
    DATASETS,
    FREE_BITS_RANGE,
    LATENT_DIM_RANGE,
    LR_RANGE,
    RECON_LOSSES,
    SCHEDULE_EPOCHS_RANGE,
    ConfigError,
    VAEConfig,
)
from vae.data import default_dataset
from vae.jobs import JobSnapshot, TrainingJob, max_concurrent

# Fine steps where beta matters most (near and below 1), coarse ones above.
BETA_CHOICES = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
BATCH_CHOICES = (32, 64, 128, 256, 512)

st.title("Train a VAE")
dashboard.dataset_notice()

job: TrainingJob | None = st.session_state.get(dashboard.JOB_KEY)
busy = job is not None and not job.snapshot().done
# Defaults for a quick first run; a shared link can preset any field, e.g. ?arch=conv&latent_dim=10&beta=4.
start, link_error = dashboard.config_from_query(
    st.query_params, VAEConfig(dataset=default_dataset(), latent_dim=2, epochs=3)
)
if link_error:
    st.error(link_error, icon=":material/link_off:")


def _choices(options: tuple, value: float) -> list:
    return sorted({*options, value})


with st.form("train_form"):
    left, middle, right = st.columns(3)
    dataset = left.selectbox("Dataset", DATASETS, index=DATASETS.index(start.dataset))
    arch = left.selectbox(
        "Architecture", ARCHITECTURES, index=ARCHITECTURES.index(start.arch),
        help="mlp: 784-400-d-400-784. conv: two conv layers each way.",
    )  # fmt: skip
    recon = left.selectbox(
        "Reconstruction loss", RECON_LOSSES, index=RECON_LOSSES.index(start.recon),
        help="bce is −log p(x|z) in nats; mse is squared error.",
    )  # fmt: skip
    latent_dim = middle.slider(
        "Latent dimension d", *LATENT_DIM_RANGE, start.latent_dim, help="d = 2 is plotted directly on Latent space."
    )
    beta = middle.select_slider(
        "β (KL weight)", _choices(BETA_CHOICES, start.beta), value=start.beta, help="β = 1 is the plain ELBO."
    )
    epochs = middle.slider("Epochs", 1, max(50, start.epochs), start.epochs)
    batch_size = right.select_slider("Batch size", _choices(BATCH_CHOICES, start.batch_size), value=start.batch_size)
    lr = right.number_input(
        "Learning rate", min_value=LR_RANGE[0], max_value=LR_RANGE[1], value=start.lr, step=1e-4, format="%.1e",
        help="Adam's step size; 1e-3 is the classic choice.",
    )  # fmt: skip
    seed = right.number_input("Seed", min_value=0, max_value=2**31 - 1, value=start.seed, step=1)
    with st.expander("Beyond a fixed β: warm-up, free bits, capacity"):
        o1, o2, o3 = st.columns(3)
        warmup = o1.number_input(
            "KL warm-up epochs", 0, SCHEDULE_EPOCHS_RANGE[1], start.kl_warmup_epochs,
            help="β ramps linearly from 0 over this many epochs (Bowman et al. 2016). 0: off.",
        )  # fmt: skip
        free_bits = o2.number_input(
            "Free bits (nats per dimension)", *FREE_BITS_RANGE, start.free_bits, step=0.1,
            help="Each latent dimension's KL counts at least this much, so none is pushed to collapse "
            "(Kingma et al. 2016). 0: off.",
        )  # fmt: skip
        capacity = o3.number_input(
            "Capacity C_max (nats)", *CAPACITY_RANGE, start.capacity, step=1.0,
            help="Train on recon + γ·|KL − C| with C ramping to C_max (Burgess et al. 2018). 0: off.",
        )  # fmt: skip
        o4, o5, _ = st.columns(3)
        capacity_gamma = o4.number_input("γ for capacity", *CAPACITY_GAMMA_RANGE, start.capacity_gamma, step=10.0)
        capacity_epochs = o5.number_input("Epochs to reach C_max", 0, SCHEDULE_EPOCHS_RANGE[1], start.capacity_epochs)
    name = st.text_input("Run name", value="my-run", max_chars=64, help="Letters, digits, '-', '_' and '.'.")
    submitted = st.form_submit_button("Start training", type="primary", disabled=busy)

if busy:
    st.info("A training is already running in this session. Stop it or wait for it to finish to start another.")

if submitted and not busy:
    try:
        # Fields the form does not show (schedule, precision, device) keep the link's or default values.
        config = start.replace(
            dataset=dataset,
            arch=arch,
            recon=recon,
            latent_dim=latent_dim,
            beta=beta,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            kl_warmup_epochs=warmup,
            free_bits=free_bits,
            capacity=capacity,
            capacity_gamma=capacity_gamma,
            capacity_epochs=capacity_epochs,
        )
        clean_name = sanitize_run_name(name)
        job = TrainingJob(config, clean_name, dashboard.checkpoint_dir()).start()
    except (ConfigError, ValueError, TypeError, CheckpointError) as exc:
        st.error(f"Cannot start training: {exc}", icon=":material/error:")
    else:
        st.session_state[dashboard.JOB_KEY] = job
        st.session_state.pop("job_done_seen", None)
        if job.name != name:
            st.toast(f"Saving as **{job.name}** (names must be file-safe and unique).")
        st.rerun()


def draw(snap: JobSnapshot) -> None:
    eta = snap.eta_seconds
    text = f"{snap.name}: {snap.message}" + (f" · ETA {eta:.0f} s" if eta is not None and not snap.done else "")
    st.progress(snap.progress, text=text)
    if snap.notice:
        st.warning(snap.notice, icon=":material/cloud_off:")
    if snap.status == "queued":
        st.caption(f"Waiting in the queue: at most {max_concurrent()} trainings run at once on this server.")
    if snap.epochs:
        last = snap.epochs[-1]
        cols = st.columns(4)
        cols[0].metric("Epoch", f"{last.epoch}/{snap.config.epochs}")
        cols[1].metric("Test recon", f"{last.test['recon']:.2f}")
        cols[2].metric("Test KL", f"{last.test['kl']:.2f}")
        cols[3].metric("Test loss", f"{last.test['loss']:.2f}")
    series = []
    if snap.steps:
        x, recon_steps, kl_steps, loss_steps, beta_steps, capacity_steps = zip(*snap.steps, strict=True)
        scheduled = snap.config.kl_warmup_epochs > 0 or snap.config.capacity > 0
        series.append(
            {"name": "train (per step)", "x": x, "recon": recon_steps, "kl": kl_steps, "loss": loss_steps,
             "beta": beta_steps if scheduled else None, "capacity": capacity_steps if scheduled else None,
             "mode": "lines", "color": "#9aa5b1", "width": 1, "opacity": 0.7}
        )  # fmt: skip
    history = [e.to_dict() for e in snap.epochs]
    series += dashboard.epoch_series(history, "epoch", color="#6f42c1") if history else []
    if series:
        st.plotly_chart(dashboard.loss_figure(series), key="live_curves")


@st.fragment(run_every=1.0 if busy else None)
def live_progress() -> None:
    current: TrainingJob | None = st.session_state.get(dashboard.JOB_KEY)
    if current is None:
        return
    snap = current.snapshot()
    st.subheader(f"Run {snap.name}")
    draw(snap)
    if not snap.done:
        if st.button("Stop", icon=":material/stop:", help="Ends the run after this step and keeps what was trained."):
            current.request_stop()
            st.toast("Stopping after the current step…")
        return
    if st.session_state.get("job_done_seen") != snap.name:
        # The run just ended while this fragment was polling: make it the current run, and rerun
        # the whole page so that the form is enabled again.
        st.session_state["job_done_seen"] = snap.name
        if run_path(dashboard.checkpoint_dir(), snap.name).exists():
            st.session_state[dashboard.CURRENT_RUN_KEY] = snap.name
        st.rerun(scope="app")
    if snap.status == "completed":
        st.success(f"Finished and saved **{snap.name}**; it is now the current run.", icon=":material/check_circle:")
    elif snap.status == "stopped":
        st.info(f"Stopped: {snap.message}. The trained weights are saved as **{snap.name}**.")
    elif snap.status == "diverged":
        st.error(f"Training diverged: {snap.message}", icon=":material/error:")
    else:
        st.error(f"{snap.message}. Nothing already saved was changed.", icon=":material/error:")
    if run_path(dashboard.checkpoint_dir(), snap.name).exists():
        st.page_link("pages/latent.py", label=f"Explore {snap.name} in Latent space", icon=":material/arrow_forward:")


live_progress()
