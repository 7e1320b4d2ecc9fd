"""A 4-run MLP β sweep of 1 epoch on full MNIST: ``--engine ray`` against ``--engine local``, in one invocation.

    VAE_DATA_DIR=../shared/data python bench/ray_speed.py [--repeats 3]

Each sweep is the whole ``python -m vae sweep`` command, timed from launch to exit as a person would wait for
it; the Ray one starts its own local Ray instance, so Ray's start-up is included (target: at most 1.15x the
local time). The two alternate, local first, ``--repeats`` times; medians are compared. Then Ray's own start-up:
the time of ``ray.init()`` on this machine and the memory (RSS) of the processes it started.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BETAS = "0.5,1,2,4"
COMMON = ["--dataset", "mnist", "--arch", "mlp", "--latent-dim", "20", "--epochs", "1", "--jobs", "2"]


def sweep(engine: str, folder: str, prefix: str) -> float:
    command = [sys.executable, "-m", "vae", "sweep", *COMMON, "--beta", BETAS, "--name-prefix", prefix]
    began = time.perf_counter()
    subprocess.run(
        [*command, "--engine", engine, "--checkpoint-dir", folder],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env={**os.environ, "VAE_OFFLINE": "1", "VAE_ENGINE": ""},
    )
    return time.perf_counter() - began


RAY_START = """
import subprocess, time, ray
began = time.perf_counter()
ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
seconds = time.perf_counter() - began
time.sleep(5)  # let its processes settle
rows = [line.split() for line in subprocess.run(["ps", "-eo", "pid,ppid,rss"], capture_output=True,
        text=True).stdout.splitlines()[1:]]
children, rss, mine = {}, {}, [__import__("os").getpid()]
for pid, ppid, kb in rows:
    children.setdefault(int(ppid), []).append(int(pid))
    rss[int(pid)] = int(kb)
total = 0
while mine:
    for child in children.get(mine.pop(), []):
        total += rss[child]
        mine.append(child)
print(f"ray.init() of a local instance: {seconds:.1f} s; the processes it started: {total / 1024:.0f} MiB RSS")
ray.shutdown()
"""


def ray_start_up() -> str:
    """ray.init() of a local instance, timed, and the RSS of what it started, in a process of its own."""
    out = subprocess.run([sys.executable, "-c", RAY_START], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats
    times: dict[str, list[float]] = {"local": [], "ray": []}
    with tempfile.TemporaryDirectory(prefix="vae-ray-bench-") as scratch:
        for i in range(repeats):
            for engine, seconds in times.items():
                seconds.append(sweep(engine, scratch, f"{engine}{i}"))
                print(f"round {i + 1}: --engine {engine}: {seconds[-1]:.1f} s", flush=True)
    local, ray = (statistics.median(times[e]) for e in ("local", "ray"))
    print(
        f"4-run sweep, median of {repeats}: local {local:.1f} s, ray {ray:.1f} s = {ray / local:.2f}x (target <= 1.15x)"
    )
    print(ray_start_up())


if __name__ == "__main__":
    main()
