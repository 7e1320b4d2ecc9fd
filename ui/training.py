"""The Train page's live sections: this tab's own training and sweep, and every training on this server.

Each is a fragment that reruns on its own cadence while something trains, and not at all otherwise.
Trainings live in the process-wide registry, not in the tab: the URL's ``?job=`` (or ``?batch=``)
token brings a reload, a reconnect or a copied link back to the same live view.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import streamlit as st

from ui import state, widgets
from vae.runfile.names import run_path
from vae.settings import threads_per_job
from vae.training.engine import engine_from_env
from vae.training.jobs import JobSnapshot, TrainingJob, max_concurrent
from vae.vocabulary import CheckpointError, ConfigError, EngineError, RunStatus

log = logging.getLogger(__name__)

# How often each live section reruns while it has something training. Every rerun also costs the
# browser a redraw of the page, so the cadences are as slow as a person watching allows, and the
# costly part (the curves) is rebuilt less often still (``widgets.CURVES_EVERY_S``); see bench/app_speed.py.
LIVE_EVERY_S = 2.0
SWEEP_EVERY_S = 10.0
SERVER_EVERY_S = 10.0


def where_trainings_run() -> str:
    """One line: this server and its limit, or the Ray cluster and its free CPUs (the setting ``VAE_ENGINE``)."""
    try:
        engine = engine_from_env()
    except EngineError as exc:
        return f"Trainings cannot start: {exc}."
    if not engine.is_ray:
        return f"Trainings run on this server, at most {max_concurrent()} at once; the rest wait."
    from vae.training.ray_cluster import status_line

    return f"Trainings run on {status_line(engine)}; each asks for {threads_per_job(max_concurrent())} CPU(s)."


def admit(make: Callable[[], TrainingJob | list[TrainingJob]], what: str) -> TrainingJob | list[TrainingJob] | None:
    """Make this tab's job (or a sweep's jobs) and hand it to the server, which starts it. None, said in one line,
    when a bad setting, an unreadable run or one of the server's limits (``LimitError``, a ``ValueError``) refuses
    it, or anything else fails on the way; every name reserved on the way is given back (``vae.training.jobs``,
    ``vae.server.registry``), so the next try gets the same name."""
    try:
        made = make()
        if isinstance(made, list):
            state.start_batch(made)
        else:
            state.start_job(made)
    except (ConfigError, ValueError, TypeError, CheckpointError) as exc:
        st.error(f"Cannot {what}: {exc}", icon=":material/error:")
        return None
    except Exception as exc:  # a fault of ours, not of the request: logged whole, one line for the person
        log.exception("could not %s", what)
        st.error(
            f"Cannot {what}: the server failed ({type(exc).__name__}: {exc}); it is in the server's log. "
            "Nothing saved was changed.",
            icon=":material/error:",
        )
        return None
    return made


def launch(make: Callable[[], TrainingJob | list[TrainingJob]], what: str) -> None:
    """``admit`` this tab's job (or a sweep's jobs), and redraw the page to watch it."""
    made = admit(make, what)
    if made is None:
        return
    if not isinstance(made, list) and made.name != made.wanted_name:
        st.toast(f"Saving as **{made.name}** (names must be file-safe and unique).")
    st.session_state.pop(state.DONE_SEEN_KEY, None)
    st.rerun()


def live_view() -> None:
    """The tab's own job: progress, Stop and curves, redrawn every ``LIVE_EVERY_S`` while it trains."""
    mine = state.session_job()
    active = mine is not None and not mine[1].snapshot().done
    st.fragment(_live_view, run_every=LIVE_EVERY_S if active else None)()


def _live_view() -> None:
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
        _ended(token, snap)
    widgets.job_curves(snap, token)


def _ended(token: str, snap: JobSnapshot) -> None:
    """How the tab's own job ended, and where to go from there."""
    saved = run_path(state.checkpoint_dir(), snap.name).exists()
    if st.session_state.get(state.DONE_SEEN_KEY) != token:
        # The run just ended while the live view was polling: make it the current run, and rerun the whole
        # page (not only this fragment) so that the form, closed while it trained, opens again.
        st.session_state[state.DONE_SEEN_KEY] = token
        if saved:
            st.session_state[state.CURRENT_RUN_KEY] = snap.name
        st.rerun(scope="app")
    if snap.status == RunStatus.COMPLETED:
        st.success(f"Finished and saved **{snap.name}**; it is now the current run.", icon=":material/check_circle:")
    elif snap.status == RunStatus.STOPPED:
        st.info(f"Stopped: {snap.message}. The trained weights are saved as **{snap.name}**.")
    elif snap.status == RunStatus.DIVERGED:
        st.error(f"Training diverged: {snap.message}", icon=":material/error:")
    elif snap.status == RunStatus.INTERRUPTED:
        st.warning(
            f"Interrupted: {snap.message}. Its finished epochs are saved as **{snap.name}**, and it can be continued.",
            icon=":material/warning:",
        )
    else:
        st.error(f"{snap.message}. Nothing already saved was changed.", icon=":material/error:")
    if saved:
        st.page_link("pages/latent.py", label=f"Explore {snap.name} in Latent space", icon=":material/arrow_forward:")


def live_sweep() -> None:
    """The tab's own sweep: every run of the batch as it goes through the server's queue."""
    batch = state.session_batch()
    active = batch is not None and not all(job.snapshot().done for job in batch[1])
    st.fragment(_live_sweep, run_every=SWEEP_EVERY_S if active else None)()


def _live_sweep() -> None:
    if (mine := state.session_batch()) is None:
        return
    token, batch = mine
    snaps = [job.snapshot() for job in batch]
    finished = sum(s.done for s in snaps)
    st.subheader(f"Your sweep: {finished} of {len(batch)} runs finished")
    widgets.server_jobs_table(batch, None, key="sweep_jobs")
    if finished < len(batch):
        if st.button("Stop the sweep", icon=":material/stop:", help="Stops every run of it; finished runs stay."):
            state.job_registry().stop_batch(token)
            st.toast("Stopping every run of the sweep…")
    elif st.session_state.get(state.DONE_SEEN_KEY) != token:
        st.session_state[state.DONE_SEEN_KEY] = token
        st.rerun(scope="app")  # the whole page, so that the sweep form opens again
    st.page_link("pages/runs.py", label="See the sweep on the rate–distortion plane", icon=":material/scatter_plot:")


def server_jobs() -> None:
    """Every training on this server, redrawn every ``SERVER_EVERY_S`` while one of them trains."""
    active = any(not job.snapshot().done for job in state.job_registry().jobs())
    st.fragment(_server_jobs, run_every=SERVER_EVERY_S if active else None)()


def _server_jobs() -> None:
    st.subheader("Trainings on this server")
    mine = state.session_job()
    widgets.server_jobs_table(state.job_registry().jobs(), mine[1] if mine else None)
    st.caption(
        "Anyone on this server sees these; only the browser that started a training can stop it, from any of its "
        "tabs (a copied link cannot). " + where_trainings_run()
    )
