"""The runs that ship in checkpoints/: they load, they meet their targets, and the README is honest about them."""

import json
import subprocess

import pytest

from tests.conftest import ROOT
from vae.data.datasets import load_dataset
from vae.model.burda import REFERENCE as BURDA
from vae.runfile import list_runs, load_run
from vae.training.loop import evaluate

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
    burda = configs["burda-vae-k1"]
    assert (burda.dataset, burda.hidden, burda.activation, burda.latent_dim, burda.batch_size, burda.adam_eps) == (
        "binarized-mnist",
        (200, 200),
        "tanh",
        50,
        20,
        1e-4,
    )
    # The whole schedule of Burda et al. (stages 0-7); the file holds its first epochs and carries on exactly.
    assert burda.lr_schedule == "burda" and burda.epochs == 3280


def test_size_budget():
    """What git ships in checkpoints/ (10^6-byte MB, the stricter reading): the shipped runs and their views within
    30 MB, and with the disentanglement study's runs (checkpoints/study/) within 80 MB in all. A user's own runs and
    the views computed here are theirs, and git ignores them."""
    listed = subprocess.run(["git", "ls-files", "-z", "--", "checkpoints"], cwd=ROOT, capture_output=True, check=True)
    shipped = {ROOT / name for name in listed.stdout.decode().split("\0") if name}
    assert {CHECKPOINTS / f"{name}.pt" for name in SHIPPED} <= shipped
    study = {path for path in shipped if path.is_relative_to(CHECKPOINTS / "study")}
    assert sum(path.stat().st_size for path in shipped - study) <= 30_000_000
    assert sum(path.stat().st_size for path in shipped) <= 80_000_000


def test_quality_targets_from_the_stored_metrics():
    assert load_run(CHECKPOINTS / "mlp-d20-b1.pt").final["test"]["loss"] <= 105.6
    assert load_run(CHECKPOINTS / "conv-d20-b1.pt").final["test"]["loss"] <= 100.5
    # Burda et al.'s 86.76 nats and 19 active units after 3,280 epochs; this run has all of them (86.84).
    burda = load_run(CHECKPOINTS / "burda-vae-k1.pt").final
    assert burda["iw"]["nll"] <= BURDA["nll"] + 0.5 and 15 <= burda["active_units"] <= 25


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
    assert run.final["n_test"] == len(data.test_x) == (18_432 if run.config.dataset == "shapes" else 10_000)
    for key in ("recon", "kl", "loss"):
        assert fresh[key] == pytest.approx(run.final["test"][key], rel=1e-3, abs=1e-3)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_run_carries_its_latent_space_forming_within_budget(name):
    """A frame per epoch (every k-th of a long run, at most 50 a build or continuation), for the animation on
    Latent space, in at most 7 KB a frame (and 10 KB of indices); no optimizer state, except in the runs shipped
    to be continued."""
    import io

    import torch

    from vae.training.record import MAX_FRAMES, frame_epochs

    payload = torch.load(CHECKPOINTS / f"{name}.pt", weights_only=True)
    frames = payload["history"]["frames"]
    epochs = len(payload["history"]["epochs"])
    if name in _build_script().CONTINUABLE_RUNS:  # built, then continued: each part kept its own frames
        kept = frames["epochs"].tolist()
        assert kept == sorted(set(kept)) and kept[-1] <= epochs and len(kept) <= 2 * MAX_FRAMES
    else:
        kept = [e for e in range(1, epochs + 1) if frame_epochs(epochs)(e)]
        assert frames["epochs"].tolist() == kept and len(kept) <= MAX_FRAMES
    assert frames["positions"].shape == (len(kept), 1000, 2) and frames["recons"].shape[:2] == (len(kept), 3)
    buffer = io.BytesIO()
    torch.save(frames, buffer)
    assert len(buffer.getvalue()) <= 10_000 + 7_000 * len(kept), f"{name}: {len(buffer.getvalue())} bytes of frames"
    continuable = name in _build_script().CONTINUABLE_RUNS
    assert ("train_state" in payload) == continuable, "only the runs shipped to be continued keep Adam's state"


