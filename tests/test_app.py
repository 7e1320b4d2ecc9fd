"""AppTest for every page, against a checkpoint folder of tiny runs."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import APP, PAGE_NAMES, open_page, png_bytes, session_job, snapshot
from vae.runfile import list_runs, load_run

PAGES = [f"pages/{name}.py" for name in PAGE_NAMES]


_open = open_page


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.title]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("run", ["tiny-d2", "tiny-d4"])
def test_every_page_renders_without_exception(app, page, run):
    at = _open(app, page, run)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_home_shows_the_run_and_keeps_the_choice_across_pages(app):
    assert not app.exception
    picker = app.selectbox[0]
    assert picker.label == "Run" and set(picker.options) >= {"tiny-d2  ·  mlp d=2 β=1 on mnist-5k"}
    picker.set_value("tiny-d4").run()
    assert app.session_state["current_run"] == "tiny-d4"
    at = _open(app, "pages/generate.py")
    assert at.sidebar.selectbox[0].value == "tiny-d4"


def test_shipped_run_is_marked_read_only(app):
    app.session_state["current_run"] = "tiny-d2"
    app.run()
    assert "read-only" in _texts(app)


@pytest.mark.slow
def test_train_page_trains_a_tiny_run_that_then_appears(app, run_dir):
    at = _open(app, "pages/train.py")
    form = {w.label: w for w in [*at.selectbox, *at.slider, *at.select_slider, *at.text_input, *at.number_input]}
    form["Dataset"].set_value("mnist-5k")
    form["Latent dimension d"].set_value(2)
    form["Epochs"].set_value(1)
    form["Run name"].set_value("apptest run")
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    job = session_job(at)
    assert job.name == "apptest-run"
    assert job.join(timeout=120), "the worker did not finish"
    assert job.snapshot().status == "completed"
    at.run()
    assert any("Finished and saved" in s.value for s in at.success)
    assert at.session_state["current_run"] == "apptest-run"
    assert "apptest-run" in [r.name for r in list_runs(run_dir)]
    home = _open(at, "pages/home.py")
    assert any(o.startswith("apptest-run") for o in home.selectbox[0].options)
    assert load_run(run_dir / "apptest-run.pt").final["epochs"] == 1


def test_train_page_passes_the_objectives_beyond_a_fixed_beta(app):
    at = _open(app, "pages/train.py")
    inputs = {w.label: w for w in at.number_input}
    inputs["KL warm-up epochs"].set_value(2)
    inputs["Free bits (nats per dimension)"].set_value(0.5)
    # One epoch of the embedded digits: the objectives are the point, not full MNIST's 3 epochs when it is on disk.
    inputs["Epochs"].set_value(1)
    next(s for s in at.selectbox if s.label == "Dataset").set_value("mnist-5k")
    next(t for t in at.text_input if t.label == "Run name").set_value("warm")
    at.button[0].click().run()
    job = session_job(at)
    assert (job.config.kl_warmup_epochs, job.config.free_bits, job.config.dataset) == (2, 0.5, "mnist-5k")
    assert job.join(600) and job.snapshot().status == "completed"  # a deadline for a loaded, niced machine
    at.run()
    assert not at.exception and any("in effect (C dotted)" in str(c.proto) for c in at.get("plotly_chart"))


def test_train_page_refuses_an_unusable_name(app, run_dir):
    at = _open(app, "pages/train.py")
    next(t for t in at.text_input if t.label == "Run name").set_value("...")
    before = sorted(p.name for p in run_dir.iterdir())
    at.button[0].click().run()
    assert not at.exception
    assert any("no usable characters" in e.value for e in at.error)
    assert sorted(p.name for p in run_dir.iterdir()) == before


def test_interpolation_shows_the_expected_number_of_images(app):
    at = _open(app, "pages/interpolation.py", "tiny-d4")
    assert any(c.value.startswith("29 images: 9 → 4 → 2 → 6 → 1") for c in at.caption)  # 4 legs of 8, ends shared
    at.text_input[0].set_value("3, 8").run()
    at.slider[0].set_value(5).run()
    assert any(c.value.startswith("5 images: 3 → 8") for c in at.caption)
    at.text_input[0].set_value("3, eleven").run()
    assert not at.exception and any("class numbers" in e.value for e in at.error)


def test_latent_page_projects_high_dimensional_runs(app):
    at = _open(app, "pages/latent.py", "tiny-d4")
    assert [r.value for r in at.radio][:1] == ["tsne"]
    at.radio[0].set_value("pca").run()
    assert not at.exception and not at.error


def test_runs_page_refuses_a_bad_upload_and_protects_shipped_runs(app, run_dir):
    at = _open(app, "pages/runs.py", "tiny-d2")
    assert not at.exception
    assert any("read-only" in c.value for c in at.caption)
    assert not any(b.label == "Delete run" for b in at.button)
    before = snapshot(run_dir)
    at.file_uploader[0].set_value(("evil.pt", b"not a checkpoint at all", "application/octet-stream")).run()
    next(b for b in at.button if b.label == "Add to my runs").click().run()
    assert not at.exception
    assert any("not a readable VAE Lab checkpoint" in e.value for e in at.error), [e.value for e in at.error]
    assert snapshot(run_dir) == before


def test_empty_checkpoint_folder_points_to_train(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=60).run()
    for page in PAGES[2:]:
        at = _open(at, page)
        assert not at.exception
        texts = [i.value for i in at.info]
        assert any("no runs yet" in t.lower() for t in texts), (page, texts)


def test_the_shipped_checkpoints_open(monkeypatch):
    monkeypatch.delenv("VAE_CHECKPOINT_DIR", raising=False)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert at.selectbox[0].options, "no shipped run is listed"


def _plotly_array(value) -> list[float]:
    """A plotly JSON array: a list, or numpy's typed-array form ``{"dtype", "bdata"}``."""
    import base64

    import numpy as np

    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
    return list(value)


