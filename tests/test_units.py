"""A lecture without friction (issue #40): every loss term says its unit, per image (an MSE run's reconstruction in
its own unit, never nats), and the loss curves open on the epochs after the first, whose progress the first
epoch's fall would flatten. Figures are built from a shipped run, read-only; pages are driven by AppTest."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import ROOT, open_page
from ui import curves, factors
from vae.model.config import RECON_UNITS
from vae.runfile import list_runs, load_run
from vae.training.record import StepHistory

SHIPPED = ROOT / "checkpoints" / "mlp-d2-b1.pt"  # 10 epochs: steps from ~550 to ~155 nats per image
PANELS = ("", "2", "3")  # reconstruction, KL and total: plotly's xaxis, xaxis2, xaxis3


@pytest.fixture(scope="module")
def shipped():
    return load_run(SHIPPED)


def _series(run, epochs: int | None = None) -> list[dict]:
    """The Runs page's curves of ``run``: per step and per epoch, cut at ``epochs`` if given."""
    steps = StepHistory.from_history(run.history)
    if epochs is not None:
        steps = steps.until(epochs)
    return [curves.step_series(steps, "per step", None), *curves.epoch_series(run.epochs[:epochs], "run")]


def _titles(fig) -> list[str]:
    return [a.text for a in fig.layout.annotations]


def test_the_curves_open_after_the_first_epoch_on_axes_fitted_to_the_later_epochs(shipped):
    series = _series(shipped)
    first_epoch_steps = [y for x, y in zip(series[0]["x"], series[0]["loss"], strict=True) if x <= 1]
    assert max(first_epoch_steps) > 500  # what flattened the later epochs' progress
    fig = curves.loss_figure(series)
    low, high = fig.layout.yaxis3.range
    assert high < shipped.epochs[0]["train"]["loss"]  # the first epoch's train mean averages its steps
    assert high - low < (max(series[0]["loss"]) - min(series[0]["loss"])) / 5
    # Per epoch (the Runs page's default), the later epochs' test loss, 164.6 down to 156.3, spans most of the axis.
    later = [e["test"]["loss"] for e in shipped.epochs[1:]]
    low, high = curves.loss_figure(series[1:]).layout.yaxis3.range
    assert (max(later) - min(later)) / (high - low) > 0.5
    for panel in PANELS:
        axis = fig.layout[f"xaxis{panel}"]
        assert axis.range[0] == curves.FIRST_EPOCH_END and axis.range[1] >= len(shipped.epochs)
        assert axis.title.text == "epoch (after the first)"


def test_the_whole_run_is_one_switch_away_and_a_one_epoch_run_is_drawn_whole(shipped):
    whole = curves.loss_figure(_series(shipped), after_first_epoch=False)
    assert whole.layout.xaxis.range is None and whole.layout.yaxis3.range is None
    one_epoch = _series(shipped, epochs=1)
    assert not curves.past_first_epoch(one_epoch)
    assert curves.loss_figure(one_epoch).layout.yaxis3.range is None


def test_every_loss_panel_and_hover_says_nats_per_image(shipped):
    fig = curves.loss_figure(_series(shipped))
    assert _titles(fig) == [
        "Reconstruction (nats per image)",
        "KL (nats per image)",
        "Total: recon + β·KL (nats per image)",
    ]
    hovers = {trace.xaxis: trace.hovertemplate for trace in fig.data}
    assert all(hovers[f"x{panel}"].endswith(" nats per image<extra></extra>") for panel in PANELS)


def test_an_mse_run_is_never_labelled_nats(shipped):
    fig = curves.loss_figure(_series(shipped), units=(RECON_UNITS["mse"],))
    recon, kl, total = _titles(fig)
    assert recon == "Reconstruction (squared error per image)" and kl == "KL (nats per image)"
    assert total == "Total: recon + β·KL (squared error + β·nats per image)"
    assert curves.loss_unit("mse") != curves.KL_UNIT and curves.recon_unit("mse") == "squared error per image"
    sweep = [
        {"name": f"b{b}", "beta": b, "mig": 0.1, "factor_vae": 0.5, "recon": 9.0, "likelihood": "mse"} for b in (1, 4)
    ]
    beta = factors.beta_figure(sweep)
    assert beta.layout.yaxis2.title.text == "reconstruction (squared error per image)"
    assert "nats" not in beta.data[-1].name and "nats" not in beta.data[-1].hovertemplate


def test_the_rate_distortion_plane_says_nats_per_image():
    infos = [i for i in list_runs(ROOT / "checkpoints") if i.config.likelihood == "bce" and "test" in i.final]
    fig = curves.rate_distortion_figure(infos[:3])
    assert fig.layout.xaxis.title.text == "rate R = test KL (nats per image)"
    assert fig.layout.yaxis.title.text == "distortion D = test reconstruction (nats per image)"


def _labels(at) -> list[str]:
    return [m.label for m in at.metric]


def test_home_and_diagnostics_tiles_say_their_units(app, run_dir, tiny_config, small_data):
    from vae.training.runs import train_run

    labels = _labels(app)
    assert "Test loss (nats per image)" in labels and "Test KL (nats per image)" in labels
    for _ in train_run(tiny_config.replace(likelihood="mse", epochs=1), "squared", run_dir, data=small_data):
        pass
    labels = _labels(open_page(app, "pages/home.py", "squared"))
    assert "Test loss (squared error + β·nats per image)" in labels and "Test KL (nats per image)" in labels
    at = open_page(app, "pages/diagnostics.py", "tiny-d4")
    assert not at.exception
    assert {"Total KL (nats per image)", "Largest KL in one dimension (nats per image)"} <= set(_labels(at))
    bars = json.loads(next(c for c in at.get("plotly_chart") if "kl_per_dim" in c.proto.id).proto.spec)
    assert bars["layout"]["yaxis"]["title"]["text"] == "KL of the dimension (nats per image)"


def test_the_runs_page_opens_its_curves_after_the_first_epoch(app, run_dir):
    shutil.copy(SHIPPED, run_dir / SHIPPED.name)
    at = open_page(app, "pages/runs.py", SHIPPED.stem)
    next(t for t in at.toggle if t.label == "Show per-step training curves").set_value(True).run()

    def layout() -> dict:
        chart = next(c for c in at.get("plotly_chart") if "run_curves" in c.proto.id)
        return json.loads(chart.proto.spec)["layout"]

    assert not at.exception and layout()["xaxis"]["range"][0] == curves.FIRST_EPOCH_END
    assert "test KL (nats)" in at.dataframe[0].value.columns
    next(t for t in at.toggle if t.label == "Show the first epoch").set_value(True).run()
    assert not at.exception and "range" not in layout()["xaxis"]
