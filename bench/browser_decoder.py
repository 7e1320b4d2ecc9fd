"""The explorer's decoder in the browser against the server path (#39), in headless Chromium, in one run.

    python bench/browser_decoder.py [--seconds 3] [--runs mlp-d2-b1 conv-d20-b1]

First, for each shipped run of ``ACCURACY_RUNS``: the format its weights ship in, the bytes, and the largest
pixel difference from torch of the browser's decoder on 1,000 seeded latents over ±4 σ.

Then, for each of ``--runs``, a fresh server per path (the browser path, and the server path forced with
``VAE_MAX_WEB_PARAMETERS=0``), whose first request is a deep link to the explorer: a mouse drag of the first
slider back and forth for ``--seconds``, one move every 1/60 s. During the drag: frames drawn per second (the
board's redraws; on the server path, the decoded picture's updates), the messages the page sent over Streamlit's
websocket, and the server process's CPU seconds (user + system, from /proc); and after release, the seconds until
the script is idle again and the CPU seconds they took. Results on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np
from playwright.sync_api import sync_playwright

from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, IDLE, running_app, settle
from ui.browser_model import DECODER_JS
from vae.browser.model import MAX_WEB_ENV, decoder_parameters, export_decoder, pack, probe_latents, torch_pixels
from vae.runfile import load_run

ACCURACY_RUNS = ("mlp-d2-b1", "mlp-d20-b1", "conv-d2-b1", "conv-d20-b1")
BOARD = ".vae-board[data-frames]"
SERVER_IMAGE = "[data-testid=stMain] [data-testid=stImage] img"
# The page's own decoder on base64 packed bytes and latents [[z]]: base64 float32 pixels [N·784], and ms a decode.
DECODE = """([packed, zs]) => {
  const bin = atob(packed), bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const model = VaeLabDecoder.load(bytes), out = new Float32Array(zs.length * 784), began = performance.now();
  zs.forEach((z, n) => out.set(VaeLabDecoder.decode(model, z), n * 784));
  const ms = (performance.now() - began) / zs.length, raw = new Uint8Array(out.buffer);
  let text = "";
  for (let i = 0; i < raw.length; i += 8192) text += String.fromCharCode(...raw.subarray(i, i + 8192));
  return [btoa(text), ms];
}"""
# Counts the server path's picture updates: a new <img> or a new src in the main area.
COUNT_IMAGES = """() => {
  window.__images = 0;
  new MutationObserver((changes) => changes.forEach((c) => {
    if (c.type === "attributes" && c.target.tagName === "IMG") window.__images += 1;
    c.addedNodes && c.addedNodes.forEach((n) => { if (n.tagName === "IMG" || (n.querySelector && n.querySelector("img"))) window.__images += 1; });
  })).observe(document.querySelector("[data-testid=stMain]"), { subtree: true, childList: true, attributes: true, attributeFilter: ["src"] });
}"""


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def bench_args(doc: str) -> argparse.Namespace:
    """The browser benches' flags: how long each stroke or drag lasts, and which shipped runs it is done on."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--runs", nargs="+", default=["mlp-d2-b1", "conv-d20-b1"])
    return parser.parse_args()


