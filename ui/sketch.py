"""The drawing pad of the Draw page: ``streamlit-drawable-canvas``, guarded.

That component is a third-party package that is no longer maintained upstream, so the page never depends on it:
when it is missing, fails to import or raises while drawing, the page says so in one line and the upload beside
it still works (#41). The server log keeps the reason.
"""

from __future__ import annotations

import logging

import numpy as np
import streamlit as st

log = logging.getLogger(__name__)
PAD_PX = 280  # 10 × MNIST's 28: a pen of PEN_PX draws strokes as thick as MNIST's once scaled down
PEN_PX = 20
UNAVAILABLE = "The drawing pad is not available here; upload a picture of a digit instead."


def drawn_image(key: str = "canvas") -> np.ndarray | None:
    """What was drawn on the pad, RGBA ``[PAD_PX, PAD_PX, 4]`` uint8, or None: nothing drawn yet, or no pad (said
    in one line on the page)."""
    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception:  # missing, or broken by a Streamlit it was not written for
        log.warning("streamlit-drawable-canvas cannot be imported", exc_info=True)
        st.caption(UNAVAILABLE)
        return None
    try:
        canvas = st_canvas(
            stroke_width=PEN_PX,
            stroke_color="#FFFFFF",
            background_color="#000000",
            height=PAD_PX,
            width=PAD_PX,
            drawing_mode="freedraw",
            return_image_data=True,
            key=key,
        )
    except Exception:  # a third-party component's failure must not take the page with it
        log.warning("streamlit-drawable-canvas failed", exc_info=True)
        st.caption(UNAVAILABLE)
        return None
    image = getattr(canvas, "image_data", None)
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 4:
        return None  # nothing drawn yet, or not the RGBA array the page reads
    return image.astype(np.uint8, copy=False)
