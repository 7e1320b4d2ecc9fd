"""Background training jobs for the dashboard: training processes that never touch the UI, and the snapshot of
each (``JobSnapshot``) that a page draws.

Each job trains on the app's engine (``VAE_ENGINE``), never in the server's own process, where it would hold
the GIL for its Python work between torch ops and every page of every user would wait on it: locally in a
process of its own, niced, with its share of the cores (``vae.training.local_engine``), or as a Ray task
(``vae.training.ray_engine``). A thread of the server folds the ``vae.training.pipe`` messages that the engine
yields into the job: the metrics so far, the status, the error if any; a page polls ``snapshot()`` to draw
progress. Locally, at most ``max_concurrent()`` jobs train at once and later ones wait in a queue, so several
users on one small machine cannot oversubscribe it; on Ray, the cluster's free CPUs decide.

Jobs belong to the server, not to a browser tab: ``vae.server.registry.JobRegistry`` keeps them by an
unguessable token, and finds a visitor's by the owner token in the visitor's cookie.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vae.model.config import VAEConfig
from vae.runfile import Run
from vae.runfile.names import claim_run_name, release_run_name, reserve_run_name
from vae.settings import setting, threads_per_job
from vae.training.engine import Engine, engine_from_env
from vae.training.loop import EpochMetrics, StepMetrics, TrainingEnded
from vae.training.pipe import EventBundle, Failure, Lost, Message, Notice, Started, TrainingOrders
from vae.training.record import StepHistory
from vae.vocabulary import FINISHED, EngineError, RunStatus

log = logging.getLogger(__name__)

_slots_lock = threading.Lock()
_slots: threading.BoundedSemaphore | None = None


# --- How far a job has come: a consistent copy of its state for drawing, and the arithmetic over its last step ---


def fraction_done(epochs: int, first_epoch: int, epoch: int, step: int, steps_per_epoch: int) -> float:
    """The fraction of a job's own steps done, in [0, 1]: a job that trains epochs ``first_epoch`` to
    ``epochs`` (a continued run counts from where it resumed) and has just done ``step`` of ``epoch``."""
    total = (epochs - first_epoch + 1) * steps_per_epoch
    done = (epoch - first_epoch) * steps_per_epoch + step
    return min(1.0, max(0.0, done / max(total, 1)))


def eta_seconds(seconds: float, fraction: float) -> float | None:
    """Seconds left, when ``fraction`` of the work took ``seconds`` and the rest goes at the same pace;
    None before there is any pace to go by."""
    if fraction <= 0.0:
        return None
    return seconds * (1 - fraction) / fraction


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent copy of a job's state for drawing. ``status`` is ``queued``, ``running`` or one of ``FINISHED``."""

    name: str
    config: VAEConfig
    status: str
    message: str
    last_step: StepMetrics | None
    steps: StepHistory  # thinned to at most MAX_LIVE_STEPS rows
    epochs: list[EpochMetrics]
    elapsed: float
    notice: str = ""
    first_epoch: int = 1  # > 1 when the job continues a saved run

    @property
    def done(self) -> bool:
        return self.status in FINISHED

    @property
    def progress(self) -> float:
        """The fraction of this job's own steps done (a continued run counts from where it resumed)."""
        if self.status == RunStatus.COMPLETED:
            return 1.0
        if self.last_step is None:
            return 0.0
        step = self.last_step
        return fraction_done(self.config.epochs, self.first_epoch, step.epoch, step.step, step.steps_per_epoch)

    @property
    def eta_seconds(self) -> float | None:
        return eta_seconds(self.last_step.seconds, self.progress) if self.last_step is not None else None


# --- The jobs ---


def max_concurrent() -> int:
    """Trainings that may run at once in this process (the setting ``VAE_MAX_TRAINING_JOBS``)."""
    return setting("VAE_MAX_TRAINING_JOBS")


def _training_slots() -> threading.BoundedSemaphore:
    global _slots
    with _slots_lock:
        if _slots is None:
            _slots = threading.BoundedSemaphore(max_concurrent())
        return _slots


