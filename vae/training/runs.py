"""Training a named run end to end: data, model, the loop, and a checkpoint after every epoch.

The CLI, the dashboard's worker thread and ``scripts/build_pretrained.py`` all go through
``train_run``, so a run saved by any of them looks the same. ``continue_run`` carries a saved run
on for more epochs from its stored optimizer and RNG states.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from vae.analysis.latents import decode_images, encode_mu
from vae.analysis.pictures import to_uint8
from vae.data.datasets import Dataset, load_dataset
from vae.model.config import VAEConfig, bounds
from vae.model.networks import VAE, build_model, resolve_device
from vae.runfile import Run, save_run
from vae.runfile.names import run_path
from vae.runfile.schema import final_summary
from vae.runfile.writers import mark_writing, trainer_id
from vae.training.loop import EpochMetrics, Event, StepMetrics, TrainingEnded, TrainState, evaluate, train
from vae.training.record import StepHistory, frame_epochs, frame_subset, latent_frame
from vae.vocabulary import CONTINUABLE, CheckpointError, ConfigError, RunStatus


class RunRecorder:
    """Folds training events into a history and saves the run after each epoch and at the end."""

    def __init__(
        self,
        directory: Path,
        name: str,
        model: VAE,
        config: VAEConfig,
        data: Dataset,
        state: TrainState,
        *,
        history: dict[str, Any] | None = None,
        allow_shipped: bool = False,
        save_train_state: bool = True,
        owner: str = "",
        origin: str = "",
        trainer: str = "",
    ) -> None:
        self.directory = Path(directory)
        self.trainer = trainer  # who the file names as its writer; "" for this process
        self.name = name
        self.model = model
        self.config = config
        self.data = data
        self.state = state
        self.allow_shipped = allow_shipped
        self.owner, self.origin = owner, origin
        history = history or {}
        self.epochs: list[dict[str, Any]] = list(history.get("epochs", []))[: state.epochs_done]
        # Up to where training stopped: a run stopped mid-epoch goes on from its next step.
        self.steps = StepHistory.from_history(history, resume=True).until(
            state.epochs_done, state.epoch_step, StepHistory.for_run(config, len(data.train_x)).stride
        )
        self.save_train_state = save_train_state
        # The latent space forming: a fixed subset of test digits, encoded after every epoch.
        self.frame_index, self.recon_index = frame_subset(len(data.test_x))
        frames = history.get("frames") if isinstance(history.get("frames"), dict) else {}
        same_digits = torch.equal(frames.get("index", torch.empty(0)).long(), self.frame_index)
        kept = [i for i, e in enumerate(frames.get("epochs", torch.empty(0)).tolist()) if e <= state.epochs_done]
        kept = kept if same_digits else []
        self.frame_epochs: list[int] = [int(frames["epochs"][i]) for i in kept]
        self.positions: list[torch.Tensor] = [frames["positions"][i] for i in kept]
        self.recons: list[torch.Tensor] = [frames["recons"][i] for i in kept]
        self.path: Path | None = None

    def history(self) -> dict[str, Any]:
        history = {"epochs": list(self.epochs), "steps": self.steps.to_dict()}
        if self.positions:
            history["frames"] = {
                "epochs": torch.tensor(self.frame_epochs),  # [E] the epoch after which each frame was taken
                "index": self.frame_index.int(),  # [P] test indices of the scatter
                "labels": self.data.test_y[self.frame_index].to(torch.uint8),  # [P]
                # fp16 and uint8: 20 epochs of 1,000 points and 3 reconstructions fit in ~135 KB.
                "positions": torch.stack(self.positions).half(),  # [E, P, 2], unaligned
                "recon_index": self.recon_index.int(),  # [R]
                "recons": torch.stack(self.recons),  # [E, R, 28, 28] uint8
            }
        return history

    def _record_frame(self, epoch: int) -> None:
        self.frame_epochs.append(epoch)
        self.positions.append(latent_frame(self.model, self.data.test_x[self.frame_index]).cpu())
        panel = decode_images(self.model, encode_mu(self.model, self.data.test_x[self.recon_index]))
        self.recons.append(torch.from_numpy(to_uint8(panel)))

    def _save(self, test: dict[str, float], status: str, message: str) -> Path:
        position = {"position": {"epoch": self.state.epochs_done + 1, "step": self.state.epoch_step}}
        final = final_summary(
            test,
            self.data.name,
            len(self.data.test_x),
            len(self.epochs),
            status,
            message,
            trainer=self.trainer or trainer_id(),
            **(position if self.state.epoch_step else {}),
        )
        self.path = save_run(
            self.directory,
            self.name,
            self.model,
            self.config,
            self.history(),
            final,
            train_state=self.state.state_dict() if self.save_train_state else None,
            allow_shipped=self.allow_shipped,
            owner=self.owner,
            origin=self.origin,
        )
        return self.path

    def record(self, event: Event) -> Path | None:
        """Add one event; returns the checkpoint path when this event caused a save."""
        if isinstance(event, StepMetrics):
            self.steps.append(event)
            return None
        if isinstance(event, EpochMetrics):
            self.epochs.append(event.to_dict())
            if frame_epochs(self.config.epochs)(event.epoch):
                self._record_frame(event.epoch)
            return self._save(event.test, RunStatus.RUNNING, f"epoch {event.epoch} of {self.config.epochs}")
        # The end. A stop mid-epoch keeps the partly trained weights, evaluated afresh, and where it stopped.
        if event.reason == RunStatus.DIVERGED and not self.epochs:
            return None  # nothing good was ever trained: keep no file
        if event.reason == RunStatus.STOPPED and self.state.epoch_step:
            test = evaluate(self.model, self.data.test_x, beta=self.config.kl_weight, likelihood=self.config.likelihood)
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
    resume: Run | None = None,
    save_train_state: bool = True,
    owner: str = "",
    resume_version: str = "",
    origin: str = "",
    trainer: str = "",
) -> Iterator[Event]:
    """Train and save run ``name`` in ``directory``, yielding every event of ``vae.training.loop.train``.

    The run's file is written after each epoch, so an interrupted run keeps its finished epochs.
    With ``resume`` (see ``continue_config``), training starts from that run's weights, history,
    optimizer and RNG states instead of from scratch, and ``config.epochs`` is the new total.
    ``save_train_state=False`` leaves the optimizer state out (shipped runs: a third of the size).
    ``owner`` is the hash of the owning browser's token ("" for none). With ``resume_version``, the file
    ``resume`` came from must still be that version (``Run.version``): a changed file is refused.
    ``trainer`` is the writer the file names (``vae.runfile.writers.trainer_id``) when it is not this process.
    """
    if resume is not None and resume_version and resume.version != resume_version:
        raise CheckpointError(
            f"{resume.name!r} changed after this continuation was asked for; ask again to continue it as it is now"
        )
    if resume is None:
        config, model, data = prepare(config, data)
        state = TrainState.fresh(model, config)
        history = None
    else:
        data = data if data is not None else load_dataset(config.dataset)
        if data.name != config.dataset:
            raise CheckpointError(f"{resume.name!r} was trained on {config.dataset}, which is not available here")
        model = copy.deepcopy(resume.model).to(resolve_device(config.device))
        state = TrainState.fresh(model, config)
        try:
            state.load_state_dict(resume.train_state)
        except (KeyError, RuntimeError, TypeError, ValueError, AttributeError, IndexError):
            state = TrainState.fresh(model, config)  # an older file, or one from another device: start afresh
        if state.epochs_done != len(resume.epochs):  # the state is not of this history: keep only the epochs
            state.epochs_done, state.epoch_step = len(resume.epochs), 0
        history = resume.history
    recorder = RunRecorder(
        directory,
        name,
        model,
        config,
        data,
        state,
        history=history,
        allow_shipped=allow_shipped,
        save_train_state=save_train_state,
        owner=owner,
        origin=origin,
        trainer=trainer,
    )
    path = run_path(directory, name)
    mark_writing(path, True)
    try:
        for event in train(model, config, data, stop=stop, state=state):
            recorder.record(event)
            yield event
            if isinstance(event, TrainingEnded):
                return
    finally:
        mark_writing(path, False)


def continue_config(run: Run, extra_epochs: int) -> VAEConfig:
    """The config that trains ``run`` for ``extra_epochs`` more epochs, or ``ConfigError``/``CheckpointError``.

    Runs that completed, were stopped or were interrupted can be continued; one that is still
    training, or that diverged, cannot.
    """
    if run.status not in CONTINUABLE:
        raise CheckpointError(
            f"{run.name!r} is {run.status or 'of unknown status'}; only a run that is "
            f"{', '.join(CONTINUABLE[:-1])} or {CONTINUABLE[-1]} can be continued"
        )
    done = len(run.epochs)
    if isinstance(extra_epochs, bool) or not isinstance(extra_epochs, int) or extra_epochs < 1:
        raise ConfigError("epochs", f"more epochs must be a whole number of at least 1; got {extra_epochs!r}")
    most = bounds("epochs")[1]
    if done + extra_epochs > most:
        raise ConfigError("epochs", f"{done} + {extra_epochs} is over the {most} epochs a run may have")
    config = run.config.replace(epochs=done + extra_epochs)
    try:
        resolve_device(config.device)
    except ValueError:  # trained where that device was (a GPU, say): continued on what this machine has
        config = config.replace(device="auto")
    return config
