"""Safe checkpoints: plain dicts of tensors, numbers, strings, lists and dicts.

Loaded only with ``torch.load(..., weights_only=True)``, so a file can never run code. Written
to a temporary file and moved into place with ``os.replace``, so a reader sees the old run or
the new one, never half a file.
"""

from __future__ import annotations

import copy
import functools
import io
import json
import os
import re
import socket
import tempfile
import threading
import time
import unicodedata
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import torch

from vae.config import ConfigError, VAEConfig, from_dict
from vae.models import VAE, build_model

FORMAT = "vae-lab-run"
FORMAT_VERSION = 1
SUFFIX = ".pt"
MAX_CHECKPOINT_BYTES = 50 * 1024 * 1024
MAX_NAME_LENGTH = 64
SHIPPED_MANIFEST = "shipped.json"
TMP_MARKER = ".tmp-"
STALE_TMP_SECONDS = 3600

_names_lock = threading.Lock()
_reserved_names: set[Path] = set()
_writing: dict[Path, str] = {}  # runs this process is training -> its trainer_id()


class CheckpointError(Exception):
    """A checkpoint cannot be used: missing, corrupt, truncated, foreign, mismatched or protected."""


@dataclass
class Run:
    """A loaded run: the model in eval mode, its config, its metric history and final test metrics.

    ``history["epochs"]`` is a list of ``EpochMetrics.to_dict()``; ``history["steps"]`` is
    ``StepHistory.to_dict()`` (read it with ``StepHistory.from_history``); ``history["frames"]``, when
    present, is the latent space after each epoch (``vae.runs.RunRecorder``).
    """

    name: str
    config: VAEConfig
    model: VAE
    history: dict[str, Any]
    final: dict[str, Any]
    path: Path | None = None
    shipped: bool = False
    train_state: dict[str, Any] = field(default_factory=dict)  # ``TrainState.state_dict()``; empty in old files

    @property
    def epochs(self) -> list[dict[str, Any]]:
        return self.history.get("epochs", [])

    @property
    def status(self) -> str:
        return run_status(self.final, self.path)


@dataclass(frozen=True)
class RunInfo:
    """What the run list shows, read without building a model. ``error`` is set for an unreadable file."""

    name: str
    path: Path
    shipped: bool
    config: VAEConfig | None = None
    final: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    error: str = ""

    @property
    def status(self) -> str:
        """``completed``, ``stopped``, ``diverged``, ``running`` or ``interrupted`` (its trainer is gone)."""
        return run_status(self.final, self.path)


def trainer_id() -> str:
    """Who is writing a run: host, pid and the process's start time, so that a reused pid is not mistaken for it."""
    return f"{socket.gethostname()}:{os.getpid()}:{_process_start(os.getpid())}"


def _process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), or "" where /proc is missing."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # Field 22, counted after the command name, which is in parentheses and may hold spaces.
    return stat.rsplit(")", 1)[1].split()[19]


def trainer_alive(trainer: str) -> bool:
    """Whether the process that wrote ``trainer_id()`` is still training that run.

    That is whether the same process (pid and start time) still exists on this host. A file written
    on another host, or by a version that recorded no trainer, counts as gone.
    """
    host, _, rest = str(trainer).partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    return _process_start(pid) == started


def run_status(final: dict[str, Any], path: Path | None = None) -> str:
    """The status a person should see: a ``running`` run whose trainer is gone is ``interrupted``."""
    status = str(final.get("status", ""))
    if status != "running":
        return status
    trainer = str(final.get("trainer", ""))
    if trainer == trainer_id():  # written by this very process: is it still training that file?
        with _names_lock:
            alive = path is not None and _writing.get(Path(path).resolve()) == trainer
    else:
        alive = trainer_alive(trainer)
    return "running" if alive else "interrupted"


def mark_writing(path: Path, writing: bool) -> None:
    """Record that this process is (or no longer is) training the run at ``path``."""
    with _names_lock:
        if writing:
            _writing[Path(path).resolve()] = trainer_id()
        else:
            _writing.pop(Path(path).resolve(), None)


def sanitize_run_name(raw: str) -> str:
    """A file-safe run name: ASCII letters, digits, ``.``, ``_`` and ``-``, at most 64 characters.

    Accents are folded (``é`` -> ``e``), other characters become ``-``, and leading dots are
    dropped, so the result can never name a parent directory or a hidden file. Raises
    ``ValueError`` when nothing usable remains.
    """
    if not isinstance(raw, str):
        raise TypeError("run name must be text")
    folded = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode("ascii")
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", folded)
    name = re.sub(r"-{2,}", "-", name).strip("-._")[:MAX_NAME_LENGTH].rstrip("-._")
    if not name:
        raise ValueError(f"run name {raw!r} has no usable characters; use letters, digits, '-', '_' or '.'")
    return name


