"""Sweeps: one run per (latent dimension, value of the objective's strength, seed), named ``PREFIX-d{d}-b{value}``,
with ``-s{seed}`` when more than one seed is swept. The strength is β for β-VAE and β-TCVAE, C for AnnealedVAE, γ
for FactorVAE and λ_od for DIP-VAE (``vae.model.config.STRENGTH``).

The CLI runs each as its own ``python -m vae train`` process, ``jobs`` at a time, with the machine's
cores divided among them (torch's thread count is per process); the dashboard queues them as jobs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, fields
from pathlib import Path

from vae.model.config import STRENGTH, VAEConfig, flag_text
from vae.settings import SETTINGS, threads_per_job
from vae.training.engine import Engine
from vae.vocabulary import ConfigError

SWEPT = ("beta", "latent_dim", "seed")  # the CLI's comma-separated flags (``--beta`` names the strength's values)
# Runs at a time: as many as the app trains at once, the fastest on 2 cores (bench/sweep_speed.py).
DEFAULT_SWEEP_JOBS = SETTINGS["VAE_MAX_TRAINING_JOBS"].default


def parse_values(text: str, name: str, kind: type) -> list:
    """``"0.25,0.5,1"`` -> ``[0.25, 0.5, 1.0]``, in order, duplicates dropped; ``ConfigError`` names the field."""
    values = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            number = float(part)
            value = int(number) if kind is int and number.is_integer() else kind(part)
        except ValueError:
            raise ConfigError(name, f"expected a comma-separated list of numbers, got {part!r}") from None
        if value not in values:
            values.append(value)
    if not values:
        raise ConfigError(name, "give at least one value")
    return values


def run_name(prefix: str, latent_dim: int | str, value: float | str, seed: int | str | None = None) -> str:
    """A sweep run's name, ``PREFIX-d{d}-b{value}[-s{seed}]``; placeholders given as text describe the rule
    (``NAME_RULE``)."""
    value_text = value if isinstance(value, str) else f"{value:g}"
    return f"{prefix}-d{latent_dim}-b{value_text}" + ("" if seed is None else f"-s{seed}")


NAME_RULE = run_name("PREFIX", "{d}", "{value}") + "[-s{seed}]"


def plan(
    base: VAEConfig, values: list[float], latent_dims: list[int], prefix: str, seeds: list[int] | None = None
) -> list[tuple[str, VAEConfig]]:
    """Every (name, config) of the grid, by latent dimension, then the strength's value (``STRENGTH`` of
    ``base.objective``), then seed (default: ``base``'s alone); each config is validated."""
    field, seeds = STRENGTH[base.objective], seeds or [base.seed]
    named_seeds = len(seeds) > 1
    return [
        (run_name(prefix, d, v, s if named_seeds else None), base.replace(**{field: v}, latent_dim=d, seed=s))
        for d in latent_dims
        for v in values
        for s in seeds
    ]


@dataclass(frozen=True)
class SweepResult:
    """One finished run of a sweep: its last test metrics, or the error that ended it."""

    name: str
    config: VAEConfig
    seconds: float
    test: dict[str, float]
    error: str = ""


def _train_command(name: str, config: VAEConfig, directory: Path) -> list[str]:
    command = [sys.executable, "-m", "vae", "train", "--name", name, "--checkpoint-dir", str(directory), "--json"]
    for spec in fields(VAEConfig):
        command += [f"--{spec.name.replace('_', '-')}", flag_text(getattr(config, spec.name))]
    return command


def run_sweep(
    grid: list[tuple[str, VAEConfig]],
    directory: Path,
    jobs: int,
    *,
    on_start: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
    engine: Engine | None = None,
) -> Iterator[SweepResult]:
    """Train every run of ``grid``, ``jobs`` at a time, yielding each result as it finishes.

    Locally, each run is its own process with ``cores // jobs`` torch threads, so that N runs at once neither
    share one Python interpreter's lock nor oversubscribe the cores. Once ``stop`` is set, the runs not yet
    started are reported as not started (a Ctrl-C reaches the running ones' processes itself). On Ray (connected
    first), every run is submitted at once as a task that asks for the same threads, so the numbers are the same,
    and the cluster's free CPUs decide how many train at a time; ``stop`` stops the running ones after their step,
    saved as ``stopped``, and the waiting ones before they start.
    """
    threads = threads_per_job(jobs)
    if engine is not None and engine.is_ray:
        yield from _ray_sweep(grid, directory, threads, on_start, stop)
        return
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}

    def one(name: str, config: VAEConfig) -> SweepResult:
        if stop is not None and stop.is_set():
            return SweepResult(name, config, 0.0, {}, "not started: the sweep was interrupted")
        if on_start is not None:
            on_start(name)
        began = time.perf_counter()
        out = subprocess.run(
            _train_command(name, config, directory), env=env, capture_output=True, text=True, check=False
        )
        seconds = time.perf_counter() - began
        lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
        if out.returncode != 0 or not lines:
            reason = (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]
            return SweepResult(name, config, seconds, {}, reason.split("error: ", 1)[-1])
        return SweepResult(name, config, seconds, lines[-1]["test"])

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, name, config) for name, config in grid]
        for future in as_completed(futures):
            yield future.result()


class _RayRun:
    """What one Ray run of a sweep said, folded as it comes: when it started, its last epoch, how it ended."""

    def __init__(self) -> None:
        self.began, self.last, self.ended, self.error = time.perf_counter(), None, None, ""

    def fold(self, message: object) -> None:
        from vae.training.loop import EpochMetrics, TrainingEnded
        from vae.training.pipe import EventBundle, Failure, Lost, Started

        if isinstance(message, Started):
            self.began = time.perf_counter()
        if isinstance(message, Failure | Lost):
            self.error = message.text
        if not isinstance(message, EventBundle):
            return
        self.last = next((e for e in reversed(message.events) if isinstance(e, EpochMetrics)), self.last)
        if isinstance(message.events[-1], TrainingEnded):
            self.ended = message.events[-1]

    def result(self, name: str, config: VAEConfig) -> SweepResult:
        error, ended = self.error, self.ended
        if not error and ended is not None and ended.reason != "completed":
            error = f"{ended.reason} during epoch {ended.epochs_completed + 1}: {ended.message}"
        test = {k: self.last.test[k] for k in ("recon", "kl", "loss")} if self.last is not None and not error else {}
        return SweepResult(name, config, time.perf_counter() - self.began, test, error)


def _ray_run(name: str, config: VAEConfig, directory: Path, threads: int, stop: threading.Event | None) -> SweepResult:
    """One run of the sweep as a Ray task, its name held here from before it starts until it ends."""
    from vae.runfile.names import release_run_name, reserve_exact
    from vae.training.pipe import TrainingOrders
    from vae.training.ray_engine import train_on_ray

    reserve_exact(directory, name)
    run = _RayRun()
    try:
        orders = TrainingOrders(config=config, name=name, directory=Path(directory), threads=threads)
        for message in train_on_ray(orders, stop or threading.Event()):
            run.fold(message)
    finally:
        release_run_name(directory, name)
    return run.result(name, config)


def _ray_sweep(
    grid: list[tuple[str, VAEConfig]],
    directory: Path,
    threads: int,
    on_start: Callable[[str], None] | None,
    stop: threading.Event | None,
) -> Iterator[SweepResult]:
    with ThreadPoolExecutor(max_workers=max(1, len(grid))) as pool:
        futures = []
        for name, config in grid:
            if on_start is not None:
                on_start(name)
            futures.append(pool.submit(_ray_run, name, config, directory, threads, stop))
        for future in as_completed(futures):
            yield future.result()
