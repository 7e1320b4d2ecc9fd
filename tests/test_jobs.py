"""The dashboard's training worker, driven directly (AppTest does not drive threads or run_every)."""

import os
import signal
import sys
import threading
import types
from pathlib import Path

import pytest

from tests.conftest import wait_until
from vae.model.config import VAEConfig
from vae.runfile import load_run
from vae.server.registry import JobRegistry
from vae.training import jobs
from vae.training.jobs import TrainingJob
from vae.training.local_engine import AUTOGROUP, AUTOGROUP_NICENESS, TRAINING_NICENESS
from vae.training.record import StepHistory
from vae.vocabulary import CheckpointError

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
    assert len(snap.steps) == 2 * 32 and snap.steps.steps_per_epoch == 32
    assert load_run(tmp_path / "worker.pt").final["status"] == "completed"


def test_stop_keeps_what_was_trained(tmp_path):
    job = TrainingJob(CONFIG.replace(epochs=50), "stopme", tmp_path).start()
    wait_until(lambda: len(job.snapshot().epochs) >= 1, "the first epoch finished")
    job.request_stop()
    assert job.join(timeout=60)
    snap = job.snapshot()
    assert snap.status == "stopped" and len(snap.epochs) < 50
    run = load_run(tmp_path / "stopme.pt")
    assert run.final["status"] == "stopped" and run.final["epochs"] >= 1


@pytest.mark.slow
def test_jobs_with_one_name_get_distinct_files(tmp_path):
    first = TrainingJob(CONFIG.replace(epochs=1), "same", tmp_path)
    second = TrainingJob(CONFIG.replace(epochs=1), "same", tmp_path)
    assert (first.name, second.name) == ("same", "same-2")
    first.start(), second.start()
    assert first.join(120) and second.join(120)
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["same-2.pt", "same.pt"]


@pytest.mark.slow
def test_extra_jobs_wait_in_the_queue(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "_slots", threading.BoundedSemaphore(1))
    running = TrainingJob(CONFIG.replace(epochs=50), "long", tmp_path).start()
    wait_until(lambda: running.snapshot().status == "running", "the first job started running")
    waiting = TrainingJob(CONFIG.replace(epochs=1), "short", tmp_path).start()
    waiting.join(timeout=1.0)
    assert waiting.snapshot().status == "queued"
    running.request_stop()
    assert running.join(60) and waiting.join(120)
    assert waiting.snapshot().status == "completed"


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_a_crash_in_the_training_process_is_reported_not_raised(tmp_path):
    job = TrainingJob(CONFIG.replace(device="cuda"), "broken", tmp_path).start()
    assert job.join(timeout=60)
    snap = job.snapshot()
    assert snap.status == "failed" and "'cuda' is not available" in snap.message
    assert "'cuda' is not available" in job.error
    assert not (tmp_path / "broken.pt").exists()
    assert TrainingJob(CONFIG, "broken", tmp_path).name == "broken"  # the name was released


def test_a_training_process_that_dies_is_reported_as_failed(tmp_path):
    job = TrainingJob(CONFIG.replace(epochs=50), "killed", tmp_path).start()
    wait_until(lambda: len(job.snapshot().epochs) >= 1, "the first epoch finished")
    os.kill(job.pid, signal.SIGKILL)
    assert job.join(timeout=30)
    snap = job.snapshot()
    assert snap.status == "failed" and "ended unexpectedly" in snap.message
    assert load_run(tmp_path / "killed.pt").status == "interrupted"  # its saved epochs stay


def test_a_job_trains_in_its_own_niced_process(tmp_path):
    job = TrainingJob(CONFIG.replace(epochs=50), "niced", tmp_path).start()
    wait_until(lambda: job.snapshot().last_step is not None, "the job took a step")
    assert job.pid is not None and job.pid != os.getpid()
    niceness = os.getpriority(os.PRIO_PROCESS, job.pid)
    session = os.getsid(job.pid)
    group = Path(f"/proc/{job.pid}/autogroup").read_text() if AUTOGROUP.exists() else None
    job.request_stop()
    assert job.join(timeout=60)
    server = os.getpriority(os.PRIO_PROCESS, 0)
    assert niceness == max(TRAINING_NICENESS, server)
    # The server keeps its own priority; a server already at 19 (``nice -n 19 pytest``) has no lower one to give.
    assert server < niceness or server == 19
    if group is not None:  # Linux with autogroups: a session, and so a scheduling group, of its own
        assert session == job.pid != os.getsid(0)
        assert group.split()[-1] == str(AUTOGROUP_NICENESS) and group != AUTOGROUP.read_text()
    assert job.snapshot().status == "stopped"


