"""The Draw page's pad with the run's encoder and decoder in the visitor's browser (#39): a component of our own
(``st.components.v2``, inline JavaScript) that prepares each stroke the MNIST way, encodes and decodes it, and
moves the posterior mean and its ellipses over the map of test digits while the visitor draws, sending nothing.

When a stroke ends it sends the prepared digit, 784 grey levels, and the page analyses that same input on the
server (nearest test digits, the posterior's table). The weights go once per session and run, as the other
boards' (``ui.browser_model``); everything sent is packed numbers and plain text (``vae.browser.model.pack``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
import streamlit.components.v2 as components

from ui.browser_model import DECODER_JS, finite, forget_sent, model_key, send_model, text
from vae.browser.encoder import encoder_fits_browser, export_encoder
from vae.browser.model import WebDecoder, pack
from vae.data.drawing import FIELD
from vae.runfile import Run

_COMMON_JS = (Path(__file__).parent / "browser_common.js").read_text()
DRAW_JS = DECODER_JS + "\n" + _COMMON_JS + "\n" + (Path(__file__).parent / "browser_draw.js").read_text()
MAX_MAP_POINTS = 3000
_HTML = '<div class="vae-draw" role="group" aria-label="Draw a digit"></div>'
_CSS = """.vae-draw { display: flex; flex-wrap: wrap; gap: 1.25rem; align-items: flex-start; }
.left { display: flex; flex-direction: column; gap: 0.4rem; align-items: flex-start; }
canvas.pad { width: 280px; height: 280px; touch-action: none; cursor: crosshair; border-radius: 0.5rem; }
canvas.map { width: 320px; height: 320px; border-radius: 0.5rem; }
.pictures { display: flex; flex-direction: column; gap: 0.75rem; }
figure { margin: 0; }
figcaption { font-size: 0.8rem; opacity: 0.7; max-width: 140px; }
canvas.digit { width: 140px; height: 140px; image-rendering: pixelated; border-radius: 0.25rem; display: block; }
button { font: inherit; padding: 0.25rem 0.75rem; border-radius: 0.5rem; border: 1px solid #ccc; background: none;
  color: inherit; cursor: pointer; }"""


@dataclass(frozen=True)
class DrawMap:
    """The map under the posterior: test μ in the plane ``points`` ``[N, 2]`` with ``labels`` ``[N]``, and for
    d > 2 the principal axes they were projected on (``pca``: mean ``[D]``, axes ``[2, D]``), with which the
    browser projects the drawing's μ the same way. The map spans the points' range and a tenth more."""

    points: np.ndarray
    labels: np.ndarray
    pca: tuple[np.ndarray, np.ndarray] | None


@st.cache_resource  # registered once per process: the component's definition, the same for every visitor
def _component() -> Callable[..., Any]:
    return components.component("vae_lab_browser_draw", html=_HTML, css=_CSS, js=DRAW_JS)


@st.cache_resource(max_entries=8, show_spinner=False)
def _exported_encoder(version: str, _run: Run) -> WebDecoder:
    return export_encoder(_run.model)


def encoder_for(run: Run) -> WebDecoder | None:
    """The run's encoder for the browser, or None (above the bound, or a layer the browser cannot run)."""
    if not run.version or not encoder_fits_browser(run.model):
        return None
    return _exported_encoder(run.version, run)


def _extent(points: np.ndarray) -> list[float]:
    """The map's (x0, x1, y0, y1): the points' range and a tenth more each side."""
    low, high = points.min(axis=0), points.max(axis=0)
    pad = np.maximum((high - low) * 0.1, 1e-3)
    return [float(low[0] - pad[0]), float(high[0] + pad[0]), float(low[1] - pad[1]), float(high[1] + pad[1])]


def draw_payload(
    decoder: WebDecoder | None, encoder: WebDecoder | None, key: str, title: str, drawn: DrawMap, extent: list[float]
) -> bytes:
    """The packed bytes the pad is mounted with: numbers and plain text, with the decoder's weights where given
    (kept by the tab under ``key``, which the other boards share), and the encoder's with the map's points where
    given (under ``encoder_key(key)``: this board's own)."""
    header: dict[str, Any] = {
        "board": "draw",
        "key": key,
        "encoder_key": encoder_key(key),
        "title": text(title),
        "extent": extent,
        "pca": None
        if drawn.pca is None
        else {"mean": [float(v) for v in drawn.pca[0]], "axes": [[float(v) for v in row] for row in drawn.pca[1]]},
    }
    blobs: dict[str, bytes] = {}
    if decoder is not None:
        header["model"] = decoder.header(key)
        blobs.update(decoder.blobs())
    if encoder is not None:
        header["encoder"] = encoder.header(encoder_key(key))
        blobs.update({f"enc_{name}": blob for name, blob in encoder.blobs().items()})
        blobs["points"] = finite(drawn.points[:MAX_MAP_POINTS], "the map").astype("<f4").tobytes()
        blobs["labels"] = np.asarray(drawn.labels[:MAX_MAP_POINTS]).astype(np.uint8).tobytes()
    return pack(header, blobs)


def encoder_key(key: str) -> str:
    """The name under which the tab keeps a run's encoder, beside its decoder's ``key``."""
    return f"enc:{key}"


def decode_digit(value: object) -> np.ndarray | None:
    """What the pad sent: the prepared digit ``[28, 28]`` float32 in [0, 1], or None for nothing drawn.
    ``ValueError`` (one line) for anything but 784 integers 0–255: the value comes from a visitor's browser."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != FIELD * FIELD:
        raise ValueError(f"the pad sent something that is not {FIELD * FIELD} grey levels")
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value):
        raise ValueError("the pad sent a grey level that is not an integer from 0 to 255")
    return np.asarray(value, dtype=np.float32).reshape(FIELD, FIELD) / 255.0


def draw_board(run: Run, decoder: WebDecoder, encoder: WebDecoder, title: str, drawn: DrawMap) -> np.ndarray | None:
    """Mount the pad for ``run``; the digit its last stroke prepared ``[28, 28]``, or None (nothing drawn, or
    refused: said in one line on the page). ``ValueError`` for a map that is not finite numbers, before anything
    is sent (the page checks the points first and keeps the plain pad). Each model's weights go once per session
    (``ui.browser_model.send_model``)."""
    key = model_key(run)
    points = finite(drawn.points[:MAX_MAP_POINTS], "the map")
    for values in drawn.pca or ():
        finite(values, "the map's principal axes")
    payload = draw_payload(
        decoder if send_model(key) else None,
        encoder if send_model(encoder_key(key)) else None,
        key,
        title,
        drawn,
        _extent(points),
    )
    # Keyed by run: another run's pad starts blank, and its last digit is not analysed by this run's model.
    result = _component()(key=f"draw_board_{key}", data=payload, on_digit_change=_noop, on_missing_change=forget_sent)
    try:
        return decode_digit(getattr(result, "digit", None))
    except ValueError as exc:
        st.error(f"Drawing ignored: {exc}.", icon=":material/error:")
        return None


def _noop() -> None:
    """The component's state reaches Python only where a change callback is given."""
