"""``python -m vae train``: a new run from the flags, or ``--resume RUN`` for more epochs of a saved one."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from vae.cli.common import (
    EXIT_OK,
    Failed,
    UsageError,
    ctrl_c_stops,
    note,
    result,
    run_file,
    taken_message,
)
from vae.cli.engines import begin_connecting, engine_for, on_engine
from vae.model.config import VAEConfig, from_dict
from vae.training.engine import Engine
from vae.vocabulary import NameTaken

if TYPE_CHECKING:
    from vae.runfile import Run
    from vae.training.loop import EpochMetrics, Event, StepMetrics, TrainingEnded


@dataclass(frozen=True)
class Plan:
    """What to train and where: the config, the name it is saved under (held until the end) and what it continues."""

    config: VAEConfig
    name: str
    resume: Run | None = None


def config_from_args(args: argparse.Namespace, skip: tuple[str, ...] = ()) -> VAEConfig:
    """The config that the flags describe, with the machine's default dataset where none is given."""
    from vae.data.files import default_dataset

    values = {spec.name: getattr(args, spec.name) for spec in fields(VAEConfig) if spec.name not in skip}
    return from_dict({**values, "dataset": args.dataset or default_dataset()})


def whole(value: object, flag: str) -> int:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UsageError(f"{flag} must be a whole number; got {value!r}") from None
    if not number.is_integer():
        raise UsageError(f"{flag} must be a whole number; got {value!r}")
    return int(number)


def _resume_plan(args: argparse.Namespace) -> Plan:
    """Continue a run in place when it is a user run in --checkpoint-dir; a shipped run, or a file from
    elsewhere, continues as a new run under --name (or NAME-continued)."""
    from vae.runfile import load_run
    from vae.runfile.names import claim_run_name, release_run_name, reserve_run_name, sanitize_run_name, shipped_names
    from vae.training.runs import continue_config
    from vae.vocabulary import CheckpointError

    source = run_file(args.resume, args.checkpoint_dir)
    here = source.resolve().parent == Path(args.checkpoint_dir).resolve()
    in_place = here and source.stem not in shipped_names(args.checkpoint_dir)
    if in_place and args.name is not None and sanitize_run_name(args.name) != source.stem:
        raise UsageError(
            "--resume continues a run under its own name; --name is only for shipped runs and files from elsewhere"
        )
    if in_place:  # held from before it is read until the training ends: no other writer in between
        try:
            claim_run_name(args.checkpoint_dir, source.stem)
        except NameTaken as exc:
            raise UsageError(str(exc)) from None
    try:
        try:
            run = load_run(source)
        except CheckpointError as exc:  # there, but not a run: the command ran and failed
            raise Failed(str(exc)) from None
        try:
            config = continue_config(run, whole(args.epochs, "--epochs"))
        except CheckpointError as exc:  # a run that cannot be continued: the request cannot be carried out
            raise UsageError(str(exc)) from None
    except BaseException:
        if in_place:
            release_run_name(args.checkpoint_dir, source.stem)
        raise
    if in_place:
        return Plan(config, source.stem, run)
    try:  # read-only here: the continuation gets a free name of its own
        wanted = sanitize_run_name(args.name or f"{run.name}-continued")
    except ValueError as exc:
        raise UsageError(f"--name: {exc}") from None
    return Plan(config, reserve_run_name(args.checkpoint_dir, wanted), run)


def _fresh_plan(args: argparse.Namespace) -> Plan:
    """For a new run: the config from the flags and a checked, file-safe name."""
    if args.name is None:
        raise UsageError("--name is required (or --resume RUN to continue a saved run)")
    config = config_from_args(args)  # before torch is imported: a bad flag is refused at once
    from vae.model.networks import resolve_device
    from vae.runfile.names import reserve_exact, run_path, sanitize_run_name

    try:
        resolve_device(config.device)
    except ValueError as exc:
        raise UsageError(f"--device: {exc}") from None
    try:
        name = sanitize_run_name(args.name)
        run_path(args.checkpoint_dir, name)
    except ValueError as exc:
        raise UsageError(f"--name: {exc}") from None
    if name != args.name:
        note(f"run name {args.name!r} saved as {name!r}")
    try:  # held until the training ends: the app, another server or another CLI cannot write it meanwhile
        reserve_exact(args.checkpoint_dir, name, overwrite=args.overwrite)
    except NameTaken as exc:
        raise UsageError(taken_message(exc)) from None
    return Plan(config, name)


def _say_continuation(plan: Plan) -> int:
    """Note where a continuation starts and ends; returns its first epoch."""
    run = plan.resume
    if run is None:
        return 1
    first = len(run.epochs) + 1
    position = run.final.get("position")  # a run stopped mid-epoch goes on from its next step
    start = f"step {position['step'] + 1} of epoch {first}" if position else f"epoch {first}"
    more = plan.config.epochs - first + 1
    span = f"for 1 more epoch ({first})" if more == 1 else f"for {more} more epochs ({first} to {plan.config.epochs})"
    saving = f", saving as {plan.name!r} (the original is read-only here)" if plan.name != run.name else ""
    note(f"continuing {run.name!r} from {start} {span}{saving}")
    return first


