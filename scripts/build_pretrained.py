"""Rebuild every shipped run in checkpoints/ from fixed seeds, then the README table.

    VAE_DATA_DIR=../shared/data python scripts/build_pretrained.py            # the whole grid
    VAE_DATA_DIR=../shared/data python scripts/build_pretrained.py --only conv-d20-b1
    VAE_DATA_DIR=../shared/data python scripts/build_pretrained.py --adopt FILE  # a shipped run trained on
    python scripts/build_pretrained.py --table-only                          # README table from the runs
    VAE_DATA_DIR=../shared/data python scripts/build_pretrained.py --views   # finish them: see ``finish``

Each run carries its own config and full history; the table is generated from the files.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch

from vae.data.datasets import load_dataset
from vae.data.files import GENERATED_DATASET
from vae.model import burda
from vae.model.config import VAEConfig
from vae.runfile import list_runs, load_run
from vae.runfile.names import SHIPPED_MANIFEST
from vae.runfile.schema import DISENTANGLEMENT
from vae.training.loop import EpochMetrics, TrainingEnded
from vae.training.runs import train_run
from vae.vocabulary import RunStatus

CHECKPOINTS = ROOT / "checkpoints"
IW_SEED = 0
# Stages 0-5 of 0-7 from scratch; the whole schedule takes hours of one core, so the rest is trained as a
# continuation in the background, over sessions, and taken as the shipped run with --adopt.
BURDA_EPOCHS = 364
README = ROOT / "README.md"
TABLE_BEGIN = "<!-- pretrained-table:begin -->"
TABLE_END = "<!-- pretrained-table:end -->"


def _conv_sweep() -> dict[str, VAEConfig]:
    return {
        f"conv-d10-b{beta:g}": VAEConfig(dataset="mnist", arch="conv", latent_dim=10, beta=beta, epochs=8)
        for beta in (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    }


# What β is for (vae.analysis.disentanglement): one architecture, d = 10, β spanning 1 to 16, on data with known
# factors.
SHAPES_BETAS = (1.0, 2.0, 4.0, 8.0, 16.0)
# 40 epochs (52k steps of 128): retrained on the leak-free split in an hour of 2 cores, beside the seed study
# (scripts/study.py), which has the longer runs; the first sweep had 200 epochs on the old split.
SHAPES_EPOCHS = 40
SHAPES_STEP_ROWS = 400  # of 52,000 steps: 0.4 MB a run otherwise


def _shapes_sweep() -> dict[str, VAEConfig]:
    # An MLP, not the conv model: in the same minutes it sees ten times the steps of the conv model; and two
    # layers of 128 keep a run under 1 MB.
    return {
        f"shapes-mlp-d10-b{beta:g}": VAEConfig(
            dataset=GENERATED_DATASET,
            arch="mlp",
            hidden=(128, 128),
            latent_dim=10,
            beta=beta,
            epochs=SHAPES_EPOCHS,
            lr_schedule="cosine",
        )
        for beta in SHAPES_BETAS
    }


GRID: dict[str, VAEConfig] = {
    # The classic pytorch/examples setup, unchanged: Adam 1e-3, batch 128, 10 epochs.
    "mlp-d20-b1": VAEConfig(dataset="mnist", arch="mlp", latent_dim=20, epochs=10),
    "mlp-d2-b1": VAEConfig(dataset="mnist", arch="mlp", latent_dim=2, epochs=10),
    "conv-d2-b1": VAEConfig(dataset="mnist", arch="conv", latent_dim=2, epochs=10),
    # A cosine-decayed, higher learning rate gets the conv model well past the MLP in 22 epochs.
    "conv-d20-b1": VAEConfig(dataset="mnist", arch="conv", latent_dim=20, epochs=22, lr=2e-3, lr_schedule="cosine"),
    **_conv_sweep(),
    "fashion-mlp-d20-b1": VAEConfig(dataset="fashion-mnist", arch="mlp", latent_dim=20, epochs=10),
    # Burda et al. 2015's VAE (vae.model.burda); a build trains stages 0-5, --adopt takes a continuation (see README).
    "burda-vae-k1": burda.CONFIG.replace(epochs=BURDA_EPOCHS),
    **_shapes_sweep(),
}


# Runs shipped with Adam's moments and the RNG states, so that they continue exactly: the Burda run is a
# truncated schedule that a researcher may want to carry on (under a new name).
CONTINUABLE_RUNS = {"burda-vae-k1"}
# The most rows of its per-step curve a shipped run keeps: every step of the classic runs (conv-d20-b1's 10,318 the
# most), but not Burda's 96,522 rows, which took 2.7 MB of the 30 MB budget; a chart 1,400 pixels wide shows no more.
SHIPPED_STEP_ROWS = 12_000


def build(name: str, config: VAEConfig) -> None:
    data = load_dataset(config.dataset)
    if data.name != config.dataset:
        raise SystemExit(f"{config.dataset} is not available ({data.notice}); set VAE_DATA_DIR")
    began = time.perf_counter()
    keep_state = name in CONTINUABLE_RUNS
    for event in train_run(config, name, CHECKPOINTS, data=data, allow_shipped=True, save_train_state=keep_state):
        if isinstance(event, EpochMetrics):
            print(f"{name} epoch {event.epoch}: test loss {event.test['loss']:.2f}", flush=True)
        elif isinstance(event, TrainingEnded) and event.reason != RunStatus.COMPLETED:
            raise SystemExit(f"{name}: {event.message}")
    print(f"{name}: done in {time.perf_counter() - began:.0f} s", flush=True)


# What a shipped run is held against: the published figures it reproduces, shown on Diagnostics.
REFERENCES = {"burda-vae-k1": burda.REFERENCE}


def measure_reference(name: str) -> None:
    """Store beside run ``name`` the IW estimate of -log p(x) over its whole test set with the reference's
    k (per image, so that a test can check any part of it), its active units, and the published figures."""
    from vae.analysis.likelihood import iw_nll_per_image, latent_diagnostics
    from vae.runfile import save_run

    path = CHECKPOINTS / f"{name}.pt"
    run, reference = load_run(path), REFERENCES[name]
    data = load_dataset(run.config.dataset)
    if data.name != run.config.dataset:
        raise SystemExit(f"{run.config.dataset} is not available ({data.notice}); set VAE_DATA_DIR")
    began = time.perf_counter()
    per_image = iw_nll_per_image(run.model, data.test_x, reference["iw_k"], seed=IW_SEED)
    seconds = time.perf_counter() - began
    iw = {
        "k": reference["iw_k"],
        "n": len(per_image),
        "seed": IW_SEED,
        "nll": float(per_image.mean()),
        "seconds": seconds,
    }
    active_units = latent_diagnostics(run.model, data.test_x)["active_units"]
    final = {**run.final, "reference": reference, "iw": iw, "active_units": active_units}
    history = {**run.history, "iw_per_image": per_image.float()}  # [N], for a check on any subset
    # Through the one writer, which checks final and history against the run-file schema.
    save_run(
        CHECKPOINTS,
        name,
        run.model,
        run.config,
        history,
        final,
        train_state=run.train_state or None,
        allow_shipped=True,
    )
    print(
        f"{name}: IW k={reference['iw_k']} over {len(per_image)} test images {per_image.mean():.2f} nats "
        f"(paper {reference['nll']}), {active_units} active units "
        f"(paper {reference['active_units']}), in {seconds:.0f} s",
        flush=True,
    )


def measure_disentanglement(name: str) -> None:
    """Store with shapes run ``name`` its MIG and FactorVAE score (as ``python -m vae eval --disentanglement``)."""
    from vae.analysis.disentanglement import evaluate_run
    from vae.runfile import store_in_final

    run = load_run(CHECKPOINTS / f"{name}.pt")
    measured = evaluate_run(run.model)
    store_in_final(run.path, DISENTANGLEMENT, measured, allow_shipped=True)
    seconds = ", ".join(f"{k} {v:.1f} s" for k, v in measured["seconds"].items())
    print(f"{name}: MIG {measured['mig']:.3f}, FactorVAE score {measured['factor_vae']:.3f} ({seconds})", flush=True)


def finish(name: str) -> None:
    """Thin run ``name``'s step curve to ``SHIPPED_STEP_ROWS`` (``SHAPES_STEP_ROWS``) where it is longer (weights,
    epochs and the rest kept), then make the views it ships with (``vae.analysis.precompute``): a cold server draws its
    pages from them."""
    from vae.analysis.precompute import shipped_views
    from vae.runfile import save_run
    from vae.training.record import StepHistory

    path = CHECKPOINTS / f"{name}.pt"
    run = load_run(path)
    steps = StepHistory.from_history(run.history)
    rows = SHAPES_STEP_ROWS if run.config.dataset == GENERATED_DATASET else SHIPPED_STEP_ROWS
    if steps is not None and len(steps.rows) > rows:
        history = {**run.history, "steps": steps.thinned(rows).to_dict()}
        train_state = run.train_state or None
        save_run(
            CHECKPOINTS, name, run.model, run.config, history, run.final, train_state=train_state, allow_shipped=True
        )
        print(f"{name}: step curve thinned from {len(steps.rows):,} rows", flush=True)
    for view in shipped_views(path):
        print(f"{name}: {view.relative_to(ROOT)} ({view.stat().st_size:,} bytes)", flush=True)


def adopt(path: Path) -> str:
    """Take ``path``, a shipped run continued elsewhere (more of Burda et al.'s stages, say), as that shipped run:
    completed when it has its config's every epoch, else stopped at its last finished epoch, with the optimizer
    and RNG states that carry it on exactly."""
    from vae.runfile import save_run

    run = load_run(path)
    if run.name not in CONTINUABLE_RUNS or run.train_state.get("position"):
        raise SystemExit(
            f"{path.name}: adopt takes a continuation of {', '.join(sorted(CONTINUABLE_RUNS))}, saved at "
            "the end of an epoch"
        )
    done = len(run.epochs)
    final = {key: value for key, value in run.final.items() if key not in ("trainer", "position")}
    if done >= run.config.epochs:
        final |= {"status": str(RunStatus.COMPLETED), "message": f"trained {done:,} epochs: the whole schedule"}
    else:
        final |= {
            "status": str(RunStatus.STOPPED),
            "message": f"stopped after epoch {done:,} of {run.config.epochs:,}; continue it for the rest of the schedule",
        }
    save_run(
        CHECKPOINTS,
        run.name,
        run.model,
        run.config,
        run.history,
        final,
        train_state=run.train_state,
        allow_shipped=True,
    )
    print(f"{run.name}: adopted {path} ({done:,} epochs)", flush=True)
    return run.name


def _scores(final: dict) -> str:
    scores = final.get(DISENTANGLEMENT)
    return f"{scores['mig']:.3f} | {scores['factor_vae']:.3f}" if scores else "— | —"


def table() -> str:
    rows = [
        "| run | dataset | arch | d | β | epochs | test recon | test KL | test loss | MIG | FactorVAE |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for info in list_runs(CHECKPOINTS):
        if not info.shipped or info.config is None:
            continue
        c, test = info.config, info.final["test"]
        rows.append(
            f"| `{info.name}` | {c.dataset} | {c.arch} | {c.latent_dim} | {c.beta:g} | {info.final['epochs']} "
            f"| {test['recon']:.2f} | {test['kl']:.2f} | {test['loss']:.2f} | {_scores(info.final)} |"
        )
    return "\n".join(rows)


def write_table() -> None:
    text = README.read_text()
    pattern = re.compile(re.escape(TABLE_BEGIN) + ".*?" + re.escape(TABLE_END), re.DOTALL)
    README.write_text(pattern.sub(lambda _: f"{TABLE_BEGIN}\n{table()}\n{TABLE_END}", text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=sorted(GRID), help="rebuild just these runs")
    parser.add_argument("--table-only", action="store_true", help="only regenerate the README table")
    parser.add_argument("--threads", type=int, help="torch threads (one is fastest at batch 20)")
    parser.add_argument("--reference-only", action="store_true", help="only measure those that reproduce a paper")
    parser.add_argument("--views", action="store_true", help="only finish the shipped runs (``finish``)")
    parser.add_argument("--adopt", type=Path, metavar="FILE", help="take FILE, continued elsewhere, as that run")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.views:  # and nothing else: the README's table is of what finishing keeps
        for name in args.only or list(GRID):
            finish(name)
        return
    if args.adopt:
        measure_reference(adopt(args.adopt))
        finish("burda-vae-k1")
    elif args.reference_only:
        for name in sorted(set(args.only or REFERENCES) & set(REFERENCES)):
            measure_reference(name)
            finish(name)
    elif not args.table_only:
        names = args.only or list(GRID)
        # Manifest order is the app's run-list order: the classic reference first.
        (CHECKPOINTS / SHIPPED_MANIFEST).write_text(json.dumps({"runs": list(GRID)}, indent=2) + "\n")
        for name in names:
            build(name, GRID[name])
        for name in sorted(set(names) & set(REFERENCES)):
            measure_reference(name)
        for name in [n for n in names if GRID[n].dataset == GENERATED_DATASET]:
            measure_disentanglement(name)
        for name in names:
            finish(name)  # which loads every rebuilt run back
    if README.exists():
        write_table()


if __name__ == "__main__":
    main()
