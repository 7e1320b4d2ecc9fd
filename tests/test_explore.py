"""The latent explorer, the latent space forming epoch by epoch, the home page's pictures and the GIF."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import open_page
from vae.analysis.latents import decode_grid, pca_fit, pca_project, start_point
from vae.model.config import VAEConfig
from vae.model.networks import build_model
from vae.runfile import load_run
from vae.runfile.writing import write_atomic
from vae.training.record import FRAME_POINTS, FRAME_RECONS, align_frames, frame_subset
from vae.training.runs import train_run

# --- vae: UI-free pieces -----------------------------------------------------------------------------


def test_procrustes_undoes_a_rotation_and_a_flip():
    rng = torch.Generator().manual_seed(0)
    last = torch.randn(300, 2, generator=rng) * torch.tensor([3.0, 1.0])
    angle = 1.1
    rotation = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    flip = torch.tensor([[1.0, 0.0], [0.0, -1.0]])
    frames = torch.stack([last @ rotation + 5.0, last @ flip, last])
    aligned = align_frames(frames)
    centred = last - last.mean(0)
    for frame in aligned:
        assert torch.allclose(frame, centred, atol=1e-4)


def test_the_pca_keeps_the_two_widest_directions():
    rng = torch.Generator().manual_seed(1)
    mu = (torch.randn(500, 5, generator=rng) * torch.tensor([0.1, 4.0, 0.1, 2.0, 0.1])).numpy()
    points = torch.from_numpy(pca_project(mu, *pca_fit(mu)))
    assert points.shape == (500, 2)
    assert torch.allclose(points.mean(0), torch.zeros(2), atol=1e-4)
    assert 3.5 < points[:, 0].std() < 4.5 and 1.6 < points[:, 1].std() < 2.4


def test_frame_subset_is_fixed_and_its_panel_is_inside_it():
    index, panel = frame_subset(10_000)
    again, _ = frame_subset(10_000)
    assert torch.equal(index, again) and len(index) == FRAME_POINTS and len(panel) == FRAME_RECONS == 3
    assert torch.equal(index, index.sort().values) and set(panel.tolist()) <= set(index.tolist())
    small, _ = frame_subset(200)
    assert len(small) == 200


def test_decode_grid_reads_like_a_plot():
    model = build_model(VAEConfig(latent_dim=2))
    grid = decode_grid(model, (-2.0, 2.0), (-1.0, 3.0), 3)
    assert grid.shape == (3, 3, 28, 28)
    from vae.analysis.latents import decode_images

    top_left = decode_images(model, torch.tensor([[-2.0, 3.0]]))[0]
    bottom_right = decode_images(model, torch.tensor([[2.0, -1.0]]))[0]
    assert np.allclose(grid[0, 0], top_left, atol=1e-6) and np.allclose(grid[2, 2], bottom_right, atol=1e-6)
    with pytest.raises(ValueError, match="2-D"):
        decode_grid(build_model(VAEConfig(latent_dim=3)), (0, 1), (0, 1), 2)


def test_start_points():
    means = torch.arange(20.0).reshape(10, 2)
    assert torch.equal(start_point("origin", 2), torch.zeros(2))
    assert torch.equal(start_point("mean", 2, means=means, digit=3), torch.tensor([6.0, 7.0]))
    assert torch.equal(start_point("mu", 2, mu=torch.tensor([0.5, -1.0])), torch.tensor([0.5, -1.0]))
    assert torch.equal(start_point("prior", 2, seed=4), start_point("prior", 2, seed=4))
    assert not torch.equal(start_point("prior", 2, seed=4), start_point("prior", 2, seed=5))
    with pytest.raises(ValueError):
        start_point("mean", 2, means=means, digit=10)


@pytest.mark.slow
def test_training_records_one_frame_per_epoch_within_the_size_budget(tmp_path, mnist_5k):
    for _ in train_run(
        VAEConfig(dataset="mnist-5k", latent_dim=8, epochs=3), "frames", tmp_path, data=mnist_5k, save_train_state=False
    ):
        pass
    run = load_run(tmp_path / "frames.pt")
    frames = run.history["frames"]
    assert frames["epochs"].tolist() == [1, 2, 3]
    assert frames["positions"].shape == (3, FRAME_POINTS, 2) and frames["positions"].dtype == torch.float16
    assert frames["recons"].shape == (3, 3, 28, 28) and frames["recons"].dtype == torch.uint8
    assert torch.equal(frames["labels"].long(), mnist_5k.test_y[frames["index"]])
    # The positions move as the model learns, and the last frame is this model's PCA of those digits.
    assert not torch.equal(frames["positions"][0], frames["positions"][2])
    from vae.training.record import latent_frame

    expected = latent_frame(run.model, mnist_5k.test_x[frames["index"]])
    assert torch.allclose(frames["positions"][2].float(), expected, atol=2e-2)
    per_epoch = sum(t.numel() * t.element_size() for k, t in frames.items() if k in ("positions", "recons")) / 3
    assert per_epoch * 20 <= 150_000, f"{per_epoch:.0f} bytes an epoch is over budget for a 20-epoch run"


# --- The pages ---------------------------------------------------------------------------------------


_open = open_page


def _decoded(at) -> bytes:
    """The explorer's board image (start and decoded digit side by side), as the browser gets it."""
    images = at.get("image")
    assert images, "no image drawn"
    return images[-1].proto.imgs[0].url


