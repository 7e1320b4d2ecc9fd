"""The model in the visitor's hands (#39): a run's decoder run in the browser by components of our own
(``st.components.v2``: inline JavaScript, nothing to build or install).

``ui/browser_decoder.js`` is the forward pass over ``vae.browser.model``'s ops. On top of it, ``ui/browser_board.js``
is the explorer's board (sliders, and for d = 2 a plane) and ``ui/browser_path.js`` the interpolation's scrubber
(one range input along a chain of class means): both redraw on every input event and send nothing to the server
while they move. The weights travel once per session and run, whichever board goes first; the tab keeps them (a
few runs, under one key that both boards read) and, should it have lost them, asks once for them again. Everything sent is packed numbers and plain text
(``vae.browser.model.pack``), which the board only ever puts into ``textContent``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
import streamlit.components.v2 as components

from ui.state import BROWSER_MODELS_SENT_KEY
from vae.analysis.latents import INTERPOLATION_METHODS
from vae.browser.model import WebDecoder, export_decoder, fits_browser, pack
from vae.runfile import Run

DECODER_JS = (Path(__file__).parent / "browser_decoder.js").read_text()
_SHARED_JS = DECODER_JS + "\n" + (Path(__file__).parent / "browser_common.js").read_text()  # the tab's weights cache
BOARD_JS = _SHARED_JS + "\n" + (Path(__file__).parent / "browser_board.js").read_text()
PATH_JS = _SHARED_JS + "\n" + (Path(__file__).parent / "browser_path.js").read_text()
MAX_TEXT = 200  # characters of any one text: labels and captions are short
MAX_PLANE_POINTS = 3000

_HTML = '<div class="vae-board" role="group" aria-label="Mixing board"></div>'
_CSS = """.vae-board { display: flex; flex-wrap: wrap; gap: 1.25rem; align-items: flex-start; }
.pictures { display: flex; flex-wrap: wrap; gap: 0.75rem; align-items: flex-start; max-width: 22rem; }
figure { margin: 0; }
figcaption { font-size: 0.8rem; opacity: 0.7; max-width: 140px; }
canvas.digit { width: 140px; height: 140px; image-rendering: pixelated; border-radius: 0.25rem; display: block; }
canvas.plane { width: 320px; height: 320px; touch-action: none; cursor: crosshair; border-radius: 0.5rem; }
.sliders { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: 0.5rem 1rem;
  flex: 1 1 24rem; }
.slider { display: grid; grid-template-columns: 1fr auto; font-size: 0.85rem; }
.slider input { grid-column: 1 / 3; width: 100%; accent-color: #ff4b4b; }
.slider output { font-variant-numeric: tabular-nums; opacity: 0.7; }
details { flex-basis: 100%; font-size: 0.9rem; }
button { font: inherit; padding: 0.25rem 0.75rem; border-radius: 0.5rem; border: 1px solid #ccc; background: none;
  color: inherit; cursor: pointer; }"""


@dataclass(frozen=True)
class Dim:
    """One slider: latent dimension ``index``, its ``label`` (plain text), and whether the decoder uses it."""

    index: int
    label: str
    active: bool


@st.cache_resource  # registered once per process: the component's definition, the same for every visitor
def _board() -> Callable[..., Any]:
    return components.component("vae_lab_browser_board", html=_HTML, css=_CSS, js=BOARD_JS)


@st.cache_resource(max_entries=8, show_spinner="Preparing the model for your browser…")
def _exported(version: str, _run: Run) -> WebDecoder:
    """The run's decoder as plain numbers, keyed on the file's SHA-256 (a float64 probe: about a second a conv)."""
    return export_decoder(_run.model)


def decoder_for(run: Run) -> WebDecoder | None:
    """The run's decoder for the browser, or None above ``vae.browser.model.max_web_parameters()`` (or for a layer the
    browser cannot run): the page then keeps the server path."""
    if not run.version or not fits_browser(run.model):
        return None
    return _exported(run.version, run)


def text(value: object) -> str:
    """Plain text for the board, cut to ``MAX_TEXT``; the board sets it as ``textContent``, never as markup."""
    return "".join(ch for ch in str(value) if ch.isprintable())[:MAX_TEXT]


def token(*parts: object) -> str:
    """A short hex name for a start point (run, kind, parameter): the board resets when it changes."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def forget_sent() -> None:
    """The tab asked for weights it lacks: send them again on this rerun."""
    st.session_state[BROWSER_MODELS_SENT_KEY] = set()


