"""What a training records for its run file: its optimiser steps' metrics (``StepHistory``, as drawn and as
stored) and the latent space forming, epoch by epoch (which epochs keep a frame, which test digits it follows,
and how the frames are projected and aligned for the Latent space page's animation). The recorder that folds
them into the file is ``vae.training.runs.RunRecorder``; a live job's view of them is ``vae.training.jobs``."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from vae.analysis.latents import encode_mu, pca_fit, pca_project
from vae.model.networks import VAE
from vae.runfile.schema import LEGACY_STEP_COLUMNS, MAX_STEP_ROWS, STEP_COLUMNS

if TYPE_CHECKING:
    from vae.model.config import VAEConfig
    from vae.training.loop import StepMetrics


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


# --- The latent space forming ---

FRAME_POINTS = 1000  # test digits whose 2-D positions are kept after every epoch
FRAME_RECONS = 3  # test digits whose reconstructions are kept after every epoch
FRAME_SEED = 0
MAX_FRAMES = 50  # a longer run keeps a frame every few epochs: ~7 KB each


def frame_epochs(epochs: int) -> Callable[[int], bool]:
    """Whether a run of ``epochs`` epochs keeps its latent frame after a given epoch: every epoch up to
    ``MAX_FRAMES`` epochs, else every k-th one and the last."""
    every = -(-epochs // MAX_FRAMES)  # ceil
    return lambda epoch: epoch % every == 0 or epoch == epochs


def frame_subset(
    n_test: int, points: int = FRAME_POINTS, recons: int = FRAME_RECONS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed, seeded test indices: ``points`` for the moving scatter (sorted) and the first ``recons`` of
    them for the panel of reconstructions. The same for every run on the same test set."""
    order = torch.randperm(n_test, generator=torch.Generator().manual_seed(FRAME_SEED))[: min(points, n_test)]
    # Copies, not views: torch.save would otherwise store the whole permutation behind them (80 KB for MNIST).
    return order.sort().values.clone(), order[: min(recons, len(order))].clone()


def align_frames(frames: torch.Tensor) -> torch.Tensor:
    """Rotate (or reflect) each frame of ``frames`` ``[E, N, 2]`` onto the last one by orthogonal
    Procrustes, so that an animation of PCA projections neither spins nor flips. Returns ``[E, N, 2]``.

    Each frame is centred; R = U Vᵀ from the SVD of Aᵀ B minimises ||A R - B|| over orthogonal R.
    """
    frames = frames.double()
    frames = frames - frames.mean(dim=1, keepdim=True)
    target = frames[-1]
    u, _, vh = torch.linalg.svd(frames.transpose(1, 2) @ target)  # [E, 2, 2]
    return (frames @ (u @ vh)).float()


def latent_frame(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """One frame of the forming latent space for the images ``x`` ``[N, 1, 28, 28]``: μ itself for
    d = 2, else this epoch's 2-D PCA of μ (align the frames afterwards). Returns ``[N, 2]``."""
    mu = encode_mu(model, x)
    if mu.shape[1] == 2:
        return mu
    points = mu.numpy()
    return torch.from_numpy(pca_project(points, *pca_fit(points)))