def test_runs_page_draws_every_likelihood_run_on_the_rate_distortion_plane(app, run_dir):
    import json

    at = _open(app, "pages/runs.py", "tiny-d2")
    assert not at.exception
    chart = next(c for c in at.get("plotly_chart") if "rate_distortion" in c.proto.id)
    points = next(t for t in json.loads(chart.proto.spec)["data"] if t.get("mode") == "markers+text")
    runs = {r.name: r.final["test"] for r in list_runs(run_dir)}
    xs, ys = _plotly_array(points["x"]), _plotly_array(points["y"])
    plotted = {name: (x, y) for (name, _), x, y in zip(points["customdata"], xs, ys, strict=True)}
    assert plotted.keys() == runs.keys()
    for name, test in runs.items():
        assert plotted[name] == pytest.approx((test["kl"], test["recon"]))


def test_diagnostics_shows_kl_per_dimension_and_estimates_the_iw_bound(app):
    at = _open(app, "pages/diagnostics.py", "tiny-d4")
    assert at.metric[0].label == "Active units" and at.metric[0].value.endswith("/ 4")
    at.select_slider[0].set_value(10)
    at.slider[0].set_value(100)
    next(b for b in at.button if b.label == "Estimate").click().run()
    assert not at.exception
    values = {m.label: float(m.value) for m in at.metric[3:]}
    # tiny-d4 is on grey-level digits: its bound is a Bernoulli (cross-entropy) bound, never called −log p(x).
    iw = values["IW Bernoulli bound (not a likelihood), K=10 (nats per image)"]
    elbo = values["−ELBO on the same images (nats per image)"]
    assert 0 < iw < elbo
    assert not any(label.startswith("IW estimate of −log p(x)") for label in values)
    assert any("**not a likelihood**" in c.value for c in at.caption)


