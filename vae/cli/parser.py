"""The command line's grammar: one sub-parser per command, config flags built from the config's own metadata.

Help strings carry their defaults and ranges, written from the same metadata that validates the values,
so ``--help`` and the errors never disagree.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path
from typing import Any, NoReturn

from vae.cli.common import UsageError, flag
from vae.model.config import DATASETS, LIKELIHOODS, RENAMED_FIELDS, VAEConfig, bounds, flag_text
from vae.settings import default_checkpoint_dir
from vae.training.engine import ADDRESS_SETTING, ENGINE_SETTING, ENGINES, LOCAL
from vae.training.sweep import DEFAULT_SWEEP_JOBS, NAME_RULE, SWEPT

# What a flag means beyond the field's own help, and defaults that depend on the machine.
FLAG_NOTES = {"epochs": "; with --resume, the number of additional epochs"}
NAME_HELP = "run name; letters, digits, '-', '_' and '.'"
OVERWRITE_HELP = "replace a user run of that name (a shipped run never is)"
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


# What each command and option says in --help: the words, kept apart from the grammar below.
SUMMARY = {
    "train": "train a run and save it, or continue one with --resume",
    "sweep": "train one run per value of β (or of the objective's strength), latent dimension and seed",
    "eval": "evaluate a saved run on its test split",
    "import": "add a VAE trained elsewhere as a run",
    "list": "list the runs in a checkpoint directory",
}
DESCRIPTION = {
    "train": "Train a VAE and save it as a run, one checkpoint per epoch. With --resume RUN, continue a saved run "
    "for --epochs more epochs from its stored optimizer and RNG states.",
    "sweep": f"Train one run per combination of --beta, --latent-dim and --seed, named {NAME_RULE}, --jobs at a "
    "time, each with its share of the cores. Every other option is a train option.",
    "eval": "Evaluate a run on its dataset's test split: −ELBO and its terms, KL per dimension and active units; "
    "with --iw, also the importance-weighted estimate of −log p(x) (Burda et al. 2015).",
    "import": "Add a VAE trained elsewhere as a run: a VAE Lab checkpoint, or a plain state_dict of the "
    "pytorch/examples VAE (vae/main.py) or of the design notes' conv VAE. A foreign model is recognised by its keys "
    "and shapes, mapped onto VAE Lab's model with identical outputs, and evaluated on the test split of --dataset.",
    "list": "List the runs in --checkpoint-dir, shipped ones first.",
}
HELP = {
    "train --name": f"{NAME_HELP} (required unless --resume; with --resume, the new name for a continued shipped "
    "run or file from elsewhere)",
    "train --resume": "continue this run for --epochs more epochs: a run name in --checkpoint-dir, or a path; its "
    "config comes from the checkpoint",
    "sweep --beta": "comma-separated values of the --objective's strength (required): β for beta-vae and "
    "beta-tcvae, each {:g} to {:g}, e.g. 0.25,0.5,1,2,4; C for annealed-vae; γ for factor-vae; λ_od for "
    "dip-vae".format(*bounds("beta")),
    "sweep --seed": "comma-separated seeds, each {} to {}: one run per seed, to see the spread".format(*bounds("seed")),
    "sweep --latent-dim": "comma-separated latent dimensions, each {} to {}".format(*bounds("latent_dim")),
    "sweep --jobs": "runs at a time, 1 to 64; the cores are divided among them (with --engine ray, each run asks "
    "Ray for its share, and the cluster's free CPUs decide how many run at once)",
    "eval --disentanglement": "for a run trained on shapes: MIG and the FactorVAE score of its encoder means, as "
    "disentanglement_lib defines them, stored with the run (seconds on 2 cores)",
    "eval --dci": "with --disentanglement, also DCI disentanglement (gradient-boosted trees: minutes on 2 cores)",
    "eval --iw": "also estimate −log p(x) with K importance samples per image, 1 to 100000",
    "import --dataset": "where a foreign model is evaluated (required for one; a VAE Lab run knows its own)",
    "import --likelihood": "the loss that trained a foreign model (a state_dict does not say): bce or mse",
    "import --latent-dim": "the latent dimension you expect; refused if the file's differs",
    "--engine": "where the training runs: local (processes on this machine) or ray (Ray tasks)",
    "--address": "with --engine ray, the Ray cluster to join: HOST:PORT, ray://HOST:PORT or auto",
}
USUAL_LIKELIHOOD = "the model's usual one: bce for pytorch/examples, mse for the design notes' conv VAE"


def _option(parser: argparse.ArgumentParser, flag: str, text: str, **kwargs: Any) -> None:
    """An option whose help ends with its default: ``shown`` if given, else the default itself (a switch: off)."""
    shown = kwargs.pop("shown", False if kwargs.get("action") == "store_true" else kwargs.get("default"))
    parser.add_argument(flag, help=with_default(text, shown), **kwargs)


def _command(commands: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    return commands.add_parser(name, help=SUMMARY[name], description=DESCRIPTION[name])


def _add_checkpoint_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint-dir", type=Path, default=default_checkpoint_dir(), help=CHECKPOINT_DIR_HELP)


def _add_engine(parser: argparse.ArgumentParser) -> None:
    _option(parser, "--engine", HELP["--engine"], choices=ENGINES, shown=f"${ENGINE_SETTING}, else {LOCAL}")
    _option(parser, "--address", HELP["--address"], shown=f"${ADDRESS_SETTING}, else a local Ray instance")


def _add_train(commands: argparse._SubParsersAction) -> None:
    train = _command(commands, "train")
    _add_config_flags(train)
    _option(train, "--name", HELP["train --name"])
    _option(train, "--resume", HELP["train --resume"], metavar="RUN")
    _add_checkpoint_dir(train)
    _option(train, "--overwrite", OVERWRITE_HELP, action="store_true")
    _add_engine(train)
    _option(train, "--json", "print one JSON object per epoch", action="store_true")


def _add_sweep(commands: argparse._SubParsersAction) -> None:
    sweep = _command(commands, "sweep")
    _add_config_flags(sweep, skip=SWEPT)
    sweep.add_argument("--beta", required=True, help=HELP["sweep --beta"])
    _option(sweep, "--latent-dim", HELP["sweep --latent-dim"], default=str(VAEConfig().latent_dim))
    _option(sweep, "--seed", HELP["sweep --seed"], default=str(VAEConfig().seed))
    sweep.add_argument("--name-prefix", required=True, help=f"runs are named {NAME_RULE} (required)")
    _option(sweep, "--jobs", HELP["sweep --jobs"], type=int, default=DEFAULT_SWEEP_JOBS)
    _add_checkpoint_dir(sweep)
    _add_engine(sweep)
    _option(sweep, "--json", "print one JSON object per run", action="store_true")


def _add_eval(commands: argparse._SubParsersAction) -> None:
    evaluate = _command(commands, "eval")
    evaluate.add_argument("run", metavar="RUN", help="a run name in --checkpoint-dir, or a path to a .pt file")
    _add_checkpoint_dir(evaluate)
    _option(evaluate, "--iw", HELP["eval --iw"], type=int, metavar="K")
    _option(evaluate, "--n", "use only the first N test images for --iw", type=int, metavar="N", shown="all")
    _option(evaluate, "--seed", "seeds the --iw samples and the disentanglement metrics' points", type=int, default=0)
    _option(evaluate, "--disentanglement", HELP["eval --disentanglement"], action="store_true")
    _option(evaluate, "--dci", HELP["eval --dci"], action="store_true")
    _option(evaluate, "--json", "print one JSON object", action="store_true")


def _add_import(commands: argparse._SubParsersAction) -> None:
    importing = _command(commands, "import")
    importing.add_argument("file", type=Path, help="the .pt file")
    importing.add_argument("--name", required=True, help=f"{NAME_HELP} (required)")
    _option(importing, "--dataset", HELP["import --dataset"], choices=DATASETS)
    _option(importing, "--likelihood", HELP["import --likelihood"], choices=LIKELIHOODS, shown=USUAL_LIKELIHOOD)
    _option(importing, "--latent-dim", HELP["import --latent-dim"], type=int, metavar="D")
    _add_checkpoint_dir(importing)
    _option(importing, "--overwrite", OVERWRITE_HELP, action="store_true")
    _option(importing, "--json", "print the run's name, kind and test metrics as JSON", action="store_true")


def _add_list(commands: argparse._SubParsersAction) -> None:
    listing = _command(commands, "list")
    _add_checkpoint_dir(listing)
    _option(listing, "--json", "print one JSON array", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m vae", description="Train and evaluate VAEs on MNIST-like data.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for add in (_add_train, _add_sweep, _add_eval, _add_import, _add_list):
        add(commands)
    return parser
