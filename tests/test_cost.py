"""Every saved run can be read back, admission is priced in compute, and a continued run trains by its config
(issue #35): the model's size in the config, the writer held to the reader's limit, a disk quota, and a crafted
``train_state`` that cannot change how training goes."""

from __future__ import annotations

import threading

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from tests.conftest import cli, leftovers, open_page, poisoned, snapshot
from vae.model.config import VAEConfig
from vae.model.networks import build_model
from vae.model.size import forward_macs, parameter_count
from vae.runfile import load_run, save_run
from vae.runfile import reading as runfile
from vae.runfile import writing as checkpoints
from vae.server.limits import check_disk, check_training
from vae.settings import MAX_PARAMETERS
from vae.training import jobs
from vae.training.loop import TrainingEnded
from vae.training.runs import continue_config, train_run
from vae.vocabulary import CheckpointError, ConfigError, LimitError

SIZES = [
    VAEConfig(),
    VAEConfig(arch="conv", latent_dim=64),
    VAEConfig(hidden=(200, 300, 50), activation="tanh", latent_dim=7),
    VAEConfig(objective="factor-vae", latent_dim=10),
    VAEConfig(arch="conv", objective="factor-vae", latent_dim=2),
]
CONFIG = VAEConfig(dataset="mnist-5k", latent_dim=2, epochs=1, seed=3)
HUGE = {"hidden": "4096,4096,4096,4096", "batch_size": "8192", "epochs": "5000"}  # the issue's link: 108 M parameters


@pytest.mark.parametrize("config", SIZES, ids=lambda c: f"{c.arch}-{c.objective}-d{c.latent_dim}")
def test_the_sizes_are_those_of_the_model_built(config):
    model = build_model(config)
    assert parameter_count(config) == sum(p.numel() for p in model.parameters())
    x = torch.rand(3, 1, 28, 28)
    with FlopCounterMode(display=False) as counted:
        model.decode(model.encode(x).mu)
    assert forward_macs(config) * 2 * 3 == counted.get_total_flops()  # 2 FLOPs a multiply-add, 3 images


def test_a_model_too_big_to_read_back_is_refused_by_the_config_in_one_line():
    with pytest.raises(ConfigError, match=r"^hidden: mlp 4096-4096-4096-4096 d=20 has 107,365,176 parameters, over"):
        VAEConfig(hidden=(4096,) * 4)
    VAEConfig(hidden=(1400,))  # 2.2 M: a run file holds it
    assert parameter_count(VAEConfig(arch="conv", latent_dim=64, objective="factor-vae")) < MAX_PARAMETERS


def test_the_cli_refuses_it_in_one_line(tmp_path):
    done = cli("train", "--name", "huge", "--hidden", "4096,4096,4096,4096", env={"VAE_CHECKPOINT_DIR": str(tmp_path)})
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines()[-1].startswith("vae train: error: --hidden: mlp 4096-4096-4096-4096")
    assert len(done.stderr.strip().splitlines()) == 1 and not list(tmp_path.iterdir())


def test_the_issues_link_is_refused_at_the_form_in_one_line(run_dir, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP

    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(run_dir))
    before = snapshot(run_dir)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(HUGE)
    at = open_page(at.run(), "pages/train.py")
    assert not at.exception
    (notice,) = [e.value for e in at.error]
    assert "hidden: mlp 4096-4096-4096-4096 d=2 has" in notice and "over the 3,000,000 a run file can hold" in notice
    assert next(t for t in at.text_input if t.label == "MLP hidden layers").value == "400"  # the field kept its default
    assert snapshot(run_dir) == before and not leftovers(run_dir)


def test_admission_is_priced_in_flops_and_parameters(monkeypatch):
    mlp, conv = VAEConfig(dataset="mnist", epochs=400), VAEConfig(dataset="mnist", arch="conv", epochs=40)
    check_training(mlp)  # the defaults: 400 epochs of the default MLP on MNIST, 40 of the conv
    check_training(conv)
    with pytest.raises(LimitError, match=r"^41 epochs of mnist for the conv d=20 model \(100,258 GFLOP\) is over"):
        check_training(conv.replace(epochs=41))
    check_training(conv.replace(epochs=41), first_epoch=2)  # a continuation is priced on its own epochs
    monkeypatch.setenv("VAE_MAX_PARAMETERS", "600000")
    with pytest.raises(LimitError, match=r"^a model of 652,824 parameters is over .* \(setting VAE_MAX_PARAMETERS\)"):
        check_training(mlp.replace(epochs=1))
    check_training(conv.replace(epochs=1))  # 265,833