def run_path(directory: Path, name: str) -> Path:
    """The file for run ``name`` in ``directory``; guaranteed to lie directly inside it."""
    directory = Path(directory)
    path = directory / f"{sanitize_run_name(name)}{SUFFIX}"
    if path.resolve().parent != directory.resolve():
        raise ValueError(f"run name {name!r} would write outside {directory}")
    return path


def shipped_names(directory: Path) -> tuple[str, ...]:
    """Names of the runs that ship with the app, in the order ``shipped.json`` lists them; they are read-only."""
    manifest = Path(directory) / SHIPPED_MANIFEST
    try:
        names = json.loads(manifest.read_text())["runs"]
        return tuple(str(name) for name in names)
    except (OSError, ValueError, KeyError, TypeError):
        return ()


def reserve_run_name(directory: Path, wanted: str) -> str:
    """Claim a name no file, shipped run or running job holds, adding ``-2``, ``-3``... when taken.

    Release it with ``release_run_name`` when the job ends; the saved file keeps it taken.
    """
    base = sanitize_run_name(wanted)
    shipped = shipped_names(directory)
    with _names_lock:
        for n in range(1, 10_000):
            candidate = base if n == 1 else f"{base[: MAX_NAME_LENGTH - 6]}-{n}"
            path = run_path(directory, candidate)
            if candidate not in shipped and not path.exists() and path.resolve() not in _reserved_names:
                _reserved_names.add(path.resolve())
                return candidate
    raise CheckpointError(f"no free run name near {base!r}")


def claim_run_name(directory: Path, name: str) -> str:
    """Claim an existing run's own name, to continue training it in place. Raises if a job already holds it."""
    path = run_path(directory, name)
    with _names_lock:
        if path.resolve() in _reserved_names:
            raise CheckpointError(f"{path.stem!r} is already being trained here")
        _reserved_names.add(path.resolve())
    return path.stem


def release_run_name(directory: Path, name: str) -> None:
    with _names_lock:
        _reserved_names.discard(run_path(directory, name).resolve())


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
) -> Path:
    """Write a run atomically to ``directory/name.pt``, replacing an earlier save of the same run.

    Shipped runs are refused unless ``allow_shipped`` (only the script that rebuilds them sets it).
    """
    directory = Path(directory)
    path = run_path(directory, name)
    if not allow_shipped and path.stem in shipped_names(directory):
        raise CheckpointError(f"{path.stem!r} is a shipped run and cannot be overwritten")
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
    }
    write_atomic(path, payload)
    return path


