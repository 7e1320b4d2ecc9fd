"""Train and score the disentanglement study on ``shapes`` (``vae.analysis.study``: its grid and score table), resumable.

    .venv/bin/python scripts/study.py [--jobs 2] [--only NAME ...] [--dci]

Each run trains in a process of its own (one thread each: two small MLPs side by side use 2 cores better than one
with two threads), saves every epoch into ``checkpoints/study/`` with its optimiser and RNG states, and so carries
on exactly where a killed study left it. A finished run is scored (MIG and the FactorVAE score, as
``python -m vae eval --disentanglement``; DCI with ``--dci``), its row lands in ``checkpoints/study/scores.json``,
and its file is shrunk to weights and history (no optimiser state, a step curve of ``STEP_ROWS`` rows). Run it
at ``nice -n 19`` in the background and commit what lands: 24 runs, about 2.5 hours of 2 quiet cores here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vae.analysis.study import EPOCHS, SCORES_FILE, STUDY_FOLDER, study_runs
from vae.model.config import STRENGTH, VAEConfig  # after the path: the script runs from any folder

STUDY_DIR = REPO / "checkpoints" / STUDY_FOLDER
STEP_ROWS = 400


def read_scores(directory: Path) -> dict[str, dict]:
    path = directory / SCORES_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def write_scores(directory: Path, scores: dict[str, dict]) -> None:
    """Write the score table atomically, runs in the study's order."""
    order = list(study_runs())
    ordered = {k: scores[k] for k in sorted(scores, key=lambda k: order.index(k) if k in order else len(order))}
    tmp = directory / f"{SCORES_FILE}.tmp"
    tmp.write_text(json.dumps(ordered, indent=1) + "\n")
    os.replace(tmp, directory / SCORES_FILE)


def train_one(directory: Path, name: str, config: VAEConfig) -> str:
    """Train (or carry on) run ``name`` to its last epoch in ``directory``; the seconds it trained, as text."""
    import torch

    torch.set_num_threads(1)
    from vae.runfile import load_run
    from vae.training.loop import TrainingEnded
    from vae.training.runs import continue_config, train_run

    path = directory / f"{name}.pt"
    resume = None
    if path.exists():
        resume = load_run(path)
        if len(resume.epochs) >= config.epochs:
            return "already trained"
        config = continue_config(resume, config.epochs - len(resume.epochs))
    began = time.perf_counter()
    for event in train_run(config, name, directory, resume=resume):
        if isinstance(event, TrainingEnded) and event.reason != "completed":
            raise RuntimeError(f"{name}: {event.message}")
    return f"trained in {time.perf_counter() - began:.0f} s"


def score_one(directory: Path, name: str, dci: bool) -> dict:
    """Score finished run ``name`` and shrink its file; its row of the score table."""
    import torch

    torch.set_num_threads(1)
    from vae.analysis.disentanglement import evaluate_run
    from vae.analysis.likelihood import latent_diagnostics
    from vae.data.datasets import load_dataset
    from vae.runfile import load_run, save_run
    from vae.training.record import StepHistory

    run = load_run(directory / f"{name}.pt")
    measured = evaluate_run(run.model, dci=dci)
    active = latent_diagnostics(run.model, load_dataset("shapes").test_x)["active_units"]
    steps = StepHistory.from_history(run.history)
    history = {**run.history, "steps": steps.thinned(STEP_ROWS).to_dict()}
    save_run(directory, name, run.model, run.config, history, {**run.final, "disentanglement": measured})
    config = run.config
    field = STRENGTH[config.objective]
    return {
        "objective": config.objective,
        "hyperparameter": field,
        "value": getattr(config, field),
        "seed": config.seed,
        "epochs": len(run.epochs),
        "mig": measured["mig"],
        "factor_vae": measured["factor_vae"],
        **({"dci": measured["dci"]} if "dci" in measured else {}),
        "recon": run.final["test"]["recon"],
        "kl": run.final["test"]["kl"],
        "active_latents": int(active),
        "train_seconds": sum(e["train_seconds"] for e in run.epochs),
    }


def run_one(directory: Path, name: str, config: VAEConfig, dci: bool) -> tuple[str, dict]:
    trained = train_one(directory, name, config)
    row = score_one(directory, name, dci)
    print(f"{name}: {trained}; MIG {row['mig']:.3f}, FactorVAE {row['factor_vae']:.3f}", flush=True)
    return name, row


def step_aside() -> None:
    """Wait for the cores as the app's trainings do (``vae.training.local_engine.yield_cores``): niced, in a scheduling
    group of its own. ``nice -n 19`` alone orders this only within the shell's autogroup, against which the app's
    own trainings (weight 15) would wait behind the study; its workers inherit both."""
    from vae.training.local_engine import yield_cores

    try:
        os.setsid()
    except OSError:
        pass  # already a process-group leader (an interactive shell's job): the niceness alone
    yield_cores()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="runs trained at once (default 2)")
    parser.add_argument("--only", nargs="*", default=None, help="these runs only")
    parser.add_argument("--dci", action="store_true", help="score DCI too (minutes a run)")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"epochs a run (default {EPOCHS}; less to try)")
    parser.add_argument("--dir", type=Path, default=STUDY_DIR, help="where the runs and scores.json go")
    args = parser.parse_args(argv)
    step_aside()
    args.dir.mkdir(parents=True, exist_ok=True)
    scores = read_scores(args.dir)
    todo = {
        name: config.replace(epochs=args.epochs)
        for name, config in study_runs().items()
        if name not in scores and (args.only is None or name in args.only)
    }
    print(f"{len(scores)} runs scored, {len(todo)} to go", file=sys.stderr, flush=True)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_one, args.dir, name, config, args.dci) for name, config in todo.items()]
        for future in as_completed(futures):
            name, row = future.result()
            write_scores(args.dir, {**read_scores(args.dir), name: row})


if __name__ == "__main__":
    main()
