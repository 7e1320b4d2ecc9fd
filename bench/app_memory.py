"""The app's memory as Community Cloud counts it (#41): the proportional set size (PSS) of the server and every
process under it (training children included), with RSS beside it, at four moments of one visitor's use:

1. the fresh server, before any visitor;
2. after that visitor opened every page (the largest figure after any page, and the page that set it);
3. the peak while a training on ``shapes`` runs and the visitor has the ``shapes`` pages open (sampled every
   0.25 s for ``--train-seconds``, then Stop);
4. ``--after`` seconds (default 120) after the training ended.

    VAE_DATA_DIR=../shared/data .venv/bin/python bench/app_memory.py
    VAE_DATA_DIR=../shared/data .venv/bin/python bench/app_memory.py --train-seconds 30 --after 60   # quicker

Targets, on the torch build installed here: at most 690 MB after every page, at most 2.0 GB at the peak. The
server runs under the interpreter running this script, on a scratch copy of the shipped runs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser_support import chromium_page, goto, running_app, settle

PAGES = [  # (sidebar title, heading): every page of the router, Home last so the tour ends where it began
    ("Train", "Train a VAE"),
    ("Runs & loss curves", None),
    ("Latent space", None),
    ("Latent explorer", None),
    ("Interpolation", None),
    ("Generate", None),
    ("Diagnostics", None),
    ("Disentanglement", None),
    ("Draw a digit", None),
    ("Home", "VAE Lab"),
]
SHAPES_RUN = "shapes-mlp-d10-b4"
TRAINING = "/train?dataset=shapes&arch=conv&latent_dim=10&epochs=2"
TARGET_AFTER_PAGES_MB, TARGET_PEAK_MB = 690, 2000


def _tree(pid: int) -> list[int]:
    """``pid`` and every process under it, read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo.extend(children.get(found[-1], []))
    return found


def _rollup_kb(pid: int) -> tuple[int, int]:
    """(PSS, RSS) in kB of one process; (0, 0) once it is gone."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return 0, 0
    fields = {line.split(":")[0]: int(line.split()[1]) for line in lines if line.startswith(("Pss:", "Rss:"))}
    return fields.get("Pss", 0), fields.get("Rss", 0)


def memory_mb(pid: int) -> tuple[float, float]:
    """(PSS, RSS) in MB of ``pid`` and every process under it."""
    each = [_rollup_kb(p) for p in _tree(pid)]
    return sum(p for p, _ in each) / 1024, sum(r for _, r in each) / 1024


def _say(what: str, figures: tuple[float, float], target: float | None = None) -> None:
    verdict = "" if target is None else f"  (target ≤ {target:.0f} MB: {'met' if figures[0] <= target else 'MISSED'})"
    print(f"{what:<58} PSS {figures[0]:7.0f} MB   RSS {figures[1]:7.0f} MB{verdict}", flush=True)


def _open_pages(page, url: str, pid: int) -> tuple[tuple[float, float], str]:
    """Open every page once, as one visitor; the largest (PSS, RSS) after any of them, and that page."""
    page.goto(url)
    settle(page)
    worst, where = (0.0, 0.0), ""
    for title, heading in PAGES:
        goto(page, title, heading)
        now = memory_mb(pid)
        print(f"  after {title:<22} PSS {now[0]:7.0f} MB   RSS {now[1]:7.0f} MB", flush=True)
        if now[0] > worst[0]:
            worst, where = now, title
    return worst, where


def _train_and_watch(page, url: str, pid: int, seconds: float) -> tuple[float, float]:
    """Start a ``shapes`` training, open the ``shapes`` pages beside it, sample for ``seconds``, Stop; the peak."""
    page.goto(url + TRAINING)
    settle(page)
    page.get_by_label("Run name", exact=True).fill("memory-bench")
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("Your training: memory-bench").wait_for(timeout=60_000)
    training_tab = page
    shapes = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})  # another visitor
    shapes.goto(f"{url}/disentanglement")
    settle(shapes)
    shapes.get_by_test_id("stSelectbox").first.click()  # the run picker: a shapes run for every page after
    shapes.get_by_role("option", name=SHAPES_RUN).first.click()
    settle(shapes)
    peak, began = (0.0, 0.0), time.monotonic()
    pages = iter(["Latent space", "Latent explorer", "Disentanglement"])
    while time.monotonic() - began < seconds:
        now = memory_mb(pid)
        peak = max(peak, now)
        nxt = next(pages, None)
        if nxt is not None:
            goto(shapes, nxt)
        time.sleep(0.25)
    training_tab.bring_to_front()
    training_tab.get_by_role("button", name="Stop").click()
    shapes.close()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-seconds", type=float, default=60.0, help="how long to sample the training")
    parser.add_argument("--after", type=float, default=120.0, help="seconds after Stop for the last figure")
    args = parser.parse_args()
    import torch  # only to name the build

    print(f"torch {torch.__version__}; the server and every process under it")
    with tempfile.TemporaryDirectory(prefix="vae-bench-runs-") as scratch:
        for path in (ROOT / "checkpoints").iterdir():
            if path.suffix in (".pt", ".json"):
                (Path(scratch) / path.name).symlink_to(path)
        with running_app({"VAE_CHECKPOINT_DIR": scratch}) as (url, server), chromium_page() as page:
            time.sleep(2)
            _say("1. fresh server, before any visitor", memory_mb(server.pid))
            worst, where = _open_pages(page, url, server.pid)
            _say(f"2. one visitor, every page opened (largest: {where})", worst, TARGET_AFTER_PAGES_MB)
            peak = _train_and_watch(page, url, server.pid, args.train_seconds)
            _say("3. peak: a shapes training, the shapes pages open", peak, TARGET_PEAK_MB)
            time.sleep(args.after)
            _say(f"4. {args.after:.0f} s after the training ended", memory_mb(server.pid), TARGET_AFTER_PAGES_MB)


if __name__ == "__main__":
    main()
