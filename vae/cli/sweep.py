"""``python -m vae sweep``: one run per (latent dimension, strength, seed), each its own training process or Ray
task."""

from __future__ import annotations

import argparse
import json
import time

from vae.cli.common import EXIT_FAILED, EXIT_OK, UsageError, ctrl_c_stops, note, result
from vae.cli.engines import begin_connecting, engine_for, on_engine
from vae.cli.train import config_from_args
from vae.model.config import STRENGTH
from vae.training.sweep import SWEPT, SweepResult


def _line(outcome: SweepResult, as_json: bool) -> str:
    if as_json:
        return json.dumps(
            {
                "name": outcome.name,
                "objective": outcome.config.objective,
                "beta": outcome.config.beta,
                "strength": getattr(outcome.config, STRENGTH[outcome.config.objective]),
                "latent_dim": outcome.config.latent_dim,
                "seed": outcome.config.seed,
                "seconds": round(outcome.seconds, 2),
                "test": outcome.test,
                "error": outcome.error,
            }
        )
    if outcome.error:
        return f"{outcome.name}: failed: {outcome.error}"
    t = outcome.test
    return (
        f"{outcome.name}: test recon {t['recon']:.2f}  kl {t['kl']:.2f}  loss {t['loss']:.2f} ({outcome.seconds:.1f} s)"
    )


def cmd_sweep(args: argparse.Namespace) -> int:
    from vae.settings import threads_per_job
    from vae.training.sweep import parse_values, plan, run_sweep

    if not 1 <= args.jobs <= 64:
        raise UsageError(f"--jobs must be in [1, 64]; got {args.jobs}")
    engine = engine_for(args)
    base = config_from_args(args, skip=SWEPT)
    grid = plan(
        base,
        parse_values(args.beta, STRENGTH[base.objective], float),
        parse_values(args.latent_dim, "latent_dim", int),
        args.name_prefix,
        parse_values(args.seed, "seed", int),
    )
    from vae.runfile.names import run_path, sanitize_run_name, shipped_names

    try:
        names = [sanitize_run_name(name) for name, _ in grid]
    except ValueError as exc:
        raise UsageError(f"--name-prefix: {exc}") from None
    taken = [n for n in names if run_path(args.checkpoint_dir, n).exists() or n in shipped_names(args.checkpoint_dir)]
    if taken:
        raise UsageError(
            f"runs already exist in {args.checkpoint_dir}: {', '.join(taken)}; choose another --name-prefix"
        )
    grid = [(name, config) for name, (_, config) in zip(names, grid, strict=True)]
    if engine.is_ray:  # this process trains nothing locally: only Ray's driver needs torch, loaded while Ray starts
        begin_connecting(engine)
        import vae.training.runs  # noqa: F401

    began, failed = time.perf_counter(), 0
    with ctrl_c_stops() as stop, on_engine(engine):  # each run stops after its step and is saved
        if engine.is_ray:
            note(f"sweep: {len(grid)} runs on {engine.describe()}, {threads_per_job(args.jobs)} CPU(s) each")
        else:
            note(f"sweep: {len(grid)} runs, {args.jobs} at a time")
        for outcome in run_sweep(grid, args.checkpoint_dir, args.jobs, stop=stop, engine=engine):
            failed += bool(outcome.error)
            result(_line(outcome, args.json))
    note(f"sweep: {len(grid) - failed} of {len(grid)} runs saved in {time.perf_counter() - began:.1f} s")
    return EXIT_FAILED if failed else EXIT_OK