def write_atomic(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` into a temporary sibling, fsync, then ``os.replace`` over ``path``."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}{TMP_MARKER}", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; a run is shared like any other file
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _read_payload(source: Path | BinaryIO, size: int, label: str) -> dict[str, Any]:
    if size == 0:
        raise CheckpointError(f"{label} is empty")
    if size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(
            f"{label} is {size / 2**20:.1f} MB, over the {MAX_CHECKPOINT_BYTES // 2**20} MB limit for a checkpoint"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols of files we refuse anyway
            payload = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - the unpickler raises many types; all mean "unsafe or corrupt"
        # torch's own message suggests weights_only=False, which is exactly what must never happen here.
        unsafe = re.search(r"(?:unsupported|Unsupported global:) GLOBAL ([\w.]+)", str(exc))
        if unsafe:
            reason = f"it holds a Python object ({unsafe.group(1)}) that is unsafe to load, so it was refused"
        else:
            reason = "the file is corrupt, truncated or not a torch checkpoint"
        raise CheckpointError(f"{label} is not a readable VAE Lab checkpoint: {reason}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{label} is a torch file, but not a VAE Lab run (no '{FORMAT}' marker)")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{label} has format version {version!r}; this VAE Lab reads up to {FORMAT_VERSION}")
    return payload


def _config_of(payload: dict[str, Any], label: str) -> VAEConfig:
    try:
        return from_dict(payload.get("config"))
    except ConfigError as exc:
        raise CheckpointError(f"{label} has an invalid config: {exc}") from None


def _build(payload: dict[str, Any], config: VAEConfig, label: str) -> VAE:
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{label} holds no weights")
    model = build_model(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(f"{label}: the weights do not match its config ({config.label}): {first}") from None
    if not all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()):
        raise CheckpointError(f"{label} holds non-finite weights")
    return model.eval()


def _run_from_payload(payload: dict[str, Any], label: str, path: Path | None, shipped: bool) -> Run:
    config = _config_of(payload, label)
    model = _build(payload, config, label)
    history = payload.get("history") if isinstance(payload.get("history"), dict) else {}
    final = payload.get("final") if isinstance(payload.get("final"), dict) else {}
    name = path.stem if path is not None else str(payload.get("name", "uploaded"))
    train_state = payload.get("train_state") if isinstance(payload.get("train_state"), dict) else {}
    return Run(name, config, model, history, final, path, shipped, train_state)


def load_run(path: Path) -> Run:
    """Load and validate a run from disk. Raises ``CheckpointError`` with a message a person can act on."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CheckpointError(f"{path.name}: cannot read it ({exc.strerror or exc})") from None
    payload = _read_payload(path, size, path.name)
    return _run_from_payload(payload, path.name, path, path.stem in shipped_names(path.parent))


def load_run_bytes(data: bytes, label: str = "the uploaded file") -> Run:
    """Validate a checkpoint held in memory (an upload) without touching the disk."""
    payload = _read_payload(io.BytesIO(data), len(data), label)
    return _run_from_payload(payload, label, None, False)


def import_run(directory: Path, data: bytes, wanted_name: str) -> Path:
    """Validate uploaded bytes, then store them under a free name. Nothing is written for a bad file."""
    run = load_run_bytes(data)
    name = reserve_run_name(directory, wanted_name)
    try:
        return save_run(directory, name, run.model, run.config, run.history, run.final, train_state=run.train_state)
    finally:
        release_run_name(directory, name)


@functools.lru_cache(maxsize=512)
def _summary(path: str, mtime_ns: int, size: int) -> tuple[VAEConfig, dict[str, Any], str]:
    """A run file's config, final metrics and creation time, read once per version of the file.

    While trainings save a run every epoch, the run list is read again each time; only the changed
    files are loaded again (a list of 11 shipped runs took 64 ms to read in full).
    """
    payload = _read_payload(Path(path), size, Path(path).name)
    final = payload.get("final") if isinstance(payload.get("final"), dict) else {}
    return _config_of(payload, Path(path).name), final, str(payload.get("created", ""))


def list_runs(directory: Path) -> list[RunInfo]:
    """Every ``*.pt`` run in ``directory``: shipped ones in manifest order, then the newest first.

    Temporary files are skipped.

    Unreadable files are listed with ``error`` set rather than hidden, so a person can delete them.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    shipped = shipped_names(directory)
    infos = []
    for path in directory.glob(f"*{SUFFIX}"):
        if path.name.startswith(".") or not path.is_file():
            continue
        try:
            stat = path.stat()
            config, final, created = _summary(str(path), stat.st_mtime_ns, stat.st_size)
            infos.append(RunInfo(path.stem, path, path.stem in shipped, config, copy.deepcopy(final), created))
        except (CheckpointError, OSError) as exc:
            infos.append(RunInfo(path.stem, path, path.stem in shipped, error=str(exc)))
    order = {name: i for i, name in enumerate(shipped)}
    return sorted(infos, key=lambda info: (order.get(info.name, len(order)), _negated_mtime(info.path), info.name))


def _negated_mtime(path: Path) -> float:
    try:
        return -path.stat().st_mtime
    except OSError:
        return 0.0


def delete_run(directory: Path, name: str) -> None:
    """Delete a user run. Shipped runs are refused."""
    path = run_path(directory, name)
    if path.stem in shipped_names(directory):
        raise CheckpointError(f"{path.stem!r} is a shipped run and cannot be deleted")
    try:
        path.unlink()
    except FileNotFoundError:
        raise CheckpointError(f"no run named {path.stem!r}") from None


def clean_stale_tmp(directory: Path, older_than_s: float = STALE_TMP_SECONDS) -> list[Path]:
    """Remove temporary files that a killed writer left behind. Young ones may belong to a live writer."""
    directory = Path(directory)
    removed = []
    now = time.time()
    for path in directory.glob(f".*{TMP_MARKER}*"):
        try:
            if now - path.stat().st_mtime > older_than_s:
                path.unlink()
                removed.append(path)
        except OSError:
            continue
    return removed