@pytest.mark.parametrize("run", ["tiny-d2", "tiny-d4"])
def test_explorer_sliders_follow_the_kl_order_and_move_the_decoded_digit(app, run, monkeypatch):
    monkeypatch.setenv("VAE_MAX_WEB_PARAMETERS", "0")  # the server path (the browser's: test_browser_decoder.py)
    at = _open(app, "pages/explorer.py", run)
    assert not at.exception and not at.error
    assert at.title[0].value == "Latent explorer"
    d = int(run[-1])
    sliders = [s for s in at.slider if s.label.startswith("z")]
    assert len(sliders) == d
    kls = [float(s.label.split("KL ")[1]) for s in sliders]
    assert kls == sorted(kls, reverse=True), "the most informative dimension must come first"
    assert all(s.value == 0.0 for s in sliders), "the origin is the default start"
    before = _decoded(at)
    sliders[0].set_value(2.0).run()
    assert not at.exception and _decoded(at) != before

    at.radio[0].set_value("mean").run()
    values = [s.value for s in at.slider if s.label.startswith("z")]
    assert any(v != 0.0 for v in values), "a digit mean moves the board"
    at.radio[0].set_value("prior").run()
    seeded = [s.value for s in at.slider if s.label.startswith("z")]
    at.number_input[0].set_value(7).run()
    assert [s.value for s in at.slider if s.label.startswith("z")] != seeded
    at.radio[0].set_value("mu").run()
    at.number_input[0].set_value(3).run()
    assert not at.exception and any("test image 3" in c.value for c in at.caption)
    at.button[0].click().run()  # back to the start point
    assert not at.exception


def test_explorer_folds_inactive_dimensions_and_draws_the_plane_for_d2(app, monkeypatch):
    monkeypatch.setenv("VAE_MAX_WEB_PARAMETERS", "0")  # the server path (the browser's: test_browser_decoder.py)
    at = _open(app, "pages/explorer.py", "tiny-d2")
    assert any("click anywhere" in h.value for h in at.subheader)
    assert at.get("plotly_chart"), "no plane"
    at.toggle[0].set_value(True).run()  # the decoded manifold underneath
    assert not at.exception
    at = _open(app, "pages/explorer.py", "tiny-d4")
    assert not any("click anywhere" in h.value for h in at.subheader)


def test_latent_page_plays_one_frame_per_epoch(app, run_dir, small_data):
    import json

    for _ in train_run(VAEConfig(dataset="mnist-5k", latent_dim=3, epochs=3), "three", run_dir, data=small_data):
        pass
    at = _open(app, "pages/latent.py", "three")
    assert not at.exception and not at.error
    assert not any("latent_animation" in c.proto.id for c in at.get("plotly_chart")), "drawn before it was asked for"
    next(t for t in at.toggle if t.label == "Play the 3 epochs of three").set_value(True).run()
    chart = next(c for c in at.get("plotly_chart") if c.proto.id and "latent_animation" in c.proto.id)
    figure = json.loads(chart.proto.spec)
    assert [f["name"] for f in figure["frames"]] == ["1", "2", "3"]
    assert len(figure["layout"]["sliders"][0]["steps"]) == 3


def test_the_play_toggle_counts_frames_when_fewer_were_recorded_than_epochs(app, run_dir, small_data):
    """A 200-epoch run records 50 frames: the toggle says so, not "the 50 epochs" (issue #40)."""
    for _ in train_run(VAEConfig(dataset="mnist-5k", latent_dim=2, epochs=3), "sparse", run_dir, data=small_data):
        pass
    path = run_dir / "sparse.pt"
    payload = torch.load(path, weights_only=True)
    frames = payload["history"]["frames"]
    keep = [0, 2]  # epochs 1 and 3, as a long run keeps every few
    for key in ("epochs", "positions", "recons"):
        frames[key] = frames[key][keep]
    write_atomic(path, payload)
    at = _open(app, "pages/latent.py", "sparse")
    assert not at.exception
    toggle = next(t for t in at.toggle if t.key == "play_forming")
    assert toggle.label == "Play 2 frames of the 3 epochs of sparse"
    toggle.set_value(True).run()
    assert not at.exception and any("after epochs 1–3 (2 frames)" in c.value for c in at.caption)