def test_a_training_process_does_not_run_the_parents_main_script(tmp_path, monkeypatch):
    """Streamlit's script runner leaves the app's entrypoint as ``__main__``; multiprocessing's spawn ran
    it again in every training process (Streamlit, the router, a page) before the first step."""
    script = tmp_path / "app.py"
    script.write_text(f"open({str(tmp_path / 'ran')!r}, 'w').close()\n")
    app = types.ModuleType("__main__")
    app.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", app)
    job = TrainingJob(CONFIG.replace(epochs=50), "lean", tmp_path).start()
    wait_until(lambda: job.snapshot().last_step is not None, "the job took a step")
    job.request_stop()
    assert job.join(timeout=60) and job.snapshot().status == "stopped"
    assert not (tmp_path / "ran").exists()


def test_the_live_view_is_thinned_to_a_fixed_number_of_points(tmp_path):
    job = TrainingJob(CONFIG, "thin", tmp_path)
    rows = [(1 + i // 469, 1 + i % 469, 100.0, 20.0, 120.0, 1.0, 0.0, 0.0) for i in range(4690)]  # 10 epochs of MNIST
    job._steps = StepHistory(469, rows)
    steps = job.snapshot().steps
    assert 0.9 * job.MAX_LIVE_STEPS <= len(steps) <= job.MAX_LIVE_STEPS
    axis = steps.epoch_axis()
    assert axis[0] == 1 / 469 and axis[-1] > 9.9  # still spans the whole run
    job._steps = StepHistory(469, rows[:300])
    assert len(job.snapshot().steps) == 300  # short runs are drawn in full
    jobs.release_run_name(tmp_path, job.name)


# --- The process-wide registry -------------------------------------------------------------------


def test_registry_hands_out_unguessable_tokens_and_only_they_stop_a_job(tmp_path):
    registry = JobRegistry()
    job = TrainingJob(CONFIG.replace(epochs=50), "owned", tmp_path)
    token = registry.submit(job)
    assert len(token) >= 20 and token.isascii() and registry.get(token) is job
    assert registry.get(token[:-1]) is None and registry.get("") is None and registry.get(None) is None
    assert registry.jobs() == [job] and registry.job_for_run("owned") is job
    assert registry.get(token) is job and registry.get("guess") is None
    assert not registry.stop("guess") and not job.stop_event.is_set()
    assert registry.stop(token)
    assert job.join(timeout=60), "the job did not stop"
    assert job.snapshot().status == "stopped"
    other = TrainingJob(CONFIG.replace(epochs=1), "other", tmp_path)
    assert registry.submit(other) != token


@pytest.mark.slow
def test_registry_drops_finished_jobs_after_an_hour(tmp_path):
    now = [1000.0]
    registry = JobRegistry(keep_finished_s=3600, clock=lambda: now[0])
    finished = TrainingJob(CONFIG.replace(epochs=1), "finished", tmp_path)
    token = registry.submit(finished)
    assert finished.join(timeout=120)
    assert finished.finished_at is not None
    finished.finished_at = now[0]  # on the registry's clock
    running = TrainingJob(CONFIG.replace(epochs=50), "running", tmp_path)
    running_token = registry.submit(running)
    now[0] += 3599
    assert registry.get(token) is finished
    now[0] += 2
    assert registry.get(token) is None and registry.jobs() == [running]
    now[0] += 10 * 3600
    assert registry.get(running_token) is running, "a job still training is never dropped"
    registry.stop(running_token)
    assert running.join(timeout=60)


@pytest.mark.slow
def test_a_continued_job_counts_progress_from_where_it_resumed(tmp_path):
    from vae.training.runs import continue_config

    first = TrainingJob(CONFIG.replace(epochs=1), "grow", tmp_path).start()
    assert first.join(timeout=120)
    run = load_run(tmp_path / "grow.pt")
    job = TrainingJob(continue_config(run, 2), "ignored", tmp_path, resume=run, in_place=True)
    assert job.name == "grow" and job.first_epoch == 2
    assert [e.epoch for e in job.snapshot().epochs] == [1], "the live curves start from the saved epochs"
    with pytest.raises(CheckpointError, match="already being trained"):
        TrainingJob(continue_config(run, 1), "x", tmp_path, resume=run, in_place=True)
    job.start()
    assert job.join(timeout=120)
    snap = job.snapshot()
    assert snap.status == "completed" and snap.progress == 1.0
    assert [e.epoch for e in snap.epochs] == [1, 2, 3]
    assert [e["epoch"] for e in load_run(tmp_path / "grow.pt").epochs] == [1, 2, 3]


@pytest.mark.slow
def test_a_batch_has_one_token_and_stops_as_a_whole(tmp_path):
    registry = JobRegistry()
    batch = [TrainingJob(CONFIG.replace(epochs=50), f"b{i}", tmp_path) for i in range(3)]
    token = registry.submit_batch(batch)
    assert registry.batch(token) == batch and registry.batch("guess") == [] and registry.get(token) is None
    assert registry.batch(token) == batch and registry.batch("guess") == []
    wait_until(lambda: sum(j.snapshot().status == "running" for j in batch) == 2, "two of three ran")
    assert [j.snapshot().status for j in batch].count("queued") == 1, "the third waits for a slot"
    assert registry.stop_batch(token) and not registry.stop_batch("guess")
    assert all(job.join(60) for job in batch)
    assert [j.snapshot().status for j in batch] == ["stopped"] * 3


def _locks(directory: Path) -> list[str]:
    return sorted(p.name for p in Path(directory).glob(".*.lock"))


@pytest.mark.parametrize("fault", ["a limit", "a shapes training priced from a missing table", "anything else"])
def test_an_error_while_a_batch_is_admitted_gives_back_every_name(tmp_path, monkeypatch, fault):
    from vae.server import registry as registry_module
    from vae.vocabulary import LimitError

    raised = {"a limit": LimitError("over"), "anything else": RuntimeError("boom")}.get(fault, KeyError("shapes"))

    def refuse(*args: object) -> None:
        raise raised

    monkeypatch.setattr(registry_module, "check_training" if "shapes" in fault else "check_queue", refuse)
    registry = JobRegistry()
    batch = [TrainingJob(CONFIG.replace(epochs=1), f"b{i}", tmp_path) for i in range(3)]
    assert _locks(tmp_path) == [".b0.pt.lock", ".b1.pt.lock", ".b2.pt.lock"]
    with pytest.raises(type(raised)):
        registry.submit_batch(batch)
    assert _locks(tmp_path) == [] and registry.jobs() == []
    assert [TrainingJob(CONFIG, f"b{i}", tmp_path).name for i in range(3)] == ["b0", "b1", "b2"]  # not b0-2


def test_a_batch_that_fails_to_start_stops_what_started_and_gives_back_the_rest(tmp_path, monkeypatch):
    taken = threading.BoundedSemaphore(1)
    taken.acquire()  # no free slot: what started waits in the queue, where a stop cancels it at once
    monkeypatch.setattr(jobs, "_slots", taken)
    registry = JobRegistry()
    batch = [TrainingJob(CONFIG.replace(epochs=50), f"s{i}", tmp_path) for i in range(3)]
    real_start = TrainingJob.start

    def start(job: TrainingJob) -> TrainingJob:
        if job is batch[1]:
            raise RuntimeError("can't start new thread")
        return real_start(job)

    monkeypatch.setattr(TrainingJob, "start", start)
    with pytest.raises(RuntimeError):
        registry.submit_batch(batch)
    assert batch[0].stop_event.is_set() and batch[0].join(timeout=60)
    assert batch[0].snapshot().status == "stopped" and registry.jobs() == [
        batch[0]
    ]  # the one that ran is listed as it ended; the others never were
    assert _locks(tmp_path) == []


def test_a_sweep_whose_jobs_cannot_all_be_made_gives_back_the_names_of_those_made(tmp_path, monkeypatch):
    from vae.training.jobs import new_jobs
    from vae.vocabulary import ConfigError

    grid = [("n0", CONFIG), ("n1", CONFIG), ("n2", CONFIG)]
    real_init = TrainingJob.__init__

    def init(job: TrainingJob, config: VAEConfig, name: str, *args: object, **kwargs: object) -> None:
        if name == "n2":
            raise ConfigError("latent_dim", "refused for the test")
        real_init(job, config, name, *args, **kwargs)

    monkeypatch.setattr(TrainingJob, "__init__", init)
    with pytest.raises(ConfigError):
        new_jobs(grid, tmp_path)
    assert _locks(tmp_path) == []
    monkeypatch.setattr(TrainingJob, "__init__", real_init)
    assert [job.name for job in new_jobs(grid, tmp_path, owner="x")] == ["n0", "n1", "n2"]


def test_a_job_that_fails_while_it_is_made_gives_back_its_name(tmp_path, monkeypatch):
    def broken() -> None:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(jobs, "StepHistory", broken)
    with pytest.raises(RuntimeError):
        TrainingJob(CONFIG, "made", tmp_path)
    assert _locks(tmp_path) == []
