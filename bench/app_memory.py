"""The server's memory with full MNIST and a conv run loaded, every page opened, under whatever torch
the interpreter running this script has. Compare a CUDA build of torch with a CPU build:

    VAE_DATA_DIR=../shared/data .venv/bin/python bench/app_memory.py
    VAE_DATA_DIR=../shared/data /path/to/cpu-venv/bin/python bench/app_memory.py   # e.g. torch 2.13.0+cpu

The server runs under the same interpreter as this script.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import torch
from playwright.sync_api import sync_playwright

from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, goto, rss_mb, running_app, settle, switch_all


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="vae-bench-runs-"))
    for path in (ROOT / "checkpoints").iterdir():
        (scratch / path.name).symlink_to(path)
    with running_app({"VAE_CHECKPOINT_DIR": str(scratch)}) as (url, server), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        settle(page)
        page.get_by_test_id("stSelectbox").first.click()
        page.get_by_role("option", name="conv-d20-b1").first.click()
        settle(page)
        switch_all(page)
        switch_all(page)
        goto(page, "Latent explorer")
        print(
            f"torch {torch.__version__}: server RSS with full MNIST and conv-d20-b1 loaded, every page opened: "
            f"{rss_mb(server.pid):.0f} MB (Cloud's smallest tier: about 690 MB)"
        )
        browser.close()


if __name__ == "__main__":
    main()
