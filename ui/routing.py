"""Every URL goes through the router in ``streamlit_app.py``, from the very first request."""

from __future__ import annotations

import runpy
from pathlib import Path

import streamlit as st

ENTRYPOINT = Path(__file__).resolve().parent.parent / "streamlit_app.py"


def ensure_routed() -> None:
    """Call first in every page: runs a page that Streamlit started on its own through the router instead.

    With a ``pages/`` folder beside the entrypoint, Streamlit starts each process in its old
    multipage mode, and keeps to it until some session has called ``st.navigation``. Until then a
    first request for a deep link such as ``/latent`` runs ``pages/latent.py`` alone: file-name
    navigation, no sections, a narrow layout. ``st.navigation`` ends that mode by clearing
    ``PagesManager.uses_pages_directory``; this clears it and runs the router in this same script
    run, so the request keeps its path, query string and widget events (a rerun would drop a click).
    Checked against Streamlit 1.67, whose AppTest also starts every run in that mode.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without the old mode
        return
    if not getattr(PagesManager, "uses_pages_directory", False):
        return
    PagesManager.uses_pages_directory = False
    runpy.run_path(str(ENTRYPOINT), run_name="__main__")
    st.stop()  # the router has drawn the page; the rest of this copy must not draw it again
