"""The local engine: each training in a process of its own on this machine, with its orders on stdin and its
``vae.training.pipe`` messages back on stdout. Ray's twin is ``vae.training.ray_engine.train_on_ray``; what the
training does inside either is ``vae.training.worker``.

Both ends are here. The server's end is ``run_local``; the process itself is ``python -m
vae.training.local_engine SERVER_PID`` (``main``). Its orders come on stdin: one pickled ``TrainingOrders``, then
a byte that means "stop after this step" (end of file means the same: the server is gone). What happens goes back
as pickles on stdout; see ``train_in_process``.

The process yields the cores before anything else, and only then imports torch: a second and more of CPU that
would otherwise compete with every page of every user at full priority. So this module imports only light
modules at its top. It is a plain subprocess, not a ``multiprocessing`` one, because spawn re-runs the parent's
``__main__`` in the child, and in a Streamlit server that is the app's entrypoint: it imported Streamlit and ran
the router, seconds of CPU per training before its first step.
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from vae.training.pipe import EventBundle, Failure, Message, Started, TrainingOrders

# The repository (the package's parent): a training process imports ``vae`` from there, wherever the server was started.
_ROOT = Path(__file__).resolve().parents[2]


# --- The training process's end ---

# Page reruns share the cores with background trainings; a niced trainer lets them go first.
# CFS weights: nice 0 -> 1024, nice 15 -> 36, so a page gets about 97% of a contended core.
TRAINING_NICENESS = 15
# The same for the training's own scheduling group (Linux autogroup): weight 15 against 1024.
AUTOGROUP_NICENESS = 19
AUTOGROUP = Path("/proc/self/autogroup")


def own_session() -> bool:
    """Whether a training process should get a session, and so an autogroup, of its own (see ``yield_cores``)."""
    return AUTOGROUP.exists()


def die_with_server(server_pid: int) -> None:
    """Make the kernel end this process when the server does, however the server ends (Linux), so that a
    killed server leaves an ``interrupted`` run, not one still training with nobody to show it."""
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != server_pid:
        sys.exit(0)  # the server died before the line above took effect


def yield_cores() -> None:
    """Make this process the first to wait when the cores are contended: niced, and on Linux in a
    scheduling group of its own (its own session, started by the server) with the lowest weight.

    Niceness only orders the tasks within one autogroup: Linux with autogroups (most desktops, this VM)
    first splits the cores evenly between sessions' groups. A browser in another session, on the same
    machine, shared the cores half and half with a training at niceness 15; in a niced group of their own
    the trainings wait (README, measured figures: page switches beside trainings). Best effort: where this fails,
    the training keeps the server's priority, or the niceness alone.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, 0, max(TRAINING_NICENESS, os.getpriority(os.PRIO_PROCESS, 0)))
        if os.getsid(0) == os.getpid() and AUTOGROUP.exists():
            AUTOGROUP.write_text(str(AUTOGROUP_NICENESS))
    except (AttributeError, OSError):
        pass


def _stop_on_order(orders: BinaryIO, stop: threading.Event) -> None:
    orders.read(1)  # a byte: stop; end of file: the server is gone, stop all the same
    stop.set()


def train_in_process(orders: TrainingOrders, events: BinaryIO, stop: threading.Event) -> None:
    """Train and save the run that ``orders`` name, and pickle what happens to ``events`` as ``Message``s (see
    ``vae.training.worker.training_messages``). ``stop`` is set when the server asks the run to stop after its
    current step."""
    from vae.training.worker import training_messages

    try:
        for message in training_messages(orders, stop):
            pickle.dump(message, events, protocol=pickle.HIGHEST_PROTOCOL)
            events.flush()
    except BrokenPipeError:
        return  # the server is gone; the saved epochs stay, and the run reads interrupted


def main() -> None:
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        print(
            "usage: python -m vae.training.local_engine SERVER_PID, orders on stdin; "
            "vae.training.jobs.TrainingJob starts it",
            file=sys.stderr,
        )
        sys.exit(2)
    die_with_server(int(sys.argv[1]))
    yield_cores()
    events = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print must not land in the event stream
    orders = sys.stdin.buffer
    wanted = pickle.load(orders)
    stop = threading.Event()
    threading.Thread(target=_stop_on_order, args=(orders, stop), daemon=True).start()
    train_in_process(wanted, events, stop)
    events.close()
    # Not a normal exit: the thread that waits on stdin holds its lock, and finalizing the interpreter
    # under it aborts the process. Everything worth keeping is saved and sent by now.
    os._exit(0)


# --- The server's end ---


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
    from vae.training.loop import TrainingEnded

    return isinstance(message, EventBundle) and isinstance(message.events[-1], TrainingEnded)


def run_local(orders: TrainingOrders, stop: threading.Event) -> Iterator[Message]:
    """Train ``orders`` in a training process of this machine, yielding its messages as they come: ``Started``
    first, and a ``Failure`` with the exit code when the process ended without saying how the training ended."""
    path = os.environ.get("PYTHONPATH")
    process = subprocess.Popen(
        [sys.executable, "-m", "vae.training.local_engine", str(os.getpid())],
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


if __name__ == "__main__":
    main()