def test_a_continuation_adopted_as_the_shipped_run_keeps_its_status_and_carries_on_exactly(
    tmp_path, small_data, monkeypatch
):
    import threading

    from vae.model.config import VAEConfig
    from vae.runfile import save_run
    from vae.training.loop import StepMetrics
    from vae.training.runs import continue_config, train_run

    build = _build_script()
    shipped, elsewhere = tmp_path / "shipped", tmp_path / "elsewhere"
    monkeypatch.setattr(build, "CHECKPOINTS", shipped)
    config = VAEConfig(dataset="mnist-5k", hidden=(16,), latent_dim=2, epochs=1)
    for _ in train_run(config, "burda-vae-k1", elsewhere, data=small_data):
        pass
    run = load_run(elsewhere / "burda-vae-k1.pt")
    for _ in train_run(continue_config(run, 1), "burda-vae-k1", elsewhere, data=small_data, resume=run):
        pass
    assert build.adopt(elsewhere / "burda-vae-k1.pt") == "burda-vae-k1"
    adopted, source = load_run(shipped / "burda-vae-k1.pt"), load_run(elsewhere / "burda-vae-k1.pt")
    assert adopted.status == "completed" and "trainer" not in adopted.final and len(adopted.epochs) == 2
    assert adopted.train_state["epochs_done"] == 2 and adopted.epochs == source.epochs
    # One cut short of its schedule (a killed background training, saved at an epoch's end) is stopped.
    planned = source.config.replace(epochs=5)
    save_run(
        tmp_path / "short",
        "burda-vae-k1",
        source.model,
        planned,
        source.history,
        source.final,
        train_state=source.train_state,
    )
    build.adopt(tmp_path / "short" / "burda-vae-k1.pt")
    short = load_run(shipped / "burda-vae-k1.pt")
    assert short.status == "stopped" and short.final["message"].startswith("stopped after epoch 2 of 5")
    stop = threading.Event()  # a continuation stopped mid-epoch is refused: adopt takes whole epochs
    for event in train_run(
        continue_config(run, 1), "burda-vae-k1", tmp_path / "cut", data=small_data, resume=run, stop=stop
    ):
        if isinstance(event, StepMetrics):
            stop.set()
    with pytest.raises(SystemExit, match="saved at the end of an epoch"):
        build.adopt(tmp_path / "cut" / "burda-vae-k1.pt")


SHAPES_SWEEP = [name for name in SHIPPED if name.startswith("shapes-")]


def test_the_shapes_sweep_shows_what_beta_is_for():
    """One architecture at d = 10 over β = 1…16: the best β disentangles clearly more than β = 1 (MIG), and
    reconstruction gets worse as β grows."""
    runs = sorted((load_run(CHECKPOINTS / f"{name}.pt") for name in SHAPES_SWEEP), key=lambda r: r.config.beta)
    assert [r.config.beta for r in runs] == [1, 2, 4, 8, 16]
    assert len({(r.config.arch, r.config.hidden, r.config.latent_dim) for r in runs}) == 1
    mig = [r.final["disentanglement"]["mig"] for r in runs]
    assert max(mig) >= mig[0] + 0.1, mig
    recon = [r.final["test"]["recon"] for r in runs]
    assert recon == sorted(recon), recon


@pytest.mark.parametrize("name", SHAPES_SWEEP)
def test_stored_disentanglement_agrees_with_a_fresh_measurement(name):
    """The same seed draws the same points: the stored MIG and MI are measured again. (Another CPU may round μ
    differently in the last bit and move a point across a bin edge now and then: hence 1e-3, not 1e-9.)"""
    import numpy as np
    import torch

    from vae.analysis import disentanglement as dis

    run = load_run(CHECKPOINTS / f"{name}.pt")
    stored = run.final["disentanglement"]
    fresh = dis.mig(dis.encoder_means(run.model), torch.Generator().manual_seed(stored["seed"]))
    assert fresh.score == pytest.approx(stored["mig"], abs=1e-3)
    assert np.allclose(fresh.mi, stored["mi"], atol=1e-3)
