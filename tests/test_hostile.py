"""Hostile and faulty input: a clear message, no crash, nothing lost, nothing run that shouldn't.

Each case is covered in the CLI and in the app (AppTest sessions against a shared checkpoint folder).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.conftest import APP, ROOT, cli, open_page, session_job, snapshot, wait_until, words
from vae.data.datasets import load_dataset
from vae.runfile import clean_stale_tmp, list_runs, load_run
from vae.runfile.reading import MAX_CHECKPOINT_BYTES
from vae.training import jobs


class _Payload:
    """Unpickling this would run ``touch <marker>``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def bad_files(good: Path, marker: Path) -> dict[str, bytes]:
    """The seven kinds of checkpoint that must be refused, as bytes."""
    scratch = good.parent / ".scratch.pt"

    def saved(obj) -> bytes:
        torch.save(obj, scratch)
        data = scratch.read_bytes()
        scratch.unlink()
        return data

    payload = torch.load(good, weights_only=True)
    payload["config"]["latent_dim"] = 7
    data = good.read_bytes()
    return {
        "pickle-with-code": saved({"format": "vae-lab-run", "format_version": 1, "x": _Payload(marker)}),
        "truncated": data[: len(data) // 2],
        "random-bytes": os.urandom(8192),
        "empty": b"",
        "foreign-torch-file": saved({"conv1.weight": torch.zeros(8, 3, 7, 7), "fc.bias": torch.zeros(10)}),
        "mismatched-weights": saved(payload),
        "over-size-limit": b"\0" * (MAX_CHECKPOINT_BYTES + 1),
    }


def _one_line_error(out: subprocess.CompletedProcess) -> str:
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    return lines[0]


_page = open_page


def _train(at: AppTest, name: str, **form: object) -> jobs.TrainingJob:
    at = _page(at, "pages/train.py")
    widgets = {w.label: w for w in [*at.selectbox, *at.slider, *at.select_slider, *at.text_input, *at.number_input]}
    widgets["Dataset"].set_value(form.get("dataset", "mnist-5k"))
    widgets["Epochs"].set_value(form.get("epochs", 1))
    widgets["Run name"].set_value(name)
    at.button[0].click().run()
    assert not at.exception
    return session_job(at)


# 1. Checkpoint files that are not safe to load ------------------------------------------------


@pytest.mark.slow
def test_cli_refuses_every_bad_checkpoint(run_dir, tmp_path):
    marker = tmp_path / "pwned"
    before = snapshot(run_dir)
    for kind, data in bad_files(run_dir / "tiny-d4.pt", marker).items():
        path = tmp_path / f"{kind}.pt"
        path.write_bytes(data)
        out = cli("eval", str(path))
        assert out.returncode == 1, kind
        line = _one_line_error(out)
        assert line.startswith("vae eval: error: ") and kind + ".pt" in line, line
    assert not marker.exists()
    assert snapshot(run_dir) == before


def test_app_refuses_every_bad_upload(app, run_dir, tmp_path):
    marker = tmp_path / "pwned"
    files = bad_files(run_dir / "tiny-d4.pt", marker)
    before = snapshot(run_dir)
    at = _page(app, "pages/runs.py")
    for kind, data in files.items():
        if not data:
            continue  # the browser sends no empty file; the loader's own test covers it
        at.file_uploader[0].set_value((f"{kind}.pt", data, "application/octet-stream")).run()
        add = [b for b in at.button if b.label == "Add to my runs"]
        if add:  # one too large is refused on arrival, before there is anything to add
            add[0].click().run()
        assert not at.exception, kind
        said = [e.value for e in at.error]
        assert any("uploaded file" in line or f"{kind}.pt is" in line for line in said), (kind, said)
    assert not marker.exists()
    assert snapshot(run_dir) == before


def test_app_lists_a_bad_file_on_disk_and_keeps_working(app, run_dir, tmp_path):
    (run_dir / "junk.pt").write_bytes(b"\x80\x04not a checkpoint")
    for page in ("pages/home.py", "pages/runs.py", "pages/latent.py", "pages/generate.py"):
        at = _page(app, page)
        assert not at.exception, page
    at = _page(app, "pages/runs.py")
    assert any("junk.pt" in w.value and "cannot be used" in w.value for w in at.warning)


def test_a_good_upload_is_added_under_a_free_name(app, run_dir):
    at = _page(app, "pages/runs.py")
    at.file_uploader[0].set_value(("tiny-d4.pt", (run_dir / "tiny-d4.pt").read_bytes(), "application/octet-stream"))
    at.run()
    next(b for b in at.button if b.label == "Add to my runs").click().run()
    assert any("tiny-d4-2" in s.value for s in at.success)
    assert load_run(run_dir / "tiny-d4-2.pt").config == load_run(run_dir / "tiny-d4.pt").config


# 2. Run names ------------------------------------------------------------------------------------

HOSTILE_NAMES = ["../x", "/etc/passwd", "a\0b", "n" * 300, "ünïcödé", "tiny-d2", "tiny-d4"]


@pytest.mark.slow
def test_cli_names_stay_inside_the_directory(tmp_path):
    target = tmp_path / "ckpt"
    target.mkdir()
    (target / "shipped.json").write_text('{"runs": ["tiny-d2"]}')
    results = {}
    for raw in HOSTILE_NAMES:
        if "\0" in raw:
            continue  # a NUL cannot pass through argv; the app test below covers it
        results[raw] = cli(*words("train --dataset mnist-5k --epochs 1 --name"), raw, "--checkpoint-dir", str(target))
    assert results["tiny-d2"].returncode == 2 and "shipped" in _one_line_error(results["tiny-d2"])
    assert all(results[n].returncode == 0 for n in results if n != "tiny-d2")
    names = sorted(p.name for p in target.iterdir())
    assert names == sorted(["shipped.json", "x.pt", "etc-passwd.pt", f"{'n' * 64}.pt", "unicode.pt", "tiny-d4.pt"])
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.slow
def test_app_names_are_sanitised_unique_and_never_overwrite(app, run_dir):
    before = snapshot(run_dir)
    made = []
    for raw in HOSTILE_NAMES:
        job = _train(app, raw)
        assert job.join(120), raw
        made.append(job.name)
    assert made == ["x", "etc-passwd", "a-b", "n" * 64, "unicode", "tiny-d2-2", "tiny-d4-2"]
    after = snapshot(run_dir)
    assert {k: after[k] for k in before} == before  # the shipped and the existing runs are untouched
    assert all((run_dir / f"{n}.pt").exists() for n in made)
    assert not (run_dir.parent / "x.pt").exists()


# 3. Divergence ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_divergence_is_reported_and_saves_nothing(tmp_path):
    out = cli(
        *words("train --dataset mnist-5k --epochs 2 --lr 1.0 --name boom --checkpoint-dir"),
        str(tmp_path),
    )
    assert out.returncode == 1
    line = _one_line_error(out)
    assert "diverged" in line and "lower learning rate" in line and "nothing was kept" in line
    assert list(tmp_path.iterdir()) == []


def test_app_divergence_shows_what_happened_and_what_to_try(app, run_dir):
    before = snapshot(run_dir)
    app.query_params["lr"] = "1.0"
    job = _train(app, "boom")
    assert job.join(120)
    at = _page(app, "pages/train.py")
    errors = [e.value for e in at.error]
    assert any("Training diverged" in e and "lower learning rate" in e for e in errors), errors
    assert snapshot(run_dir) == before


# 4. Interruption --------------------------------------------------------------------------------


def test_app_stop_mid_epoch_keeps_the_trained_weights(app, run_dir):
    job = _train(app, "stopped", epochs=50)
    wait_until(lambda: job.snapshot().last_step is not None, "the job took its first step")
    at = _page(app, "pages/train.py")
    next(b for b in at.button if b.label == "Stop").click().run()
    assert job.join(60)
    assert job.snapshot().status == "stopped"
    run = load_run(run_dir / "stopped.pt")
    assert run.final["status"] == "stopped" and run.final["epochs"] < 50


def test_app_tab_closed_during_training_still_finishes_and_saves(run_dir, monkeypatch):
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(run_dir))
    at = AppTest.from_file(APP, default_timeout=60).run()
    job = _train(at, "orphan", epochs=2)
    del at  # the session is gone; the worker is not
    assert job.join(120)
    assert load_run(run_dir / "orphan.pt").final["status"] == "completed"


