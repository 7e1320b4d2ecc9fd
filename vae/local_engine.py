"""The local engine: each training in a process of its own on this machine (``vae.trainer_process``), with its
orders on stdin and its ``vae.pipe`` messages back on stdout. Ray's twin is ``vae.ray_engine.train_on_ray``.

A plain subprocess, not a ``multiprocessing`` one: spawn re-runs the parent's ``__main__`` in the child, and in
a Streamlit server that is the app's entrypoint.
"""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from vae.pipe import EventBundle, Failure, Message, Started, TrainingOrders
from vae.train import TrainingEnded
from vae.trainer_process import own_session

# The package's parent: a training process imports ``vae`` from there, wherever the server was started.
_ROOT = Path(__file__).resolve().parent.parent


def _stop_when_asked(stdin: BinaryIO, stop: threading.Event, done: threading.Event) -> None:
    """Pass ``stop`` on to the process as a byte on its stdin, once, unless it has ended first."""
    while not done.is_set():
        if stop.wait(0.2):
            try:
                stdin.write(b"s")
                stdin.flush()
            except (OSError, ValueError):
                pass  # it has ended already
            return


def _ended(message: Message) -> bool:
    """Whether ``message`` says how the training ended."""
    if isinstance(message, Failure):
        return True
    return isinstance(message, EventBundle) and isinstance(message.events[-1], TrainingEnded)


def run_local(orders: TrainingOrders, stop: threading.Event) -> Iterator[Message]:
    """Train ``orders`` in a training process of this machine, yielding its messages as they come: ``Started``
    first, and a ``Failure`` with the exit code when the process ended without saying how the training ended."""
    path = os.environ.get("PYTHONPATH")
    process = subprocess.Popen(
        [sys.executable, "-m", "vae.trainer_process", str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(_ROOT), *([path] if path else [])])},
        start_new_session=own_session(),
    )
    done = threading.Event()
    ended = False
    try:
        yield Started(process.pid, socket.gethostname())
        try:
            pickle.dump(orders, process.stdin)
            process.stdin.flush()
        except BrokenPipeError:
            pass  # it ended before it took its orders: said below, with its exit code
        else:
            threading.Thread(target=_stop_when_asked, args=(process.stdin, stop, done), daemon=True).start()
            try:
                while True:
                    message = pickle.load(process.stdout)
                    ended = _ended(message) or ended
                    yield message
            except (EOFError, pickle.UnpicklingError, BrokenPipeError):
                pass  # the process has ended; a message it was cut off writing is lost with it
    finally:
        done.set()
        try:
            process.stdin.close()  # end of file: a process still running stops after its step
        except BrokenPipeError:
            pass
        process.stdout.close()
        process.wait()
    if not ended:
        yield Failure(f"the training process ended unexpectedly (exit code {process.returncode})")
