"""The drawing pad of the Draw page: a small custom component of our own (``st.components.v2``, inline HTML and
JavaScript, nothing to install).

It replaced ``streamlit-drawable-canvas`` (#41), which is no longer maintained upstream, so the app depends on
no third-party component. The browser sends what was drawn as a PNG data URL when a stroke ends; that string
comes from a stranger's browser, so ``decode_drawing`` accepts only a small PNG and says in one line why it
refuses anything else.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Callable
from typing import Any

import numpy as np
import streamlit as st
import streamlit.components.v2 as components
from PIL import Image, UnidentifiedImageError

PAD_PX = 280  # 10 × MNIST's 28: a pen of PEN_PX draws strokes as thick as MNIST's once scaled down
PEN_PX = 20
PNG_PREFIX = "data:image/png;base64,"
MAX_DATA_URL_CHARS = 2_000_000  # a 280 × 280 drawing is a few kB; anything near this is not one

_HTML = f"""<div class="pad"><canvas width="{PAD_PX}" height="{PAD_PX}" aria-label="Drawing pad"></canvas>
<button type="button">Clear</button></div>"""
_CSS = """.pad { display: flex; flex-direction: column; gap: 0.4rem; align-items: flex-start; }
canvas { width: 280px; height: 280px; touch-action: none; cursor: crosshair; border-radius: 0.5rem; }
button { font: inherit; padding: 0.25rem 0.75rem; border-radius: 0.5rem; border: 1px solid #ccc; background: none;
  color: inherit; cursor: pointer; }"""
# White strokes on black, as MNIST's digits. What was drawn is sent when a stroke ends. The function runs again
# whenever Streamlit redraws the page, on the same canvas: only its first run blanks it (and says so to Python,
# so that a pad met anew after a page switch and the page's analysis agree).
_JS = """export default function(component) {
  const { parentElement, setStateValue, data } = component;
  const canvas = parentElement.querySelector("canvas");
  const ctx = canvas.getContext("2d");
  const blank = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, canvas.width, canvas.height); };
  if (!canvas.dataset.ready) { canvas.dataset.ready = "1"; blank(); setStateValue("image", null); }
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height];
  };
  let drawing = false;
  canvas.onpointerdown = (e) => {
    drawing = true;
    canvas.setPointerCapture(e.pointerId);
    Object.assign(ctx, { strokeStyle: "#fff", lineWidth: data.pen, lineCap: "round", lineJoin: "round" });
    const [x, y] = at(e);
    ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x, y); ctx.stroke();
  };
  canvas.onpointermove = (e) => { if (drawing) { const [x, y] = at(e); ctx.lineTo(x, y); ctx.stroke(); } };
  const end = () => { if (drawing) { drawing = false; setStateValue("image", canvas.toDataURL("image/png")); } };
  canvas.onpointerup = end;
  canvas.onpointercancel = end;
  parentElement.querySelector("button").onclick = () => { blank(); setStateValue("image", null); };
}"""


@st.cache_resource  # registered once per process: the component's definition, the same for every visitor
def _pad() -> Callable[..., Any]:
    return components.component("vae_lab_drawing_pad", html=_HTML, css=_CSS, js=_JS)


def decode_drawing(value: object) -> np.ndarray | None:
    """What the pad sent, as RGBA ``[H, W, 4]`` uint8; None for nothing drawn. ``ValueError`` (one line) for
    anything that is not a small PNG data URL: the value comes from the browser, which a visitor controls."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.startswith(PNG_PREFIX) or len(value) > MAX_DATA_URL_CHARS:
        raise ValueError("the drawing pad sent something that is not a small PNG")
    try:
        raw = base64.b64decode(value.removeprefix(PNG_PREFIX), validate=True)
        with Image.open(io.BytesIO(raw)) as image:
            if image.format != "PNG" or max(image.size) > 4 * PAD_PX:
                raise ValueError("the drawing pad sent an image that is not the pad's")
            return np.asarray(image.convert("RGBA"))
    except (binascii.Error, UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"the drawing pad sent an unreadable image ({type(exc).__name__})") from None


def drawn_image(key: str = "canvas") -> np.ndarray | None:
    """What was drawn on the pad, RGBA ``[PAD_PX, PAD_PX, 4]`` uint8, or None: nothing drawn yet, or refused (said
    in one line on the page)."""
    result = _pad()(key=key, data={"pen": PEN_PX}, on_image_change=_noop)
    try:
        return decode_drawing(getattr(result, "image", None))
    except ValueError as exc:
        st.error(f"Drawing ignored: {exc}.", icon=":material/error:")
        return None


def _noop() -> None:
    """The component's state reaches Python only where a change callback is given."""