@pytest.mark.slow
def test_cli_interrupt_keeps_finished_epochs(tmp_path):
    env = {**os.environ, "VAE_OFFLINE": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            *words("-m vae train --dataset mnist-5k --epochs 200 --name long --checkpoint-dir"),
            str(tmp_path),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: (tmp_path / "long.pt").exists(), "the CLI saved its first epoch", poll=0.1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    assert "interrupted during epoch" in stderr and "weights are saved" in stderr and "Traceback" not in stderr
    run = load_run(tmp_path / "long.pt")
    assert run.final["status"] == "stopped" and 1 <= run.final["epochs"] < 200


KILLED_WRITER = """
import sys, torch
from vae.runfile.writing import write_atomic
path = sys.argv[1]
payload = torch.load(path, weights_only=True)
print("ready", flush=True)
for version in __import__("itertools").count():
    payload["final"]["message"] = f"version {version}"
    write_atomic(__import__("pathlib").Path(path), payload)
"""


@pytest.mark.slow
def test_process_killed_while_writing_leaves_old_or_new_never_half(run_dir):
    path = run_dir / "tiny-d4.pt"
    for delay in (0.05, 0.1, 0.2, 0.35, 0.5, 0.8):
        writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], cwd=ROOT, stdout=subprocess.PIPE)
        assert writer.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        writer.kill()
        writer.wait()
        run = load_run(path)  # old or new, never a torn file
        assert run.config.latent_dim == 4
    assert [r.name for r in list_runs(run_dir)] == ["tiny-d2", "tiny-d4"]  # stray temporaries are not runs
    strays = sorted(run_dir.glob(".*.tmp-*"))
    assert sorted(clean_stale_tmp(run_dir, older_than_s=0)) == strays
    assert not list(run_dir.glob(".*.tmp-*"))


