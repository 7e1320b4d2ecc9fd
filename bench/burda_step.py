"""Step time of Burda et al. 2015's VAE in VAE Lab's own training loop, and where the time goes.

    VAE_DATA_DIR=../shared/data python bench/burda_step.py            # threads 1 and 2, fp32 and bf16
    VAE_DATA_DIR=../shared/data python bench/burda_step.py --profile  # plus torch.profiler's top ops

784-200-200-50 tanh, binarized MNIST, batch 20, Adam ε 1e-4: 3,000 steps an epoch and 9.84 million for
the paper's 3,280 epochs (vae.model.burda.EPOCHS), so the step time decides how much of the schedule fits. Each setting times
``--steps`` steps of ``vae.training.loop.train`` after a warm-up, inside the first epoch (no test pass).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vae.data.datasets import load_dataset
from vae.model import burda
from vae.model.config import VAEConfig
from vae.training.loop import StepMetrics, train
from vae.training.runs import prepare

BURDA = burda.CONFIG
WARMUP = 200


def step_ms(config: VAEConfig, threads: int, steps: int) -> float:
    """Mean milliseconds per optimiser step over ``steps`` steps, after ``WARMUP``."""
    torch.set_num_threads(threads)
    config, model, data = prepare(config, load_dataset(config.dataset))
    seconds = [
        e.seconds for e, _ in zip(train(model, config, data), range(WARMUP + steps)) if isinstance(e, StepMetrics)
    ]
    return (seconds[-1] - seconds[WARMUP - 1]) / steps * 1e3


def profile(config: VAEConfig, steps: int) -> None:
    from torch.profiler import profile as torch_profile

    torch.set_num_threads(1)
    config, model, data = prepare(config, load_dataset(config.dataset))
    events = train(model, config, data)
    for _ in range(WARMUP):
        next(events)
    with torch_profile() as prof:
        for _ in range(steps):
            next(events)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    data = load_dataset(BURDA.dataset)
    print(f"{data.name}: {len(data.train_x):,} training images, batch {BURDA.batch_size}")
    for precision in ("fp32", "bf16"):
        for threads in (1, 2):
            ms = step_ms(BURDA.replace(precision=precision), threads, args.steps)
            epochs_per_hour = 3600 / (ms / 1e3 * len(data.train_x) / BURDA.batch_size)
            print(
                f"{precision} threads={threads}: {ms:.2f} ms/step, {epochs_per_hour:.0f} epochs/hour "
                f"(all {burda.EPOCHS:,}: {burda.EPOCHS / epochs_per_hour:.1f} h)",
                flush=True,
            )
    if args.profile:
        profile(BURDA.replace(precision="fp32"), 500)


if __name__ == "__main__":
    main()
