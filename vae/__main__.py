"""Command line: ``python -m vae {train,sweep,eval,import,list}``.

Errors are one line on stderr, never a traceback: exit 2 for a usage error, 1 for a failed run.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from vae.config import DATASETS, RENAMED_FIELDS, ConfigError, VAEConfig, flag_text, from_dict
from vae.errors import NameTaken
from vae.settings import default_checkpoint_dir
from vae.sweep import SWEPT

if TYPE_CHECKING:
    from vae.checkpoints import Run

# What a flag means beyond the field's own help.
FLAG_NOTES = {
    "dataset": "; default: mnist when its files are on disk, else mnist-5k",
    "epochs": "; with --resume, the number of additional epochs",
}
# Runs at a time for `sweep`: measured with bench/sweep_speed.py on 2 cores (see README).
DEFAULT_SWEEP_JOBS = 2
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    pass


class _DefaultsFormatter(argparse.HelpFormatter):
    """Appends each option's default to its help, unless the help already names one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" not in text and action.option_strings and action.default is not argparse.SUPPRESS:
            if isinstance(action, argparse._StoreTrueAction):
                text += " (default: off)"
            else:
                text += " (default: %(default)s)" if action.default is not None else " (default: none)"
        return text


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _flag_default(value: object) -> object:
    """A field's default for argparse: layer widths as they are written (``400``), anything else as it is."""
    return flag_text(value) if isinstance(value, tuple) else value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m vae", description="Train and evaluate VAEs on MNIST-like data.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser(
        "train",
        help="train a run and save it, or continue one with --resume",
        description="Train a VAE and save it as a run, one checkpoint per epoch. With --resume NAME, continue a "
        "saved run for --epochs more epochs from its stored optimizer and RNG states.",
        formatter_class=_DefaultsFormatter,
    )
    for spec in fields(VAEConfig):  # one flag per config field, with its help, choices and bounds
        meta = spec.metadata
        extra = f"; {meta['bounds'][0]} to {meta['bounds'][1]}" if meta.get("bounds") else ""
        train.add_argument(
            f"--{spec.name.replace('_', '-')}",
            *([f"--{old}" for old, new in RENAMED_FIELDS.items() if new == spec.name]),
            dest=spec.name,
            choices=meta["choices"] or None,
            default=_flag_default(spec.default),
            help=meta["help"] + extra + (FLAG_NOTES.get(spec.name, "")),
        )
    # Where the default depends on the machine: full MNIST when its files are on disk.
    train.set_defaults(dataset=None)
    train.add_argument("--name", default=None,
                       help="run name; letters, digits, '-', '_' and '.' (required unless --resume; with --resume, "
                       "the new name for a continued shipped run)")  # fmt: skip
    train.add_argument(
        "--resume",
        metavar="NAME",
        default=None,
        help="continue this saved run for --epochs more epochs; its config comes from the checkpoint",
    )
    train.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=default_checkpoint_dir(),
        help="where runs are saved ($VAE_CHECKPOINT_DIR, else the repository's checkpoints/)",
    )
    train.add_argument("--overwrite", action="store_true", help="replace an existing user run of that name")
    train.add_argument("--json", action="store_true", help="print one JSON object per epoch on stdout")

    evaluate = commands.add_parser("eval", help="evaluate a saved run on its test split")
    evaluate.add_argument("checkpoint", type=Path)
    evaluate.add_argument("--json", action="store_true")
    evaluate.add_argument("--iw", type=int, metavar="K", help="also estimate -log p(x) with K importance samples")
    evaluate.add_argument("--n", type=int, metavar="N", help="use only the first N test images for --iw")
    evaluate.add_argument("--seed", type=int, default=0, help="seeds the --iw samples (default: 0)")

    sweep = commands.add_parser(
        "sweep",
        help="train one run per β (and latent dimension)",
        description="Train one run per combination of --beta and --latent-dim, named PREFIX-d{d}-b{beta}, "
        "--jobs at a time, each with its share of the cores. Every other option is a train option.",
        formatter_class=_DefaultsFormatter,
    )
    for spec in fields(VAEConfig):
        if spec.name in SWEPT:
            continue
        sweep.add_argument(f"--{spec.name.replace('_', '-')}", dest=spec.name, choices=spec.metadata["choices"] or None,
                           default=_flag_default(spec.default), help=spec.metadata["help"] + FLAG_NOTES.get(spec.name, "").split(";")[0])  # fmt: skip
    sweep.set_defaults(dataset=None)
    sweep.add_argument("--beta", required=True, help="comma-separated β values, e.g. 0.25,0.5,1,2,4")
    sweep.add_argument("--latent-dim", default=str(VAEConfig().latent_dim), help="comma-separated latent dimensions")
    sweep.add_argument("--name-prefix", required=True, help="runs are named PREFIX-d{d}-b{beta}")
    sweep.add_argument("--jobs", type=int, default=DEFAULT_SWEEP_JOBS,
                       help="runs at a time; the cores are divided among them (measured fastest on 2 cores)")  # fmt: skip
    sweep.add_argument("--checkpoint-dir", type=Path, default=default_checkpoint_dir(),
                       help="($VAE_CHECKPOINT_DIR, else the repository's checkpoints/)")  # fmt: skip
    sweep.add_argument("--json", action="store_true", help="print one JSON object per finished run")

    importing = commands.add_parser(
        "import",
        help="add a VAE trained elsewhere as a run",
        description="Add a VAE trained elsewhere as a run: a VAE Lab checkpoint, or a plain state_dict of the "
        "pytorch/examples VAE (vae/main.py) or of the design notes' conv VAE. A foreign model is recognised by "
        "its keys and shapes, mapped onto VAE Lab's model with identical outputs, and evaluated on the test "
        "split of --dataset.",
        formatter_class=_DefaultsFormatter,
    )
    importing.add_argument("file", type=Path, help="the .pt file")
    importing.add_argument("--name", required=True, help="run name; letters, digits, '-', '_' and '.'")
    importing.add_argument("--dataset", choices=DATASETS, default=None,
                           help="where a foreign model is evaluated (required for one; a VAE Lab run knows its own)")  # fmt: skip
    importing.add_argument("--latent-dim", type=int, default=None, metavar="D",
                           help="the latent dimension you expect; refused if the file's differs")  # fmt: skip
    importing.add_argument("--checkpoint-dir", type=Path, default=default_checkpoint_dir(),
                           help="($VAE_CHECKPOINT_DIR, else the repository's checkpoints/)")  # fmt: skip
    importing.add_argument("--json", action="store_true", help="print the run's name, kind and test metrics")

    listing = commands.add_parser("list", help="list the runs in a checkpoint directory")
    listing.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=default_checkpoint_dir(),
        help="($VAE_CHECKPOINT_DIR, else the repository's checkpoints/)",
    )
    listing.add_argument("--json", action="store_true")
    return parser


