"""How far a training has come and when it will end: a job's state as a page draws it, and the pure
arithmetic over its last step."""

from __future__ import annotations

from dataclasses import dataclass

from vae.config import VAEConfig
from vae.history import StepHistory
from vae.schema import FINISHED, RunStatus
from vae.train import EpochMetrics, StepMetrics


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