def test_draw_page_takes_an_uploaded_digit(app, small_data):
    at = _open(app, "pages/draw.py", "tiny-d4")
    assert any("Draw a digit in the box" in i.value for i in at.info)
    seven = small_data.test_x[0, 0].numpy()
    big = 255 - seven.repeat(10, axis=0).repeat(10, axis=1)  # dark ink on white paper, 280x280
    at.file_uploader[0].set_value(("photo.png", png_bytes(big), "image/png")).run()
    assert not at.exception and not at.error
    assert any(c.value.startswith("labels: ") for c in at.caption)
    assert any(h.value == "Where it lands" for h in at.subheader)
    posterior = at.dataframe[-1].value  # q(z|x): its mean and its spread, per dimension (issue #40)
    assert list(posterior.columns) == ["dimension", "μ", "σ"] and len(posterior) == 4
    assert (posterior["σ"] > 0).all() and posterior["σ"].notna().all()
    at.file_uploader[0].set_value(("fake.png", b"not an image", "image/png")).run()
    assert not at.exception and any("not an image" in e.value for e in at.error)
    assert not any("BytesIO" in e.value for e in at.error)  # no Python object's repr for a visitor


def test_draw_shows_the_posteriors_spread_as_ellipses_on_a_2d_map(app, small_data):
    import json

    at = _open(app, "pages/draw.py", "tiny-d2")
    seven = 255 - small_data.test_x[0, 0].numpy().repeat(10, axis=0).repeat(10, axis=1)
    at.file_uploader[0].set_value(("photo.png", png_bytes(seven), "image/png")).run()
    assert not at.exception
    chart = next(c for c in at.get("plotly_chart") if "draw_scatter" in c.proto.id)
    ellipses = [s for s in json.loads(chart.proto.spec)["layout"]["shapes"] if s["type"] == "circle"]
    sigma = at.dataframe[-1].value["σ"].to_numpy()
    widths = sorted(e["x1"] - e["x0"] for e in ellipses)  # (μ + kσ) − (μ − kσ): 2kσ up to float rounding
    assert widths == pytest.approx([2 * sigma[0], 4 * sigma[0]], abs=1e-5)  # 1σ and 2σ either side of μ


def _live_curves_script() -> None:
    import streamlit as st

    from ui import widgets
    from vae.model.config import VAEConfig
    from vae.training.jobs import JobSnapshot
    from vae.training.record import StepHistory

    rows = [(1, i + 1, 100.0 - i, 5.0, 105.0 - i, 1.0, 0.0, 0.0) for i in range(st.session_state.n_steps)]
    snap = JobSnapshot("live", VAEConfig(), st.session_state.status, "", None, StepHistory(100, rows), [], 1.0)
    widgets.job_curves(snap, st.session_state.token)


def test_live_curves_are_rebuilt_every_few_seconds_and_sent_unchanged_between():
    import base64
    import json

    import numpy as np

    from ui import widgets

    at = AppTest.from_function(_live_curves_script)
    at.session_state.n_steps, at.session_state.status, at.session_state.token = 10, "running", "a"

    def steps_drawn() -> int:
        """Points of the per-step curve in the chart that this run sent."""
        data = json.loads(at.run().get("plotly_chart")[0].proto.spec)["data"]
        x = next(t for t in data if t["name"] == "train (per step)")["x"]
        return len(x) if isinstance(x, list) else len(base64.b64decode(x["bdata"])) // np.dtype(x["dtype"]).itemsize

    assert steps_drawn() == 10
    at.session_state.n_steps = 20
    assert steps_drawn() == 10  # within CURVES_EVERY_S: the same figure, which the browser does not redraw
    token, built, fig = at.session_state[widgets.LIVE_CURVES_KEY]
    at.session_state[widgets.LIVE_CURVES_KEY] = (token, built - widgets.CURVES_EVERY_S, fig)
    assert steps_drawn() == 20
    at.session_state.n_steps, at.session_state.token = 30, "b"  # another job of this tab: its own curves at once
    assert steps_drawn() == 30
    at.session_state.n_steps, at.session_state.status = 40, "completed"
    assert steps_drawn() == 40  # a finished job: its last curves at once


