"""What the disentanglement lab costs on this machine: an epoch on ``shapes`` for the shipped sweep's MLP against
the conv model it was chosen over (the baseline, in the same run), and the time of each metric.

    .venv/bin/python bench/disentanglement_speed.py            # epochs, then MIG and FactorVAE on a shipped run
    .venv/bin/python bench/disentanglement_speed.py --dci      # also DCI disentanglement (minutes)
    .venv/bin/python bench/disentanglement_speed.py --study    # an epoch of each objective of the study, 1 thread
    .venv/bin/python bench/disentanglement_speed.py --shapes   # drawing shapes: its stamps, then every image
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import torch
from build_pretrained import GRID

from vae.analysis import disentanglement as dis
from vae.data.datasets import load_dataset
from vae.data.files import GENERATED_DATASET
from vae.runfile import load_run
from vae.training.loop import EpochMetrics, train
from vae.training.runs import prepare


def epoch_seconds(config, data) -> float:
    """Seconds of training (not testing) in one epoch of ``config`` on ``data``: the loop's own reading."""
    config, model, data = prepare(config.replace(epochs=1), data)
    return next(e for e in train(model, config, data) if isinstance(e, EpochMetrics)).train_seconds


def drawing_shapes() -> None:
    """``vae.data.shapes``' one-time stamps (supersampled), then every image of the dataset gathered from them."""
    from vae.data import shapes

    began = time.perf_counter()
    drawn = shapes.stamps()
    stamped = time.perf_counter()
    images = shapes.render(shapes.all_factors())
    done = time.perf_counter()
    print(
        f"  shapes: {drawn.shape[:3].numel():,} stamps in {stamped - began:.2f} s; all {len(images):,} images in {done - stamped:.2f} s"
    )


def study_epochs() -> None:
    """One epoch of each objective of the study (``vae.analysis.study``) on one thread, as ``scripts/study.py`` trains it."""
    from vae.analysis.study import GRID as STUDY_GRID
    from vae.analysis.study import study_runs

    torch.set_num_threads(1)
    data = load_dataset(GENERATED_DATASET)
    runs = study_runs()
    for objective, values in STUDY_GRID.items():
        name = f"{objective}-{values[0]:g}-s0"
        print(f"  study epoch, {name}, 1 thread: {epoch_seconds(runs[name], data):.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dci", action="store_true", help="also time DCI disentanglement")
    parser.add_argument("--study", action="store_true", help="only an epoch of each objective of the study")
    parser.add_argument("--shapes", action="store_true", help="only the time to draw shapes")
    args = parser.parse_args()
    if args.shapes:
        drawing_shapes()
        return
    if args.study:
        study_epochs()
        return
    shipped = {name: c for name, c in GRID.items() if c.dataset == GENERATED_DATASET}
    name, config = next(iter(shipped.items()))
    data = load_dataset(GENERATED_DATASET)
    mlp = epoch_seconds(config, data)
    conv = epoch_seconds(config.replace(arch="conv"), data)
    print(f"epoch on shapes ({len(data.train_x):,} images), {torch.get_num_threads()} threads:")
    print(f"  {config.label}: {mlp:.1f} s; conv d=10 (the baseline): {conv:.1f} s; {mlp / conv:.2f}x")
    model = load_run(ROOT / "checkpoints" / f"{name}.pt").model
    code = dis.encoder_means(model)
    for metric, call in (
        ("MIG (10,000 points)", lambda: dis.mig(code, torch.Generator().manual_seed(0))),
        ("FactorVAE score (15,000 votes of 64)", lambda: dis.factor_vae_score(code, torch.Generator().manual_seed(1))),
        *(
            (("DCI disentanglement", lambda: dis.dci_disentanglement(code, torch.Generator().manual_seed(2))),)
            if args.dci
            else ()
        ),
    ):
        began = time.perf_counter()
        call()
        print(f"  {metric} of {name}: {time.perf_counter() - began:.2f} s")


if __name__ == "__main__":
    main()
