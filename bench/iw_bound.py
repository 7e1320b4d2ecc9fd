"""The importance-weighted bound against the -ELBO for shipped runs, with the time each K takes.

    VAE_DATA_DIR=../shared/data python bench/iw_bound.py                          # d20 runs, K = 1..1000
    VAE_DATA_DIR=../shared/data python bench/iw_bound.py --runs mlp-d20-b1 --n 10000

-ELBO >= IW(K) >= -log p(x): the estimate should fall as K grows and flatten out.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vae.analysis.likelihood import iw_nll
from vae.data.datasets import load_dataset
from vae.runfile import load_run
from vae.training.loop import evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", default=["mlp-d20-b1", "conv-d20-b1"])
    parser.add_argument("--k", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--n", type=int, default=1000, help="test images (the first N)")
    args = parser.parse_args()
    for name in args.runs:
        run = load_run(ROOT / "checkpoints" / f"{name}.pt")
        data = load_dataset(run.config.dataset)
        x = data.test_x[: args.n]
        elbo = evaluate(run.model, x)["loss"]
        print(f"{name} on the first {len(x)} {data.name} test images: -ELBO {elbo:.2f} nats")
        for k in args.k:
            began = time.perf_counter()
            value = iw_nll(run.model, x, k)
            print(
                f"  K={k:5d}: IW -log p(x) {value:7.2f} nats  (ELBO gap {elbo - value:5.2f})  "
                f"{time.perf_counter() - began:7.1f} s"
            )


if __name__ == "__main__":
    main()
