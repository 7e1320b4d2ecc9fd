"""Where a run or a training job stands: the one vocabulary of statuses, for files, jobs and pages alike.

Apart from ``vae.schema`` (which checks files and needs torch) so that reading a name or a status, as the CLI
does before it trains and a page does before it draws, does not import torch.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """Where a run or a training job stands. A file stores only ``FILE_STATUSES``; ``interrupted`` is
    what a ``running`` file reads once its trainer is gone; ``queued`` and ``failed`` are jobs' alone."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    STOPPED = "stopped"
    DIVERGED = "diverged"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    IMPORTED = "imported"


FILE_STATUSES = (RunStatus.RUNNING, RunStatus.COMPLETED, RunStatus.STOPPED, RunStatus.DIVERGED, RunStatus.IMPORTED)
# A job that has ended, however it ended (interrupted: its Ray worker was lost).
FINISHED = (RunStatus.COMPLETED, RunStatus.STOPPED, RunStatus.DIVERGED, RunStatus.FAILED, RunStatus.INTERRUPTED)
# A run that more epochs may carry on.
CONTINUABLE = (RunStatus.COMPLETED, RunStatus.STOPPED, RunStatus.INTERRUPTED, RunStatus.IMPORTED)