def _config_from_args(args: argparse.Namespace) -> VAEConfig:
    from vae.data import default_dataset

    values = {spec.name: getattr(args, spec.name) for spec in fields(VAEConfig)}
    return from_dict({**values, "dataset": args.dataset or default_dataset()})


def _resume_plan(args: argparse.Namespace) -> tuple[VAEConfig, str, Run]:
    """For ``train --resume``: the continued config, the name to save under, and the loaded run."""
    from vae.checkpoints import CheckpointError, load_run
    from vae.names import claim_run_name, release_run_name, reserve_run_name, run_path, sanitize_run_name, shipped_names
    from vae.runs import continue_config

    try:
        source = run_path(args.checkpoint_dir, args.resume)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not source.exists():
        raise UsageError(f"no run named {source.stem!r} in {args.checkpoint_dir}")
    in_place = source.stem not in shipped_names(args.checkpoint_dir)
    if in_place and args.name is not None and sanitize_run_name(args.name) != source.stem:
        raise UsageError("--resume continues a run under its own name; --name is only for shipped runs")
    try:
        if in_place:  # held from before it is read until the training ends: no other writer in between
            claim_run_name(args.checkpoint_dir, source.stem)
        run = load_run(source)
        config = continue_config(run, int(_whole(args.epochs, "--epochs")))
    except CheckpointError as exc:
        if in_place and not isinstance(exc, NameTaken):
            release_run_name(args.checkpoint_dir, source.stem)
        raise UsageError(str(exc)) from None
    if in_place:
        return config, run.name, run
    try:  # a shipped run is read-only: the continuation gets a free name of its own
        wanted = sanitize_run_name(args.name or f"{run.name}-continued")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return config, reserve_run_name(args.checkpoint_dir, wanted), run


