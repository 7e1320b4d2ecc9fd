"""Server memory across background trainings: does it come back down, and does it stay bounded?

    VAE_DATA_DIR=../shared/data python bench/training_memory.py

Runs the dashboard's own ``TrainingJob`` the way the app does (two sessions training conv models
on full MNIST at once, stopped after a few seconds), for several rounds in one process, and prints
the process RSS before, during and after each round. Runs are written to a temporary folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vae.data.datasets import load_dataset
from vae.model.config import VAEConfig
from vae.training.jobs import TrainingJob


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="trainings at once per round")
    parser.add_argument("--seconds", type=float, default=6.0, help="how long each round trains")
    args = parser.parse_args()
    data = load_dataset("mnist")
    if data.name != "mnist":
        raise SystemExit(f"full MNIST is needed: {data.notice}")
    print(f"full MNIST loaded: RSS {rss_mb():.0f} MB")
    config = VAEConfig(dataset="mnist", arch="conv", latent_dim=20, epochs=50)
    with tempfile.TemporaryDirectory(prefix="vae-bench-memory-") as folder:
        for round_ in range(1, args.rounds + 1):
            jobs = [TrainingJob(config, f"r{round_}-{i}", Path(folder)).start() for i in range(args.jobs)]
            time.sleep(args.seconds)
            during = rss_mb()
            for job in jobs:
                job.request_stop()
            for job in jobs:
                job.join(timeout=60)
            print(
                f"round {round_}: {args.jobs} conv trainings, RSS {during:.0f} MB while training, "
                f"{rss_mb():.0f} MB after they stopped"
            )


if __name__ == "__main__":
    main()
