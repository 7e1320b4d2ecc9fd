"""The dashboard's training worker, driven directly (AppTest does not drive threads or run_every)."""

import os
import sys
import threading

import pytest

from vae import jobs
from vae.checkpoints import load_run
from vae.config import VAEConfig
from vae.jobs import TrainingJob

CONFIG = VAEConfig(dataset="mnist-5k", arch="mlp", latent_dim=2, epochs=2)


@pytest.fixture(autouse=True)
def fresh_slots(monkeypatch):
    monkeypatch.setattr(jobs, "_slots", threading.BoundedSemaphore(2))


def test_job_trains_saves_and_reports(tmp_path):
    job = TrainingJob(CONFIG, "worker", tmp_path).start()
    assert job.join(timeout=120)
    snap = job.snapshot()
    assert snap.status == "completed" and snap.done and snap.progress == 1.0
    assert [e.epoch for e in snap.epochs] == [1, 2]
    assert len(snap.steps) == 2 * 32 and len(snap.steps[0]) == 6
    assert load_run(tmp_path / "worker.pt").final["status"] == "completed"


def test_stop_keeps_what_was_trained(tmp_path):
    job = TrainingJob(CONFIG.replace(epochs=50), "stopme", tmp_path).start()
    while job.snapshot().last_step is None or job.snapshot().last_step.epoch < 2:
        assert job.thread.is_alive()
        job.join(timeout=0.05)
    job.request_stop()
    assert job.join(timeout=60)
    snap = job.snapshot()
    assert snap.status == "stopped" and len(snap.epochs) < 50
    run = load_run(tmp_path / "stopme.pt")
    assert run.final["status"] == "stopped" and run.final["epochs"] >= 1


def test_jobs_with_one_name_get_distinct_files(tmp_path):
    first = TrainingJob(CONFIG.replace(epochs=1), "same", tmp_path)
    second = TrainingJob(CONFIG.replace(epochs=1), "same", tmp_path)
    assert (first.name, second.name) == ("same", "same-2")
    first.start(), second.start()
    assert first.join(120) and second.join(120)
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["same-2.pt", "same.pt"]


def test_extra_jobs_wait_in_the_queue(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "_slots", threading.BoundedSemaphore(1))
    running = TrainingJob(CONFIG.replace(epochs=50), "long", tmp_path).start()
    while running.snapshot().status != "running":
        running.join(timeout=0.02)
    waiting = TrainingJob(CONFIG.replace(epochs=1), "short", tmp_path).start()
    waiting.join(timeout=1.0)
    assert waiting.snapshot().status == "queued"
    running.request_stop()
    assert running.join(60) and waiting.join(120)
    assert waiting.snapshot().status == "completed"


def test_a_crash_in_the_worker_is_reported_not_raised(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")
        yield  # pragma: no cover

    monkeypatch.setattr(jobs, "train_run", broken)
    job = TrainingJob(CONFIG, "broken", tmp_path).start()
    assert job.join(timeout=30)
    snap = job.snapshot()
    assert snap.status == "failed" and "disk full" in snap.message
    assert isinstance(job.error, OSError)
    assert TrainingJob(CONFIG, "broken", tmp_path).name == "broken"  # the name was released


def _nice(tid: int) -> int:
    # Field 19 of /proc/<pid>/task/<tid>/stat, counted after the ")" that ends the command name.
    with open(f"/proc/self/task/{tid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[16])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is a Linux feature")
def test_a_training_thread_yields_the_cpu_to_the_pages_and_only_it():
    import torch

    seen: dict[str, object] = {}
    server_niceness = _nice(threading.get_native_id())

    def worker() -> None:
        seen["lowered"] = jobs.lower_thread_priority()
        seen["own"] = _nice(threading.get_native_id())
        before = set(os.listdir("/proc/self/task"))
        torch.ones(512, 512) @ torch.ones(512, 512)  # starts this thread's OpenMP workers, if it has any
        seen["new"] = {int(t) for t in set(os.listdir("/proc/self/task")) - before}
        seen["new_nice"] = {_nice(t) for t in seen["new"]}

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["lowered"] and seen["own"] == jobs.TRAINING_NICENESS
    assert _nice(threading.get_native_id()) == server_niceness  # the server's threads keep theirs
    if torch.get_num_threads() > 1:
        assert seen["new"] and seen["new_nice"] == {jobs.TRAINING_NICENESS}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is a Linux feature")
def test_a_job_trains_at_the_lower_priority(tmp_path):
    job = TrainingJob(CONFIG.replace(epochs=50), "niced", tmp_path).start()
    while job.snapshot().status != "running":
        job.join(timeout=0.02)
    niceness = os.getpriority(os.PRIO_PROCESS, job.thread.native_id)
    job.request_stop()
    assert job.join(timeout=60)
    assert niceness == jobs.TRAINING_NICENESS


def test_the_live_view_is_thinned_to_a_fixed_number_of_points(tmp_path):
    job = TrainingJob(CONFIG, "thin", tmp_path)
    job._steps = [(i / 469, 100.0, 20.0, 120.0, 1.0, 0.0) for i in range(4690)]  # 10 epochs of full MNIST
    steps = job.snapshot().steps
    assert 0.9 * job.MAX_LIVE_STEPS <= len(steps) <= job.MAX_LIVE_STEPS
    assert steps[0][0] == 0.0 and steps[-1][0] > 9.9  # still spans the whole run
    job._steps = job._steps[:300]
    assert len(job.snapshot().steps) == 300  # short runs are drawn in full
    jobs.release_run_name(tmp_path, job.name)
