"""A folder of runs: what the run list shows of each file (read once per version of it), and the folder's
housekeeping: deleting a run for its owner, and clearing what a killed writer left behind.

What the list shows of a file is kept as its ``summary`` view (``vae.runfile.views``), so listing the folder needs no
torch once each version of each file has been read: the app's first screen is drawn before torch is loaded.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vae.model.config import VAEConfig
from vae.runfile.names import SUFFIX, TMP_MARKER, run_path, shipped_names
from vae.runfile.owners import owns
from vae.runfile.reading import read_bytes, validated_header
from vae.runfile.views import drop_views, file_version, read_json, version_of, write_json
from vae.runfile.writers import run_status
from vae.vocabulary import CheckpointError

SUMMARY = "summary"  # the view that holds what the run list shows of a file

STALE_TMP_SECONDS = 3600


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
    owner: str = ""
    origin: str = ""
    size: int = 0

    @property
    def status(self) -> str:
        """``completed``, ``stopped``, ``diverged``, ``running`` or ``interrupted`` (its trainer is gone)."""
        return run_status(self.final, self.path)

    def owned_by(self, token: str | None) -> bool:
        """Whether the browser holding owner ``token`` may delete this run or change it in place."""
        return not self.shipped and owns(token, self.owner)


def _from_summary(file: Path, shipped: bool, size: int, summary: dict[str, Any]) -> RunInfo | None:
    """The run list's entry from a stored summary, checked as a file's header is; None when it does not pass."""
    try:
        config, final = validated_header(summary, file.name)
    except CheckpointError:
        return None
    owner, origin = str(summary.get("owner", "")), str(summary.get("origin", ""))
    return RunInfo(file.stem, file, shipped, config, final, str(summary["created"]), "", owner, origin, size)


def _read(file: Path, shipped: bool, size: int) -> RunInfo:
    """The run list's entry read from the file itself (torch), its summary stored for the next reader."""
    from vae.runfile.reading import MAX_CHECKPOINT_BYTES, owner_of, owner_of_oversize, read_payload, validated

    try:
        data = read_bytes(file)
        payload = read_payload(io.BytesIO(data), size, file.name)
    except CheckpointError as exc:  # an oversize file is still its owner's to delete
        owner = owner_of_oversize(file) if size > MAX_CHECKPOINT_BYTES else ""
        return RunInfo(file.stem, file, shipped, error=str(exc), owner=owner, size=size)
    owner, origin = owner_of(payload), str(payload.get("origin", ""))[:16]
    try:
        config, final, _ = validated(payload, file.name)
    except CheckpointError as exc:  # still its owner's to delete
        return RunInfo(file.stem, file, shipped, error=str(exc), owner=owner, origin=origin, size=size)
    created = str(payload["created"])
    summary = {"name": payload["name"], "created": created, "config": config.to_dict(), "final": final}
    summary |= {"owner": owner} if owner else {}
    summary |= {"origin": origin} if "origin" in payload else {}
    # The version of the bytes parsed, not of the file now: a training may have replaced it since.
    write_json(file, SUMMARY, summary, version_of(hashlib.sha256(data).hexdigest()))
    return RunInfo(file.stem, file, shipped, config, final, created, "", owner, origin, size)


@functools.lru_cache(maxsize=512)
def _summary(path: str, mtime_ns: int, size: int) -> RunInfo:
    """A run file as the list shows it, read and validated once per version of the file: from its summary view
    when it has one, else from the file.

    While trainings save a run every epoch, the run list is read again each time; only the changed
    files are read again.
    """
    file = Path(path)
    shipped = file.stem in shipped_names(file.parent)
    try:
        stored = read_json(file, SUMMARY, file_version(file))
    except OSError:
        stored = None  # deleted while listing: reading it says so
    info = _from_summary(file, shipped, size, stored) if stored is not None else None
    return info if info is not None else _read(file, shipped, size)


def list_runs(directory: Path) -> list[RunInfo]:
    """Every ``*.pt`` run in ``directory``: shipped ones in manifest order, then the newest first.

    Temporary files are skipped. Unreadable files are listed with ``error`` set rather than hidden,
    so that their owner can delete them.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    infos = []
    for path in directory.glob(f"*{SUFFIX}"):
        if path.name.startswith(".") or not path.is_file():
            continue
        try:
            stat = path.stat()
        except OSError:
            continue  # deleted while listing
        info = _summary(str(path), stat.st_mtime_ns, stat.st_size)
        infos.append(RunInfo(**{**info.__dict__, "final": copy.deepcopy(info.final)}))
    order = {name: i for i, name in enumerate(shipped_names(directory))}
    return sorted(infos, key=lambda info: (order.get(info.name, len(order)), _negated_mtime(info.path), info.name))


def _negated_mtime(path: Path) -> float:
    try:
        return -path.stat().st_mtime
    except OSError:
        return 0.0


def delete_run(directory: Path, name: str, owner_token: str | None) -> None:
    """Delete a run for the browser that owns it. Shipped runs, and runs that the holder of ``owner_token``
    does not own (CLI runs and others' runs), are refused."""
    path = run_path(directory, name)
    if path.stem in shipped_names(directory):
        raise CheckpointError(f"{path.stem!r} is a shipped run and cannot be deleted")
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise CheckpointError(f"no run named {path.stem!r}") from None
    info = _summary(str(path), stat.st_mtime_ns, stat.st_size)
    if not info.owned_by(owner_token):
        raise CheckpointError(f"{path.stem!r} is not yours to delete: only the browser that made it can")
    path.unlink(missing_ok=True)
    drop_views(path)


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
