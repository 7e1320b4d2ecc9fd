"""Who writes a run: a process named so that a reused pid is not mistaken for it, whether that process still
lives, the status a person should see of a ``running`` file, and the kernel's lock on a name.

A name is held by an exclusive ``flock`` on its lock file beside the run, ``.NAME.pt.lock``, taken by the process
that writes the run and kept open until it is done. The kernel, not a file's contents, says who holds it: the lock
frees the moment its holder's process ends, however it ends, and two holders in one process (two sessions of one
server) are told apart, since each takes its own open file. The file also names its holder (``trainer_id()``),
for the message that says who is writing. This holds on a local file system; over NFS, Linux emulates ``flock``
with a lock per process, so this process also keeps its own list of the names it holds.
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from vae.vocabulary import RunStatus

_lock = threading.Lock()
_writing: dict[Path, str] = {}  # runs this process is training -> its trainer_id()
_held: dict[Path, int] = {}  # lock files this process holds -> the open descriptor that holds the flock
LOCK_TRIES = 3  # a reader (``holder``) holds a shared lock for an instant: a taker tries again, 5 ms apart


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
        with _lock:
            alive = path is not None and _writing.get(Path(path).resolve()) == trainer
    else:
        alive = trainer_alive(trainer)
    return RunStatus.RUNNING if alive else RunStatus.INTERRUPTED


def mark_writing(path: Path, writing: bool) -> None:
    """Record that this process is (or no longer is) training the run at ``path``."""
    with _lock:
        if writing:
            _writing[Path(path).resolve()] = trainer_id()
        else:
            _writing.pop(Path(path).resolve(), None)


# --- The kernel's lock on a name ---


def _locked(lock: Path) -> int | None:
    """An open descriptor of ``lock`` that holds its exclusive flock, or None while another open file holds it."""
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        except PermissionError:  # another user's lock file: free once its holder is gone, and ours to remake
            if holder(lock):
                return None
            try:
                lock.unlink(missing_ok=True)
            except PermissionError:
                return None
            continue
        if not _flock(fd, fcntl.LOCK_EX):
            os.close(fd)
            return None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # its holder released and unlinked it between our open and our flock: take the new file


def _flock(fd: int, kind: int) -> bool:
    """Take ``kind`` of flock on ``fd`` without waiting for a holder, though past a reader's instant."""
    for attempt in range(LOCK_TRIES):
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt < LOCK_TRIES - 1:
                time.sleep(0.005)
    return False


def take(lock: Path) -> bool:
    """Hold ``lock`` for this process, until ``release``; False while another holder, here or elsewhere, has it."""
    with _lock:
        if lock.resolve() in _held:
            return False
    fd = _locked(lock)
    if fd is None:
        return False
    try:
        os.ftruncate(fd, 0)
        os.write(fd, trainer_id().encode())
    except OSError:
        os.close(fd)  # not held with our name in it: not held at all
        raise
    with _lock:
        _held[lock.resolve()] = fd
    return True


def holder(lock: Path) -> str:
    """The ``trainer_id()`` of whoever holds ``lock`` ("?" when it is held but does not say by whom), or "" when it
    is free: a holder whose process has ended holds nothing."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except PermissionError:
        return "?"  # another user's, and unreadable: held, as far as anyone here can tell
    except OSError:
        return ""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        with os.fdopen(fd, "rb") as f:
            return f.read(256).decode(errors="replace") or "?"
    os.close(fd)  # closing it drops the shared lock we just took
    return ""


def release(lock: Path) -> None:
    """Give ``lock`` back, if this process holds it: the file goes first, then the kernel's lock."""
    with _lock:
        fd = _held.pop(lock.resolve(), None)
    if fd is None:
        return
    try:
        lock.unlink(missing_ok=True)
    finally:
        os.close(fd)
