"""Safe checkpoints: plain dicts of tensors, numbers, strings, lists and dicts.

Loaded only with ``torch.load(..., weights_only=True)``, so a file can never run code, and validated
whole (``vae.runfile.schema``) before anything reads it. Written to a temporary file and moved into place
with ``os.replace``, so a reader sees the old run or the new one, never half a file.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import torch

from vae.model.config import VAEConfig
from vae.model.networks import VAE, build_model
from vae.runfile.names import (
    NEXT_FREE,
    TMP_MARKER,
    Placement,
    claim_run_name,
    release_run_name,
    run_path,
    shipped_names,
)
from vae.runfile.reading import (
    FORMAT,
    FORMAT_VERSION,
    check_fits_run,
    check_size,
    owner_of,
    read_bytes,
    read_payload,
    validated,
)
from vae.runfile.schema import check_final, check_history
from vae.runfile.writers import run_status
from vae.vocabulary import CheckpointError, SchemaError


@dataclass
class Run:
    """A loaded run: the model in eval mode, its config, its metric history and final test metrics.

    ``history["epochs"]`` is a list of ``EpochMetrics.to_dict()``; ``history["steps"]`` is
    ``StepHistory.to_dict()`` (read it with ``StepHistory.from_history``); ``history["frames"]``, when
    present, is the latent space after each epoch (``vae.training.runs.RunRecorder``). ``owner`` is the hash of
    the owning browser's token ("" for nobody); ``version`` the SHA-256 of the file it was read from.
    """

    name: str
    config: VAEConfig
    model: VAE
    history: dict[str, Any]
    final: dict[str, Any]
    path: Path | None = None
    shipped: bool = False
    train_state: dict[str, Any] = field(default_factory=dict)  # ``TrainState.state_dict()``; empty in old files
    owner: str = ""
    version: str = ""
    origin: str = ""  # "upload" for a run a browser uploaded

    @property
    def epochs(self) -> list[dict[str, Any]]:
        return self.history.get("epochs", [])

    @property
    def status(self) -> str:
        return run_status(self.final, self.path)


def save_run(
    directory: Path,
    name: str,
    model: VAE,
    config: VAEConfig,
    history: dict[str, Any],
    final: dict[str, Any],
    *,
    train_state: dict[str, Any] | None = None,
    allow_shipped: bool = False,
    owner: str = "",
    origin: str = "",
) -> Path:
    """Write a run atomically to ``directory/name.pt``, replacing an earlier save of the same run.

    ``final`` and ``history`` must fit ``vae.runfile.schema``: a writer cannot store what no reader would accept.
    Shipped runs are refused unless ``allow_shipped`` (only the script that rebuilds them sets it).
    """
    directory = Path(directory)
    path = run_path(directory, name)
    if not allow_shipped and path.stem in shipped_names(directory):
        raise CheckpointError(f"{path.stem!r} is a shipped run and cannot be overwritten")
    try:
        check_history(history, check_final(final))
        check_fits_run(final, config.latent_dim)
    except SchemaError as exc:
        raise CheckpointError(f"{path.stem} was not saved: {exc}") from None
    directory.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": path.stem,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "history": history,
        "final": final,
        # Lets training carry on exactly (optimizer, RNGs); shipped runs leave it out.
        **({"train_state": train_state} if train_state else {}),
        **({"owner": owner} if owner else {}),
        **({"origin": origin} if origin else {}),
    }
    write_atomic(path, payload)
    return path


def write_atomic(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` into a temporary sibling, fsync, then ``os.replace`` over ``path``."""
    _replace_atomically(path, lambda f: torch.save(payload, f))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """A run's file as bytes (a Ray worker's save) written over ``path`` the same way: whole or not at all."""
    _replace_atomically(path, lambda f: f.write(data))


def _replace_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}{TMP_MARKER}", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; a run is shared like any other file
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            # The writer holds itself to the reader's limit: a file no reader would open is never put in place,
            # and the run's last good save stays.
            check_size(f"{path.stem} was not saved: its file", f.tell())
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _run_from_payload(payload: dict[str, Any], label: str, path: Path | None, shipped: bool, version: str) -> Run:
    config, final, history = validated(payload, label)
    model = build_model(config)
    model.load_state_dict(payload["state_dict"], strict=True)
    train_state = payload.get("train_state") if isinstance(payload.get("train_state"), dict) else {}
    name, origin = path.stem if path is not None else payload["name"], payload.get("origin", "")
    extra = {"owner": owner_of(payload), "version": version, "origin": origin}
    return Run(name, config, model.eval(), history, final, path, shipped, train_state, **extra)


def load_run(path: Path) -> Run:
    """Load and validate a run from disk. Raises ``CheckpointError`` with a message a person can act on."""
    path = Path(path)
    data = read_bytes(path)
    payload = read_payload(io.BytesIO(data), len(data), path.name)
    shipped = path.stem in shipped_names(path.parent)
    return _run_from_payload(payload, path.name, path, shipped, hashlib.sha256(data).hexdigest())


def file_version(path: Path) -> str:
    """The SHA-256 of a run file as it is now ("" when it is gone): what ``Run.version`` was when it was read."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def load_run_bytes(data: bytes, label: str = "the uploaded file") -> Run:
    """Validate a checkpoint held in memory (an upload) without touching the disk."""
    payload = read_payload(io.BytesIO(data), len(data), label)
    return _run_from_payload(payload, label, None, False, hashlib.sha256(data).hexdigest())


def import_run(
    directory: Path, data: bytes, wanted_name: str, placement: Placement = NEXT_FREE, label: str = "the uploaded file"
) -> Path:
    """Validate uploaded bytes, then store them as a run under ``placement``'s name rule and owner.
    Nothing is written for a bad file."""
    run = load_run_bytes(data, label)
    name = placement.reserve(directory, wanted_name)
    try:
        extra = {"owner": placement.owner, "origin": placement.origin}
        return save_run(
            directory, name, run.model, run.config, run.history, run.final, train_state=run.train_state, **extra
        )
    finally:
        release_run_name(directory, name)


def store_in_final(path: Path, key: str, value: dict[str, Any], *, allow_shipped: bool = False) -> Path:
    """Add ``final[key] = value`` (a measurement, such as ``disentanglement``) to the run at ``path``, keeping
    everything else it holds. Refused (``CheckpointError`` or ``NameTaken``) for a shipped run, unless
    ``allow_shipped``, and while a training writes the run; the file is replaced atomically either way."""
    path = Path(path)
    if path.stem in shipped_names(path.parent) and not allow_shipped:
        raise CheckpointError(f"{path.stem} is a shipped run: its {key} is stored by scripts/build_pretrained.py")
    name = claim_run_name(path.parent, path.stem)
    try:
        run = load_run(path)  # read once no training can write it: the newest file is the one kept
        extra = {"owner": run.owner, "origin": run.origin}
        return save_run(
            path.parent,
            name,
            run.model,
            run.config,
            run.history,
            {**run.final, key: value},
            train_state=run.train_state or None,
            allow_shipped=allow_shipped,
            **extra,
        )
    finally:
        release_run_name(path.parent, name)
