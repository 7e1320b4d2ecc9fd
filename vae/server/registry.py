"""The server's training jobs, keyed by unguessable tokens, and what the server's limits admit.

Jobs belong to the server, not to a browser tab: the registry keeps them by a token, which the app keeps on the
server for the visitor who started the job (``ui.state``). Whoever holds the token may stop the job; everyone can
see it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

from vae.model.size import file_megabytes
from vae.server.limits import check_disk, check_queue, check_training
from vae.settings import setting
from vae.training.jobs import TrainingJob
from vae.vocabulary import LimitError, RunStatus


class JobRegistry:
    """The process's training jobs, keyed by an unguessable token: queued, running, and finished
    within the last ``keep_finished_s`` seconds (``VAE_JOB_RETENTION_S``). Every session reads it; only
    a token holder stops a job. It admits what the server's limits allow (``vae.server.limits``): trainings up to
    ``VAE_MAX_TRAINING_GFLOP`` of compute on models up to ``VAE_MAX_PARAMETERS``, ``VAE_MAX_QUEUED_TRAININGS``
    waiting, runs within ``VAE_MAX_RUNS_MB`` on disk, and one training per visitor (owner).
    """

    def __init__(self, keep_finished_s: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.keep_finished_s = setting("VAE_JOB_RETENTION_S") if keep_finished_s is None else keep_finished_s
        self._clock = clock
        self._lock = threading.Lock()
        self._jobs: dict[str, TrainingJob] = {}
        self._batches: dict[str, list[TrainingJob]] = {}  # a sweep: one token for all its jobs

    def _admit(self, batch: list[TrainingJob]) -> None:
        """Refuse, with ``LimitError``, jobs over a limit. On that or any error their names are given back: a name
        kept would stay taken until the server restarts, and the next try would get ``NAME-2``. Called with the
        lock held."""
        try:
            for job in batch:
                check_training(job.config, job.first_epoch)
            active = [j for j in self._jobs.values() if j.finished_at is None]
            owners = {job.owner for job in batch if job.owner}
            busy = next((j for j in active if j.owner and j.owner in owners), None)
            if busy is not None:
                raise LimitError(
                    f"one training per visitor: yours, {busy.name}, is still {busy.status}; stop it or "
                    "wait for it to finish"
                )
            check_queue(sum(j.status == RunStatus.QUEUED for j in active), len(batch))
            for directory in {job.directory for job in batch}:
                check_disk(directory, sum(file_megabytes(j.config) for j in batch if j.directory == directory))
        except BaseException:
            for job in batch:
                job.discard()
            raise

    def submit(self, job: TrainingJob) -> str:
        """Start ``job`` and return its token (``secrets.token_urlsafe``), the only handle that can stop it.
        ``LimitError`` when a limit refuses it."""
        return self.submit_batch([job], as_batch=False)

    def submit_batch(self, batch: list[TrainingJob], *, as_batch: bool = True) -> str:
        """Queue every job of a sweep and return one token for the whole batch; they run as slots free up.
        All or none: ``LimitError`` when a limit refuses any of them."""
        token = secrets.token_urlsafe(16)
        tokens = [token if not as_batch else secrets.token_urlsafe(16) for _ in batch]
        with self._lock:
            self._prune()
            self._admit(batch)
            self._jobs.update(zip(tokens, batch, strict=True))
            if as_batch:
                self._batches[token] = list(batch)
        started = 0
        try:
            for job in batch:
                job.start()
                started += 1
        except BaseException:
            self._withdraw(batch, started, tokens, token)
            raise
        return token

    def _withdraw(self, batch: list[TrainingJob], started: int, tokens: list[str], token: str) -> None:
        """Undo a batch that failed to start at job ``started``: the started ones stop (their threads give their
        names back as they end), the others are forgotten and give theirs back now."""
        for job in batch[:started]:
            job.request_stop()
        with self._lock:
            for job_token in tokens[started:]:
                self._jobs.pop(job_token, None)
            self._batches.pop(token, None)  # its token is never handed out
        for job in batch[started:]:
            job.discard()

    def batch(self, token: str | None) -> list[TrainingJob]:
        """The jobs of the batch ``token``, or [] for an unknown or expired token."""
        if not isinstance(token, str) or not token:
            return []
        with self._lock:
            self._prune()
            for known, batch in self._batches.items():
                if secrets.compare_digest(known, token):
                    return list(batch)
        return []

    def stop_batch(self, token: str | None) -> bool:
        """Stop every job of a batch: running ones after their current step, queued ones before they start."""
        batch = self.batch(token)
        for job in batch:
            job.request_stop()
        return bool(batch)

    def get(self, token: str | None) -> TrainingJob | None:
        """The job of ``token``, or None for an unknown, malformed or expired token."""
        if not isinstance(token, str) or not token:
            return None
        with self._lock:
            self._prune()
            for known, job in self._jobs.items():
                if secrets.compare_digest(known, token):
                    return job
        return None

    def stop(self, token: str | None) -> bool:
        """Ask the token's job to stop. False when the token names no job."""
        job = self.get(token)
        if job is None:
            return False
        job.request_stop()
        return True

    def jobs(self) -> list[TrainingJob]:
        """Every job held, oldest first; tokens are not part of the answer."""
        with self._lock:
            self._prune()
            return list(self._jobs.values())

    def job_for_run(self, name: str) -> TrainingJob | None:
        """The held job that writes run ``name``, newest first."""
        for job in reversed(self.jobs()):
            if job.name == name:
                return job
        return None

    def _prune(self) -> None:
        horizon = self._clock() - self.keep_finished_s
        for token, job in list(self._jobs.items()):
            if job.finished_at is not None and job.finished_at < horizon:
                del self._jobs[token]
        held = set(map(id, self._jobs.values()))
        for token, batch in list(self._batches.items()):
            if not any(id(job) in held for job in batch):
                del self._batches[token]
