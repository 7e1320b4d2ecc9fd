"""A training loop that yields metrics and prints nothing, so a CLI, a worker thread or a notebook can drive it."""

from __future__ import annotations

import copy
import dataclasses
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from vae.data.datasets import Dataset, batches
from vae.model import burda
from vae.model.config import KL_WEIGHTED, VAEConfig
from vae.model.losses import LossTerms, vae_loss
from vae.model.networks import VAE, DiagonalGaussian, autocast_dtype, in_eval_mode, vae_parameters
from vae.model.objectives import CRITIC_BETAS, CRITIC_LR, critic_loss, regularized
from vae.vocabulary import RunStatus

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
    regularizer: float = 0.0  # the objective's own term (vae.model.objectives): TC or DIP's penalty; 0 for β-VAE


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
    regularizer: float = 0.0  # the epoch's mean of ``StepMetrics.regularizer``

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
    return TrainingEnded(RunStatus.DIVERGED, f"{what}; {kept}. Try a lower learning rate or a smaller beta.", completed)


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
        return config.lr * 10 ** (-burda.stage(step * config.epochs // max(total_steps, 1)) / 7)
    return config.lr


@dataclass
class TrainState:
    """What training needs besides the weights to carry on exactly: Adam's moments and both RNG streams.

    Saved in every checkpoint (``state_dict()``), so a run continued for N more epochs gives the same
    numbers as one trained for all of them at once.
    """

    optimizer: torch.optim.Optimizer
    order: torch.Generator  # shuffles the training set, once per epoch
    noise: torch.Generator  # reparameterisation noise, once per step
    critic: torch.optim.Optimizer | None = None  # a FactorVAE's discriminator's own Adam
    epochs_done: int = 0
    # Where a stop left epoch ``epochs_done + 1``: its steps done, the order RNG from before its shuffle,
    # and its running train sums, so that a continued run finishes that epoch as an unbroken one would.
    epoch_step: int = 0
    epoch_order: torch.Tensor | None = None
    epoch_sums: tuple[float, ...] = (0.0, 0.0, 0.0)
    epoch_seen: int = 0

    @classmethod
    def fresh(cls, model: VAE, config: VAEConfig) -> TrainState:
        device = next(model.parameters()).device
        # The fused kernel updates every parameter in one pass, faster than foreach here (bench/train_speed.py).
        fused = device.type in ("cpu", "cuda")
        optimizer = torch.optim.Adam(vae_parameters(model), lr=config.lr, eps=config.adam_eps, fused=fused)
        order = torch.Generator().manual_seed(config.seed + ORDER_SEED_OFFSET)
        noise = torch.Generator(device=device).manual_seed(config.seed + NOISE_SEED_OFFSET)
        critic = getattr(model, "critic", None)
        critic_optimizer = (
            torch.optim.Adam(critic.parameters(), lr=CRITIC_LR, betas=CRITIC_BETAS, fused=fused) if critic else None
        )
        return cls(optimizer, order, noise, critic_optimizer)

    def state_dict(self) -> dict[str, Any]:
        """Plain tensors, numbers and dicts: loads with ``weights_only=True``."""
        state = {
            "optimizer": self.optimizer.state_dict(),
            "order_rng": self.order.get_state(),
            "noise_rng": self.noise.get_state(),
            "epochs_done": self.epochs_done,
        }
        if self.critic is not None:
            state["critic_optimizer"] = self.critic.state_dict()
        if self.epoch_step and self.epoch_order is not None:
            state["position"] = {
                "step": self.epoch_step,
                "order_rng": self.epoch_order,
                "sums": torch.tensor(self.epoch_sums, dtype=torch.float64),
                "seen": self.epoch_seen,
            }
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Carry on from ``state``; ``ValueError`` (nothing changed) when it does not fit this model."""
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        moments = state["optimizer"]["state"]
        for i, param in enumerate(params):  # Adam's moments must be the parameters' shapes
            for key in ("exp_avg", "exp_avg_sq"):
                if i in moments and tuple(moments[i][key].shape) != tuple(param.shape):
                    raise ValueError(f"the optimizer state does not fit parameter {i}")
        position = state.get("position")
        _load_moments(self.optimizer, state["optimizer"])
        if self.critic is not None and isinstance(state.get("critic_optimizer"), dict):
            _load_moments(self.critic, state["critic_optimizer"])
        self.order.set_state(state["order_rng"])
        self.epochs_done = int(state["epochs_done"])
        try:
            self.noise.set_state(state["noise_rng"])
        except RuntimeError:  # drawn on another device (a CUDA generator's state is not a CPU one's): the weights
            # and Adam's moments carry over, and the noise goes on from a seed of this run and its epoch instead
            self.noise.manual_seed(self.noise.initial_seed() + self.epochs_done)
        if isinstance(position, dict):
            self.epoch_step, self.epoch_order = int(position["step"]), position["order_rng"]
            sums = position["sums"].tolist()
            self.epoch_sums = tuple(sums) + (0.0,) * (3 - len(sums))  # older files kept recon and KL only
            self.epoch_seen = int(position["seen"])


def _load_moments(optimizer: torch.optim.Optimizer, saved: dict[str, Any]) -> None:
    """Adam's moments and step counts from ``saved``; its hyperparameters stay the ones this run's config made.

    A file's ``param_groups`` (betas, weight decay, ``maximize``, ε …) would otherwise replace the config's, so a
    crafted or foreign file could silently change how a continuation trains. Moments that are not finite, a
    negative second moment or a step count below zero are refused (``ValueError``) before anything changes.
    """
    for i, moments in saved["state"].items():
        for key in ("exp_avg", "exp_avg_sq", "step"):
            value = moments.get(key)
            if not isinstance(value, torch.Tensor) or not torch.isfinite(value).all():
                raise ValueError(f"the optimizer state of parameter {i} has no finite {key}")
        if (moments["exp_avg_sq"] < 0).any() or (moments["step"] < 0).any():
            raise ValueError(f"the optimizer state of parameter {i} is not one Adam could have written")
    kept = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
    optimizer.load_state_dict(saved)
    for group, hyperparameters in zip(optimizer.param_groups, kept, strict=True):
        group.update(hyperparameters)


def _epoch_metrics(
    config: VAEConfig,
    epoch: int,
    train_means: torch.Tensor,
    test: dict[str, float],
    lr: float,
    train_seconds: float,
    seconds: float,
) -> EpochMetrics:
    """The ``EpochMetrics`` of a finished epoch; ``train_means`` ``[3]`` are its mean train recon, KL and the
    objective's own term."""
    recon, kl, regularizer = train_means.tolist()
    train_terms = {"recon": recon, "kl": kl, "loss": recon + config.kl_weight * kl}
    return EpochMetrics(
        epoch,
        train_terms,
        test,
        config.beta_at(epoch),
        lr,
        train_seconds,
        seconds,
        config.capacity_at(epoch),
        regularizer,
    )


def _forward(
    model: VAE,
    config: VAEConfig,
    batch: torch.Tensor,
    noise: torch.Generator,
    beta: float,
    capacity: float,
    amp: torch.dtype | None,
    n_data: int,
) -> tuple[LossTerms, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One batch ``[B, 1, 28, 28]``: its logged loss terms, the objective that training minimises, the
    objective's own term, and the codes ``[B, D]`` the decoder read."""
    # Matmuls may run in bfloat16; the loss is always computed in fp32. Encode, sample, decode, as ``model(batch)``
    # does, with the codes kept for the objectives that read them.
    with torch.autocast(batch.device.type, dtype=amp or torch.float32, enabled=amp is not None):
        posterior = model.encode(batch)
        z = posterior.rsample(noise)
        logits = model.decode(z)
    posterior = DiagonalGaussian(posterior.mu.float(), posterior.logvar.float())
    kl_weight = beta if config.objective in KL_WEIGHTED else 1.0  # β in effect, warm-up included
    terms = vae_loss(logits.float(), batch, posterior, kl_weight, config.likelihood)
    critic = getattr(model, "critic", None)
    objective, extra = regularized(
        config, terms, posterior, z.float(), beta=beta, capacity=capacity, n_data=n_data, critic=critic
    )
    return terms, objective, extra, z.float()


def _optimise(model: VAE, state: TrainState, objective: torch.Tensor, z: torch.Tensor) -> None:
    """One step of Adam on ``objective``; a FactorVAE's discriminator then learns from the same codes ``z`` ``[B, D]``."""
    state.optimizer.zero_grad(set_to_none=True)
    objective.backward()
    state.optimizer.step()
    if state.critic is not None:
        state.critic.zero_grad(set_to_none=True)
        critic_loss(model.critic, z, state.noise).backward()
        state.critic.step()


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
        if state.epoch_step:  # a run stopped during this epoch: shuffle it as it was shuffled then
            state.order.set_state(state.epoch_order)
        state.epoch_order = state.order.get_state()
        order = torch.randperm(n, generator=state.order)
        sums = torch.tensor(state.epoch_sums, dtype=torch.float64)
        seen = state.epoch_seen
        lr = learning_rate(config, (epoch - 1) * steps_per_epoch, total_steps)
        for step in range(state.epoch_step + 1, steps_per_epoch + 1):
            batch = data.train_batch(
                order[(step - 1) * config.batch_size : step * config.batch_size], state.noise, device
            )
            progress = epoch - 1 + (step - 1) / steps_per_epoch
            beta, capacity = config.beta_at(progress), config.capacity_at(progress)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, (epoch - 1) * steps_per_epoch + step - 1, total_steps)
            terms, objective, extra, z = _forward(model, config, batch, state.noise, beta, capacity, amp, n)
            # One host sync per step: the four numbers travel together.
            loss, recon, kl, regularizer = (
                torch.stack([terms.loss, terms.recon, terms.kl, extra]).detach().cpu().tolist()
            )
            if not math.isfinite(loss):
                model.load_state_dict(last_good)
                yield _diverged(f"the loss became {loss} at epoch {epoch}, step {step}", completed)
                return
            _optimise(model, state, objective, z)
            sums += torch.tensor([recon, kl, regularizer], dtype=torch.float64) * len(batch)
            seen += len(batch)
            state.epoch_step, state.epoch_sums, state.epoch_seen = step, tuple(sums.tolist()), seen
            yield StepMetrics(
                epoch, step, steps_per_epoch, recon, kl, loss, beta, time.perf_counter() - began, capacity, regularizer
            )
            if stop is not None and stop.is_set():
                yield TrainingEnded(RunStatus.STOPPED, f"stopped by request at step {step} of epoch {epoch}", completed)
                return
        state.epoch_step, state.epoch_sums, state.epoch_seen = 0, (0.0, 0.0, 0.0), 0
        train_seconds = time.perf_counter() - epoch_began
        test = evaluate(model, data.test_x, beta=config.kl_weight, likelihood=config.likelihood)
        if not math.isfinite(test["loss"]):
            model.load_state_dict(last_good)
            yield _diverged(f"the test loss became {test['loss']} after epoch {epoch}", completed)
            return
        completed = state.epochs_done = epoch
        last_good = copy.deepcopy(model.state_dict())
        yield _epoch_metrics(config, epoch, sums / seen, test, lr, train_seconds, time.perf_counter() - began)
    yield TrainingEnded(RunStatus.COMPLETED, f"trained {completed} epochs", completed)
