"""The command line's grammar: one sub-parser per command, config flags built from the config's own metadata.

Help strings carry their defaults and ranges, written from the same metadata that validates the values,
so ``--help`` and the errors never disagree.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path
from typing import NoReturn

from vae.cli.common import UsageError, flag
from vae.config import DATASETS, LIKELIHOODS, RENAMED_FIELDS, VAEConfig, bounds, flag_text
from vae.settings import default_checkpoint_dir
from vae.sweep import DEFAULT_SWEEP_JOBS, NAME_RULE, SWEPT

# What a flag means beyond the field's own help, and defaults that depend on the machine.
FLAG_NOTES = {"epochs": "; with --resume, the number of additional epochs"}
MACHINE_DEFAULTS = {"dataset": "mnist when its files are on disk, else mnist-5k"}


class Parser(argparse.ArgumentParser):
    """Usage errors become one line (``UsageError``), not argparse's usage block and exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def with_default(text: str, default: object) -> str:
    """``text`` and its default, escaped for argparse's %-formatting."""
    shown = "off" if default is False else "none" if default is None else default
    return f"{text} (default: {shown})".replace("%", "%%")


CHECKPOINT_DIR_HELP = with_default(
    "where runs are read and saved", "$VAE_CHECKPOINT_DIR, else the repository's checkpoints/"
)


