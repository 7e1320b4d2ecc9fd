"""The Ray engine: each training is a Ray task that needs no shared file system.

The driver (the app's server, or the CLI) reserves the run's name in its own checkpoint folder and sends the task
its orders, the dataset (one object in Ray's store, shared by every run of a sweep) and, for a continuation, the
saved run's bytes. The task trains with the lab's own ``train_run`` (``vae.training.worker``) in a temporary folder
of its worker, and yields ``vae.training.pipe`` messages as a streaming generator: the step and epoch metrics as
they happen, and every save of the run's file as bytes, which the driver writes into its folder atomically.

Stop goes through a small control actor of the driver's (``vae.training.ray_cluster.Control``), on which each task
holds a call that returns when its run is stopped; the task then ends after its current step and saves the run as
``stopped``, as a local run does. A worker that dies (killed, out of memory, node lost) gives a
``Lost`` message: the run keeps its last saved epoch and reads ``interrupted``. Ray is imported only here, and only
when this engine is used.
"""

from __future__ import annotations

import dataclasses
import io
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vae.training import ray_cluster
from vae.training.pipe import EventBundle, Failure, Lost, Message, Saved, Started, TrainingOrders

_tasks: dict[str, Any] = {}  # the training task, registered once: each call would pickle the function anew


def _train_task(orders: TrainingOrders, data: Any, resume: bytes | None, control: Any, token: str) -> Iterator[Message]:
    """The Ray task (a streaming generator): train in a temporary folder of this worker and yield the messages,
    with every save of the run's file as ``Saved`` bytes ahead of the events that caused it.

    Stop arrives as the answer to a call on the driver's control actor that returns when the run is stopped (or
    the driver is gone). It is awaited through a future, never ``ray.get``: a worker blocked in ``ray.get`` lends
    its CPU back to Ray, which then starts a waiting run on it, and the cores are oversubscribed.
    """
    import tempfile

    yield Started(os.getpid(), socket.gethostname())
    if control.is_stopped.remote(token).future().result():  # stopped while it waited for a CPU: like a local job
        from vae.training.loop import TrainingEnded
        from vae.vocabulary import RunStatus

        yield EventBundle((TrainingEnded(RunStatus.STOPPED, "cancelled before it started", 0),))
        return
    stop = threading.Event()
    control.stopped.remote(token).future().add_done_callback(lambda _: stop.set())
    try:
        with tempfile.TemporaryDirectory(prefix="vae-ray-") as folder:
            yield from _train_in(Path(folder), orders, data, resume, stop)
    finally:
        control.forget.remote(token)  # ends the call above; a stop after the end changes nothing


def _train_in(
    folder: Path, orders: TrainingOrders, data: Any, resume: bytes | None, stop: threading.Event
) -> Iterator[Message]:
    from vae.runfile import load_run_bytes
    from vae.training.worker import training_messages

    here = dataclasses.replace(orders, directory=folder, resume_path=None)
    path, seen = folder / f"{orders.name}.pt", None
    run = load_run_bytes(resume, "the run to continue") if resume is not None else None
    for message in training_messages(here, stop, data=data, resume=run):
        if isinstance(message, EventBundle):
            saved, seen = _new_save(path, seen)
            if saved is not None:
                yield Saved(saved)
        yield message


def _new_save(path: Path, seen: tuple | None) -> tuple[bytes | None, tuple | None]:
    """The run's file if it was saved since ``seen`` (an atomic replace makes a new inode), and what to compare
    with next time."""
    if not path.exists():
        return None, seen
    stat = path.stat()
    now = (stat.st_ino, stat.st_mtime_ns)
    return (path.read_bytes(), now) if now != seen else (None, seen)


def train_on_ray(orders: TrainingOrders, stop: threading.Event) -> Iterator[Message]:
    """Train ``orders`` as a Ray task (connect first), yielding its messages as they come; the run's file is
    written into ``orders.directory`` on this machine, under ``orders.name``, as each save arrives.

    Setting ``stop`` ends the run after its current step, saved as ``stopped``. A worker that dies gives ``Lost``.
    """
    from vae.runfile.names import run_path
    from vae.runfile.writers import mark_writing, trainer_id
    from vae.runfile.writing import write_bytes_atomic

    ray = ray_cluster.ray()
    token = os.urandom(8).hex()
    control = ray_cluster.control()
    resume = orders.resume_path.read_bytes() if orders.resume_path is not None else None
    if "train" not in _tasks:
        _tasks["train"] = ray.remote(max_retries=0)(_train_task)
    task = _tasks["train"].options(num_cpus=orders.threads)
    # The file names this process as its writer: it writes the bytes, and the run reads interrupted once it is gone.
    sent = dataclasses.replace(orders, trainer=trainer_id())
    generator = task.remote(sent, ray_cluster.dataset(orders.config.dataset), resume, control, token)
    done = threading.Event()
    threading.Thread(target=_forward_stop, args=(stop, done, control, token), daemon=True).start()
    path, last, over = run_path(orders.directory, orders.name), None, False
    mark_writing(path, True)
    try:
        for ref in generator:
            message = ray.get(ref)
            if isinstance(message, Saved):
                write_bytes_atomic(path, message.data)
                last = message.data
                continue
            yield message
        over = True
    except ray.exceptions.RayTaskError as exc:  # raised in the task, outside the training's own handling
        over = True
        yield Failure(_first_line(exc.cause if exc.cause is not None else exc))
    except ray.exceptions.RayError as exc:
        over = True
        reason = f"the Ray worker was lost: {_first_line(exc)}"
        if last is not None:
            _orphan(path, last, reason)
        yield Lost(reason)
    finally:
        done.set()
        mark_writing(path, False)
        if not over:  # the driver let go of the run before its end: end the task too
            ray.cancel(generator, force=True)


def _forward_stop(stop: threading.Event, done: threading.Event, control: Any, token: str) -> None:
    while not done.is_set():
        if stop.wait(0.2):
            control.stop.remote(token)
            return


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _orphan(path: Path, last: bytes, reason: str) -> None:
    """Rewrite the last save of a run whose worker died so that every process reads it ``interrupted``, with the
    reason: it names no writer any more. A run saved as finished is left as it is."""
    from vae.runfile.reading import read_payload
    from vae.runfile.schema import MAX_TEXT
    from vae.runfile.writing import write_atomic
    from vae.vocabulary import RunStatus

    payload = read_payload(io.BytesIO(last), len(last), path.name)
    if payload["final"].get("status") != RunStatus.RUNNING:
        return
    payload["final"] = {**payload["final"], "trainer": "", "message": reason[:MAX_TEXT]}
    write_atomic(path, payload)
