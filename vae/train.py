"""A training loop that yields metrics and prints nothing, so a CLI, a worker thread or a notebook can drive it."""

from __future__ import annotations

import copy
import dataclasses
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from vae.config import VAEConfig
from vae.data import Dataset, batches
from vae.losses import training_objective, vae_loss
from vae.models import VAE, DiagonalGaussian, autocast_dtype, in_eval_mode

EVAL_BATCH_SIZE = 2000
EVAL_SEED = 0


@dataclass(frozen=True)
class StepMetrics:
    """One optimiser step. ``epoch`` and ``step`` count from 1; ``seconds`` since training began."""

    epoch: int
    step: int
    steps_per_epoch: int
    recon: float
    kl: float
    loss: float
    beta: float
    seconds: float
    capacity: float = 0.0


STEP_COLUMNS = ("epoch", "step", "recon", "kl", "loss", "beta", "capacity")


MAX_STEP_ROWS = 50_000  # ~1.4 MB in a checkpoint; a classic 10-epoch run has 4,690 steps


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
        self._pending.append((m.epoch, m.step, m.recon, m.kl, m.loss, m.beta, m.capacity))
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

    def until_epoch(self, epoch: int, stride: int | None = None) -> StepHistory:
        """The steps of epochs 1..``epoch``: what a run continued after that epoch keeps, going on with
        ``stride`` (default: its own)."""
        return StepHistory(self.steps_per_epoch, [row for row in self.rows if row[0] <= epoch], stride or self.stride)

    def thinned(self, max_rows: int) -> StepHistory:
        """Every k-th row, at most ``max_rows`` of them, for a live chart."""
        stride = max(1, -(-len(self.rows) // max_rows))  # ceil: never more than the cap
        return StepHistory(self.steps_per_epoch, self.rows[::stride], self.stride * stride)

    def to_dict(self) -> dict[str, Any]:
        """Checkpoint form: plain numbers and one float tensor ``[S, len(STEP_COLUMNS)]``."""
        values = torch.tensor(self.rows, dtype=torch.float32).reshape(-1, len(STEP_COLUMNS))
        return {"steps_per_epoch": self.steps_per_epoch, "columns": list(STEP_COLUMNS), "values": values,
                "stride": self.stride}  # fmt: skip

    @classmethod
    def from_history(cls, history: dict[str, Any]) -> StepHistory:
        """Read a checkpoint's ``history["steps"]``, in this form or the older bare tensor."""
        steps = history.get("steps")
        if isinstance(steps, dict):
            columns, values, per_epoch = steps.get("columns", []), steps.get("values"), steps.get("steps_per_epoch", 0)
        elif isinstance(steps, torch.Tensor):
            # Older files: a bare tensor, and no steps_per_epoch. The longest epoch seen is the best guess.
            columns, values, per_epoch = history.get("step_columns", list(STEP_COLUMNS)), steps, 0
        else:
            return cls()
        if not isinstance(values, torch.Tensor) or values.ndim != 2 or list(columns) != list(STEP_COLUMNS):
            return cls()
        rows = [tuple(row) for row in values.tolist()]
        if not per_epoch and rows:
            per_epoch = int(max(row[1] for row in rows))
        stride = steps.get("stride", 1) if isinstance(steps, dict) else 1
        return cls(int(per_epoch), rows, int(stride))


@dataclass(frozen=True)
class EpochMetrics:
    """One finished epoch: the mean train terms over its batches, and a full pass over the test split."""

    epoch: int
    train: dict[str, float]
    test: dict[str, float]
    beta: float
    lr: float
    train_seconds: float
    seconds: float
    capacity: float = 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TrainingEnded:
    """The last event. ``reason`` is ``completed``, ``stopped`` or ``diverged``; ``message`` says it for a person."""

    reason: str
    message: str
    epochs_completed: int


Event = StepMetrics | EpochMetrics | TrainingEnded


@torch.inference_mode()
@in_eval_mode
def evaluate(
    model: VAE, x: torch.Tensor, *, beta: float = 1.0, likelihood: str = "bce", batch_size: int = EVAL_BATCH_SIZE
) -> dict[str, float]:
    """Mean ``recon``, ``kl`` and ``loss`` per image over ``x`` ``[N, 1, 28, 28]`` (uint8 or float).

    The posterior is sampled once per image with a fixed seed, as in training, so the same
    weights always give the same numbers.
    """
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(EVAL_SEED)
    totals = torch.zeros(2, dtype=torch.float64)
    for batch in batches(x, batch_size, device):
        logits, posterior = model(batch, generator)
        terms = vae_loss(logits, batch, posterior, beta, likelihood)
        totals += torch.stack([terms.recon, terms.kl]).double().cpu() * len(batch)
    recon_mean, kl_mean = (totals / max(len(x), 1)).tolist()
    return {"recon": recon_mean, "kl": kl_mean, "loss": recon_mean + beta * kl_mean}


def _diverged(what: str, completed: int) -> TrainingEnded:
    kept = f"the weights of epoch {completed} were kept" if completed else "no epoch had finished, so nothing was kept"
    return TrainingEnded("diverged", f"{what}; {kept}. Try a lower learning rate or a smaller beta.", completed)


# Separate streams, derived from the config's seed: one shuffles the training set, one draws the
# reparameterisation noise, so that changing the batch count never changes the noise and vice versa.
ORDER_SEED_OFFSET = 1
NOISE_SEED_OFFSET = 2


def learning_rate(config: VAEConfig, step: int, total_steps: int) -> float:
    """The learning rate for optimiser step ``step`` (0-based) of ``total_steps``.

    Closed form rather than a stateful scheduler, so that a resumed run with more epochs simply
    reads its rate off the longer schedule.
    """
    if config.lr_schedule == "cosine":
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / max(total_steps, 1)))
    if config.lr_schedule == "burda":
        return config.lr * 10 ** (-burda_stage(step * config.epochs // max(total_steps, 1)) / 7)
    return config.lr


def burda_stage(epoch: int) -> int:
    """The stage i of 0-based epoch ``epoch`` in Burda et al. 2015's schedule, where stage i lasts 3^i
    epochs at ``lr · 10^(-i/7)``: epochs 0 | 1-3 | 4-12 | 13-39 | … The paper stops after stage 7, at 3,280."""
    stage = 0
    while (3 ** (stage + 1) - 1) // 2 <= epoch:  # (3^(i+1) - 1) / 2 epochs come before stage i + 1
        stage += 1
    return stage


@dataclass
class TrainState:
    """What training needs besides the weights to carry on exactly: Adam's moments and both RNG streams.

    Saved in every checkpoint (``state_dict()``), so a run continued for N more epochs gives the same
    numbers as one trained for all of them at once.
    """

    optimizer: torch.optim.Optimizer
    order: torch.Generator  # shuffles the training set, once per epoch
    noise: torch.Generator  # reparameterisation noise, once per step
    epochs_done: int = 0

    @classmethod
    def fresh(cls, model: VAE, config: VAEConfig) -> TrainState:
        device = next(model.parameters()).device
        # The fused kernel updates every parameter in one pass; measured faster than foreach on 2 CPU cores.
        optimizer = torch.optim.Adam(
            model.parameters(), lr=config.lr, eps=config.adam_eps, fused=device.type in ("cpu", "cuda")
        )
        order = torch.Generator().manual_seed(config.seed + ORDER_SEED_OFFSET)
        noise = torch.Generator(device=device).manual_seed(config.seed + NOISE_SEED_OFFSET)
        return cls(optimizer, order, noise)

    def state_dict(self) -> dict[str, Any]:
        """Plain tensors, numbers and dicts: loads with ``weights_only=True``."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "order_rng": self.order.get_state(),
            "noise_rng": self.noise.get_state(),
            "epochs_done": self.epochs_done,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.order.set_state(state["order_rng"])
        self.noise.set_state(state["noise_rng"])
        self.epochs_done = int(state["epochs_done"])


def train(
    model: VAE,
    config: VAEConfig,
    data: Dataset,
    *,
    stop: threading.Event | None = None,
    state: TrainState | None = None,
) -> Iterator[Event]:
    """Train ``model`` in place up to ``config.epochs`` epochs, yielding a ``StepMetrics`` per step,
    an ``EpochMetrics`` per epoch, and one closing ``TrainingEnded``.

    ``state`` carries on a run after its ``state.epochs_done`` epochs (a fresh one starts at 0); the
    loop updates it in place, so a caller can save it whenever an epoch ends. Setting ``stop`` ends
    the run after the current step, keeping the trained weights. A non-finite loss restores the
    weights of the last finished epoch and ends the run.
    """
    device = next(model.parameters()).device
    x_train = data.train_x
    n = len(x_train)
    steps_per_epoch = math.ceil(n / config.batch_size)
    state = state if state is not None else TrainState.fresh(model, config)
    optimizer = state.optimizer
    total_steps = config.epochs * steps_per_epoch
    amp = autocast_dtype(config.precision, device)
    last_good = copy.deepcopy(model.state_dict())
    began = time.perf_counter()
    model.train()
    completed = state.epochs_done

    for epoch in range(state.epochs_done + 1, config.epochs + 1):
        epoch_began = time.perf_counter()
        order = torch.randperm(n, generator=state.order)
        sums = torch.zeros(2, dtype=torch.float64)
        seen = 0
        lr = learning_rate(config, (epoch - 1) * steps_per_epoch, total_steps)
        for step in range(1, steps_per_epoch + 1):
            batch = data.train_batch(
                order[(step - 1) * config.batch_size : step * config.batch_size], state.noise, device
            )
            progress = epoch - 1 + (step - 1) / steps_per_epoch
            beta = config.beta_at(progress)
            capacity = config.capacity_at(progress)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, (epoch - 1) * steps_per_epoch + step - 1, total_steps)
            # Matmuls may run in bfloat16; the loss is always computed in fp32.
            with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
                logits, posterior = model(batch, state.noise)
            posterior = DiagonalGaussian(posterior.mu.float(), posterior.logvar.float())
            terms = vae_loss(logits.float(), batch, posterior, beta, config.likelihood)
            objective = training_objective(
                terms,
                beta=beta,
                free_bits=config.free_bits,
                capacity=capacity if config.capacity > 0 else None,
                gamma=config.capacity_gamma,
            )
            # One host sync per step: the three numbers travel together.
            loss, recon, kl = torch.stack([terms.loss, terms.recon, terms.kl]).detach().cpu().tolist()
            if not math.isfinite(loss):
                model.load_state_dict(last_good)
                yield _diverged(f"the loss became {loss} at epoch {epoch}, step {step}", completed)
                return
            optimizer.zero_grad(set_to_none=True)
            objective.backward()
            optimizer.step()
            sums += torch.tensor([recon, kl], dtype=torch.float64) * len(batch)
            seen += len(batch)
            yield StepMetrics(
                epoch, step, steps_per_epoch, recon, kl, loss, beta, time.perf_counter() - began, capacity
            )
            if stop is not None and stop.is_set():
                yield TrainingEnded("stopped", f"stopped by request during epoch {epoch}", completed)
                return
        train_seconds = time.perf_counter() - epoch_began
        train_recon, train_kl = (sums / seen).tolist()
        test = evaluate(model, data.test_x, beta=config.beta, likelihood=config.likelihood)
        if not math.isfinite(test["loss"]):
            model.load_state_dict(last_good)
            yield _diverged(f"the test loss became {test['loss']} after epoch {epoch}", completed)
            return
        completed = state.epochs_done = epoch
        last_good = copy.deepcopy(model.state_dict())
        yield EpochMetrics(
            epoch,
            {"recon": train_recon, "kl": train_kl, "loss": train_recon + config.beta * train_kl},
            test,
            config.beta_at(epoch),
            lr,
            train_seconds,
            time.perf_counter() - began,
            config.capacity_at(epoch),
        )
    yield TrainingEnded("completed", f"trained {completed} epochs", completed)
