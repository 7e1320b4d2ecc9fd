"""Every URL goes through the router in ``streamlit_app.py``, from the very first request.

With a ``pages/`` folder beside the entrypoint, Streamlit starts each process in its old multipage mode and
keeps to it until some session has called ``st.navigation`` (Streamlit's ``runtime/pages_manager.py``). Until
then a first request for a deep link such as ``/latent`` runs ``pages/latent.py`` alone: file-name navigation,
no sections, a narrow layout. So the router marks the pages it runs (``routed``), and a page that finds itself
unmarked runs the router instead (``ensure_routed``), whose ``st.navigation`` ends the old mode. Public API only.
"""

from __future__ import annotations

import runpy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

ENTRYPOINT = Path(__file__).resolve().parent.parent / "streamlit_app.py"

# Per thread: a script run executes in one thread, and the router runs its page inside that same run.
_run = threading.local()


@contextmanager
def routed() -> Iterator[None]:
    """Around ``navigation.run()`` in the router: the page it runs knows it was routed."""
    _run.routed = True
    try:
        yield
    finally:
        _run.routed = False


def ensure_routed() -> None:
    """Call first in every page: a page that Streamlit started on its own runs the router instead.

    The router runs in this same script run, so the request keeps its path, query string and widget events
    (a rerun would drop a click); its ``st.navigation`` picks this page again by its URL path and runs it, marked.
    """
    if getattr(_run, "routed", False):
        return
    runpy.run_path(str(ENTRYPOINT), run_name="__main__")
    st.stop()  # the router has drawn the page; the rest of this copy must not draw it again