def _epoch_metrics(epochs: list[dict]) -> list[EpochMetrics]:
    """A saved history's epochs as events, for the live curves; [] when a foreign file's do not fit."""
    try:
        return [EpochMetrics(**e) for e in epochs]
    except TypeError:
        return []


def new_jobs(grid: Iterable[tuple[str, VAEConfig]], directory: Path, *, owner: str = "") -> list[TrainingJob]:
    """One new job per (wanted name, config) of a sweep's grid, in order. All or none: when one cannot be made,
    the names of those already made are given back before the error goes on."""
    made: list[TrainingJob] = []
    try:
        for name, config in grid:
            made.append(TrainingJob(config, name, directory, owner=owner))
    except BaseException:
        for job in made:
            job.discard()
        raise
    return made


class TrainingJob:
    """One training run in a process of its own. Create it, ``start()`` it, poll ``snapshot()``.

    With ``resume``, the job continues that saved run (``config`` from ``continue_config``): in place
    (``in_place``, for the run's owner), or else under ``wanted_name``. ``owner`` is the hash of the
    browser's owner token that the new run stores; a run continued in place keeps its own.
    """

    # What a live chart costs the server and the browser grows with its points; 1,000 a curve draws a
    # whole run smoothly. The checkpoint keeps every step.
    MAX_LIVE_STEPS = 1000

    def __init__(
        self,
        config: VAEConfig,
        wanted_name: str,
        directory: Path,
        *,
        resume: Run | None = None,
        in_place: bool = False,
        owner: str = "",
        engine: Engine | None = None,
    ) -> None:
        self.config = config
        self.directory = Path(directory)
        self.wanted_name = wanted_name
        self.resume = resume
        if resume is not None and resume.path is None:
            raise ValueError(f"{resume.name!r} has no file to continue from")  # before a name is taken
        if in_place and (resume is None or resume.shipped):
            raise ValueError("only a saved run that is not shipped can be continued in place")
        self.owner = owner  # who asked (an owner hash): one training per visitor
        self.run_owner = resume.owner if in_place and resume is not None else owner
        self.resume_version = resume.version if resume is not None else ""
        self.origin = resume.origin if in_place and resume is not None else ""
        self.first_epoch = len(resume.epochs) + 1 if resume is not None else 1
        self.engine = engine if engine is not None else engine_from_env()  # a bad setting: before a name is taken
        self.name = (
            claim_run_name(self.directory, resume.name)
            if in_place and resume
            else reserve_run_name(directory, wanted_name)
        )
        try:
            self._prepare(resume)
        except BaseException:
            self.discard()  # a job that was never made must not hold its name until the server restarts
            raise

    def _prepare(self, resume: Run | None) -> None:
        """Everything but the name: its state, and the thread that will train it."""
        self.finished_at: float | None = None  # time.monotonic() when the worker ended
        self.lock = threading.Lock()
        self.stop_event = threading.Event()  # the engine passes it on to the training once it runs
        self.status = RunStatus.QUEUED
        self.message = "waiting for a free training slot"
        self.error = ""  # what the training process said when it crashed
        self.pid: int | None = None  # the training process (a Ray worker's on Ray), once started
        self.host = ""  # where it trains
        self.notice = ""  # set when a stand-in dataset replaces the one asked for
        self._last_step: StepMetrics | None = None
        self._steps = StepHistory()
        # A continued run's live curves carry on from its saved epochs.
        self._epochs: list[EpochMetrics] = _epoch_metrics(resume.epochs) if resume is not None else []
        self._began = time.perf_counter()
        # Waits for a slot, starts the training process and folds in what it sends.
        self.thread = threading.Thread(target=self._work, name=f"train-{self.name}", daemon=True)

    def discard(self) -> None:
        """Give back the name of a job that will never start (refused by a limit, or by an error on its way)."""
        release_run_name(self.directory, self.name)

    def start(self) -> TrainingJob:
        self.thread.start()
        return self

    def request_stop(self) -> None:
        """Ask the training to stop after its current step (the engine passes it on), or not to start."""
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def snapshot(self) -> JobSnapshot:
        with self.lock:
            return JobSnapshot(
                self.name,
                self.config,
                self.status,
                self.message,
                self._last_step,
                self._steps.thinned(self.MAX_LIVE_STEPS),
                list(self._epochs),
                time.perf_counter() - self._began,
                self.notice,
                self.first_epoch,
            )

    def _set(self, status: str, message: str) -> None:
        with self.lock:
            self.status, self.message = status, message

    def _work(self) -> None:
        try:
            if self.engine.is_ray:  # Ray queues the task until the cluster has a CPU free
                self._train()
                return
            slots = _training_slots()
            while not slots.acquire(timeout=0.5):
                if self.stop_event.is_set():
                    self._set(RunStatus.STOPPED, "cancelled before it started")
                    return
            try:
                self._set(RunStatus.RUNNING, "starting a training process")
                self._train()
            finally:
                slots.release()
        except Exception as exc:
            if not isinstance(exc, EngineError):  # an engine's refusal is one line for a person, not a crash
                log.exception("training job %s failed", self.name)
            self.error = str(exc)
            self._set(RunStatus.FAILED, f"training failed: {exc}")
        finally:
            release_run_name(self.directory, self.name)
            self.resume = None  # its weights are no longer needed
            with self.lock:
                self.finished_at = time.monotonic()

    def _train(self) -> None:
        """Fold in what the engine says of the training until it ends."""
        for message in self._messages():
            self._fold(message)

    @property
    def where(self) -> str:
        """Where it trains, for a person: "this server", or the Ray host ("" before it starts)."""
        if not self.engine.is_ray:
            return "this server"
        return f"Ray: {self.host}" if self.host else "Ray"

    def _orders(self) -> TrainingOrders:
        return TrainingOrders(
            config=self.config,
            name=self.name,
            directory=self.directory,
            # The cores shared among the app's concurrent trainings, on either engine: the same numbers on both.
            threads=threads_per_job(max_concurrent()),
            owner=self.run_owner,
            resume_path=self.resume.path if self.resume else None,
            resume_version=self.resume_version,
            origin=self.origin,
        )

    def _messages(self) -> Iterator[Message]:
        if self.engine.is_ray:
            from vae.training.ray_cluster import connect
            from vae.training.ray_engine import train_on_ray

            self._set(RunStatus.QUEUED, f"waiting for a free CPU on {self.engine.describe()}")
            connect(self.engine)
            return train_on_ray(self._orders(), self.stop_event)
        from vae.training.local_engine import run_local

        return run_local(self._orders(), self.stop_event)

    def _fold(self, message: Message) -> None:
        """Take in one message from the engine."""
        if isinstance(message, EventBundle):
            for event in message.events:
                self._record(event)
            return
        if isinstance(message, Lost):  # the worker died: the run keeps its saved epochs
            self.error = message.text
            self._set(RunStatus.INTERRUPTED, message.text)
            return
        if isinstance(message, Failure):
            self.error = message.text
            self._set(RunStatus.FAILED, f"training failed: {message.text}")
            return
        with self.lock:
            if isinstance(message, Started):
                self.pid, self.host = message.pid, message.host
                self.status, self.message = RunStatus.RUNNING, f"starting on {message.host}"
            elif isinstance(message, Notice):
                self.notice = message.text

    def _record(self, event: StepMetrics | EpochMetrics | TrainingEnded) -> None:
        with self.lock:
            if isinstance(event, StepMetrics):
                if self._last_step is None:  # the first step: the data is known
                    self._steps = StepHistory.for_run(self.config, event.steps_per_epoch * self.config.batch_size)
                self._last_step = event
                self._steps.append(event)
                self.message = f"epoch {event.epoch}/{self.config.epochs}, step {event.step}/{event.steps_per_epoch}"
            elif isinstance(event, EpochMetrics):
                self._epochs.append(event)
            else:
                self.status, self.message = event.reason, event.message
