"""Warming a cold server in the background. Most visitors of a shared app meet a server that has just woken up;
its first request is drawn without torch (Home reads stored pictures), and then this thread loads what the next
pages need, so that the visitor's second page does not wait for all of it: torch and the pages' modules, then the
default run's model, its data and its test-set latents (read from disk, or encoded and kept there).

It fills the process-wide caches below Streamlit's (imports, ``vae.data``'s datasets, the views on disk), never a
session's. It is started once per process, after the first request's script, and begins a moment later, once that
page's browser has fetched what it needs from the server (``START_DELAY_S``). It works in steps that take turns with
the pages' scripts (``drawing``): a step begins when no script runs, and a script waits for the step to end (a page
that needs what a later step loads loads it itself).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
import time
from collections.abc import Callable, Iterator

import streamlit as st

from vae.folder import list_runs
from vae.settings import default_checkpoint_dir, warm_up_enabled

log = logging.getLogger(__name__)
# In the order the pages are likely to need them: Train (the first in the sidebar), then the pages that explore
# a run, then the Runs page's table (pandas).
MODULES = ("torch", "ui.widgets", "ui.train_form", "ui.loaders", "ui.figures", "ui.curves", "ui.run_files")
# After the first page's script, its browser spends a few tenths of a second fetching the components' code and the
# pictures from this server, which answers only when it holds the GIL; importing torch meanwhile holds it for up to
# 0.18 s at a time. Home was on screen in 1.2 s with this pause and in 1.5-1.7 s without; a pause of 1 s kept Home
# at 1.2 s but left the tail of the warm-up to the next page (Train 1.40 s against 1.20 s) (bench/cold_start.py).
START_DELAY_S = 0.5

_drawing = 0  # scripts running now, in every session
_stepping = False  # a warm-up step is running
_turns = threading.Condition()


@contextlib.contextmanager
def drawing() -> Iterator[None]:
    """Around a script run. A script and a warm-up step never run at once: a module half imported by the thread
    would be seen by the page's code (plotly looks pandas up in ``sys.modules``, and found one without ``Series``)."""
    global _drawing
    with _turns:
        _turns.wait_for(lambda: not _stepping)
        _drawing += 1
    try:
        yield
    finally:
        with _turns:
            _drawing -= 1
            _turns.notify_all()


def _step(work: Callable[[], object]) -> None:
    """Run ``work`` once no script runs, and let none begin until it is done."""
    global _stepping
    with _turns:
        _turns.wait_for(lambda: _drawing == 0)
        _stepping = True
    try:
        work()
    finally:
        with _turns:
            _stepping = False
            _turns.notify_all()


def warm() -> None:
    """Import the pages' modules, then load the default run's (the first readable one's) data and latents, a step at
    a time between the pages' scripts."""
    for name in MODULES:
        _step(lambda name=name: importlib.import_module(name))
    readable = [info for info in list_runs(default_checkpoint_dir()) if not info.error]
    if readable:
        _step(lambda: _latents(readable[0]))


def _latents(info) -> None:
    from vae.checkpoints import load_run
    from vae.data import load_dataset
    from vae.precompute import test_latents

    test_latents(info.path, lambda: load_run(info.path).model, load_dataset(info.config.dataset))


def _warm_quietly() -> None:
    time.sleep(START_DELAY_S)
    began = time.perf_counter()
    try:
        warm()
    except Exception:  # a warm-up that fails costs only time: each page loads what it needs
        log.warning("warming the server up failed; pages load what they need when they need it", exc_info=True)
    else:
        log.info("warmed up in %.1f s", time.perf_counter() - began)


@st.cache_resource(show_spinner=False)
def start() -> threading.Thread | None:
    """Start the warm-up once per process (``VAE_WARM_UP``); the running thread, or None when it is off."""
    if not warm_up_enabled():
        return None
    thread = threading.Thread(target=_warm_quietly, name="vae-warm-up", daemon=True)
    thread.start()
    return thread
