"""The entry point of a dashboard training process: ``python -m vae.trainer_process SERVER_PID``.

``vae.jobs.TrainingJob`` starts it. Its orders come on stdin: one pickled ``TrainingOrders``, then a
byte that means "stop after this step" (end of file means the same: the server is gone). What happens
goes back as pickles on stdout; see ``train_in_process``. This module never imports the server's side.

The process yields the cores before anything else, and only then imports torch: a second and more
of CPU that would otherwise compete with every page of every user at full priority. It is a plain
subprocess, not a ``multiprocessing`` one, because spawn re-runs the parent's ``__main__`` in the
child, and in a Streamlit server that is the app's entrypoint: it imported Streamlit and ran the
router, seconds of CPU per training before its first step.

Only light modules are imported here.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
from pathlib import Path
from typing import BinaryIO

from vae.pipe import TrainingOrders

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
    ``vae.worker.training_messages``). ``stop`` is set when the server asks the run to stop after its current step."""
    from vae.worker import training_messages

    try:
        for message in training_messages(orders, stop):
            pickle.dump(message, events, protocol=pickle.HIGHEST_PROTOCOL)
            events.flush()
    except BrokenPipeError:
        return  # the server is gone; the saved epochs stay, and the run reads interrupted


def main() -> None:
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        print(
            "usage: python -m vae.trainer_process SERVER_PID, orders on stdin; vae.jobs.TrainingJob starts it",
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


if __name__ == "__main__":
    main()