class _Display:
    """What a training shows: a progress bar on stderr, and with ``--json`` one JSON line per epoch on stdout."""

    def __init__(self, plan: Plan, first_epoch: int, as_json: bool) -> None:
        self.plan, self.first_epoch, self.as_json = plan, first_epoch, as_json
        self.bar = None
        self.last: EpochMetrics | None = None  # the last finished epoch
        self.ended: TrainingEnded | None = None

    def show(self, event: Event) -> None:
        from vae.training.loop import EpochMetrics, StepMetrics

        if isinstance(event, StepMetrics):
            self._step(event)
        elif isinstance(event, EpochMetrics):
            self.last = event
            if self.as_json:
                keys = ("recon", "kl", "loss")
                train, test = ({k: terms[k] for k in keys} for terms in (event.train, event.test))
                record = {"epoch": event.epoch, "train_seconds": round(event.train_seconds, 4), "train": train}
                result(json.dumps({**record, "test": test}))
        else:
            self.ended = event

    def _step(self, event: StepMetrics) -> None:
        from tqdm import tqdm

        if self.bar is None:
            total = event.steps_per_epoch * (self.plan.config.epochs - self.first_epoch + 1)
            self.bar = tqdm(total=total, desc=self.plan.name, unit="step", disable=None, file=sys.stderr)
        self.bar.update(1)
        if event.step % 20 == 0:
            self.bar.set_postfix(epoch=event.epoch, loss=f"{event.loss:.1f}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _events(args: argparse.Namespace, plan: Plan, stop: threading.Event, engine: Engine) -> Iterator[Event]:
    """The training's events: trained here (local), or by a Ray task whose saves this process writes."""
    if not engine.is_ray:
        from vae.data.datasets import load_dataset
        from vae.training.runs import train_run

        data = load_dataset(plan.config.dataset)
        if data.notice:
            note(data.notice)
        yield from train_run(plan.config, plan.name, args.checkpoint_dir, data=data, stop=stop, resume=plan.resume)
        return
    from vae.settings import threads_per_job
    from vae.training.pipe import EventBundle, Notice, Started, TrainingOrders
    from vae.training.ray_engine import train_on_ray

    resume = plan.resume
    orders = TrainingOrders(
        config=plan.config,
        name=plan.name,
        directory=Path(args.checkpoint_dir),
        threads=threads_per_job(1),
        resume_path=resume.path if resume is not None else None,
        resume_version=resume.version if resume is not None else "",
    )
    for message in train_on_ray(orders, stop):
        if isinstance(message, Started):
            note(f"training on {engine.describe()}, host {message.host}")
        elif isinstance(message, Notice):
            if message.text:
                note(message.text)
        elif isinstance(message, EventBundle):
            yield from message.events
        else:  # Failure, Lost
            raise Failed(message.text)


def _train(args: argparse.Namespace, plan: Plan, path: Path, engine: Engine) -> EpochMetrics | None:
    """Run the training, showing its progress (``_Display``); returns the last finished epoch."""
    from vae.vocabulary import CheckpointError, RunStatus

    display = _Display(plan, _say_continuation(plan), args.json)
    with ctrl_c_stops() as stop, on_engine(engine):
        try:
            for event in _events(args, plan, stop, engine):
                display.show(event)
        except (CheckpointError, OSError) as exc:
            raise Failed(f"could not save the run: {exc}") from None
        finally:
            display.close()
    if display.ended is not None and display.ended.reason == RunStatus.DIVERGED:
        raise Failed(f"training diverged: {display.ended.message}")
    if display.ended is not None and display.ended.reason == RunStatus.STOPPED:
        kept = f"the trained weights are saved in {path}" if path.exists() else "nothing was saved"
        raise Failed(f"interrupted during epoch {display.ended.epochs_completed + 1}; {kept}")
    return display.last


def cmd_train(args: argparse.Namespace) -> int:
    engine = engine_for(args)  # a bad --engine or --address is refused before anything is read or reserved
    plan = _resume_plan(args) if args.resume is not None else _fresh_plan(args)
    begin_connecting(engine)
    from vae.runfile.names import release_run_name, run_path

    path = run_path(args.checkpoint_dir, plan.name)
    try:
        last = _train(args, plan, path, engine)
    finally:
        release_run_name(args.checkpoint_dir, plan.name)
    if not args.json and last is not None:
        t = last.test
        result(
            f"epoch {last.epoch}/{plan.config.epochs} test: recon {t['recon']:.2f}  kl {t['kl']:.2f}  "
            f"loss {t['loss']:.2f} nats/image"
        )
    if not args.json:
        result(f"saved {path}")
    return EXIT_OK
