"""Training a named run end to end: data, model, the loop, and a checkpoint after every epoch.

The CLI, the dashboard's worker thread and ``bench/build_pretrained.py`` all go through
``train_run``, so a run saved by any of them looks the same.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from vae.checkpoints import STEP_COLUMNS, save_run
from vae.config import VAEConfig
from vae.data import Dataset, load_dataset
from vae.models import VAE, build_model, resolve_device
from vae.train import EpochMetrics, Event, StepMetrics, TrainingEnded, evaluate, train


class RunRecorder:
    """Folds training events into a history and saves the run after each epoch and at the end."""

    def __init__(
        self,
        directory: Path,
        name: str,
        model: VAE,
        config: VAEConfig,
        data: Dataset,
        *,
        allow_shipped: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self.name = name
        self.model = model
        self.config = config
        self.data = data
        self.allow_shipped = allow_shipped
        self.steps: list[tuple[float, ...]] = []
        self.epochs: list[dict[str, Any]] = []
        self.path: Path | None = None

    def history(self) -> dict[str, Any]:
        steps = torch.tensor(self.steps, dtype=torch.float32).reshape(-1, len(STEP_COLUMNS))
        return {"epochs": list(self.epochs), "steps": steps, "step_columns": list(STEP_COLUMNS)}

    def _save(self, test: dict[str, float], status: str, message: str) -> Path:
        final = {
            "test": test,
            "dataset": self.data.name,
            "n_test": len(self.data.test_x),
            "epochs": len(self.epochs),
            "status": status,
            "message": message,
        }
        self.path = save_run(
            self.directory, self.name, self.model, self.config, self.history(), final, allow_shipped=self.allow_shipped
        )
        return self.path

    def record(self, event: Event) -> Path | None:
        """Add one event; returns the checkpoint path when this event caused a save."""
        if isinstance(event, StepMetrics):
            self.steps.append((event.epoch, event.step, event.recon, event.kl, event.loss, event.beta, event.capacity))
            return None
        if isinstance(event, EpochMetrics):
            self.epochs.append(event.to_dict())
            return self._save(event.test, "running", f"epoch {event.epoch} of {self.config.epochs}")
        # The end. A stop mid-epoch keeps the partly trained weights, evaluated afresh.
        if event.reason == "diverged" and not self.epochs:
            return None  # nothing good was ever trained: keep no file
        trained_since_epoch = self.steps and (not self.epochs or self.steps[-1][0] > self.epochs[-1]["epoch"])
        if event.reason == "stopped" and trained_since_epoch:
            test = evaluate(self.model, self.data.test_x, beta=self.config.beta, recon=self.config.recon)
        elif self.epochs:
            test = self.epochs[-1]["test"]
        else:
            return None
        return self._save(test, event.reason, event.message)


def prepare(config: VAEConfig, data: Dataset | None = None) -> tuple[VAEConfig, VAE, Dataset]:
    """Load the data (recording a fallback in the config) and build the seeded model on its device."""
    data = data if data is not None else load_dataset(config.dataset)
    if data.name != config.dataset:
        config = config.replace(dataset=data.name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build_model(config)
    return config, model.to(resolve_device(config.device)), data


def train_run(
    config: VAEConfig,
    name: str,
    directory: Path,
    *,
    data: Dataset | None = None,
    stop: threading.Event | None = None,
    allow_shipped: bool = False,
) -> Iterator[Event]:
    """Train and save run ``name`` in ``directory``, yielding every event of ``vae.train.train``.

    The run's file is written after each epoch, so an interrupted run keeps its finished epochs.
    """
    config, model, data = prepare(config, data)
    recorder = RunRecorder(directory, name, model, config, data, allow_shipped=allow_shipped)
    for event in train(model, config, data, stop=stop):
        recorder.record(event)
        yield event
        if isinstance(event, TrainingEnded):
            return
