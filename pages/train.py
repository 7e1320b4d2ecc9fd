"""Train: the tab's own training or sweep at the top (live progress, curves, Stop), the config form,
continuing a saved run, a β sweep, and every training on this server.

Trainings live in the process-wide registry, not in the tab: the URL's ``?job=`` (or ``?batch=``)
token brings a reload, a reconnect or a copied link back to the same live view.
"""

from collections.abc import Callable

import streamlit as st

from ui import routing, state, widgets
from vae import burda
from vae.checkpoints import CheckpointError, load_run
from vae.config import ConfigError, VAEConfig, bounds, field_spec, flag_text
from vae.data import default_dataset
from vae.jobs import TrainingJob, max_concurrent
from vae.names import run_path, sanitize_run_name
from vae.progress import JobSnapshot
from vae.runs import continue_config
from vae.schema import CONTINUABLE, RunStatus
from vae.settings import retention_text
from vae.sweep import NAME_RULE, plan

routing.ensure_routed()

# Fine steps where beta matters most (near and below 1), coarse ones above.
BETA_CHOICES = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
BATCH_CHOICES = (32, 64, 128, 256, 512)
MAX_SWEEP_RUNS = 24

st.title("Train a VAE")
widgets.dataset_notice()
DONE_SEEN_KEY = "job_done_seen"

if st.session_state.pop(state.STALE_LINK_KEY, False):
    st.warning(
        f"That training link is unknown or has expired: trainings are listed for {retention_text()} after they end. "
        "Finished runs are on Runs & loss curves.",
        icon=":material/link_off:",
    )
busy = state.session_busy()
# Each tab's live view reruns every 2 s while it trains, with new curves every 6 s (the costly part:
# up to 1,000 points a series; see ``widgets.job_curves``); the sweep and server lists every 10 s.
# Every rerun costs the browser a redraw of the page too, ~45 ms here: with progress, curves and list
# every 1, 3 and 5 s a training tab kept 0.2 of a core busy in headless chromium (1.77 s of main-thread
# work in 9 s), now 0.06 (0.58 s).
mine, my_batch = state.session_job(), state.session_batch()
job_active = mine is not None and not mine[1].snapshot().done
batch_active = my_batch is not None and not all(j.snapshot().done for j in my_batch[1])


@st.fragment(run_every=2.0 if job_active else None)
def live_view() -> None:
    """The tab's own job: progress, Stop and curves, redrawn every 2 s while it trains."""
    mine = state.session_job()
    if mine is None:
        return
    token, job = mine
    snap = job.snapshot()
    st.subheader(f"Your training: {snap.name}")
    widgets.job_progress(snap)
    if not snap.done:
        if st.button("Stop", icon=":material/stop:", help="Ends the run after this step and keeps what was trained."):
            state.job_registry().stop(token)
            st.toast("Stopping after the current step…")
    else:
        ended(token, snap)
    widgets.job_curves(snap, token)


def ended(token: str, snap: JobSnapshot) -> None:
    """How the tab's own job ended, and where to go from there."""
    if st.session_state.get(DONE_SEEN_KEY) != token:
        # The run just ended while the live view was polling: make it the current run, and rerun
        # the whole page so that the form opens again.
        st.session_state[DONE_SEEN_KEY] = token
        if run_path(state.checkpoint_dir(), snap.name).exists():
            st.session_state[state.CURRENT_RUN_KEY] = snap.name
        st.rerun(scope="app")
    if snap.status == RunStatus.COMPLETED:
        st.success(f"Finished and saved **{snap.name}**; it is now the current run.", icon=":material/check_circle:")
    elif snap.status == RunStatus.STOPPED:
        st.info(f"Stopped: {snap.message}. The trained weights are saved as **{snap.name}**.")
    elif snap.status == RunStatus.DIVERGED:
        st.error(f"Training diverged: {snap.message}", icon=":material/error:")
    else:
        st.error(f"{snap.message}. Nothing already saved was changed.", icon=":material/error:")
    if run_path(state.checkpoint_dir(), snap.name).exists():
        st.page_link("pages/latent.py", label=f"Explore {snap.name} in Latent space", icon=":material/arrow_forward:")


live_view()


@st.fragment(run_every=10.0 if batch_active else None)
def live_sweep() -> None:
    """The tab's own sweep: every run of the batch, as it goes through the server's queue."""
    if (mine := state.session_batch()) is not None:
        draw_sweep(*mine)


def draw_sweep(token: str, batch: list[TrainingJob]) -> None:
    snaps = [job.snapshot() for job in batch]
    finished = sum(s.done for s in snaps)
    st.subheader(f"Your sweep: {finished} of {len(batch)} runs finished")
    widgets.server_jobs_table(batch, None, key="sweep_jobs")
    if finished < len(batch):
        if st.button("Stop the sweep", icon=":material/stop:", help="Stops every run of it; finished runs stay."):
            state.job_registry().stop_batch(token)
            st.toast("Stopping every run of the sweep…")
    elif st.session_state.get(DONE_SEEN_KEY) != token:
        st.session_state[DONE_SEEN_KEY] = token
        st.rerun(scope="app")  # open the form again
    st.page_link("pages/runs.py", label="See the sweep on the rate–distortion plane", icon=":material/scatter_plot:")


