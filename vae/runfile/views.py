"""Views computed from a run (its summary, its test-set latents and their t-SNE or PCA, its Home pictures), kept on
disk beside it, so that a restarted server (most visitors of a shared app meet a cold one) does not compute them
again. The shipped runs ship theirs (``scripts/build_pretrained.py``), so a cold server draws them at once.

A view lives in ``FOLDER/.views/NAME/KEY@VERSION.SUFFIX``, where VERSION begins the SHA-256 of the run's file (as
``Run.version`` does): a run trained or continued after its view was made has another version, and the old view is
neither read nor kept; a copied or cloned folder keeps its views. Best effort: a folder that cannot be written only
costs the computation, and a view file that is not what it should be (crafted, cut short, of another shape) is
computed afresh, never trusted or unpickled. Light on purpose (numpy, no torch): the app's first screen reads views.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

VIEWS = ".views"
VERSION_CHARS = 16  # of the file's SHA-256 hex digest
_KEY = re.compile(r"[A-Za-z0-9_.-]{1,80}")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def version_of(digest: str) -> str:
    """The VERSION of a run file whose SHA-256 hex digest is ``digest`` (``Run.version``)."""
    return digest[:VERSION_CHARS]


@functools.lru_cache(maxsize=256)
def _hashed(path: str, inode: int, size: int, mtime_ns: int, ctime_ns: int) -> str:
    # ctime changes with every write and cannot be set back, so a file rewritten in place, even to the same size
    # and with its old mtime restored, is hashed again.
    with open(path, "rb") as f:
        return version_of(hashlib.file_digest(f, "sha256").hexdigest())


def file_version(run_path: Path) -> str:
    """The VERSION of the run file as it is now, hashed once per change of the file."""
    stat = os.stat(run_path)
    return _hashed(str(run_path), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def view_folder(run_path: Path) -> Path:
    """Where the views of the run at ``run_path`` are kept."""
    return run_path.parent / VIEWS / run_path.stem


def view_path(run_path: Path, key: str, suffix: str, version: str | None = None) -> Path:
    """The file of view ``key`` of the run's ``version`` (by default the file's version now)."""
    if not _KEY.fullmatch(key):
        raise ValueError(f"a view key is letters, digits, '_', '.' and '-'; got {key!r}")
    run_path = Path(run_path)
    return view_folder(run_path) / f"{key}@{version or file_version(run_path)}.{suffix}"


def _write(path: Path, write: Callable[[Any], None]) -> None:
    """Atomically, replacing the views of older versions of the same key; silently not at all where it cannot."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=folder)
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
        key = path.name.split("@")[0]
        for old in folder.glob(f"{key}@*{path.suffix}"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        pass


def _read_array(path: Path, shape: tuple[int | None, ...], dtype: np.dtype) -> np.ndarray | None:
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


def cached_view(
    run_path: Path,
    key: str,
    compute: Callable[[], np.ndarray],
    shape: tuple[int | None, ...],
    dtype: np.dtype | type,
) -> np.ndarray:
    """The array view ``key`` of the run at ``run_path``: read from disk when a view of this version of the file is
    there and fits ``shape`` (None: any length) and ``dtype``, else ``compute()``d and stored."""
    dtype = np.dtype(dtype)
    path = view_path(run_path, key, "npy")
    stored = _read_array(path, shape, dtype)
    if stored is not None:
        return stored
    array = np.ascontiguousarray(compute(), dtype=dtype)
    _write(path, lambda f: np.save(f, array, allow_pickle=False))
    return array


def read_png(run_path: Path, key: str) -> bytes | None:
    """The PNG view ``key`` of the run as it is now, or None when there is none (or it is not a PNG)."""
    try:
        data = view_path(run_path, key, "png").read_bytes()
    except OSError:
        return None
    return data if data.startswith(PNG_SIGNATURE) else None


def write_png(run_path: Path, key: str, data: bytes, version: str | None = None) -> None:
    """Store ``data`` (PNG bytes) as the PNG view ``key`` of the run's ``version`` (by default its version now)."""
    _write(view_path(run_path, key, "png", version), lambda f: f.write(data))


def read_json(run_path: Path, key: str, version: str | None = None) -> dict[str, Any] | None:
    """The JSON view ``key`` (an object), or None; the caller validates its fields before it trusts them."""
    try:
        value = json.loads(view_path(run_path, key, "json", version).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def write_json(run_path: Path, key: str, value: dict[str, Any], version: str) -> None:
    """Store ``value`` as the JSON view ``key`` of the run's ``version``; not at all when it is not plain JSON."""
    try:
        text = json.dumps(value, sort_keys=True, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError):
        return
    _write(view_path(run_path, key, "json", version), lambda f: f.write(text))


def drop_views(run_path: Path) -> None:
    """Remove every view of a run (it was deleted)."""
    shutil.rmtree(view_folder(Path(run_path)), ignore_errors=True)
