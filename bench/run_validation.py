"""What validating a run file whole costs, against unpickling it alone, for every shipped run.

    python bench/run_validation.py              # median of 5 reads of each file
    python bench/run_validation.py --repeat 20

The run list reads each file once per version of it (``vae.runfile.folder._summary``); this is that read.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vae.runfile import validated
from vae.runfile.names import shipped_names
from vae.runfile.reading import read_payload


def median_ms(read, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        read()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = ROOT / "checkpoints"
    total_load = total_checked = 0.0
    for name in shipped_names(folder):
        path = folder / f"{name}.pt"
        size = path.stat().st_size
        load = median_ms(lambda p=path, s=size: read_payload(p, s, p.name), args.repeat)
        checked = median_ms(lambda p=path, s=size: validated(read_payload(p, s, p.name), p.name), args.repeat)
        total_load, total_checked = total_load + load, total_checked + checked
        print(f"{name:20s} {size / 2**20:5.1f} MB  unpickle {load:6.1f} ms  + validate {checked - load:5.1f} ms")
    print(
        f"all shipped runs: unpickle {total_load:.0f} ms, unpickle and validate {total_checked:.0f} ms "
        f"({total_checked / total_load:.2f}x)"
    )


if __name__ == "__main__":
    main()