def _whole(value: object, flag: str) -> int:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UsageError(f"{flag} must be a whole number; got {value!r}") from None
    if not number.is_integer():
        raise UsageError(f"{flag} must be a whole number; got {value!r}")
    return int(number)


def _fresh_plan(args: argparse.Namespace) -> tuple[VAEConfig, str]:
    """For a new run: the config from the flags and a checked, file-safe name."""
    from vae.models import resolve_device
    from vae.names import reserve_exact, run_path, sanitize_run_name

    if args.name is None:
        raise UsageError("--name is required (or --resume NAME to continue a saved run)")
    config = _config_from_args(args)
    try:
        resolve_device(config.device)
        name = sanitize_run_name(args.name)
        run_path(args.checkpoint_dir, name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if name != args.name:
        print(f"note: run name {args.name!r} saved as {name!r}", file=sys.stderr)
    try:  # held until the training ends: the app, another server or another CLI cannot write it meanwhile
        reserve_exact(args.checkpoint_dir, name, overwrite=args.overwrite)
    except NameTaken as exc:
        raise UsageError(str(exc).replace("choose another name", "choose another --name").replace(
            "or overwrite it", "or pass --overwrite")) from None  # fmt: skip
    return config, name


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from vae.checkpoints import CheckpointError
    from vae.data import load_dataset
    from vae.names import release_run_name, run_path
    from vae.runs import train_run
    from vae.train import EpochMetrics, StepMetrics, TrainingEnded

    resume = None
    if args.resume is not None:
        config, name, resume = _resume_plan(args)
    else:
        config, name = _fresh_plan(args)
    path = run_path(args.checkpoint_dir, name)
    first_epoch = len(resume.epochs) + 1 if resume is not None else 1
    if resume is not None:
        stop = resume.final.get("position")  # a run stopped mid-epoch goes on from its next step
        start = f"step {stop['step'] + 1} of epoch {first_epoch}" if stop else f"epoch {first_epoch}"
        print(f"note: continuing {resume.name!r} from {start} to epoch {config.epochs}"
              + (f", saving as {name!r} (shipped runs are read-only)" if resume.shipped else ""),
              file=sys.stderr)  # fmt: skip

    data = load_dataset(config.dataset)
    if data.notice:
        print(f"note: {data.notice}", file=sys.stderr)
    bar = None
    last: EpochMetrics | None = None
    # Ctrl-C asks the loop to stop after the current step, like the app's Stop button; an exception
    # raised asynchronously could land in a finalizer and be swallowed. A second Ctrl-C aborts.
    stop = threading.Event()

    def on_interrupt(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        for event in train_run(config, name, args.checkpoint_dir, data=data, stop=stop, resume=resume):
            if isinstance(event, StepMetrics):
                if bar is None:
                    total = event.steps_per_epoch * (config.epochs - first_epoch + 1)
                    bar = tqdm(total=total, desc=name, unit="step", disable=None, file=sys.stderr)
                bar.update(1)
                if event.step % 20 == 0:
                    bar.set_postfix(epoch=event.epoch, loss=f"{event.loss:.1f}", refresh=False)
            elif isinstance(event, EpochMetrics):
                last = event
                if args.json:
                    keys = ("recon", "kl", "loss")
                    record = {
                        "epoch": event.epoch,
                        "train_seconds": round(event.train_seconds, 4),
                        "train": {k: event.train[k] for k in keys},
                        "test": {k: event.test[k] for k in keys},
                    }
                    print(json.dumps(record), flush=True)
            elif isinstance(event, TrainingEnded):
                if bar is not None:
                    bar.close()
                if event.reason == "diverged":
                    print(f"error: training diverged: {event.message}", file=sys.stderr)
                    return EXIT_FAILED
                if event.reason == "stopped":
                    kept = f"the trained weights are saved in {path}" if path.exists() else "nothing was saved"
                    print(f"error: interrupted during epoch {event.epochs_completed + 1}; {kept}", file=sys.stderr)
                    return EXIT_FAILED
                if last is not None:
                    t = last.test
                    print(f"epoch {last.epoch}/{config.epochs} test: recon {t['recon']:.2f}  kl {t['kl']:.2f}  "
                          f"loss {t['loss']:.2f} nats/image", file=sys.stderr)  # fmt: skip
                print(f"saved {path}", file=sys.stderr)
    except (CheckpointError, OSError) as exc:
        print(f"error: could not save the run: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        signal.signal(signal.SIGINT, previous)
        release_run_name(args.checkpoint_dir, name)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from vae.analysis import iw_nll, latent_diagnostics
    from vae.checkpoints import CheckpointError, load_run
    from vae.data import load_dataset
    from vae.train import evaluate

    if args.iw is not None and not 1 <= args.iw <= 100_000:
        raise UsageError("--iw must be between 1 and 100000")
    if args.n is not None and args.n < 1:
        raise UsageError("--n must be at least 1")
    try:
        run = load_run(args.checkpoint)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.iw is not None and run.config.likelihood != "bce":
        raise UsageError("--iw needs a run trained with the bce (Bernoulli) likelihood")
    data = load_dataset(run.config.dataset)
    if data.notice:
        print(f"note: {data.notice}", file=sys.stderr)
    metrics = evaluate(run.model, data.test_x, beta=run.config.beta, likelihood=run.config.likelihood)
    diagnostics = latent_diagnostics(run.model, data.test_x)
    result = {
        "config": run.config.to_dict(),
        "dataset": data.name,
        "n": len(data.test_x),
        **metrics,
        "kl_per_dim": diagnostics["kl_per_dim"],
        "active_units": diagnostics["active_units"],
    }
    if args.iw is not None:
        subset = data.test_x[: args.n]
        result["iw_k"], result["iw_n"] = args.iw, len(subset)
        result["iw_nll"] = iw_nll(run.model, subset, args.iw, seed=args.seed)
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{run.name} ({run.config.label}) on {data.name} test, n={len(data.test_x)}: "
        f"loss {metrics['loss']:.2f}  recon {metrics['recon']:.2f}  kl {metrics['kl']:.2f}  "
        f"active units {diagnostics['active_units']}/{run.config.latent_dim}"
    )
    if args.iw is not None:
        print(f"importance-weighted -log p(x), K={args.iw}, n={result['iw_n']}: {result['iw_nll']:.2f} nats")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from vae.data import default_dataset
    from vae.names import run_path, sanitize_run_name, shipped_names
    from vae.sweep import parse_values, plan, run_sweep

    if not 1 <= args.jobs <= 64:
        raise UsageError("--jobs must be between 1 and 64")
    base_values = {spec.name: getattr(args, spec.name) for spec in fields(VAEConfig) if spec.name not in SWEPT}
    base = from_dict({**base_values, "dataset": args.dataset or default_dataset()})
    grid = plan(base, parse_values(args.beta, "beta", float), parse_values(args.latent_dim, "latent_dim", int),
                args.name_prefix)  # fmt: skip
    try:
        names = [sanitize_run_name(name) for name, _ in grid]
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    taken = [n for n in names if run_path(args.checkpoint_dir, n).exists() or n in shipped_names(args.checkpoint_dir)]
    if taken:
        raise UsageError(
            f"runs already exist in {args.checkpoint_dir}: {', '.join(taken)}; choose another --name-prefix"
        )
    grid = [(name, config) for name, (_, config) in zip(names, grid, strict=True)]
    print(f"sweep: {len(grid)} runs, {args.jobs} at a time", file=sys.stderr)
    began, failed = time.perf_counter(), 0
    for result in run_sweep(grid, args.checkpoint_dir, args.jobs):
        failed += bool(result.error)
        if args.json:
            print(json.dumps({"name": result.name, "beta": result.config.beta, "latent_dim": result.config.latent_dim,
                              "seconds": round(result.seconds, 2), "test": result.test, "error": result.error}),
                  flush=True)  # fmt: skip
        elif result.error:
            print(f"{result.name}: failed: {result.error}", file=sys.stderr)
        else:
            t = result.test
            print(f"{result.name}: test recon {t['recon']:.2f}  kl {t['kl']:.2f}  loss {t['loss']:.2f} "
                  f"({result.seconds:.1f} s)", file=sys.stderr)  # fmt: skip
    print(
        f"sweep: {len(grid) - failed} of {len(grid)} runs saved in {time.perf_counter() - began:.1f} s", file=sys.stderr
    )
    return EXIT_FAILED if failed else 0


def cmd_import(args: argparse.Namespace) -> int:
    from vae.checkpoints import CheckpointError, import_run, load_run
    from vae.importers import import_foreign, read_state_dict, recognise
    from vae.runfile import MAX_CHECKPOINT_BYTES, size_error

    try:
        size = args.file.stat().st_size
        if size > MAX_CHECKPOINT_BYTES:
            raise CheckpointError(size_error(args.file.name, size))
        data = args.file.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    except CheckpointError as exc:
        raise UsageError(str(exc)) from None
    try:
        state = read_state_dict(data)
        foreign = recognise(state, args.file.name, args.latent_dim) if state is not None else None
        if foreign is not None:
            if args.dataset is None:
                raise UsageError(
                    f"{args.file.name} is {foreign.layout.description}: say which --dataset to evaluate it on"
                )
            path = import_foreign(args.checkpoint_dir, foreign, args.name, args.dataset, source=args.file.name)
            kind = foreign.layout.description
        else:
            path = import_run(args.checkpoint_dir, data, args.name, label=args.file.name)
            kind = "a VAE Lab run"
    except (CheckpointError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    run = load_run(path)
    test = run.final.get("test", {})
    if args.json:
        print(json.dumps({"name": run.name, "kind": kind, "config": run.config.to_dict(), "test": test}))
    else:
        print(f"imported {kind} as {path} ({run.config.label}): test recon {test.get('recon', float('nan')):.2f}  "
              f"kl {test.get('kl', float('nan')):.2f}  loss {test.get('loss', float('nan')):.2f}", file=sys.stderr)  # fmt: skip
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from vae.checkpoints import list_runs

    runs = list_runs(args.checkpoint_dir)
    if args.json:
        rows = [
            {
                "name": r.name,
                "shipped": r.shipped,
                "config": r.config.to_dict() if r.config else None,
                "final": r.final,
                "error": r.error,
            }
            for r in runs
        ]
        print(json.dumps(rows))
        return 0
    for r in runs:
        if r.error:
            print(f"{r.name:32s} unreadable: {r.error}")
        else:
            loss = r.final.get("test", {}).get("loss", float("nan"))
            print(f"{r.name:32s} {r.config.label:36s} test loss {loss:8.2f}{'  (shipped)' if r.shipped else ''}")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return {"train": cmd_train, "sweep": cmd_sweep, "eval": cmd_eval, "import": cmd_import, "list": cmd_list}[
            args.command
        ](args)
    except (UsageError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted; finished epochs are saved", file=sys.stderr)
        return EXIT_FAILED  # a second Ctrl-C during training, or one outside it


if __name__ == "__main__":
    sys.exit(main())