@contextmanager
def headless_chromium() -> Iterator[object]:
    """Debian's Chromium, headless, for one bench."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def each_path(runs: list[str]) -> Iterator[tuple[str, str, dict[str, str]]]:
    """Each run on each path: the browser's, and the server's (forced with ``VAE_MAX_WEB_PARAMETERS=0``)."""
    for name in runs:
        for path, env in (("browser", {}), ("server", {MAX_WEB_ENV: "0"})):
            note(f"{name}, {path} path…")
            yield name, path, env


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (/proc/PID/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def accuracy(browser) -> None:
    page = browser.new_page()
    page.set_content("<html><body></body></html>")
    page.add_script_tag(content=DECODER_JS + "\nwindow.VaeLabDecoder = VaeLabDecoder;")
    print("run            params  format   bytes shipped  float16 alone  max |JS - torch| (1,000 latents)  ms/decode")
    for name in ACCURACY_RUNS:
        model = load_run(ROOT / "checkpoints" / f"{name}.pt").model
        web = export_decoder(model)
        z = probe_latents(model.latent_dim, 1000, seed=1)
        packed = base64.b64encode(pack(web.header("k"), web.blobs())).decode()
        answer, ms = page.evaluate(DECODE, [packed, z.tolist()])
        ours = np.frombuffer(base64.b64decode(answer), "<f4").reshape(len(z), -1)
        error = float(np.abs(ours - torch_pixels(model, z)).max())
        print(
            f"{name:12s} {decoder_parameters(model):8,d}  {web.dtype:7s} {web.nbytes:>13,d}"
            f"  {web.errors['float16']:13.1e}  {error:32.1e}  {ms:9.2f}"
        )
    page.close()


def _first_slider(page) -> tuple[dict, dict, object]:
    """(the track's box, the thumb's box, the element that takes keys) of the first latent slider, in view."""
    if page.locator(BOARD).count():
        handle = page.locator(".slider input").first
        handle.scroll_into_view_if_needed()
        return handle.bounding_box(), handle.bounding_box(), handle  # a native range: its thumb starts mid-track
    slider = page.get_by_test_id("stSlider").filter(has_text="· KL").first
    slider.scroll_into_view_if_needed()
    handle = slider.get_by_role("slider")  # react-aria's hidden input, inside the thumb's wrapper
    return slider.bounding_box(), handle.locator("xpath=../..").bounding_box(), handle


def drag(page, seconds: float) -> int:
    """Drag the first latent slider back and forth with the mouse for ``seconds``, a move every 1/60 s (fewer where
    the page is slow to take them); the moves made."""
    box, handle, _ = _first_slider(page)
    x0, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    page.mouse.move(x0, y)
    page.mouse.down()
    began, moves = time.perf_counter(), 0
    while (elapsed := time.perf_counter() - began) < seconds:
        phase = (elapsed / 1.5) % 2  # out and back every 1.5 s over a third of the track
        page.mouse.move(x0 + ((phase if phase < 1 else 2 - phase) - 0.5) * box["width"] / 3, y)
        moves += 1
        time.sleep(max(0.0, began + moves / 60 - time.perf_counter()))
    page.mouse.up()
    return moves


def keys(page, seconds: float) -> int:
    """Arrow-key steps on the first latent slider for ``seconds``, as a held key repeats (30 a second)."""
    _, _, handle = _first_slider(page)
    handle.focus()
    began, presses = time.perf_counter(), 0
    while time.perf_counter() - began < seconds:
        handle.press("ArrowRight" if (presses // 15) % 2 == 0 else "ArrowLeft")
        presses += 1
        time.sleep(max(0.0, began + presses / 30 - time.perf_counter()))
    return presses


def _drawn(page) -> int:
    """Pictures drawn so far: the board's frames, or the server path's picture updates."""
    if page.locator(BOARD).count():
        return int(page.locator(BOARD).get_attribute("data-frames"))
    return page.evaluate("() => window.__images")


def _quiet(page, quiet_s: float = 0.5) -> float:
    """Seconds until the script is idle and no picture has changed for ``quiet_s`` (not counted)."""
    began = time.perf_counter()
    while True:
        drawn, at = _drawn(page), time.perf_counter()
        time.sleep(quiet_s)
        if page.locator(IDLE).count() and _drawn(page) == drawn:
            return at - began


def one_path(browser, url: str, pid: int, seconds: float) -> dict[str, dict[str, float]]:
    """For each way of moving a slider (a mouse drag, arrow keys): its figures on the page's first visit."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    sent: list[object] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(frame)))
    began = time.perf_counter()
    page.goto(url + "/explorer")
    page.locator(f"{BOARD}, {SERVER_IMAGE}").first.wait_for(timeout=120_000)
    settle(page, 120_000)
    first = time.perf_counter() - began
    page.evaluate(COUNT_IMAGES)
    results = {}
    for name, action in (("drag", drag), ("keys", keys)):
        drawn, messages, cpu = _drawn(page), len(sent), cpu_seconds(pid)
        moves = action(page, seconds)
        result = {"first": first, "moves": moves, "fps": (_drawn(page) - drawn) / seconds}
        result |= {"messages": len(sent) - messages, "cpu": cpu_seconds(pid) - cpu}
        result["after"] = _quiet(page)
        result["messages_after"] = len(sent) - messages - result["messages"]
        result["cpu_after"] = cpu_seconds(pid) - cpu - result["cpu"]
        results[name] = result
    page.context.close()
    return results


def on_fresh_server(browser, name: str, env: dict[str, str], seconds: float) -> dict[str, dict[str, float]]:
    """``one_path`` on a fresh server whose folder holds only the shipped run ``name``."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "runs"
        folder.mkdir()
        shutil.copy(ROOT / "checkpoints" / f"{name}.pt", folder)
        (folder / "shipped.json").write_text(f'{{"runs": ["{name}"]}}')
        settings = {"VAE_CHECKPOINT_DIR": str(folder), "VAE_DATA_DIR": str(Path(tmp) / "no-data"), "VAE_OFFLINE": "1"}
        with running_app({**settings, **env}) as (url, process):
            return one_path(browser, url, process.pid, seconds)


def main() -> None:
    args = bench_args(__doc__)
    with headless_chromium() as browser:
        note("accuracy and bytes of the shipped models…")
        accuracy(browser)
        print(f"\n{args.seconds:.0f} s moving the explorer's first slider (drag: the mouse, a move every 1/60 s; keys:")
        print("arrow keys, 30 a second), on a fresh server per path; 'after' is from the release to the last picture")
        print(
            "run          path     how   first page s  moves  frames/s  messages  server CPU s | after s  messages  CPU s"
        )
        for name, path, env in each_path(args.runs):
            for how, r in on_fresh_server(browser, name, env, args.seconds).items():
                print(
                    f"{name:12s} {path:8s} {how:5s} {r['first']:12.1f}  {r['moves']:5d}  {r['fps']:8.1f}"
                    f"  {r['messages']:8d}  {r['cpu']:12.2f} | {r['after']:7.2f}  {r['messages_after']:8d}"
                    f"  {r['cpu_after']:5.2f}"
                )


if __name__ == "__main__":
    main()