live_sweep()

# Defaults for a quick first run; a shared link can preset any field, e.g. ?arch=conv&latent_dim=10&beta=4.
start, link_error = state.config_from_query(
    st.query_params, VAEConfig(dataset=default_dataset(), latent_dim=2, epochs=3)
)
if link_error:
    st.error(link_error, icon=":material/link_off:")


def launch(make: Callable[[], TrainingJob | list[TrainingJob]], what: str) -> None:
    """Make this tab's job (or a sweep's jobs), hand it to the server, and redraw; a bad setting, or a request
    over one of the server's limits (``LimitError``, a ``ValueError``), is said in one line."""
    try:
        made = make()
        if isinstance(made, list):
            state.start_batch(made)
        else:
            state.start_job(made)
    except (ConfigError, ValueError, TypeError, CheckpointError) as exc:
        st.error(f"Cannot {what}: {exc}", icon=":material/error:")
        return
    if not isinstance(made, list) and made.name != made.wanted_name:
        st.toast(f"Saving as **{made.name}** (names must be file-safe and unique).")
    st.session_state.pop(DONE_SEEN_KEY, None)
    st.rerun()


def _choices(options: tuple, value: float) -> list:
    return sorted({*options, value})


def label(name: str) -> str:
    return field_spec(name)["label"]


def tip(name: str) -> str:
    return field_spec(name)["help"]


values: dict[str, object] = {}  # field name -> the form's value; labels, help and limits come from the config
with st.expander("New training", expanded=not busy, icon=":material/add_circle:"), st.form("train_form"):
    left, middle, right = st.columns(3)
    for column, name in ((left, "dataset"), (left, "arch"), (left, "likelihood")):
        options = field_spec(name)["choices"]
        values[name] = column.selectbox(label(name), options, index=options.index(getattr(start, name)), help=tip(name))
    values["latent_dim"] = middle.slider(
        label("latent_dim"),
        *bounds("latent_dim"),
        start.latent_dim,
        help=tip("latent_dim") + "; d = 2 is plotted directly on Latent space",
    )
    values["beta"] = middle.select_slider(
        label("beta"), _choices(BETA_CHOICES, start.beta), value=start.beta, help=tip("beta")
    )
    values["epochs"] = middle.number_input(label("epochs"), *bounds("epochs"), start.epochs, help=tip("epochs"))
    values["batch_size"] = right.select_slider(
        label("batch_size"), _choices(BATCH_CHOICES, start.batch_size), value=start.batch_size, help=tip("batch_size")
    )
    values["lr"] = right.number_input(
        label("lr"), *bounds("lr"), value=start.lr, step=1e-4, format="%.1e", help=tip("lr") + "; 1e-3 is classic"
    )
    values["seed"] = right.number_input(label("seed"), *bounds("seed"), start.seed, step=1, help=tip("seed"))
    with st.expander("Beyond a fixed β: warm-up, free bits, capacity"):
        o1, o2, o3 = st.columns(3)
        o4, o5, _ = st.columns(3)
        steps = {"free_bits": 0.1, "capacity": 1.0, "capacity_gamma": 10.0}
        for column, name in (
            (o1, "kl_warmup_epochs"),
            (o2, "free_bits"),
            (o3, "capacity"),
            (o4, "capacity_gamma"),
            (o5, "capacity_epochs"),
        ):
            low, high = bounds(name)
            values[name] = column.number_input(
                label(name), low, high, getattr(start, name), step=steps.get(name, 1), help=tip(name)
            )
    with st.expander("MLP layers and optimiser: Burda et al. 2015's setup"):
        o1, o2 = st.columns(2)
        o3, o4 = st.columns(2)
        values["hidden"] = o1.text_input(
            label("hidden"), flag_text(start.hidden), help=tip("hidden") + "; the conv model ignores it"
        )
        for column, name in ((o2, "activation"), (o3, "lr_schedule")):
            options = field_spec(name)["choices"]
            values[name] = column.selectbox(
                label(name), options, index=options.index(getattr(start, name)), help=tip(name)
            )
        values["adam_eps"] = o4.number_input(
            label("adam_eps"), *bounds("adam_eps"), value=start.adam_eps, format="%.0e", help=tip("adam_eps")
        )
        st.caption(
            "Burda et al. 2015: dataset binarized-mnist, hidden 200,200, tanh, d = 50, batch 20, schedule "
            f"burda, Adam ε 1e-4, and {burda.EPOCHS:,} epochs; `burda-vae-k1` on the Runs page is trained with it."
        )
    name = st.text_input("Run name", value="my-run", max_chars=64, help="Letters, digits, '-', '_' and '.'.")
    submitted = st.form_submit_button("Start training", type="primary", disabled=busy)

