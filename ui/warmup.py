"""Warming a cold server in the background. Most visitors of a shared app meet a server that has just woken up;
its first request is drawn without torch (Home reads stored pictures), and then this thread loads what the next
pages need, so that the visitor's second page does not wait for all of it: torch and the pages' modules, then the
default run's model, its data and its test-set latents (read from disk, or encoded and kept there).

It fills the process-wide caches below Streamlit's (imports, ``vae.data.datasets``'s datasets, the views on disk), never a
session's. It is started once per process, after the first request's script, and begins a moment later, once that
page's browser has fetched what it needs from the server (``START_DELAY_S``). It works in steps, each begun when no
page's script runs (``drawing``); a page that needs what a step is loading waits for it on Python's import lock, and
one that needs what a later step loads loads it itself.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
import time
from collections.abc import Callable, Iterator

import streamlit as st

from vae.runfile import RunInfo, list_runs
from vae.settings import default_checkpoint_dir, warm_up_enabled

log = logging.getLogger(__name__)
# In the order the pages are likely to need them: Train (the first in the sidebar), then the pages that explore
# a run. Not pandas (the Runs page's table), though warming it took that page's first visit from 2.3 s to 1.2 s:
# plotly looks pandas up in sys.modules, and a page drawing a chart while this thread imported it found a pandas
# without Series. Importing it in the router instead cost Home 0.3 s.
MODULES = ("torch", "ui.widgets", "ui.train_form", "ui.loaders", "ui.figures", "ui.curves")
STEP_WAIT_S = 2.0
# After the first page's script, its browser spends a few tenths of a second fetching the components' code and the
# pictures from this server, which answers only when it holds the GIL; importing torch meanwhile holds it for up to
# 0.18 s at a time. Home was on screen in 1.2 s with this pause and in 1.5-1.7 s without; a pause of 1 s kept Home
# at 1.2 s but left the tail of the warm-up to the next page (Train 1.40 s against 1.20 s) (bench/cold_start.py).
START_DELAY_S = 0.5

_drawing = 0  # scripts running now, in every session
_idle = threading.Condition()


@contextlib.contextmanager
def drawing() -> Iterator[None]:
    """Around a script run: the warm-up's next step waits until none runs. A script never waits for a step: one
    held back before it reads its widgets can lose a click to the rerun that interrupts it."""
    global _drawing
    with _idle:
        _drawing += 1
    try:
        yield
    finally:
        with _idle:
            _drawing -= 1
            _idle.notify_all()


def _step(work: Callable[[], object]) -> None:
    """Run ``work`` once no script runs, or after ``STEP_WAIT_S`` of them: a busy server is still warmed up."""
    with _idle:
        _idle.wait_for(lambda: _drawing == 0, timeout=STEP_WAIT_S)
    work()


def warm() -> None:
    """Import the pages' modules, then load the default run's (the first readable one's) data and latents, a step at
    a time between the pages' scripts."""
    for name in MODULES:
        _step(lambda name=name: importlib.import_module(name))
    readable = [info for info in list_runs(default_checkpoint_dir()) if not info.error]
    if readable:
        _step(lambda: _latents(readable[0]))


def _latents(info: RunInfo) -> None:
    """The test-set latents of run ``info`` on its data, read from their view or encoded and kept."""
    from vae.analysis.precompute import test_latents
    from vae.data.datasets import load_test_split
    from vae.runfile import load_run

    test_latents(info.path, lambda: load_run(info.path).model, load_test_split(info.config.dataset))


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
