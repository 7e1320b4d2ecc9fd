"""``python -m vae eval RUN``: a run's test metrics, and on request the importance-weighted bound."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vae.cli.common import EXIT_OK, Failed, UsageError, note, result, run_file


def _foreign_hint(path: Path) -> str:
    """For a plain state_dict of a model that ``import`` knows: the command that adds it; else ''."""
    from vae.checkpoints import CheckpointError
    from vae.importers import read_state_dict, recognise

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


def cmd_eval(args: argparse.Namespace) -> int:
    from vae.checkpoints import CheckpointError, load_run
    from vae.data import load_dataset
    from vae.likelihood import iw_nll, latent_diagnostics
    from vae.train import evaluate

    if args.iw is not None and not 1 <= args.iw <= 100_000:
        raise UsageError(f"--iw must be in [1, 100000]; got {args.iw}")
    if args.n is not None and args.n < 1:
        raise UsageError(f"--n must be at least 1; got {args.n}")
    path = run_file(args.run, args.checkpoint_dir)
    try:
        run = load_run(path)
    except CheckpointError as exc:
        raise Failed(_foreign_hint(path) or str(exc)) from None
    if args.iw is not None and run.config.likelihood != "bce":
        raise UsageError(
            f"--iw needs a run trained with the bce (Bernoulli) likelihood; {run.name} used {run.config.likelihood}"
        )
    data = load_dataset(run.config.dataset)
    if data.notice:
        note(data.notice)
    metrics = evaluate(run.model, data.test_x, beta=run.config.beta, likelihood=run.config.likelihood)
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
    return EXIT_OK