def test_latent_page_says_when_a_run_has_no_frames(app, run_dir):
    path = run_dir / "tiny-d4.pt"
    payload = torch.load(path, weights_only=True)
    payload["history"].pop("frames")
    torch.save(payload, path)
    at = _open(app, "pages/latent.py", "tiny-d4")
    assert not at.exception and any("no per-epoch record" in i.value for i in at.info)


def test_home_shows_the_current_run_at_work_above_the_text(app):
    at = _open(app, "pages/home.py", "tiny-d4")
    assert not at.exception
    images = at.get("image")
    assert len(images) >= 2, "the chain strip and the prior samples"
    captions = [i.proto.imgs[0].caption for i in images]
    assert any(c.startswith("Walking between mean latents: 9 → 4 → 2 → 6 → 1") for c in captions)
    assert any("z ~ N(0, I)" in c for c in captions)
    assert at.selectbox[0].label == "Run", "the run picker stays"


def test_interpolation_gif_plays_the_chain_forth_and_back():
    from ui.widgets import gif_bytes

    frames = np.linspace(0, 1, 5)[:, None, None] * np.ones((5, 28, 28))
    gif = Image.open(io.BytesIO(gif_bytes(frames, scale=2)))
    assert gif.format == "GIF" and gif.size == (56, 56) and gif.n_frames == 8  # 5 forth, 3 back
    levels = []
    for i in range(gif.n_frames):
        gif.seek(i)
        levels.append(int(np.asarray(gif.convert("L"))[0, 0]))
    assert levels == [0, 64, 128, 191, 255, 191, 128, 64]
    projected = Image.open(io.BytesIO(gif_bytes(frames)))  # the page's own: big enough to project (issue #40)
    assert projected.size == (336, 336) and np.asarray(projected.convert("L"))[:12, :12].std() == 0  # crisp blocks


def test_interpolation_page_offers_png_and_gif(app):
    at = _open(app, "pages/interpolation.py", "tiny-d4")
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download the strip (PNG)" in labels and "Download GIF" in labels


# --- Side by side --------------------------------------------------------------------------------------


def test_latent_space_and_interpolation_draw_a_second_run_beside_the_first(app):
    at = _open(app, "pages/latent.py", "tiny-d2")
    compare = next(s for s in at.selectbox if s.label == "Compare with")
    assert compare.value is None and len(at.get("plotly_chart")) == 1
    compare.set_value("tiny-d4").run()
    assert not at.exception and not at.error
    keys = [c.proto.id for c in at.get("plotly_chart")]
    assert any("latent_scatter_compare" in k for k in keys), keys
    assert any("tiny-d4" in m.value for m in at.markdown) and any("tiny-d2" in m.value for m in at.markdown)

    at = _open(app, "pages/interpolation.py", "tiny-d2")
    next(s for s in at.selectbox if s.label == "Compare with").set_value("tiny-d4").run()
    assert not at.exception and not at.error
    captions = [i.proto.imgs[0].caption for i in at.get("image")]
    assert any(c.startswith("tiny-d2 ·") for c in captions) and any(c.startswith("tiny-d4 ·") for c in captions)
    at.slider[0].set_value(5).run()  # one slider moves both strips
    assert not at.exception and any(c.value.startswith("17 images: 9 → 4 → 2 → 6 → 1") for c in at.caption)
    captions = [i.proto.imgs[0].caption for i in at.get("image")]
    assert any(c.startswith("tiny-d4 ·") for c in captions)


@pytest.mark.slow
def test_a_sweep_from_the_train_page_lands_on_the_rate_distortion_plane(app, run_dir):
    import json

    from ui.state import BATCH_KEY, job_registry

    at = _open(app, "pages/train.py")
    next(w for w in at.selectbox if w.label == "Sweep dataset").set_value("mnist-5k")
    next(w for w in at.number_input if w.label == "Epochs per run").set_value(1)
    at.multiselect(key="sweep_betas").set_value([0.5, 2.0])
    next(w for w in at.multiselect if w.label == "Latent dimensions").set_value([2])
    next(w for w in at.text_input if w.label == "Name prefix").set_value("swp")
    next(b for b in at.button if b.label == "Start the sweep").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    batch = job_registry().batch(at.session_state[BATCH_KEY])
    assert sorted(job.name for job in batch) == ["swp-d2-b0.5", "swp-d2-b2"]
    assert all(job.join(120) for job in batch)
    at.run()
    assert any("Your sweep: 2 of 2 runs finished" in h.value for h in at.subheader)
    at = _open(at, "pages/runs.py")
    chart = next(c for c in at.get("plotly_chart") if "rate_distortion" in c.proto.id)
    traces = json.loads(chart.proto.spec)["data"]
    assert [t["name"] for t in traces if t.get("name", "").startswith("your sweep")] == ["your sweep, d=2"]
    assert any("2 of 2 runs on the plane" in c.value for c in at.caption)
