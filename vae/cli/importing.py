"""``python -m vae import FILE``: a VAE Lab run, or a known model's plain state_dict, added as a run."""

from __future__ import annotations

import argparse
import json

from vae.cli.common import EXIT_OK, Failed, UsageError, result, taken_message
from vae.vocabulary import NameTaken


def _read(args: argparse.Namespace) -> bytes:
    from vae.runfile.reading import read_bytes
    from vae.vocabulary import CheckpointError

    if not args.file.is_file():
        raise UsageError(f"no such file: {args.file}")
    try:
        return read_bytes(args.file)
    except CheckpointError as exc:
        raise Failed(str(exc)) from None


def _add(args: argparse.Namespace, data: bytes) -> tuple[str, object]:
    """Save the file as a run under exactly ``--name``; returns what it was and the saved path."""
    from vae.runfile import import_run, load_run_bytes
    from vae.runfile.names import Placement
    from vae.training.importers import import_foreign, read_state_dict, recognise

    placement = Placement(exact=True, overwrite=args.overwrite)  # train's rule: the name as given, or a refusal
    state = read_state_dict(data)
    foreign = recognise(state, args.file.name, args.latent_dim) if state is not None else None
    if foreign is None:
        run = load_run_bytes(data, args.file.name)  # refused here, before any name is taken
        if args.likelihood not in (None, run.config.likelihood):
            raise UsageError(
                f"--likelihood: {args.file.name} is a VAE Lab run trained with "
                f"{run.config.likelihood}; its own config says so"
            )
        return "a VAE Lab run", import_run(args.checkpoint_dir, data, args.name, placement, label=args.file.name)
    if args.dataset is None:
        raise UsageError(f"{args.file.name} is {foreign.layout.description}: say which --dataset to evaluate it on")
    path = import_foreign(
        args.checkpoint_dir,
        foreign,
        args.name,
        args.dataset,
        placement,
        source=args.file.name,
        likelihood=args.likelihood,
    )
    return foreign.layout.description, path


def cmd_import(args: argparse.Namespace) -> int:
    from vae.runfile import load_run
    from vae.vocabulary import CheckpointError

    data = _read(args)
    try:
        kind, path = _add(args, data)
    except NameTaken as exc:
        raise UsageError(taken_message(exc)) from None
    except (CheckpointError, ValueError) as exc:
        raise Failed(str(exc)) from None
    run = load_run(path)
    test = run.final.get("test", {})
    if args.json:
        result(json.dumps({"name": run.name, "kind": kind, "config": run.config.to_dict(), "test": test}))
    else:
        result(
            f"imported {kind} as {path} ({run.config.label}): test recon {test['recon']:.2f}  "
            f"kl {test['kl']:.2f}  loss {test['loss']:.2f}"
        )
    return EXIT_OK