def test_the_disk_quota_counts_every_run_but_the_shipped_ones(tmp_path, monkeypatch):
    (tmp_path / "shipped.json").write_text('{"runs": ["big-shipped"]}')
    (tmp_path / "big-shipped.pt").write_bytes(b"\0" * 3 * 2**20)
    (tmp_path / "mine.pt").write_bytes(b"\0" * 2**20)
    monkeypatch.setenv("VAE_MAX_RUNS_MB", "2")
    check_disk(tmp_path, 0.9)
    with pytest.raises(LimitError, match=r"^1.0 MB of runs and about 1.5 MB more is over .* VAE_MAX_RUNS_MB"):
        check_disk(tmp_path, 1.5)


def test_a_training_past_the_disk_quota_is_refused_and_keeps_no_name(tmp_path, monkeypatch):
    from vae.server.registry import JobRegistry

    monkeypatch.setattr(jobs, "_slots", threading.BoundedSemaphore(1))
    monkeypatch.setenv("VAE_MAX_RUNS_MB", "1")  # the default MLP's file is 7.5 MB
    job = jobs.TrainingJob(CONFIG.replace(latent_dim=20), "quota", tmp_path)
    with pytest.raises(LimitError, match="VAE_MAX_RUNS_MB"):
        JobRegistry().submit(job)
    assert not leftovers(tmp_path) and not list(tmp_path.glob("*.pt"))


def test_the_writer_never_puts_in_place_a_file_the_reader_refuses(run_dir, monkeypatch):
    run = load_run(run_dir / "tiny-d4.pt")
    save_run(run_dir, "fits", run.model, run.config, run.history, run.final)
    kept = (run_dir / "fits.pt").read_bytes()
    monkeypatch.setattr(runfile, "MAX_CHECKPOINT_BYTES", 1000)
    with pytest.raises(CheckpointError, match=r"^fits was not saved: its file is [0-9.]+ MB, over the 0 MB limit"):
        save_run(run_dir, "fits", run.model, run.config, run.history, run.final)
    assert (run_dir / "fits.pt").read_bytes() == kept and not leftovers(run_dir)
    assert checkpoints.check_size is runfile.check_size  # one limit, read where it is written


def _crafted(state: dict) -> dict:
    """``state`` with every hyperparameter a file could carry set to what would wreck a continuation."""
    for group in state["optimizer"]["param_groups"]:
        group.update(betas=(0.0, 0.0), weight_decay=1e3, maximize=True, eps=1.0, amsgrad=True)
    return state


def test_a_crafted_train_state_cannot_change_how_a_continuation_trains(tmp_path, small_data):
    config = CONFIG.replace(epochs=1)
    for name in ("honest", "crafted"):
        list(train_run(config, name, tmp_path, data=small_data))
    run = load_run(tmp_path / "crafted.pt")
    run.train_state = _crafted(run.train_state)
    ends = {}
    for name, resume in (("honest", load_run(tmp_path / "honest.pt")), ("crafted", run)):
        events = list(train_run(continue_config(resume, 1), name, tmp_path, data=small_data, resume=resume))
        ends[name] = events[-1]
        assert isinstance(events[-1], TrainingEnded) and events[-1].reason == "completed"
    honest, crafted = load_run(tmp_path / "honest.pt"), load_run(tmp_path / "crafted.pt")
    assert honest.epochs[-1]["test"] == crafted.epochs[-1]["test"]  # the same Adam, the config's
    groups = crafted.train_state["optimizer"]["param_groups"]
    assert all(g["betas"] == (0.9, 0.999) and g["weight_decay"] == 0 and not g["maximize"] for g in groups)


@pytest.mark.parametrize("moment", ["exp_avg_sq", "step"])
def test_moments_adam_could_not_have_written_start_the_optimiser_afresh(tmp_path, small_data, moment):
    list(train_run(CONFIG.replace(epochs=1), "odd", tmp_path, data=small_data))
    run = load_run(tmp_path / "odd.pt")
    for saved in run.train_state["optimizer"]["state"].values():
        saved[moment] = -saved[moment].abs() - 1
    events = list(train_run(continue_config(run, 1), "odd", tmp_path, data=small_data, resume=run))
    assert events[-1].reason == "completed"  # carried on from the weights, with a fresh Adam
    assert all(torch.isfinite(p).all() for p in load_run(tmp_path / "odd.pt").model.parameters())


def test_a_crafted_run_over_the_cap_is_refused_by_name_when_read(run_dir, tmp_path):
    """An upload or a file dropped in the folder: its config is read first, and a model over the cap is refused
    before a tensor is built."""
    data = poisoned(run_dir / "tiny-d4.pt", tmp_path / "huge.pt", lambda p: p["config"].update(hidden=[4096] * 4))
    for read in (lambda: checkpoints.load_run_bytes(data, "huge.pt"), lambda: load_run(tmp_path / "huge.pt")):
        with pytest.raises(CheckpointError, match="has 107,[0-9,]+ parameters, over the 3,000,000 a run file can"):
            read()
