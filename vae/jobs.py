"""Background training jobs for the dashboard: a worker thread that never touches the UI.

The job holds a lock, the metrics so far, a stop event and the error, if any; the page polls
``snapshot()`` to draw progress. At most ``max_concurrent()`` jobs train at once in a process;
later ones wait in a queue, so several users on one small machine cannot oversubscribe it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from vae.checkpoints import release_run_name, reserve_run_name
from vae.config import VAEConfig
from vae.data import load_dataset
from vae.runs import train_run
from vae.train import EpochMetrics, StepMetrics, TrainingEnded

log = logging.getLogger(__name__)

# Page reruns share the cores with background trainings; a niced trainer lets them go first.
# CFS weights: nice 0 -> 1024, nice 15 -> 36, so a page gets about 97% of a contended core.
TRAINING_NICENESS = 15

_slots_lock = threading.Lock()
_slots: threading.BoundedSemaphore | None = None


def max_concurrent() -> int:
    """Trainings that may run at once in this process (``VAE_MAX_TRAINING_JOBS``, default 2)."""
    try:
        return max(1, int(os.environ.get("VAE_MAX_TRAINING_JOBS", "2")))
    except ValueError:
        return 2


def _training_slots() -> threading.BoundedSemaphore:
    global _slots
    with _slots_lock:
        if _slots is None:
            _slots = threading.BoundedSemaphore(max_concurrent())
        return _slots


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent copy of a job's state for drawing. ``status`` is one of ``TrainingJob.STATUSES``."""

    name: str
    config: VAEConfig
    status: str
    message: str
    last_step: StepMetrics | None
    steps: list[tuple[float, ...]]  # (fractional epoch, recon, kl, loss, beta, capacity)
    epochs: list[EpochMetrics]
    elapsed: float
    notice: str = ""

    @property
    def done(self) -> bool:
        return self.status in ("completed", "stopped", "diverged", "failed")

    @property
    def progress(self) -> float:
        if self.last_step is None:
            return 0.0
        total = self.config.epochs * self.last_step.steps_per_epoch
        done = (self.last_step.epoch - 1) * self.last_step.steps_per_epoch + self.last_step.step
        return min(1.0, done / total)

    @property
    def eta_seconds(self) -> float | None:
        fraction = self.progress
        if fraction <= 0.0 or self.last_step is None:
            return None
        return self.last_step.seconds * (1 - fraction) / fraction


def lower_thread_priority(niceness: int | None = None) -> bool:
    """Renice the calling thread, and the torch worker threads it starts from then on. True if done.

    Linux keeps a niceness per thread, and OpenMP's workers inherit it from the thread that starts
    them, so the server's own threads keep their priority. Elsewhere it would demote the whole
    server, so it is left alone.
    """
    if sys.platform != "linux":
        return False
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), TRAINING_NICENESS if niceness is None else niceness)
    except OSError:
        return False
    return True


class TrainingJob:
    """One training run in a daemon thread. Create it, ``start()`` it, poll ``snapshot()``."""

    STATUSES = ("queued", "running", "completed", "stopped", "diverged", "failed")
    # The live chart is redrawn every second: 1,000 points per curve cost the server ~19 ms and the
    # browser 120 kB a redraw, against 53 ms and 560 kB for 5,000. The checkpoint keeps every step.
    MAX_LIVE_STEPS = 1000

    def __init__(self, config: VAEConfig, wanted_name: str, directory: Path) -> None:
        self.config = config
        self.directory = Path(directory)
        self.name = reserve_run_name(self.directory, wanted_name)
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.status = "queued"
        self.message = "waiting for a free training slot"
        self.error: BaseException | None = None
        self.notice = ""  # set when a stand-in dataset replaces the one asked for
        self._last_step: StepMetrics | None = None
        self._steps: list[tuple[float, ...]] = []
        self._epochs: list[EpochMetrics] = []
        self._began = time.perf_counter()
        self.thread = threading.Thread(target=self._work, name=f"train-{self.name}", daemon=True)

    def start(self) -> TrainingJob:
        self.thread.start()
        return self

    def request_stop(self) -> None:
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def snapshot(self) -> JobSnapshot:
        with self.lock:
            stride = max(1, -(-len(self._steps) // self.MAX_LIVE_STEPS))  # ceil: never more than the cap
            return JobSnapshot(
                self.name,
                self.config,
                self.status,
                self.message,
                self._last_step,
                self._steps[::stride],
                list(self._epochs),
                time.perf_counter() - self._began,
                self.notice,
            )

    def _set(self, status: str, message: str) -> None:
        with self.lock:
            self.status, self.message = status, message

    def _work(self) -> None:
        lower_thread_priority()  # before torch starts any worker threads for this thread
        slots = _training_slots()
        try:
            while not slots.acquire(timeout=0.5):
                if self.stop_event.is_set():
                    self._set("stopped", "cancelled before it started")
                    return
            try:
                self._set("running", "loading data")
                data = load_dataset(self.config.dataset)
                with self.lock:
                    self.notice = data.notice
                for event in train_run(self.config, self.name, self.directory, data=data, stop=self.stop_event):
                    self._record(event)
            finally:
                slots.release()
        except Exception as exc:
            log.exception("training job %s failed", self.name)
            self.error = exc
            self._set("failed", f"training failed: {exc}")
        finally:
            release_run_name(self.directory, self.name)

    def _record(self, event: StepMetrics | EpochMetrics | TrainingEnded) -> None:
        with self.lock:
            if isinstance(event, StepMetrics):
                self._last_step = event
                x = event.epoch - 1 + event.step / event.steps_per_epoch
                self._steps.append((x, event.recon, event.kl, event.loss, event.beta, event.capacity))
                self.message = f"epoch {event.epoch}/{self.config.epochs}, step {event.step}/{event.steps_per_epoch}"
            elif isinstance(event, EpochMetrics):
                self._epochs.append(event)
            else:
                self.status, self.message = event.reason, event.message