# 5. Concurrency ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_three_sessions_training_at_once_queue_the_third(run_dir, monkeypatch):
    """At most two trainings run at once: the third waits, visibly queued, and runs when a slot frees."""
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(run_dir))
    monkeypatch.setattr(jobs, "_slots", threading.BoundedSemaphore(2))
    sessions = [AppTest.from_file(APP, default_timeout=60).run() for _ in range(3)]
    long_a, long_b = (_train(at, "shared", epochs=200) for at in sessions[:2])
    wait_until(lambda: long_a.snapshot().status == long_b.snapshot().status == "running", "two trainings ran")
    third = _train(sessions[2], "shared", epochs=2)
    assert sorted(job.name for job in (long_a, long_b, third)) == ["shared", "shared-2", "shared-3"]
    third.join(1.0)
    assert third.snapshot().status == "queued", "a third training ran beside two"
    page = _page(sessions[2], "pages/train.py")
    assert not page.exception and any("Waiting in the queue" in c.value for c in page.caption)
    for at in sessions[:2]:  # the other sessions' pages still answer
        assert not at.run().exception
    long_a.request_stop()
    assert third.join(180), "the queued training never ran after a slot freed"
    assert third.snapshot().status == "completed"
    long_b.request_stop()
    assert long_a.join(60) and long_b.join(60)
    assert load_run(run_dir / f"{third.name}.pt").final["epochs"] == 2


# 6. Data ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_unreadable_data_dir_falls_back_with_a_note(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("not a directory")
    out = cli(
        *words("train --dataset mnist --epochs 1 --name fallback --checkpoint-dir"),
        str(tmp_path / "ck"),
        env={"VAE_DATA_DIR": str(not_a_dir)},
    )
    assert out.returncode == 0, out.stderr
    assert "using the offline mnist-5k subset" in out.stderr
    assert load_run(tmp_path / "ck" / "fallback.pt").config.dataset == "mnist-5k"


