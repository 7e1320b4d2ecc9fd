"""What ``torch.compile`` and a pinned core would buy Burda et al.'s step, and whether the numbers stay.

    VAE_DATA_DIR=../shared/data python bench/burda_compile.py            # 1,000 steps each way

Both variants run the same optimiser steps (100 of warm-up, then 1,000 timed) from the same seed on one thread: the same batches,
the same reparameterisation noise (drawn outside the compiled region, from the same generator), fp32.
``eager`` is the lab's own forward and loss; ``compiled`` is the same function through
``torch.compile`` (inductor's C++ kernels, forward and backward), with fused Adam as before. It prints
ms/step for each, their ratio, and the largest difference between their losses, from the first step on;
then the eager step again with the process pinned to one core (``os.sched_setaffinity``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vae.data.datasets import load_dataset
from vae.model import burda
from vae.model.losses import vae_loss
from vae.model.networks import DiagonalGaussian
from vae.training.loop import TrainState
from vae.training.runs import prepare

WARMUP = 100


def losses_and_ms(compiled: bool, steps: int) -> tuple[torch.Tensor, float]:
    """The loss of every step from the first ``[WARMUP + steps]``, and the mean ms of a step after ``WARMUP``."""
    torch.set_num_threads(1)
    config, model, data = prepare(burda.CONFIG, load_dataset(burda.CONFIG.dataset))
    state = TrainState.fresh(model, config)
    order = torch.randperm(len(data.train_x), generator=state.order)

    def objective(x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        posterior = model.encode(x)
        z = posterior.mu + torch.exp(0.5 * posterior.logvar) * eps
        return vae_loss(model.decode(z), x, DiagonalGaussian(posterior.mu, posterior.logvar)).loss

    step_objective = torch.compile(objective) if compiled else objective
    losses, began = [], 0.0
    for step in range(WARMUP + steps):
        if step == WARMUP:
            began = time.perf_counter()
        index = order[(step * config.batch_size) % len(order) :][: config.batch_size]
        x = data.train_batch(index, state.noise)
        eps = torch.randn(len(x), config.latent_dim, generator=state.noise)
        loss = step_objective(x, eps)
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        state.optimizer.step()
        losses.append(loss.item())
    return torch.tensor(losses, dtype=torch.float64), (time.perf_counter() - began) / steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    eager, eager_ms = losses_and_ms(False, args.steps)
    compiled, compiled_ms = losses_and_ms(True, args.steps)
    gap = (eager - compiled).abs()
    print(f"eager: {eager_ms:.2f} ms/step; compiled: {compiled_ms:.2f} ms/step ({compiled_ms / eager_ms:.2f}×)")
    relative = (gap / eager).max()
    print(f"losses over all {len(gap)} steps: largest difference {gap.max():.2e} nats ({relative:.1e} relative)")
    # Rounding differs from the first step on; training carries the difference on and grows it.
    marks = [n for n in (1, 10, 100, len(gap)) if n <= len(gap)]
    print("largest difference up to step " + ", ".join(f"{n}: {gap[:n].max():.1e}" for n in marks))
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        _, pinned_ms = losses_and_ms(False, args.steps)
        print(f"eager, pinned to one core: {pinned_ms:.2f} ms/step ({pinned_ms / eager_ms:.2f}× unpinned)")


if __name__ == "__main__":
    main()
