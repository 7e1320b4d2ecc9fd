"""The Draw page with the run in the browser against the server path (#39), in headless Chromium, in one run.

    python bench/browser_draw.py [--seconds 3] [--runs mlp-d2-b1 conv-d20-b1]

First, for each shipped run of ``ACCURACY_RUNS``: the encoder's bytes as shipped (float32) and the largest
difference of the browser's posterior (μ and log σ²) from torch's on 1,000 test images, and ms an encode.

Then, for each of ``--runs``, a fresh server per path (the browser path, and the server path forced with
``VAE_MAX_WEB_PARAMETERS=0``), whose first request is a deep link to the Draw page: one stroke drawn with the mouse
for ``--seconds``, round and round, a move every 1/60 s. During the stroke: frames drawn per second (the board's
redraws of input, reconstruction and map; the server path draws nothing until the stroke ends), the messages the
page sent over Streamlit's websocket, and the server's CPU seconds; after release, the seconds until the page's
analysis is on screen and the script idle, and the CPU seconds they took. Results on stdout, progress on stderr.
"""

from __future__ import annotations

import base64
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np

from bench.browser_decoder import bench_args, cpu_seconds, each_path, headless_chromium, note
from tests.browser_support import IDLE, one_run_server_env, running_app, settle
from ui.browser_model import DECODER_JS
from vae.browser.encoder import export_encoder, torch_posterior
from vae.browser.model import pack
from vae.data.datasets import load_test_split, to_float
from vae.runfile import load_run

ACCURACY_RUNS = ("mlp-d2-b1", "mlp-d20-b1", "conv-d2-b1", "conv-d20-b1")
PAD = "canvas[aria-label='Drawing pad']"
BOARD = ".vae-draw"
# The page's own encoder on base64 packed bytes and base64 float32 images [N·784]: the largest |μ, log σ² − torch's|
# is computed in Python; this answers base64 float32 [N, 2·D] and ms an encode.
ENCODE = """([packed, images, n]) => {
  const decode64 = (text) => { const bin = atob(text), out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i); return out; };
  const model = VaeLabDecoder.load(decode64(packed));
  const pixels = new Float32Array(decode64(images).buffer), d = model.latentDim, out = new Float32Array(n * 2 * d);
  const began = performance.now();
  for (let i = 0; i < n; i++) {
    const { mu, logvar } = VaeLabDecoder.encode(model, pixels.subarray(i * 784, (i + 1) * 784));
    out.set(mu, i * 2 * d); out.set(logvar, i * 2 * d + d);
  }
  const ms = (performance.now() - began) / n, raw = new Uint8Array(out.buffer);
  let text = "";
  for (let i = 0; i < raw.length; i += 8192) text += String.fromCharCode(...raw.subarray(i, i + 8192));
  return [btoa(text), ms];
}"""


def accuracy(browser) -> None:
    page = browser.new_page()
    page.set_content("<html><body></body></html>")
    page.add_script_tag(content=DECODER_JS + "\nwindow.VaeLabDecoder = VaeLabDecoder;")
    images = to_float(load_test_split("mnist-5k").test_x[:1000])
    flat = base64.b64encode(images.reshape(len(images), -1).numpy().astype("<f4").tobytes()).decode()
    print("run          encoder bytes (float32)  max |JS - torch| in μ, log σ² (1,000 test images)  ms/encode")
    for name in ACCURACY_RUNS:
        model = load_run(ROOT / "checkpoints" / f"{name}.pt").model
        web = export_encoder(model)
        packed = base64.b64encode(pack(web.header("k"), web.blobs())).decode()
        answer, ms = page.evaluate(ENCODE, [packed, flat, len(images)])
        ours = np.frombuffer(base64.b64decode(answer), "<f4").reshape(len(images), 2, -1)
        mu, logvar = torch_posterior(model, images)
        error = max(np.abs(ours[:, 0] - mu).max(), np.abs(ours[:, 1] - logvar).max())
        print(f"{name:12s} {web.nbytes:>23,d}  {error:48.1e}  {ms:9.2f}")
    page.close()


def _frames(page) -> int:
    return int(page.locator(BOARD).get_attribute("data-frames") or 0) if page.locator(BOARD).count() else 0


def draw(page, seconds: float) -> int:
    """One stroke round and round the pad's middle for ``seconds``, a move every 1/60 s; the moves made."""
    box = page.locator(PAD).bounding_box()
    cx, cy, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["width"] / 4
    page.mouse.move(cx + r, cy)
    page.mouse.down()
    began, moves = time.perf_counter(), 0
    while (elapsed := time.perf_counter() - began) < seconds:
        angle = 2 * math.pi * elapsed / 1.5
        page.mouse.move(cx + r * math.cos(angle), cy + 1.3 * r * math.sin(angle))
        moves += 1
        time.sleep(max(0.0, began + moves / 60 - time.perf_counter()))
    page.mouse.up()
    return moves


def one_path(browser, url: str, pid: int, seconds: float) -> dict[str, float]:
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    sent: list[object] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(frame)))
    page.goto(url + "/draw")
    page.locator(PAD).wait_for(timeout=120_000)
    settle(page, 120_000)
    frames, messages, cpu = _frames(page), len(sent), cpu_seconds(pid)
    moves = draw(page, seconds)
    result = {"moves": moves, "fps": (_frames(page) - frames) / seconds, "messages": len(sent) - messages}
    result["cpu"] = cpu_seconds(pid) - cpu
    began = time.perf_counter()
    page.get_by_text("Where it lands").wait_for(timeout=60_000)
    page.wait_for_selector(IDLE, timeout=60_000)
    result["after"] = time.perf_counter() - began
    result["cpu_after"] = cpu_seconds(pid) - cpu - result["cpu"]
    page.context.close()
    return result


def main() -> None:
    args = bench_args(__doc__)
    with headless_chromium() as browser:
        note("accuracy and bytes of the shipped encoders…")
        accuracy(browser)
        print(f"\none stroke of {args.seconds:.0f} s on the Draw page (a move every 1/60 s), a fresh server per path;")
        print("'after' is from the release to the page's analysis on screen and the script idle")
        print("run          path     moves  frames/s  messages  server CPU s | after s  CPU s")
        for name, path, env in each_path(args.runs):
            scratch = Path(tempfile.mkdtemp(prefix="vae-draw-bench-"))
            with running_app({**one_run_server_env(scratch, name), **env}) as (url, process):
                r = one_path(browser, url, process.pid, args.seconds)
            print(
                f"{name:12s} {path:8s} {r['moves']:5d}  {r['fps']:8.1f}  {r['messages']:8d}  {r['cpu']:12.2f} |"
                f" {r['after']:7.2f}  {r['cpu_after']:5.2f}"
            )


if __name__ == "__main__":
    main()
