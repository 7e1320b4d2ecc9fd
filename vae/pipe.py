"""What crosses the pipe between the server (``vae.jobs``) and a training process (``vae.trainer_process``),
each a small frozen dataclass pickled whole: ``TrainingOrders`` in, then ``Message``s out.

They live in a module of their own, which neither side runs as ``__main__``: a class pickled by the
training process, run with ``python -m``, would otherwise be named ``__main__.Notice`` and could not be
read back by the server. Light on purpose: no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vae.config import VAEConfig


@dataclass(frozen=True)
class TrainingOrders:
    """What the server asks of one training process, pickled whole onto its stdin.

    ``owner`` is the hash stored in the run; ``resume_path`` and ``resume_version`` name the saved run to
    continue and the version (SHA-256) it had when the continuation was asked for.
    """

    config: VAEConfig
    name: str
    directory: Path
    threads: int
    owner: str = ""
    resume_path: Path | None = None
    resume_version: str = ""
    origin: str = ""  # the run's ``origin``, kept when an uploaded run is continued in place


@dataclass(frozen=True)
class Notice:
    """Sent once, before training: what the dataset's loader had to say ("" when nothing)."""

    text: str


@dataclass(frozen=True)
class EventBundle:
    """The training loop's events since the last bundle (``vae.train.Event``s), in order."""

    events: tuple


@dataclass(frozen=True)
class Failure:
    """Sent when the training cannot go on: what went wrong, for a person."""

    text: str


Message = Notice | EventBundle | Failure  # what crosses the pipe from a training process, pickled whole
