"""Run names: file-safe, one writer each across processes, and who owns a run.

A name is reserved with a lock file beside the run, ``.NAME.pt.lock``, made with ``O_CREAT | O_EXCL``:
the file system, not a process's memory, says who holds it. So the app, several app servers on one
folder and the CLI can never write the same name at once. The lock holds the reserving process's
``trainer_id()``; a lock whose process is gone is stale, and the next reservation breaks it.

A run made in the app belongs to the browser that made it: the browser keeps an owner token (in its
URL) and the run stores only the token's hash, so a file read by anyone never gives the token away.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import socket
import threading
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vae.errors import NameTaken
from vae.status import RunStatus

SUFFIX = ".pt"
LOCK_SUFFIX = ".lock"
TMP_MARKER = ".tmp-"  # in the name of a run file being written: FILE.pt.tmp-XXXX, replaced into FILE.pt
MAX_NAME_LENGTH = 64
SHIPPED_MANIFEST = "shipped.json"
OWNER_HASH_LENGTH = 64  # hex digits of SHA-256
_names_lock = threading.Lock()
_writing: dict[Path, str] = {}  # runs this process is training -> its trainer_id()
EMPTY_LOCK_GRACE_S = 10.0  # a lock is written the moment it is made; one still empty after this is a crash's


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


# --- Who writes: a process, named so that a reused pid is not mistaken for it. ---


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


def trainer_alive(trainer: str, *, other_hosts: bool = False) -> bool:
    """Whether the process that wrote ``trainer_id()`` still exists (same pid and start time).

    A process on another host cannot be checked from here: it counts as ``other_hosts``.
    """
    host, _, rest = str(trainer).partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname():
        return other_hosts and bool(host)
    if not pid_text.isdigit():
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
    if status != RunStatus.RUNNING:
        return status
    trainer = str(final.get("trainer", ""))
    if trainer == trainer_id():  # written by this very process: is it still training that file?
        with _names_lock:
            alive = path is not None and _writing.get(Path(path).resolve()) == trainer
    else:
        alive = trainer_alive(trainer)
    return RunStatus.RUNNING if alive else RunStatus.INTERRUPTED


def mark_writing(path: Path, writing: bool) -> None:
    """Record that this process is (or no longer is) training the run at ``path``."""
    with _names_lock:
        if writing:
            _writing[Path(path).resolve()] = trainer_id()
        else:
            _writing.pop(Path(path).resolve(), None)


# --- Reservations: a lock file beside the run. ---


def lock_path(directory: Path, name: str) -> Path:
    path = run_path(directory, name)
    return path.with_name(f".{path.name}{LOCK_SUFFIX}")


def holder(directory: Path, name: str) -> str:
    """The ``trainer_id()`` that holds ``name``, or "" when it is free or its holder is gone."""
    lock = lock_path(directory, name)
    try:
        held_by, age = lock.read_text(), time.time() - lock.stat().st_mtime
    except OSError:
        return ""
    if not held_by:  # made this instant and not yet written, or left empty by a crash
        return "?" if age < EMPTY_LOCK_GRACE_S else ""
    return held_by if trainer_alive(held_by, other_hosts=True) else ""


def _take(directory: Path, name: str) -> bool:
    """Create the lock of ``name`` for this process; False while a live writer holds it."""
    lock = lock_path(directory, name)
    me = trainer_id()
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if holder(directory, name):
                return False
            lock.unlink(missing_ok=True)  # stale: its writer died without releasing it
            continue
        with os.fdopen(fd, "w") as f:
            f.write(me)
        # Two breakers of one stale lock can each create a new one; only the survivor holds the name.
        return lock.read_text() == me
    return False


def _refusal(directory: Path, name: str) -> str:
    who = holder(directory, name)
    host, _, rest = who.partition(":")
    where = f"process {rest.partition(':')[0]} on {host}" if rest else "another process"
    return f"run {name!r} is being written by {where}; wait for it to finish or choose another name"


def reserve_run_name(directory: Path, wanted: str) -> str:
    """Claim a name that no file, shipped run or writer holds, adding ``-2``, ``-3``... when taken.

    Release it with ``release_run_name`` when the writer is done; the saved file keeps it taken.
    """
    base = sanitize_run_name(wanted)
    shipped = shipped_names(directory)
    Path(directory).mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        candidate = base if n == 1 else f"{base[: MAX_NAME_LENGTH - 6]}-{n}"
        if candidate in shipped or run_path(directory, candidate).exists() or not _take(directory, candidate):
            continue
        if run_path(directory, candidate).exists():  # written between the check and the lock
            release_run_name(directory, candidate)
            continue
        return candidate
    raise NameTaken(f"no free run name near {base!r}")


def reserve_exact(directory: Path, name: str, *, overwrite: bool = False) -> str:
    """Claim exactly ``name`` for a new run (the CLI's ``--name``). An existing run is refused unless
    ``overwrite``; a name that another writer holds is refused either way, naming the writer."""
    name = sanitize_run_name(name)
    if name in shipped_names(directory):
        raise NameTaken(f"{name!r} is a shipped run and cannot be overwritten; choose another name")
    Path(directory).mkdir(parents=True, exist_ok=True)
    if not _take(directory, name):
        raise NameTaken(_refusal(directory, name))
    if run_path(directory, name).exists() and not overwrite:
        release_run_name(directory, name)
        raise NameTaken(f"run {name!r} already exists in {directory}; choose another name or overwrite it")
    return name


@dataclass(frozen=True)
class Placement:
    """How a new run takes its name and whose it is. ``exact``: the name as given, refused when taken unless
    ``overwrite`` (the CLI's rule); else the next free one (the app's). ``owner`` (a hash) and ``origin``
    are stored with the run."""

    owner: str = ""
    origin: str = ""
    exact: bool = False
    overwrite: bool = False

    def reserve(self, directory: Path, wanted: str) -> str:
        """Reserve the run's name under this placement's rule (release it with ``release_run_name``)."""
        if self.exact:
            return reserve_exact(directory, wanted, overwrite=self.overwrite)
        return reserve_run_name(directory, wanted)


NEXT_FREE = Placement()  # the app's rule, with no owner: the next free name


def claim_run_name(directory: Path, name: str) -> str:
    """Claim an existing run's own name, to continue training it in place; refused while another writer holds it."""
    name = run_path(directory, name).stem
    if not _take(directory, name):
        raise NameTaken(_refusal(directory, name).replace("being written", "already being trained"))
    return name


def release_run_name(directory: Path, name: str) -> None:
    """Give the name back, if this process holds it."""
    lock = lock_path(directory, name)
    try:
        if lock.read_text() == trainer_id():
            lock.unlink()
    except OSError:
        pass


# --- Owners ---


def new_owner_token() -> str:
    """A browser's secret: it stays in the browser's URL and never in a file."""
    return secrets.token_urlsafe(16)


def owner_hash(token: str | None) -> str:
    """What a run stores of its owner's token; "" for no token (a CLI or shipped run: nobody owns it in the app)."""
    if not token:
        return ""
    return hashlib.sha256(f"vae-lab-owner:{token}".encode()).hexdigest()


def owns(token: str | None, stored_hash: str) -> bool:
    """Whether the holder of ``token`` owns a run that stores ``stored_hash``. A run with no owner has none."""
    return bool(token) and bool(stored_hash) and secrets.compare_digest(owner_hash(token), stored_hash)