if busy:
    st.caption("One training per session: stop yours, or wait for it to finish, to start another.")

if submitted and not busy:
    # Fields with no form label (device, precision) keep the link's or default values.
    launch(
        lambda: TrainingJob(
            start.replace(**values), name, state.checkpoint_dir(), owner=state.owner_hash_for_new_run()
        ),
        "start training",
    )


def continue_section() -> None:
    """Continue a completed, stopped or interrupted run for more epochs, from its saved optimizer state."""
    candidates = [r for r in state.runs() if r.status in CONTINUABLE]
    if not candidates:
        st.caption("No run can be continued yet: train one first.")
        return
    names = [r.name for r in candidates]
    current = st.session_state.get(state.CURRENT_RUN_KEY)
    left, middle, right = st.columns([2, 1, 1])
    pick = left.selectbox(
        "Run to continue",
        names,
        index=names.index(current) if current in names else 0,
        format_func=lambda n: f"{n} · {next(r for r in candidates if r.name == n).status}",
    )
    info = next(r for r in candidates if r.name == pick)
    more = middle.number_input("More epochs", min_value=1, max_value=bounds("epochs")[1], value=2, step=1)
    new_name, in_place = pick, state.owns(info)
    if in_place:
        stop = info.final.get("position")
        where = f"step {stop['step']:,} of epoch {stop['epoch']:,}" if stop else f"epoch {info.final['epochs']:,}"
        right.caption(f"Continues **{pick}** in place, from {where}; its curves carry on.")
    else:
        new_name = right.text_input(
            "Save as",
            value=f"{pick}-continued",
            max_chars=64,
            help="Only your own runs continue in place; this one becomes a new run.",
        )
    if st.button("Continue training", icon=":material/resume:", disabled=busy):
        blocked = state.may_change_run(info) if in_place else ""
        if blocked:
            st.error(f"Cannot continue: {blocked}.", icon=":material/error:")
            return

        def job() -> TrainingJob:
            run = load_run(info.path)
            return TrainingJob(
                continue_config(run, int(more)),
                sanitize_run_name(new_name),
                state.checkpoint_dir(),
                resume=run,
                in_place=in_place,
                owner=state.owner_hash_for_new_run(),
            )

        launch(job, "continue")


with st.expander("Continue a run for more epochs", icon=":material/resume:"):
    continue_section()


def sweep_section() -> None:
    """A β sweep (and, optionally, several latent dimensions) started as one batch through the queue."""
    with st.form("sweep_form"):
        left, middle, right = st.columns(3)
        options = field_spec("dataset")["choices"]
        dataset = left.selectbox("Sweep dataset", options, index=options.index(start.dataset), key="sweep_dataset")
        options = field_spec("arch")["choices"]
        arch = left.selectbox("Sweep architecture", options, index=options.index(start.arch), key="sweep_arch")
        epochs = left.number_input("Epochs per run", *bounds("epochs"), start.epochs, key="sweep_epochs")
        betas = middle.multiselect("β values", BETA_CHOICES, default=[0.25, 0.5, 1.0, 2.0, 4.0], key="sweep_betas")
        low, high = bounds("latent_dim")
        dims = middle.multiselect(
            "Latent dimensions", list(range(low, high + 1)), default=[start.latent_dim], key="sweep_dims"
        )
        prefix = right.text_input(
            "Name prefix", value="sweep", max_chars=40, key="sweep_prefix", help=f"Runs are named {NAME_RULE}."
        )
        right.caption(f"At most {max_concurrent()} trainings run at once on this server; the rest wait.")
        go = st.form_submit_button("Start the sweep", type="primary", disabled=busy)
    if not go:
        return
    if not betas or not dims:
        st.error("Choose at least one β and one latent dimension.", icon=":material/error:")
        return
    if len(betas) * len(dims) > MAX_SWEEP_RUNS:
        st.error(f"{len(betas) * len(dims)} runs is more than the {MAX_SWEEP_RUNS} a sweep may have.")
        return

    def jobs() -> list[TrainingJob]:
        base = start.replace(dataset=dataset, arch=arch, epochs=int(epochs))
        grid = plan(base, sorted(betas), sorted(dims), sanitize_run_name(prefix))
        owner = state.owner_hash_for_new_run()
        return [TrainingJob(config, name, state.checkpoint_dir(), owner=owner) for name, config in grid]

    launch(jobs, "start the sweep")


with st.expander("β sweep: several runs as one batch", icon=":material/stacked_line_chart:"):
    sweep_section()

any_active = any(not j.snapshot().done for j in state.job_registry().jobs())


@st.fragment(run_every=10.0 if any_active else None)
def server_jobs() -> None:
    st.subheader("Trainings on this server")
    mine = state.session_job()
    widgets.server_jobs_table(state.job_registry().jobs(), mine[1] if mine else None)
    st.caption(
        "Anyone on this server sees these; only the tab that started a training (or a copy of its link) can stop it."
    )


server_jobs()
