"""``python -m vae eval RUN``: a run's test metrics, and on request the importance-weighted bound."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vae.cli.common import EXIT_OK, Failed, UsageError, note, result, run_file
from vae.data.files import GENERATED_DATASET

if TYPE_CHECKING:
    from vae.runfile import Run


def _foreign_hint(path: Path) -> str:
    """For a plain state_dict of a model that ``import`` knows: the command that adds it; else ''."""
    from vae.training.importers import read_state_dict, recognise
    from vae.vocabulary import CheckpointError

    try:
        state = read_state_dict(path.read_bytes())
        foreign = recognise(state, path.name) if state is not None else None
    except (OSError, CheckpointError):
        return ""
    if foreign is None:
        return ""
    return (
        f"{path.name} is a plain state_dict of {foreign.layout.description}, not a VAE Lab run; add it with "
        f"python -m vae import {path} --name NAME --dataset DATASET"
    )


def _disentanglement(path: Path, run: Run, args: argparse.Namespace) -> dict[str, Any]:
    """The run's disentanglement metrics, stored with it when it is the CLI's to write (not shipped, not training)."""
    from vae.analysis.disentanglement import evaluate_run
    from vae.runfile import store_in_final
    from vae.runfile.schema import DISENTANGLEMENT
    from vae.vocabulary import CheckpointError, NameTaken

    measured = evaluate_run(run.model, seed=args.seed, dci=args.dci)
    try:
        store_in_final(path, DISENTANGLEMENT, measured)
    except (CheckpointError, NameTaken) as exc:
        note(f"not stored with the run: {exc}")
    return measured


def cmd_eval(args: argparse.Namespace) -> int:
    from vae.analysis.likelihood import iw_nll, latent_diagnostics
    from vae.data.datasets import load_dataset
    from vae.runfile import load_run
    from vae.runfile.schema import DISENTANGLEMENT
    from vae.training.loop import evaluate
    from vae.vocabulary import CheckpointError

    if args.iw is not None and not 1 <= args.iw <= 100_000:
        raise UsageError(f"--iw must be in [1, 100000]; got {args.iw}")
    if args.n is not None and args.n < 1:
        raise UsageError(f"--n must be at least 1; got {args.n}")
    path = run_file(args.run, args.checkpoint_dir)
    try:
        run = load_run(path)
    except CheckpointError as exc:
        raise Failed(_foreign_hint(path) or str(exc)) from None
    if (args.disentanglement or args.dci) and run.config.dataset != GENERATED_DATASET:
        raise UsageError(
            f"--disentanglement needs a run trained on {GENERATED_DATASET}, whose true factors are known; "
            f"{run.name} was trained on {run.config.dataset}"
        )
    if args.iw is not None and run.config.likelihood != "bce":
        raise UsageError(
            f"--iw needs a run trained with the bce (Bernoulli) likelihood; {run.name} used {run.config.likelihood}"
        )
    data = load_dataset(run.config.dataset)
    if data.notice:
        note(data.notice)
    metrics = evaluate(run.model, data.test_x, beta=run.config.kl_weight, likelihood=run.config.likelihood)
    diagnostics = latent_diagnostics(run.model, data.test_x)
    report = {
        "config": run.config.to_dict(),
        "dataset": data.name,
        "n": len(data.test_x),
        **metrics,
        "kl_per_dim": diagnostics["kl_per_dim"],
        "active_units": diagnostics["active_units"],
    }
    if args.iw is not None:
        subset = data.test_x[: args.n]
        report["iw_k"], report["iw_n"] = args.iw, len(subset)
        report["iw_nll"] = iw_nll(run.model, subset, args.iw, seed=args.seed)
    if args.disentanglement or args.dci:
        report[DISENTANGLEMENT] = _disentanglement(path, run, args)
    if args.json:
        result(json.dumps(report))
        return EXIT_OK
    result(
        f"{run.name} ({run.config.label}) on {data.name} test, n={len(data.test_x)}: "
        f"loss {metrics['loss']:.2f}  recon {metrics['recon']:.2f}  kl {metrics['kl']:.2f}  "
        f"active units {diagnostics['active_units']}/{run.config.latent_dim}"
    )
    if args.iw is not None:
        result(f"importance-weighted -log p(x), K={args.iw}, n={report['iw_n']}: {report['iw_nll']:.2f} nats")
    if DISENTANGLEMENT in report:
        scores = report[DISENTANGLEMENT]
        dci = f"  DCI disentanglement {scores['dci']:.3f}" if "dci" in scores else ""
        result(f"MIG {scores['mig']:.3f}  FactorVAE score {scores['factor_vae']:.3f}{dci}")
    return EXIT_OK
