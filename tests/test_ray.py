"""The Ray engine against a real Ray cluster of one node, started by the tests as a process of its own
(``ray_address``): the same numbers as the local engine, a killed worker, Stop, and an address out of reach."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading

import pytest

from tests.conftest import cli, leftovers, wait_until
from vae.model.config import VAEConfig
from vae.runfile import list_runs, load_run
from vae.training.engine import Engine
from vae.training.jobs import TrainingJob

pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

CONFIG = VAEConfig(dataset="mnist-5k", arch="mlp", latent_dim=2, epochs=1)
LONG = CONFIG.replace(epochs=400)  # minutes: long enough to be killed or stopped mid-run


def _cli(*args: str, folder) -> subprocess.CompletedProcess:
    return cli(*args, env={"VAE_CHECKPOINT_DIR": str(folder), "VAE_ENGINE": ""})


def _sweep(folder, *engine: str) -> dict[str, dict]:
    out = _cli(
        *("sweep", "--dataset", "mnist-5k", "--latent-dim", "2", "--beta", "0.5,1,2", "--epochs", "1"),
        *("--name-prefix", "s", "--json", *engine),
        folder=folder,
    )
    assert out.returncode == 0, out.stderr
    return {line["name"]: line for line in map(json.loads, out.stdout.splitlines())}


def test_a_ray_sweep_lands_the_same_runs_as_a_local_one(ray_address, tmp_path):
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    local.mkdir(), on_ray.mkdir()
    expected = _sweep(local)
    got = _sweep(on_ray, "--engine", "ray", "--address", ray_address)
    assert sorted(got) == ["s-d2-b0.5", "s-d2-b1", "s-d2-b2"]
    for name, line in got.items():
        assert line["error"] == "" and line["test"] == expected[name]["test"], name  # bit-equal, one thread each
        run, twin = load_run(on_ray / f"{name}.pt"), load_run(local / f"{name}.pt")
        assert run.status == "completed" and run.final["test"] == twin.final["test"]
        assert all(run.model.state_dict()[k].equal(v) for k, v in twin.model.state_dict().items())
    assert leftovers(on_ray) == []  # no lock, no temporary file


def _ray_job(config: VAEConfig, name: str, folder, address: str) -> TrainingJob:
    return TrainingJob(config, name, folder, engine=Engine("ray", address)).start()


def test_a_killed_ray_worker_leaves_its_run_interrupted_and_the_others_complete(ray_address, tmp_path):
    victim = _ray_job(LONG, "victim", tmp_path, ray_address)
    wait_until(lambda: len(victim.snapshot().epochs) >= 1 or victim.snapshot().done, "an epoch", timeout=180)
    assert not victim.snapshot().done, victim.snapshot().message
    others = [_ray_job(CONFIG.replace(beta=b), f"other-{b}", tmp_path, ray_address) for b in (1.0, 2.0)]
    assert victim.host and victim.pid != os.getpid()
    os.kill(victim.pid, signal.SIGKILL)  # the Ray worker process that runs the task
    assert victim.join(timeout=120) and all(job.join(timeout=180) for job in others)
    snap = victim.snapshot()
    assert snap.done and snap.status == "interrupted" and "the Ray worker was lost" in snap.message
    status = {info.name: info.status for info in list_runs(tmp_path)}
    assert status == {"victim": "interrupted", "other-1.0": "completed", "other-2.0": "completed"}
    run = load_run(tmp_path / "victim.pt")  # the last epoch that came back, whole
    assert len(run.epochs) >= 1 and "the Ray worker was lost" in run.final["message"]
    # Read from another process too: the file names no living writer.
    out = _cli("list", "--json", folder=tmp_path)
    assert {r["name"]: r["status"] for r in json.loads(out.stdout)}["victim"] == "interrupted"
    assert leftovers(tmp_path) == []


def test_stop_during_a_ray_sweep_leaves_stopped_runs_that_load_and_continue(ray_address, tmp_path):
    from vae.training import ray_cluster
    from vae.training.sweep import plan, run_sweep

    engine = Engine("ray", ray_address)
    ray_cluster.connect(engine)
    grid = plan(LONG, [1.0, 2.0, 4.0], [2], "stopped")  # one CPU each on 2: the third waits for a CPU
    stop = threading.Event()
    results = []
    thread = threading.Thread(target=lambda: results.extend(run_sweep(grid, tmp_path, 2, stop=stop, engine=engine)))
    thread.start()
    wait_until(lambda: len(list(tmp_path.glob("stopped-*.pt"))) == 2, "two runs saved an epoch", timeout=180)
    stop.set()
    thread.join(timeout=120)
    assert not thread.is_alive() and len(results) == 3
    errors = {outcome.name: outcome.error for outcome in results}
    waited = [name for name, error in errors.items() if "cancelled before it started" in error]
    assert len(waited) == 1 and not (tmp_path / f"{waited[0]}.pt").exists(), errors  # like a local queued job
    stopped = sorted(set(errors) - set(waited))
    for name in stopped:
        assert errors[name].startswith("stopped during epoch"), errors[name]
        run = load_run(tmp_path / f"{name}.pt")
        assert run.status == "stopped" and 1 <= len(run.epochs) < LONG.epochs
    done = len(load_run(tmp_path / f"{stopped[0]}.pt").epochs)
    out = _cli(
        *("train", "--resume", stopped[0], "--epochs", "1", "--engine", "ray", "--address", ray_address),
        folder=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    run = load_run(tmp_path / f"{stopped[0]}.pt")
    assert run.status == "completed" and [e["epoch"] for e in run.epochs] == list(range(1, done + 2))
    assert leftovers(tmp_path) == []


def test_an_unreachable_address_is_one_line_naming_it(tmp_path):
    import socket

    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for command in ("train", "sweep"):
        out = _cli(
            command,
            *(("--name", "x") if command == "train" else ("--beta", "1", "--name-prefix", "x")),
            *("--dataset", "mnist-5k", "--epochs", "1", "--engine", "ray", "--address", f"127.0.0.1:{port}"),
            folder=tmp_path,
        )
        assert out.returncode == 1
        assert out.stderr.strip() == (
            f"vae {command}: error: cannot reach the Ray cluster at 127.0.0.1:{port}: Connection refused"
        )
    assert list(tmp_path.iterdir()) == []


def test_a_bad_engine_setting_is_one_line_in_the_app_and_takes_no_name(run_dir, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP, open_page, snapshot

    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(run_dir))
    monkeypatch.setenv("VAE_ENGINE", "bogus")
    before = snapshot(run_dir)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at = open_page(at, "pages/train.py")
    at.run()
    assert any("Trainings cannot start: the engine must be local or ray; got 'bogus'" in c.value for c in at.caption)
    at.button[0].click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Cannot start training: the engine must be local or ray; got 'bogus' (from VAE_ENGINE)"
    ]
    assert snapshot(run_dir) == before and not leftovers(run_dir)  # no name was taken
