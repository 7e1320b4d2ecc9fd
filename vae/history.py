"""The optimiser steps' metrics of a run, as drawn and as stored in its checkpoint."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from vae.schema import LEGACY_STEP_COLUMNS, MAX_STEP_ROWS, STEP_COLUMNS

if TYPE_CHECKING:
    from vae.config import VAEConfig
    from vae.train import StepMetrics


@dataclass
class StepHistory:
    """The optimiser steps' metrics, one row per step with the columns ``STEP_COLUMNS``.

    ``steps_per_epoch`` places a step on the epoch axis, so that a run stopped during its first
    epoch is drawn over the part of the epoch it trained, not stretched over a whole one. A long run
    keeps one row per ``stride`` steps, their mean, so that Burda et al.'s 10 million steps fit too.
    """

    steps_per_epoch: int = 0
    rows: list[tuple[float, ...]] = field(default_factory=list)
    stride: int = 1
    _pending: list[tuple[float, ...]] = field(default_factory=list, repr=False)

    @classmethod
    def for_run(cls, config: VAEConfig, n_train: int) -> StepHistory:
        """An empty history whose stride keeps ``config``'s whole run within ``MAX_STEP_ROWS`` rows."""
        total = config.epochs * math.ceil(n_train / config.batch_size)
        return cls(stride=max(1, math.ceil(total / MAX_STEP_ROWS)))

    def append(self, m: StepMetrics) -> None:
        self.steps_per_epoch = m.steps_per_epoch
        if self._pending and self._pending[-1][0] != m.epoch:
            self.flush()  # a row never spans two epochs
        self._pending.append((m.epoch, m.step, m.recon, m.kl, m.loss, m.beta, m.capacity, m.regularizer))
        if len(self._pending) >= self.stride:
            self.flush()

    def flush(self) -> None:
        """Close the open row of the pending steps (fewer than ``stride`` at the end of a run, so that its
        last steps count)."""
        if len(self._pending) == 1:
            self.rows.append(self._pending[0])
        elif self._pending:
            last = self._pending[-1]
            means = [sum(column) / len(self._pending) for column in zip(*self._pending, strict=True)]
            self.rows.append((last[0], last[1], *means[2:]))  # placed at its last step
        self._pending = []

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> list[float]:
        index = STEP_COLUMNS.index(name)
        return [row[index] for row in self.rows]

    def epoch_axis(self) -> list[float]:
        """Each step as a fractional epoch: step s of epoch e is at ``e - 1 + s / steps_per_epoch``."""
        per_epoch = max(self.steps_per_epoch, 1)
        return [epoch - 1 + step / per_epoch for epoch, step, *_ in self.rows]

    def until(self, epoch: int, step: int = 0, stride: int | None = None) -> StepHistory:
        """The steps up to step ``step`` of epoch ``epoch + 1`` (all of epochs 1..``epoch`` when 0): what a run
        continued from there keeps, going on with ``stride`` (default: its own)."""
        kept = [row for row in self.rows if (row[0], row[1]) <= (epoch + 1, step) or row[0] <= epoch]
        pending = self._pending if self.rows and kept and kept[-1] == self.rows[-1] else []
        return StepHistory(self.steps_per_epoch, kept, stride or self.stride, list(pending))

    def thinned(self, max_rows: int) -> StepHistory:
        """Every k-th row, at most ``max_rows`` of them, for a live chart."""
        stride = max(1, -(-len(self.rows) // max_rows))  # ceil: never more than the cap
        return StepHistory(self.steps_per_epoch, self.rows[::stride], self.stride * stride)

    def to_dict(self) -> dict[str, Any]:
        """Checkpoint form: plain numbers and one float tensor ``[S, len(STEP_COLUMNS)]``.

        Steps not yet closed into a row (fewer than ``stride``) are drawn as one last row, and kept as they
        are in ``pending`` too, so that a continued run closes that row exactly as an unbroken one would.
        """
        closed = StepHistory(self.steps_per_epoch, list(self.rows), self.stride, list(self._pending))
        closed.flush()
        values = torch.tensor(closed.rows, dtype=torch.float32).reshape(-1, len(STEP_COLUMNS))
        steps = {
            "steps_per_epoch": self.steps_per_epoch,
            "columns": list(STEP_COLUMNS),
            "values": values,
            "stride": self.stride,
        }
        if self._pending:
            steps["pending"] = torch.tensor(self._pending, dtype=torch.float64)
        return steps

    @classmethod
    def from_history(cls, history: dict[str, Any], *, resume: bool = False) -> StepHistory:
        """Read a checkpoint's ``history["steps"]``, in this form or the older bare tensor. With ``resume``,
        the last row, drawn from the steps still pending, is opened again to go on with them."""
        steps = history.get("steps")
        if isinstance(steps, dict):
            columns, values, per_epoch = steps.get("columns", []), steps.get("values"), steps.get("steps_per_epoch", 0)
        elif isinstance(steps, torch.Tensor):
            # Older files: a bare tensor, and no steps_per_epoch. The longest epoch seen is the best guess.
            columns, values, per_epoch = history.get("step_columns", list(LEGACY_STEP_COLUMNS)), steps, 0
        else:
            return cls()
        legacy = list(columns) == list(LEGACY_STEP_COLUMNS)
        if (
            not isinstance(values, torch.Tensor)
            or values.ndim != 2
            or not (legacy or list(columns) == list(STEP_COLUMNS))
        ):
            return cls()
        pad = (0.0,) if legacy else ()  # no regularizer column before the β-VAE family: its term was 0
        rows = [(*row, *pad) for row in values.tolist()]
        if not per_epoch and rows:
            per_epoch = int(max(row[1] for row in rows))
        stride = steps.get("stride", 1) if isinstance(steps, dict) else 1
        pending = steps.get("pending") if isinstance(steps, dict) and resume else None
        if isinstance(pending, torch.Tensor) and len(pending) and rows:
            return cls(int(per_epoch), rows[:-1], int(stride), [(*row, *pad) for row in pending.tolist()])
        return cls(int(per_epoch), rows, int(stride))
