"""The vocabulary every layer shares: where a run stands, and the errors a person is shown.

Light on purpose (nothing of ``vae`` imported, no torch): a page reads a status, and any layer raises one of
these errors, without importing what checks files or trains models. Each error's message is one line for a
person; a page or the CLI shows it as it is.
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


class ConfigError(ValueError):
    """A config field holds a value outside what it allows. The message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class DataError(RuntimeError):
    """A dataset file is present but unreadable (truncated, corrupt, wrong shape)."""


class CheckpointError(Exception):
    """A checkpoint cannot be used: missing, corrupt, truncated, foreign, mismatched or protected."""


class NameTaken(CheckpointError):
    """The run name is held by another writer, exists, or is shipped. The message says which, for a person."""


class SchemaError(ValueError):
    """A run file's field does not fit the schema. The message starts with the field's path."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where


class EngineError(ValueError):
    """The engine cannot be used as asked (a bad setting, Ray missing, a cluster out of reach): one line for a
    person. A ``ValueError``, as a bad value of any other setting is to the pages that start trainings."""


class LimitError(ValueError):
    """A request over one of the server's limits. The message names the limit and its setting."""


class StudyError(ValueError):
    """The score table cannot be read; the message says why, in one line."""
