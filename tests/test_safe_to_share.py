"""Safe to share: no user, file or widget breaks the lab for everyone else, or deletes another user's work.

One test per failure found against 966801b, then owners, one writer per name, and the server's limits.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading

import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.conftest import (
    APP,
    ROOT,
    TOKEN_A,
    TOKEN_B,
    buttons,
    cli,
    leftovers,
    open_page,
    poisoned,
    session,
    session_job,
    snapshot,
    wait_until,
    words,
)
from tests.foreign_models import ExamplesVAE
from vae.model.config import VAEConfig
from vae.runfile import import_run, list_runs, load_run
from vae.runfile.names import claim_run_name, holder, lock_path, release_run_name, reserve_exact, reserve_run_name
from vae.runfile.owners import owner_hash
from vae.runfile.writing import write_atomic
from vae.server.registry import JobRegistry
from vae.training import jobs
from vae.training import record as step_history
from vae.training.loop import StepMetrics
from vae.training.runs import continue_config, train_run
from vae.vocabulary import CheckpointError, LimitError, NameTaken

# 1. A run file is data, validated whole ---------------------------------------------------------


@pytest.mark.slow
def test_a_run_whose_loss_is_text_is_refused_at_upload_and_import_and_never_breaks_a_page(
    run_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(run_dir))
    bad = poisoned(run_dir / "tiny-d4.pt", tmp_path / "x-loss.pt", lambda p: p["final"]["test"].update(loss="x"))
    before = snapshot(run_dir)
    with pytest.raises(CheckpointError, match=r"final\.test\.loss: expected a finite number, got 'x'"):
        import_run(run_dir, bad, "upload")
    out = cli("import", str(tmp_path / "x-loss.pt"), "--name", "up", "--checkpoint-dir", str(run_dir))
    assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert "final.test.loss" in out.stderr and "x-loss.pt" in out.stderr
    assert snapshot(run_dir) == before
    (run_dir / "dropped.pt").write_bytes(bad)  # a file put straight into the folder
    listed = cli("list", "--checkpoint-dir", str(run_dir))
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    assert "dropped" in listed.stdout and "unreadable" in listed.stdout and "final.test.loss" in listed.stdout
    at = session(None, "pages/runs.py")
    assert not at.exception
    assert any("dropped.pt" in w.value and "final.test.loss" in w.value for w in at.warning)
    table = at.dataframe[0].value
    assert set(table["run"]) == {"tiny-d2", "tiny-d4"}, "the other runs are drawn"


def test_the_explorer_starts_from_a_prior_draw_with_a_seed_past_the_test_set(app):
    at = open_page(app, "pages/explorer.py", run="tiny-d4")
    at.radio[0].set_value("prior").run()
    for seed in (0, 999, 1000, 10_000, 2**31 - 1):
        at.number_input[0].set_value(seed).run()
        assert not at.exception, (seed, at.exception)


def test_a_foreign_state_dict_without_its_biases_is_refused_in_one_line(tmp_path, run_dir):
    state = {k: v for k, v in ExamplesVAE(2).state_dict().items() if not k.endswith("bias")}
    torch.save(state, tmp_path / "nobias.pt")
    before = snapshot(run_dir)
    out = cli(
        "import", str(tmp_path / "nobias.pt"), *words("--name x --dataset mnist-5k --checkpoint-dir"), str(run_dir)
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert (
        out.stderr.strip()
        == "vae import: error: nobias.pt looks like the pytorch/examples VAE (vae/main.py), but fc1.bias is missing"
    )
    assert snapshot(run_dir) == before


# 2. Runs have owners: see test_owners.py.


# 3. One name, one writer, across processes ------------------------------------------------------

HOLDER = """
import sys, time
from vae.runfile.names import reserve_exact
reserve_exact(sys.argv[1], sys.argv[2])
print("held", flush=True)
time.sleep(600)
"""


def test_a_name_held_by_another_process_is_refused_to_the_cli_and_skipped_by_the_app(tmp_path):
    holder_process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path), "shared"], cwd=ROOT, stdout=subprocess.PIPE
    )
    try:
        assert holder_process.stdout.readline().strip() == b"held"
        out = cli(
            *words("train --name shared --epochs 1 --dataset mnist-5k --checkpoint-dir"),
            str(tmp_path),
            "--overwrite",
        )
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert f"is being written by process {holder_process.pid}" in out.stderr
        assert reserve_run_name(tmp_path, "shared") == "shared-2"  # the app's door: a free name beside it
        with pytest.raises(NameTaken, match="already being trained"):
            claim_run_name(tmp_path, "shared")
    finally:
        holder_process.kill()
        holder_process.wait()
    assert holder(tmp_path, "shared") == "", "a lock whose process is gone is stale"
    assert reserve_exact(tmp_path, "shared") == "shared"


# A writer killed in the instant between taking the lock and writing its name in it: an empty lock file.
HOLDER_BEFORE_NAMING = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("moment", ["after naming itself", "before naming itself"])
def test_a_writer_killed_at_any_moment_frees_its_name_at_once(tmp_path, moment):
    """#37: the kernel holds a name for its writer's process and frees it when the process dies, however it
    dies: no stale lock to wait out or to break, though the lock file is still there."""
    lock = lock_path(tmp_path, "shared")
    script, arg = (HOLDER, str(tmp_path)) if moment == "after naming itself" else (HOLDER_BEFORE_NAMING, str(lock))
    writer = subprocess.Popen([sys.executable, "-c", script, arg, "shared"], cwd=ROOT, stdout=subprocess.PIPE)
    try:
        assert writer.stdout.readline().strip() == b"held"
        assert holder(tmp_path, "shared") != ""
        with pytest.raises(NameTaken):
            reserve_exact(tmp_path, "shared")
    finally:
        writer.kill()
        writer.wait()
    assert lock.exists(), "nothing cleaned the lock file up: only the kernel let the name go"
    assert holder(tmp_path, "shared") == ""
    assert reserve_exact(tmp_path, "shared") == "shared"
    assert holder(tmp_path, "shared") != ""
    release_run_name(tmp_path, "shared")
    assert not lock.exists() and holder(tmp_path, "shared") == ""


def test_the_app_and_the_cli_starting_one_name_at_once_give_one_file_and_one_refusal(run_dir, monkeypatch):
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(run_dir))
    monkeypatch.setattr(jobs, "_slots", threading.BoundedSemaphore(2))
    at = session(TOKEN_A, "pages/train.py")
    form = {w.label: w for w in [*at.selectbox, *at.number_input, *at.text_input]}
    form["Dataset"].set_value("mnist-5k")
    form["Epochs"].set_value(1)
    form["Run name"].set_value("race")
    command = [
        sys.executable,
        *words("-m vae train --name race --epochs 1 --dataset mnist-5k --latent-dim 2 --checkpoint-dir"),
        str(run_dir),
    ]
    cli_run = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**__import__("os").environ, "VAE_OFFLINE": "1"},
    )
    at.button[0].click().run()
    _, stderr = cli_run.communicate(timeout=300)
    job = session_job(at)
    assert job.join(timeout=300)
    if job.name == "race":  # the app won: the CLI was refused in one line
        assert cli_run.returncode == 2 and "race" in stderr and "Traceback" not in stderr
    else:  # the CLI won: the app saved beside it, and said so
        assert cli_run.returncode == 0 and job.name == "race-2"
    names = {r.name for r in list_runs(run_dir)}
    assert {"race"} <= names and names - {"tiny-d2", "tiny-d4", "race", "race-2"} == set()
    for name in names:
        load_run(run_dir / f"{name}.pt")
    assert not list(run_dir.glob(".*.lock")), "every reservation was given back"


def test_a_continuation_of_a_file_that_changed_meanwhile_is_refused(run_dir, monkeypatch):
    monkeypatch.setattr(jobs, "_slots", threading.BoundedSemaphore(2))
    run = load_run(run_dir / "tiny-d4.pt")
    job = jobs.TrainingJob(continue_config(run, 1), "later", run_dir, resume=run)
    payload = torch.load(run_dir / "tiny-d4.pt", weights_only=True)
    payload["final"]["message"] = "changed by someone else"
    write_atomic(run_dir / "tiny-d4.pt", payload)
    before = {name: data for name, data in snapshot(run_dir).items() if not name.endswith(".lock")}
    job.start()
    assert job.join(timeout=120)
    snap = job.snapshot()
    assert snap.status == "failed" and "changed after this continuation was asked for" in snap.message
    assert snapshot(run_dir) == before


# 4. A stop continues exactly --------------------------------------------------------------------


@pytest.mark.parametrize("stride", [1, 4])
def test_a_run_stopped_mid_epoch_continues_to_the_same_numbers_as_an_unbroken_one(
    tmp_path, small_data, monkeypatch, stride
):
    data = dataclasses.replace(small_data, train_x=small_data.train_x[:640], train_y=small_data.train_y[:640])
    config = VAEConfig(dataset="mnist-5k", latent_dim=2, hidden=(32,), epochs=2, batch_size=64, seed=5)
    # A long run's history keeps one row per ``stride`` steps; a stop at step 4 leaves one row open.
    monkeypatch.setattr(step_history, "MAX_STEP_ROWS", 20 // stride)
    for _ in train_run(config, "whole", tmp_path, data=data):
        pass
    stop = threading.Event()
    for event in train_run(config, "broken", tmp_path, data=data, stop=stop):
        if isinstance(event, StepMetrics) and (event.epoch, event.step) == (2, 4):
            stop.set()
    cut = load_run(tmp_path / "broken.pt")
    assert cut.status == "stopped" and cut.final["position"] == {"epoch": 2, "step": 4} and len(cut.epochs) == 1
    for _ in train_run(continue_config(cut, 1), "broken", tmp_path, data=data, resume=cut):
        pass
    whole, broken = load_run(tmp_path / "whole.pt"), load_run(tmp_path / "broken.pt")
    for key, value in whole.model.state_dict().items():
        assert torch.equal(broken.model.state_dict()[key], value), key
    assert [e["test"] for e in broken.epochs] == [e["test"] for e in whole.epochs]
    assert [e["train"] for e in broken.epochs] == [e["train"] for e in whole.epochs]
    assert torch.equal(broken.history["steps"]["values"], whole.history["steps"]["values"])
    assert broken.history["steps"]["stride"] == whole.history["steps"]["stride"] == stride


# 5. Limits --------------------------------------------------------------------------------------


def test_a_link_that_books_the_server_for_a_week_is_refused_in_one_line(run_dir, monkeypatch):
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(run_dir))
    before = snapshot(run_dir)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"epochs": "5000", "batch_size": "1", "dataset": "mnist-5k"})
    at.run()
    at = open_page(at, "pages/train.py")
    at.query_params.update({"epochs": "5000", "batch_size": "1", "dataset": "mnist-5k"})
    at.run()
    assert next(n for n in at.number_input if n.label == "Epochs").value == 5000
    at.button[0].click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    expected = (
        "Cannot start training: 5,000 epochs of mnist-5k at batch 1 (20,000,000 optimizer steps) is over "
        "this server's limit of 250,000 steps (setting VAE_MAX_TRAINING_STEPS)"
    )
    assert errors == [expected]
    assert snapshot(run_dir) == before and not leftovers(run_dir)


def test_the_queue_and_one_training_per_visitor(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "_slots", threading.BoundedSemaphore(1))
    monkeypatch.setenv("VAE_MAX_QUEUED_TRAININGS", "1")
    registry = JobRegistry()
    config = VAEConfig(dataset="mnist-5k", latent_dim=2, epochs=50)
    mine = owner_hash(TOKEN_A)
    running = jobs.TrainingJob(config, "running", tmp_path, owner=mine)
    registry.submit(running)
    with pytest.raises(LimitError, match="one training per visitor: yours, running, is still"):
        registry.submit(jobs.TrainingJob(config, "second", tmp_path, owner=mine))
    wait_until(lambda: running.snapshot().status == "running", "the first job took the only slot")
    registry.submit(jobs.TrainingJob(config, "queued", tmp_path, owner=owner_hash(TOKEN_B)))
    with pytest.raises(
        LimitError,
        match=r"over this server's limit of 1 trainings in the queue \(setting "
        r"VAE_MAX_QUEUED_TRAININGS\)",
    ):
        registry.submit_batch([jobs.TrainingJob(config, f"sweep-{i}", tmp_path) for i in range(3)])
    assert not lock_path(tmp_path, "second").exists() and not lock_path(tmp_path, "sweep-0").exists()
    for job in registry.jobs():
        job.request_stop()
    for job in registry.jobs():
        assert job.join(timeout=120)


def test_uploads_past_the_count_or_the_size_limit_are_refused(monkeypatch):
    from vae.server.limits import check_upload

    monkeypatch.setenv("VAE_MAX_UPLOADS", "2")
    monkeypatch.setenv("VAE_MAX_UPLOAD_MB", "3")
    check_upload([2**20], 2**20)
    with pytest.raises(LimitError, match=r"over this server's limit of 2 uploaded runs \(setting VAE_MAX_UPLOADS\)"):
        check_upload([2**20, 2**20], 10)
    with pytest.raises(LimitError, match=r"3.5 MB of uploaded runs is over this server's limit of 3 MB"):
        check_upload([3 * 2**20], 2**19)


def test_iw_and_tsne_on_demand_past_their_budget_say_so(app, monkeypatch):
    monkeypatch.setenv("VAE_MAX_IW_SAMPLES", "1000")
    monkeypatch.setenv("VAE_MAX_TSNE_POINTS", "100")
    at = open_page(app, "pages/diagnostics.py", run="tiny-d4")
    assert any("VAE_MAX_IW_SAMPLES" in i.value for i in at.info)
    assert buttons(at, "Estimate")[0].disabled
    at = open_page(at, "pages/latent.py", run="tiny-d4")
    assert not at.exception
    assert any("t-SNE of" in i.value and "VAE_MAX_TSNE_POINTS" in i.value for i in at.info)


def test_the_readme_settings_table_is_the_settings_module():
    from vae.settings import SETTINGS

    readme = (ROOT / "README.md").read_text()
    for name, spec in SETTINGS.items():
        assert f"| `{name}` | `{spec.default}` | {spec.help} |" in readme, name
    from vae.training.engine import ENGINE_SETTINGS

    for name, (default, help_text) in ENGINE_SETTINGS.items():
        shown = default if default == "unset" else f"`{default}`"
        assert f"| `{name}` | {shown} | {help_text} |" in readme, name
