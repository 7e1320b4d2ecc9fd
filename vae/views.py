"""Views computed from a run (its test-set latents, their t-SNE or PCA), kept on disk beside it, so that a restarted
server (most visitors of a shared app meet a cold one) does not compute them again.

A view lives in ``FOLDER/.views/NAME/KEY@VERSION.npy``, where VERSION begins the SHA-256 of the run's file (as
``Run.version`` does): a run trained or continued after its view was made has another version, and the old view is
neither read nor kept; a copied or cloned folder keeps its views. Best effort: a folder that cannot be written only costs the computation, and a view file that is
not what it should be (crafted, cut short, of another shape) is computed afresh, never trusted or unpickled.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

VIEWS = ".views"
_KEY = re.compile(r"[A-Za-z0-9_.-]{1,80}")


def _version(run_path: Path) -> str:
    with open(run_path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()[:16]


def view_folder(run_path: Path) -> Path:
    """Where the views of the run at ``run_path`` are kept."""
    return run_path.parent / VIEWS / run_path.stem


def _read(path: Path, shape: tuple[int | None, ...], dtype: np.dtype) -> np.ndarray | None:
    """The stored view, or None when it is missing or is not a finite array of that shape and dtype."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    fits = array.dtype == dtype and array.ndim == len(shape)
    fits = fits and all(want is None or want == got for want, got in zip(shape, array.shape, strict=False))
    if not fits or (array.dtype.kind == "f" and not np.isfinite(array).all()):
        return None
    return array


def _write(folder: Path, path: Path, array: np.ndarray) -> None:
    """Atomically, replacing the views of older versions of the same key; silently not at all where it cannot."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npy", dir=folder)
        with os.fdopen(fd, "wb") as f:
            np.save(f, array, allow_pickle=False)
        os.replace(tmp, path)
        key = path.name.split("@")[0]
        for old in folder.glob(f"{key}@*.npy"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        pass


def cached_view(
    run_path: Path,
    key: str,
    compute: Callable[[], np.ndarray],
    shape: tuple[int | None, ...],
    dtype: np.dtype | type,
) -> np.ndarray:
    """The view ``key`` of the run at ``run_path``: read from disk when a view of this version of the file is
    there and fits ``shape`` (None: any length) and ``dtype``, else ``compute()``d and stored."""
    if not _KEY.fullmatch(key):
        raise ValueError(f"a view key is letters, digits, '_', '.' and '-'; got {key!r}")
    dtype = np.dtype(dtype)
    run_path = Path(run_path)
    folder = view_folder(run_path)
    path = folder / f"{key}@{_version(run_path)}.npy"
    stored = _read(path, shape, dtype)
    if stored is not None:
        return stored
    array = np.ascontiguousarray(compute(), dtype=dtype)
    _write(folder, path, array)
    return array


def drop_views(run_path: Path) -> None:
    """Remove every view of a run (it was deleted)."""
    shutil.rmtree(view_folder(Path(run_path)), ignore_errors=True)