def finite(values: np.ndarray, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float32)
    if not np.isfinite(values).all():
        raise ValueError(f"{name} holds a value that is not a finite number")
    return values


@dataclass(frozen=True)
class Board:
    """What the explorer's board shows besides the model: ``start`` ``[D]`` is the point it starts from (until
    ``start_token`` changes), ``start_image`` ``[28, 28]`` in [0, 1] the picture beside it, ``plane`` the test μ
    ``[N, 2]`` and labels ``[N]`` drawn on the 2-D plane. Texts are plain: the board sets them as text."""

    title: str
    dims: Sequence[Dim]
    start: np.ndarray
    start_token: str
    limit: float
    start_image: np.ndarray
    start_caption: str
    plane: tuple[np.ndarray, np.ndarray] | None = None
    manifold: bool = False


def model_key(run: Run) -> str:
    """The name under which the tab keeps ``run``'s weights: the same for every board, so that a board mounted
    after another finds them there and the server does not send them again."""
    return hashlib.sha256(f"{run.version}:{run.config.dataset}".encode()).hexdigest()[:32]


def _model_blobs(
    web: WebDecoder, key: str, plane: tuple[np.ndarray, np.ndarray] | None
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """What the tab keeps under ``key``: the model's header, its weights, and the explorer's plane (test μ
    ``[N, 2]`` as float32 and labels ``[N]`` as uint8, the first ``MAX_PLANE_POINTS``); empty points without one."""
    blobs = dict(web.blobs())
    if plane is not None:
        points, labels = plane
        blobs["points"] = finite(points[:MAX_PLANE_POINTS], "the plane").astype("<f4").tobytes()
        blobs["labels"] = np.asarray(labels[:MAX_PLANE_POINTS]).astype(np.uint8).tobytes()
    return {"model": web.header(key)}, blobs


def board_payload(web: WebDecoder, key: str, board: Board, with_model: bool) -> bytes:
    """The packed bytes the board is mounted with (``vae.browser.model.pack``): its header of numbers and plain text,
    the start picture, and with ``with_model`` the weights (and the plane's points) that the tab then keeps."""
    header: dict[str, Any] = {
        "board": "explorer",
        "key": key,
        "token": text(board.start_token),
        "title": text(board.title),
        "latent_dim": web.latent_dim,
        "limit": float(board.limit),
        "start": [float(v) for v in finite(board.start, "the start point")],
        "start_caption": text(board.start_caption),
        "dims": [{"index": int(d.index), "label": text(d.label), "active": bool(d.active)} for d in board.dims],
        "manifold": bool(board.manifold and web.latent_dim == 2),
    }
    pixels = np.clip(finite(board.start_image, "the start picture").reshape(-1), 0, 1)
    blobs = {"start": (pixels * 255).round().astype(np.uint8).tobytes()}
    if with_model:
        model, weights = _model_blobs(web, key, board.plane)
        header.update(model)
        blobs.update(weights)
    return pack(header, blobs)


def send_model(key: str) -> bool:
    """Whether this rerun sends the weights under ``key``: once per session, or again when the tab asked."""
    sent: set[str] = st.session_state.setdefault(BROWSER_MODELS_SENT_KEY, set())
    first = key not in sent
    sent.add(key)
    return first


def explorer_board(web: WebDecoder, run: Run, board: Board) -> None:
    """Mount the explorer's board for ``run``; its weights go along once per session (the tab keeps them)."""
    key = model_key(run)
    payload = board_payload(web, key, board, with_model=send_model(key))
    _board()(key="explorer_board", data=payload, on_missing_change=forget_sent)


# --- The interpolation's scrubber ---------------------------------------------------------------------------

_PATH_HTML = '<div class="vae-path" role="group" aria-label="Scrub along the path"></div>'
_PATH_CSS = """.vae-path { display: flex; flex-wrap: wrap; gap: 1.25rem; align-items: center; }
figure { margin: 0; }
canvas.digit { width: 140px; height: 140px; image-rendering: pixelated; border-radius: 0.25rem; display: block; }
.scrub { flex: 1 1 20rem; display: grid; gap: 0.35rem; }
.scrub input { width: 100%; accent-color: #ff4b4b; margin: 0; }
.where { display: flex; gap: 1rem; font-variant-numeric: tabular-nums; }
.leg { font-weight: 600; }
.stops { display: flex; justify-content: space-between; font-size: 0.8rem; opacity: 0.7; }"""


@st.cache_resource  # registered once per process, as the explorer's board
def _path_component() -> Callable[..., Any]:
    return components.component("vae_lab_browser_path", html=_PATH_HTML, css=_PATH_CSS, js=PATH_JS)


@dataclass(frozen=True)
class Walk:
    """The path the scrubber runs along: ``means`` ``[K, D]`` the chain's class means in walk order (K ≥ 2, a leg
    between each two), ``names`` ``[K]`` their classes' names, ``method`` one of ``vae.analysis.latents``'s
    ``INTERPOLATION_METHODS``, interpolated in the browser as ``vae.analysis.latents.interpolate`` does. Texts are plain."""

    title: str
    names: Sequence[str]
    means: np.ndarray
    method: str


def path_payload(
    web: WebDecoder, key: str, walk: Walk, with_model: bool, plane: tuple[np.ndarray, np.ndarray] | None = None
) -> bytes:
    """The packed bytes the scrubber is mounted with: the chain's means ``[K, D]`` as numbers, the names as plain
    text, and with ``with_model`` the weights (and ``plane``, see ``path_board``) that the tab then keeps."""
    means = finite(walk.means, "a class mean")
    if means.ndim != 2 or len(means) < 2 or means.shape[1] != web.latent_dim or len(walk.names) != len(means):
        raise ValueError(f"a walk needs [K ≥ 2, {web.latent_dim}] means and a name each; got {means.shape}")
    if walk.method not in INTERPOLATION_METHODS:
        raise ValueError(f"method must be one of {', '.join(INTERPOLATION_METHODS)}; got {walk.method!r}")
    header: dict[str, Any] = {
        "board": "path",
        "key": key,
        # The scrubber keeps its place while only the method or the strip's steps change; a new chain resets it.
        "token": token(key, *(text(n) for n in walk.names), means.tobytes()),
        "title": text(walk.title),
        "latent_dim": web.latent_dim,
        "method": walk.method,
        "names": [text(n) for n in walk.names],
        "means": [[float(v) for v in row] for row in means],
    }
    blobs: dict[str, bytes] = {}
    if with_model:
        model, blobs = _model_blobs(web, key, plane)
        header.update(model)
    return pack(header, blobs)


def path_board(web: WebDecoder, run: Run, walk: Walk, plane: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Mount the scrubber along ``walk`` for ``run``. The weights go along unless this session already sent them
    (from either board). ``plane`` is what the explorer's board draws for d = 2 (test μ ``[N, 2]``, labels
    ``[N]``): sent beside the weights, so that the tab's copy is whole when the explorer comes next."""
    key = model_key(run)
    payload = path_payload(web, key, walk, with_model=send_model(key), plane=plane)
    _path_component()(key="path_board", data=payload, on_missing_change=forget_sent)