def test_app_corrupt_dataset_falls_back_and_says_so(app, tmp_path, monkeypatch):
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        (raw / f"{stem}.gz").write_bytes(b"\x1f\x8b garbage")
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path / "data"))
    job = _train(app, "corrupt-data", dataset="mnist")
    assert job.join(120) and job.snapshot().status == "completed"
    assert "using the offline mnist-5k subset" in job.snapshot().notice
    at = _page(app, "pages/train.py")
    assert any("mnist-5k" in w.value for w in at.warning)


def test_a_stalled_download_never_hangs(tmp_path, monkeypatch):
    import dataclasses

    from vae.data import download
    from vae.data.facts import FACTS

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # accepts, never answers
    stalled = (f"http://127.0.0.1:{listener.getsockname()[1]}/",)
    monkeypatch.setitem(FACTS, "mnist", dataclasses.replace(FACTS["mnist"], mirrors=stalled))
    monkeypatch.setattr(download, "DOWNLOAD_TIMEOUT_S", 0.5)
    loaded = load_dataset("mnist", tmp_path / "nowhere", allow_download=True)
    assert loaded.name == "mnist-5k" and "not available" in loaded.notice
    assert "timed out" in loaded.notice, "the download did not give up on its timeout"
    listener.close()


# 7. Invalid hyperparameters ---------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [("beta", "-3"), ("latent_dim", "1000"), ("arch", "resnet"), ("lr", "x")])
def test_app_bad_settings_in_the_url_are_named_and_ignored(app, field, value):
    app.query_params[field] = value
    at = _page(app, "pages/train.py")
    assert not at.exception
    assert any(f"{field}:" in e.value for e in at.error), [e.value for e in at.error]
    assert at.button[0].label == "Start training"


def test_a_link_with_bad_values_applies_every_good_one_and_names_every_bad_one(app):
    """``/train?arch=conv&beta=-1`` keeps the architecture; ``latent_dim=abc&beta=-1`` names both, with ranges."""
    app.query_params.update({"arch": "conv", "beta": "-1", "latent_dim": "abc", "epochs": "4"})
    at = _page(app, "pages/train.py")
    assert not at.exception
    (notice,) = [e.value for e in at.error]
    assert "beta: must be in [0, 100]; got -1" in notice
    assert "latent_dim: expected an integer, got 'abc'; allowed: 2 to 64" in notice
    assert "The rest of the link's settings were applied." in notice
    assert next(s for s in at.selectbox if s.label == "Architecture").value == "conv"
    assert next(n for n in at.number_input if n.label == "Epochs").value == 4


def test_app_bogus_session_state_falls_back_to_a_real_run(app):
    app.session_state["current_run"] = "../../etc/passwd"
    for page in ("pages/home.py", "pages/latent.py", "pages/interpolation.py"):
        at = _page(app, page)
        assert not at.exception and not at.error


def test_checkpoint_limit_matches_the_upload_limit():
    config = (ROOT / ".streamlit" / "config.toml").read_text()
    assert f"maxUploadSize = {MAX_CHECKPOINT_BYTES // 2**20}" in config


@pytest.mark.parametrize("value", ["200,x", "0", "1,2,3,4,5", "", "99999"])
def test_app_bad_hidden_widths_in_the_form_are_named_and_nothing_starts(app, run_dir, value):
    at = _page(app, "pages/train.py")
    before = snapshot(run_dir)
    next(t for t in at.text_input if t.label == "MLP hidden layers").set_value(value)
    at.button[0].click().run()
    assert not at.exception
    assert any("Cannot start training: hidden:" in e.value for e in at.error), [e.value for e in at.error]
    assert at.button[0].label == "Start training" and not at.button[0].disabled  # no job began
    assert snapshot(run_dir) == before
