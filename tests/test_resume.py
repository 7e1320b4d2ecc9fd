"""Interrupted and resumable runs: exact continuation, the `interrupted` status, and `train --resume`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.conftest import ROOT, cli, words
from vae.model.config import VAEConfig
from vae.runfile import list_runs, load_run
from vae.runfile.writers import mark_writing, run_status, trainer_id
from vae.training.loop import EpochMetrics, TrainingEnded, learning_rate
from vae.training.record import StepHistory
from vae.training.runs import continue_config, train_run
from vae.vocabulary import CheckpointError

CONFIG = VAEConfig(dataset="mnist-5k", latent_dim=2, epochs=4, seed=3)


def _train(config, name, directory, data, resume=None) -> list[EpochMetrics]:
    events = list(train_run(config, name, directory, data=data, resume=resume))
    assert isinstance(events[-1], TrainingEnded) and events[-1].reason == "completed", events[-1]
    return [e for e in events if isinstance(e, EpochMetrics)]


def test_two_epochs_plus_two_more_equal_four_uninterrupted(tmp_path, small_data):
    straight = _train(CONFIG, "straight", tmp_path, small_data)
    _train(CONFIG.replace(epochs=2), "halves", tmp_path, small_data)
    first_half = load_run(tmp_path / "halves.pt")
    assert first_half.train_state["epochs_done"] == 2
    resumed = _train(continue_config(first_half, 2), "halves", tmp_path, small_data, resume=first_half)

    assert [e.epoch for e in resumed] == [3, 4]
    assert [e.test for e in resumed] == [e.test for e in straight[2:]]  # exactly, not approximately
    a, b = load_run(tmp_path / "straight.pt"), load_run(tmp_path / "halves.pt")
    for key, value in a.model.state_dict().items():
        assert torch.equal(value, b.model.state_dict()[key]), key
    # The curves carry on: one history with all four epochs and every step, in order.
    assert [e["epoch"] for e in b.epochs] == [1, 2, 3, 4]
    assert StepHistory.from_history(a.history) == StepHistory.from_history(b.history)
    assert b.final["epochs"] == 4 and b.final["status"] == "completed"


def test_a_run_stopped_mid_epoch_continues_from_its_last_finished_epoch(tmp_path, small_data):
    import threading

    stop = threading.Event()
    for event in train_run(CONFIG.replace(epochs=3), "cut", tmp_path, data=small_data, stop=stop):
        if isinstance(event, EpochMetrics):
            stop.set()  # stops after the first step of epoch 2
    run = load_run(tmp_path / "cut.pt")
    assert run.status == "stopped" and len(run.epochs) == 1
    _train(continue_config(run, 2), "cut", tmp_path, small_data, resume=run)
    again = load_run(tmp_path / "cut.pt")
    assert [e["epoch"] for e in again.epochs] == [1, 2, 3]
    steps = StepHistory.from_history(again.history)
    epochs_of_steps = steps.column("epoch")
    assert epochs_of_steps == sorted(epochs_of_steps)  # the cut-short steps were dropped
    assert len(steps) == 3 * steps.steps_per_epoch


def test_cosine_schedule_reads_the_rate_off_the_whole_run():
    config = VAEConfig(lr=1e-3, lr_schedule="cosine", epochs=4)
    assert learning_rate(config, 0, 400) == pytest.approx(1e-3)
    assert learning_rate(config, 200, 400) == pytest.approx(5e-4)
    assert learning_rate(config, 400, 400) == pytest.approx(0.0, abs=1e-12)
    assert learning_rate(VAEConfig(lr=2e-3), 399, 400) == 2e-3


def test_only_finished_stopped_or_interrupted_runs_continue(tmp_path, small_data):
    _train(CONFIG.replace(epochs=1), "done", tmp_path, small_data)
    run = load_run(tmp_path / "done.pt")
    with pytest.raises(ValueError, match="at least 1"):
        continue_config(run, 0)
    with pytest.raises(ValueError, match="over the 5000 epochs"):
        continue_config(run, 5000)
    run.final["status"] = "diverged"
    with pytest.raises(CheckpointError, match="diverged"):
        continue_config(run, 1)


def test_status_running_only_while_its_trainer_lives(tmp_path):
    path = tmp_path / "r.pt"
    mine = {"status": "running", "trainer": trainer_id()}
    assert run_status(mine, path) == "interrupted"  # this process is not writing it
    mark_writing(path, True)
    try:
        assert run_status(mine, path) == "running"
    finally:
        mark_writing(path, False)
    assert run_status(mine, path) == "interrupted"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True, text=True
    )
    host = trainer_id().split(":")[0]
    assert run_status({"status": "running", "trainer": f"{host}:{dead.stdout.strip()}:1"}) == "interrupted"
    assert run_status({"status": "running"}) == "interrupted"  # written before trainers were recorded
    assert run_status({"status": "completed", "trainer": "x"}) == "completed"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to tell a live trainer")
def test_killed_cli_training_is_interrupted_then_continues(tmp_path):
    """Kill a real trainer with SIGKILL after its first epoch; the run reads as interrupted and resumes."""
    env = {**os.environ, "VAE_OFFLINE": "1"}
    command = [
        sys.executable,
        *words("-m vae train --dataset mnist-5k --latent-dim 2 --epochs 400 --name victim --checkpoint-dir"),
        str(tmp_path),
        "--json",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        first = process.stdout.readline()  # one epoch finished and saved
        assert json.loads(first)["epoch"] == 1, first
        [info] = list_runs(tmp_path)
        assert info.status == "running"  # its trainer is alive
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while list_runs(tmp_path)[0].status != "interrupted":
        assert time.monotonic() < deadline, "the killed run never read as interrupted"
        time.sleep(0.1)
    done = len(load_run(tmp_path / "victim.pt").epochs)

    out = cli(*words("train --resume victim --epochs 1 --checkpoint-dir"), str(tmp_path), "--json")
    assert out.returncode == 0, out.stderr
    assert [json.loads(line)["epoch"] for line in out.stdout.splitlines()] == [done + 1]
    run = load_run(tmp_path / "victim.pt")
    assert run.status == "completed" and [e["epoch"] for e in run.epochs] == list(range(1, done + 2))


@pytest.mark.slow
def test_cli_resume_carries_on_the_epoch_count_and_guards_shipped_runs(run_dir):
    two = cli(
        *words("train --dataset mnist-5k --latent-dim 2 --epochs 2 --name mine --checkpoint-dir"),
        str(run_dir),
        "--json",
    )
    assert two.returncode == 0, two.stderr
    more = cli(*words("train --resume mine --epochs 2 --checkpoint-dir"), str(run_dir), "--json")
    assert more.returncode == 0, more.stderr
    assert [json.loads(line)["epoch"] for line in more.stdout.splitlines()] == [3, 4]
    assert load_run(run_dir / "mine.pt").config.epochs == 4

    shipped_before = (run_dir / "tiny-d2.pt").read_bytes()
    out = cli(*words("train --resume tiny-d2 --epochs 1 --checkpoint-dir"), str(run_dir), "--json")
    assert out.returncode == 0, out.stderr
    assert (run_dir / "tiny-d2.pt").read_bytes() == shipped_before
    copy = load_run(run_dir / "tiny-d2-continued.pt")
    assert [e["epoch"] for e in copy.epochs] == [1, 2]

    for args, message in (
        (("--resume", "nope", "--epochs", "1"), "no run named 'nope'"),
        (("--resume", "mine", "--epochs", "0"), "at least 1"),
        (("--resume", "mine", "--epochs", "x"), "whole number"),
        (("--resume", "mine", "--epochs", "1", "--name", "other"), "only for shipped runs"),
        (("--epochs", "1"), "--name is required"),
    ):
        bad = cli("train", *args, "--checkpoint-dir", str(run_dir))
        assert bad.returncode == 2 and message in bad.stderr, (args, bad.stderr)
        assert "Traceback" not in bad.stderr


def test_a_run_from_a_gpu_machine_continues_here_with_its_optimizer_moments(tmp_path, small_data):
    """A run trained where CUDA was (its config names the device, its noise generator's state is CUDA's 16 bytes)
    continues on a machine without it: on this machine's device, Adam's moments kept, the noise reseeded."""
    import dataclasses

    from vae.training.loop import TrainState

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the run would continue there as it is")
    _train(CONFIG.replace(epochs=1), "from-gpu", tmp_path, small_data)
    run = load_run(tmp_path / "from-gpu.pt")
    foreign = {**run.train_state, "noise_rng": torch.zeros(16, dtype=torch.uint8)}  # a CUDA Philox state's size
    run = dataclasses.replace(run, config=run.config.replace(device="cuda"), train_state=foreign)

    config = continue_config(run, 1)
    assert config.device == "auto" and config.epochs == 2
    state = TrainState.fresh(run.model, config)
    state.load_state_dict(run.train_state)
    saved = run.train_state["optimizer"]["state"]
    for i, moments in state.optimizer.state_dict()["state"].items():
        assert torch.equal(moments["exp_avg"], saved[i]["exp_avg"]), "Adam's moments were dropped"
    again = TrainState.fresh(run.model, config)
    again.load_state_dict(run.train_state)
    assert torch.equal(state.noise.get_state(), again.noise.get_state()), "the reseeded noise is not the run's own"
    assert not torch.equal(state.noise.get_state(), TrainState.fresh(run.model, config).noise.get_state())
    epochs = _train(config, "from-gpu", tmp_path, small_data, resume=run)
    assert [e.epoch for e in epochs] == [2]