def _add_config_flags(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """One flag per config field, with its help, choices, range and default."""
    for spec in fields(VAEConfig):
        if spec.name in skip:
            continue
        meta = spec.metadata
        ranged = f"; {meta['bounds'][0]} to {meta['bounds'][1]}" if meta.get("bounds") else ""
        default = MACHINE_DEFAULTS.get(spec.name, flag_text(spec.default))
        parser.add_argument(
            flag(spec.name),
            *(f"--{old}" for old, new in RENAMED_FIELDS.items() if new == spec.name),
            dest=spec.name,
            choices=meta["choices"] or None,
            default=None if spec.name in MACHINE_DEFAULTS else flag_text(spec.default),
            help=with_default(meta["help"] + ranged + FLAG_NOTES.get(spec.name, ""), default),
        )


def _add_checkpoint_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint-dir", type=Path, default=default_checkpoint_dir(), help=CHECKPOINT_DIR_HELP)


def _add_train(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser(
        "train",
        help="train a run and save it, or continue one with --resume",
        description="Train a VAE and save it as a run, one checkpoint per epoch. With --resume RUN, continue a "
        "saved run for --epochs more epochs from its stored optimizer and RNG states.",
    )
    _add_config_flags(train)
    train.add_argument(
        "--name",
        help=with_default(
            "run name; letters, digits, '-', '_' and '.' (required unless --resume; with --resume, the new name for a "
            "continued shipped run or file from elsewhere)",
            None,
        ),
    )
    train.add_argument(
        "--resume",
        metavar="RUN",
        help=with_default(
            "continue this run for --epochs more epochs: a run name in --checkpoint-dir, or a path; its config comes "
            "from the checkpoint",
            None,
        ),
    )
    _add_checkpoint_dir(train)
    train.add_argument("--overwrite", action="store_true", help=with_default("replace a user run of that name", False))
    train.add_argument("--json", action="store_true", help=with_default("print one JSON object per epoch", False))


def _add_sweep(commands: argparse._SubParsersAction) -> None:
    sweep = commands.add_parser(
        "sweep",
        help="train one run per β (and latent dimension)",
        description=f"Train one run per combination of --beta and --latent-dim, named "
        f"{NAME_RULE}, --jobs at a time, each with its share of the cores. Every other "
        "option is a train option.",
    )
    _add_config_flags(sweep, skip=SWEPT)
    beta_low, beta_high = bounds("beta")
    dim_low, dim_high = bounds("latent_dim")
    sweep.add_argument(
        "--beta",
        required=True,
        help=f"comma-separated β values, each {beta_low:g} to {beta_high:g}, e.g. 0.25,0.5,1,2,4 (required)",
    )
    sweep.add_argument(
        "--latent-dim",
        default=str(VAEConfig().latent_dim),
        help=with_default(f"comma-separated latent dimensions, each {dim_low} to {dim_high}", VAEConfig().latent_dim),
    )
    sweep.add_argument("--name-prefix", required=True, help=f"runs are named {NAME_RULE} (required)")
    sweep.add_argument(
        "--jobs",
        type=int,
        default=DEFAULT_SWEEP_JOBS,
        help=with_default("runs at a time, 1 to 64; the cores are divided among them", DEFAULT_SWEEP_JOBS),
    )
    _add_checkpoint_dir(sweep)
    sweep.add_argument("--json", action="store_true", help=with_default("print one JSON object per run", False))


def _add_eval(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser(
        "eval",
        help="evaluate a saved run on its test split",
        description="Evaluate a run on its dataset's test split: −ELBO and its terms, KL per dimension and active "
        "units; with --iw, also the importance-weighted estimate of −log p(x) (Burda et al. 2015).",
    )
    evaluate.add_argument("run", metavar="RUN", help="a run name in --checkpoint-dir, or a path to a .pt file")
    _add_checkpoint_dir(evaluate)
    evaluate.add_argument(
        "--iw",
        type=int,
        metavar="K",
        help=with_default("also estimate −log p(x) with K importance samples per image, 1 to 100000", None),
    )
    evaluate.add_argument(
        "--n", type=int, metavar="N", help=with_default("use only the first N test images for --iw", "all")
    )
    evaluate.add_argument("--seed", type=int, default=0, help=with_default("seeds the --iw samples", 0))
    evaluate.add_argument("--json", action="store_true", help=with_default("print one JSON object", False))


def _add_import(commands: argparse._SubParsersAction) -> None:
    importing = commands.add_parser(
        "import",
        help="add a VAE trained elsewhere as a run",
        description="Add a VAE trained elsewhere as a run: a VAE Lab checkpoint, or a plain state_dict of the "
        "pytorch/examples VAE (vae/main.py) or of the design notes' conv VAE. A foreign model is recognised by "
        "its keys and shapes, mapped onto VAE Lab's model with identical outputs, and evaluated on the test "
        "split of --dataset.",
    )
    importing.add_argument("file", type=Path, help="the .pt file")
    importing.add_argument("--name", required=True, help="run name; letters, digits, '-', '_' and '.' (required)")
    importing.add_argument(
        "--dataset",
        choices=DATASETS,
        help=with_default("where a foreign model is evaluated (required for one; a VAE Lab run knows its own)", None),
    )
    importing.add_argument(
        "--likelihood",
        choices=LIKELIHOODS,
        help=with_default(
            "the loss that trained a foreign model (a state_dict does not say): bce or mse",
            "the model's usual one: bce for pytorch/examples, mse for the design notes' conv VAE",
        ),
    )
    importing.add_argument(
        "--latent-dim",
        type=int,
        metavar="D",
        help=with_default("the latent dimension you expect; refused if the file's differs", None),
    )
    _add_checkpoint_dir(importing)
    importing.add_argument(
        "--overwrite", action="store_true", help=with_default("replace a user run of that name", False)
    )
    importing.add_argument(
        "--json", action="store_true", help=with_default("print the run's name, kind and test metrics as JSON", False)
    )


def _add_list(commands: argparse._SubParsersAction) -> None:
    listing = commands.add_parser(
        "list",
        help="list the runs in a checkpoint directory",
        description="List the runs in --checkpoint-dir, shipped ones first.",
    )
    _add_checkpoint_dir(listing)
    listing.add_argument("--json", action="store_true", help=with_default("print one JSON array", False))


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m vae", description="Train and evaluate VAEs on MNIST-like data.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for add in (_add_train, _add_sweep, _add_eval, _add_import, _add_list):
        add(commands)
    return parser
