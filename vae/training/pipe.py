"""What crosses between a driver (``vae.training.jobs``, the CLI) and a training worker, on either engine: a local
process (``vae.training.local_engine``, over a pipe) or a Ray task (``vae.training.ray_engine``). Each is a small frozen
dataclass pickled whole: ``TrainingOrders`` in, then ``Message``s out.

They live in a module of their own, which neither side runs as ``__main__``: a class pickled by the
training process, run with ``python -m``, would otherwise be named ``__main__.Notice`` and could not be
read back by the server. Light on purpose: no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vae.model.config import VAEConfig


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
    # Who the saved file names as its writer (``vae.runfile.writers.trainer_id``): "" for the process that trains, or
    # the driver that writes the bytes a Ray worker sends, so that the run reads ``interrupted`` once the driver is
    # gone.
    trainer: str = ""


@dataclass(frozen=True)
class Started:
    """Sent first, by the engine: which process trains the run, on which host."""

    pid: int
    host: str


@dataclass(frozen=True)
class Notice:
    """Sent once, before training: what the dataset's loader had to say ("" when nothing)."""

    text: str


@dataclass(frozen=True)
class EventBundle:
    """The training loop's events since the last bundle (``vae.training.loop.Event``s), in order."""

    events: tuple


@dataclass(frozen=True)
class Saved:
    """The run's file as it was just saved by a worker with no access to the driver's disk (Ray)."""

    data: bytes


@dataclass(frozen=True)
class Failure:
    """Sent when the training cannot go on: what went wrong, for a person."""

    text: str


@dataclass(frozen=True)
class Lost:
    """Said by the engine when the worker died under the run (killed, out of memory, node lost): the run keeps
    its saved epochs and reads ``interrupted``."""

    text: str


# What an engine yields for one training: Started, Notice, EventBundles (and Saved), then the loop's last event
# in a bundle, or a Failure or Lost.
Message = Started | Notice | EventBundle | Saved | Failure | Lost
