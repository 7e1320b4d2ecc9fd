"""Plotly charts after a session's first paint (a new visitor's, a reload's, a new tab's).

A browser meeting its first plotly chart fetches and compiles plotly.js (1.4 MB gzipped) on its main thread
before it draws anything of it: 0.6–0.9 s on 2 cores (``bench/plotly_floor.py``), during which the rest of the
page waits too. So a session's first script run draws, where each chart goes, a box of the chart's height that says
it is coming, and ends with a hidden component of our own (``st.components.v2``); once the browser has painted that
first screen, the component asks for a rerun, and that rerun, like every later one in the session, draws the
charts themselves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st
import streamlit.components.v2 as components

# Session state: this session has had its first run; draw charts from now on.
CHARTS_KEY = "charts_drawn"
PLACEHOLDER = "Drawing the chart…"
DEFAULT_HEIGHT = 450  # plotly's own, for a figure that sets none

# Per thread: a script run executes in one thread, and the router runs its page inside that same run.
_run = threading.local()

FIRST_PAINT_MARK = "vae-lab-first-run-painted"  # in the browser's performance timeline: bench/cold_start.py reads it
# Two animation frames after it is mounted, the browser has painted what came before it: ask for the rerun then.
# A tab opened in the background paints (and so asks) when it is first shown.
_JS = """export default function({ parentElement, setTriggerValue }) {
  if (parentElement.vaeLabAsked) return;  // the function runs again on every redraw: ask once
  parentElement.vaeLabAsked = true;
  requestAnimationFrame(() => requestAnimationFrame(() => {
    performance.mark(FIRST_PAINT_MARK);
    setTriggerValue("painted", true);
  }));
}""".replace("FIRST_PAINT_MARK", repr(FIRST_PAINT_MARK))


@st.cache_resource  # registered once per process: the component's definition, the same for every visitor
def _painted() -> Callable[..., Any]:
    return components.component("vae_lab_first_paint", html="<span></span>", css="span { display: none; }", js=_JS)


def plotly_chart(figure: Any, **kwargs: Any) -> Any:
    """``st.plotly_chart(figure, **kwargs)``, except in a session's first script run: there a box of the chart's
    height stands in for it, and None is returned (no selection yet)."""
    if not getattr(_run, "deferring", False):
        return st.plotly_chart(figure, **kwargs)
    _run.deferred = True
    with st.container(height=int(figure.layout.height or DEFAULT_HEIGHT), border=True):
        st.caption(PLACEHOLDER)
    return None


@contextmanager
def first_paint() -> Iterator[None]:
    """Around ``navigation.run()`` in the router: a session's first run that stood boxes in for charts ends with
    the component that asks for the rerun drawing them, or with the error that the rerun meets again.

    The session is marked first, while that is still possible: after a page's ``st.stop`` or ``st.rerun`` (control
    flow, not an ``Exception``) nothing more can be drawn or stored in this run, and the next run, whatever brings
    it, draws the charts. So a page does not stop after a chart (``tests/test_structure.py``)."""
    _run.deferring, _run.deferred = not st.session_state.get(CHARTS_KEY), False
    st.session_state[CHARTS_KEY] = True
    try:
        yield
    except Exception:
        _ask_after_paint()
        raise
    else:
        _ask_after_paint()
    finally:
        _run.deferring = _run.deferred = False


def _ask_after_paint() -> None:
    if _run.deferred:
        _painted()(key="first_paint", on_painted_change=_noop)


def _noop() -> None:
    """The component's trigger reaches Python only where a change callback is given; the rerun is what it is for."""
