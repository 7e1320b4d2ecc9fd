"""A 5-run MLP β sweep of 1 epoch on full MNIST: one after the other against two at a time.

    VAE_DATA_DIR=../shared/data python bench/sweep_speed.py

First each of the 5 runs alone (`python -m vae train`, timed from launch to exit, as a person would
run them by hand), then the same grid through `python -m vae sweep --jobs 1` and `--jobs 2`. Prints
each total against the sum of the single-run times (target: at most 1.1x with the best --jobs).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BETAS = "0.25,0.5,1,2,4"


def timed(command: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, env={**os.environ, "VAE_OFFLINE": "1"})
    return time.perf_counter() - began


def main() -> None:
    common = ["--dataset", "mnist", "--arch", "mlp", "--latent-dim", "20", "--epochs", "1"]
    with tempfile.TemporaryDirectory(prefix="vae-sweep-bench-") as scratch:
        singles = []
        for beta in BETAS.split(","):
            singles.append(
                timed(
                    [
                        sys.executable,
                        "-m",
                        "vae",
                        "train",
                        *common,
                        "--beta",
                        beta,
                        "--name",
                        f"single-b{beta}",
                        "--checkpoint-dir",
                        scratch,
                    ]
                )
            )
        total = sum(singles)
        print(f"5 single runs: {[round(s, 1) for s in singles]} s, sum {total:.1f} s")
        for jobs in (1, 2):
            seconds = timed(
                [
                    sys.executable,
                    "-m",
                    "vae",
                    "sweep",
                    *common,
                    "--beta",
                    BETAS,
                    "--name-prefix",
                    f"j{jobs}",
                    "--jobs",
                    str(jobs),
                    "--checkpoint-dir",
                    scratch,
                ]
            )
            print(f"sweep --jobs {jobs}: {seconds:.1f} s = {seconds / total:.2f}x the sum (target <= 1.1x)")


if __name__ == "__main__":
    main()
