"""The runs that ship in checkpoints/: they load, they meet their targets, and the README is honest about them."""

import json

import pytest

from tests.conftest import ROOT
from vae.checkpoints import list_runs, load_run
from vae.data import load_dataset
from vae.train import evaluate

CHECKPOINTS = ROOT / "checkpoints"
SHIPPED = json.loads((CHECKPOINTS / "shipped.json").read_text())["runs"]


def _build_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_pretrained", ROOT / "scripts" / "build_pretrained.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_manifest_names_the_whole_grid_and_every_file_exists():
    assert sorted(SHIPPED) == sorted(_build_script().GRID)
    listed = {r.name: r for r in list_runs(CHECKPOINTS)}
    for name in SHIPPED:
        assert name in listed and listed[name].shipped and not listed[name].error


def test_the_grid_covers_what_the_app_promises():
    configs = {name: load_run(CHECKPOINTS / f"{name}.pt").config for name in SHIPPED}
    cells = {(c.dataset, c.arch, c.latent_dim, c.beta) for c in configs.values()}
    for cell in [
        ("mnist", "mlp", 20, 1.0),
        ("mnist", "mlp", 2, 1.0),
        ("mnist", "conv", 2, 1.0),
        ("mnist", "conv", 20, 1.0),
    ]:
        assert cell in cells
    assert {c.beta for c in configs.values() if (c.arch, c.latent_dim) == ("conv", 10)} >= {0.25, 0.5, 1, 2, 4, 8}
    assert any(c.dataset == "fashion-mnist" for c in configs.values())


def test_size_budget():
    assert sum(p.stat().st_size for p in CHECKPOINTS.iterdir()) <= 30 * 2**20


def test_quality_targets_from_the_stored_metrics():
    assert load_run(CHECKPOINTS / "mlp-d20-b1.pt").final["test"]["loss"] <= 105.6
    assert load_run(CHECKPOINTS / "conv-d20-b1.pt").final["test"]["loss"] <= 100.5


def test_readme_table_is_generated_from_the_runs():
    readme = (ROOT / "README.md").read_text()
    assert _build_script().table() in readme


@pytest.mark.full_data
@pytest.mark.parametrize("name", SHIPPED)
def test_stored_final_metrics_agree_with_a_fresh_evaluation(name, full_mnist_root):
    run = load_run(CHECKPOINTS / f"{name}.pt")
    data = load_dataset(run.config.dataset, full_mnist_root, allow_download=False)
    if data.name != run.config.dataset:
        pytest.skip(f"{run.config.dataset} not under {full_mnist_root}")
    fresh = evaluate(run.model, data.test_x, beta=run.config.beta, likelihood=run.config.likelihood)
    assert run.final["n_test"] == len(data.test_x) == 10_000
    for key in ("recon", "kl", "loss"):
        assert fresh[key] == pytest.approx(run.final["test"][key], rel=1e-3, abs=1e-3)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_run_carries_its_latent_space_forming_within_budget(name):
    """One frame per epoch, for the animation on Latent space, in at most 150 KB; no optimizer state."""
    import io

    import torch

    payload = torch.load(CHECKPOINTS / f"{name}.pt", weights_only=True)
    frames = payload["history"]["frames"]
    epochs = len(payload["history"]["epochs"])
    assert frames["epochs"].tolist() == list(range(1, epochs + 1))
    assert frames["positions"].shape == (epochs, 1000, 2) and frames["recons"].shape[:2] == (epochs, 3)
    buffer = io.BytesIO()
    torch.save(frames, buffer)
    assert len(buffer.getvalue()) <= 150_000, f"{name}: {len(buffer.getvalue())} bytes of frames"
    assert "train_state" not in payload, "shipped runs leave the optimizer state out (a third of the size)"