def test_the_tests_page_list_is_the_routers():
    import re

    from tests.conftest import ROOT

    routed = re.findall(r'st\.Page\("pages/(\w+)\.py"', (ROOT / "streamlit_app.py").read_text())
    assert tuple(routed) == PAGE_NAMES


@pytest.mark.parametrize("page", ["pages/diagnostics.py", "pages/home.py"])
def test_every_pick_of_the_run_picker_takes(app, page):
    """Each choice in a row is the run shown, not only every other one (the picker keeps its identity)."""
    at = _open(app, page)
    for name in ("tiny-d4", "tiny-d2", "tiny-d4", "tiny-d2"):
        picker = next(s for s in [*at.selectbox, *at.sidebar.selectbox] if s.label == "Run")
        picker.set_value(name).run()
        assert not at.exception
        assert at.session_state["current_run"] == name


def _png_data_url(array, fmt: str = "PNG") -> str:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_the_drawing_pad_takes_its_png_and_refuses_anything_else_in_one_line():
    """#41: what the pad sends comes from a browser a visitor controls: only a small PNG data URL is read."""
    import numpy as np

    from ui.sketch import MAX_DATA_URL_CHARS, PAD_PX, decode_drawing

    ink = np.zeros((PAD_PX, PAD_PX, 4), np.uint8)
    ink[..., 3] = 255
    ink[40:240, 130:150, :3] = 255  # a 1
    drawn = decode_drawing(_png_data_url(ink))
    assert drawn.shape == (PAD_PX, PAD_PX, 4) and drawn.dtype == np.uint8 and np.array_equal(drawn, ink)
    assert decode_drawing(None) is None and decode_drawing("") is None
    crafted = {
        "not a data URL": "javascript:alert(1)",
        "another type": "data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=",
        "not base64": "data:image/png;base64,@@@@",
        "not an image": "data:image/png;base64," + "QUFBQQ==",
        "a GIF called PNG": _png_data_url(ink[..., 0], fmt="GIF"),
        "too large a picture": _png_data_url(np.zeros((4 * PAD_PX + 1, 8), np.uint8)),
        "too long a string": "data:image/png;base64," + "A" * MAX_DATA_URL_CHARS,
        "not a string": {"image": 1},
    }
    for what, value in crafted.items():
        with pytest.raises(ValueError) as refused:
            decode_drawing(value)
        assert "\n" not in str(refused.value) and str(refused.value).startswith("the drawing pad sent"), what


def _live_tiles_script() -> None:
    import streamlit as st

    from ui import widgets
    from vae.model.config import VAEConfig
    from vae.training.jobs import JobSnapshot
    from vae.training.loop import EpochMetrics
    from vae.training.record import StepHistory

    terms = {"recon": 100.0, "kl": 5.0, "loss": 105.0}
    epoch = EpochMetrics(1, terms, terms, 1.0, 1e-3, 1.0, 1.0)
    config = VAEConfig(likelihood=st.session_state.likelihood)
    widgets.job_progress(JobSnapshot("live", config, "running", "", None, StepHistory(100, []), [epoch], 1.0))


@pytest.mark.parametrize(
    ("likelihood", "recon", "loss"),
    [
        ("bce", "Test recon (nats per image)", "Test loss (nats per image)"),
        ("mse", "Test recon (squared error per image)", "Test loss (squared error + β·nats per image)"),
    ],
)
def test_a_trainings_live_tiles_name_their_units(likelihood, recon, loss):
    """#40: the Train page's live tiles say what each figure is measured in, per image."""
    at = AppTest.from_function(_live_tiles_script)
    at.session_state.likelihood = likelihood
    at.run()
    assert not at.exception
    assert [m.label for m in at.metric] == ["Epoch", recon, "Test KL (nats per image)", loss]
