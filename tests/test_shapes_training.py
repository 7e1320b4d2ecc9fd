"""Training ``shapes`` from the app, through each of its four doors: the Train form, the sweep, continuing a run in
place and continuing it as a new run. Each is first refused by a limit, which must give back every name it
reserved, so the next try gets the same name and not ``NAME-2``; then it trains.

AppTest clicks the buttons; the job's thread is waited on directly (AppTest does not drive threads). The jobs
train here, in this process, on 512 drawn shapes, rather than in a training process that would draw all 184,320
(``in_process``): what is tested is the app's admission of a shapes training and the job that carries it.
"""

from __future__ import annotations

import os
import socket
import threading

import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.conftest import APP, TOKEN_A, TOKEN_B, buttons, leftovers, open_page, session, session_job
from vae.data.datasets import Dataset, shapes, shapes_dataset
from vae.model.config import VAEConfig
from vae.runfile import load_run
from vae.runfile.owners import owner_hash
from vae.training import jobs, local_engine
from vae.training.pipe import Started
from vae.training.runs import train_run
from vae.training.worker import training_messages

OVER_THE_LIMIT = "over this server's limit"


@pytest.fixture(scope="module")
def tiny_shapes() -> Dataset:
    """512 training and 128 test images of ``shapes``, drawn for seeded random factors."""
    generator = torch.Generator().manual_seed(0)
    return shapes_dataset(shapes.sample_factors(512, generator), shapes.sample_factors(128, generator))


@pytest.fixture
def folder(run_dir, monkeypatch, tiny_shapes):
    """The app over a fresh copy of the tiny runs, two training slots, and an engine that trains in this process
    on ``tiny_shapes``."""

    def run_here(orders, stop):
        yield Started(os.getpid(), socket.gethostname())
        yield from training_messages(orders, stop, data=tiny_shapes)

    threads = torch.get_num_threads()
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(run_dir))
    monkeypatch.setattr(jobs, "_slots", threading.BoundedSemaphore(2))
    monkeypatch.setattr(local_engine, "run_local", run_here)
    yield run_dir
    torch.set_num_threads(threads)  # the worker sets the training's own


def refused_by_the_limit(at, click, monkeypatch) -> None:
    """``click()`` once over a training-steps limit of 1: refused in one line, and no name is left reserved."""
    monkeypatch.setenv("VAE_MAX_TRAINING_STEPS", "1")
    at = click()
    assert not at.exception, at.exception
    assert any(OVER_THE_LIMIT in e.value for e in at.error), [e.value for e in at.error]
    monkeypatch.delenv("VAE_MAX_TRAINING_STEPS")


def trained_on_shapes(directory, name: str, epochs: int):
    run = load_run(directory / f"{name}.pt")
    assert run.config.dataset == "shapes" and run.final["status"] == "completed" and len(run.epochs) == epochs
    return run


def test_the_train_form_trains_shapes_and_a_refusal_frees_its_name(folder, monkeypatch):
    at = open_page(AppTest.from_file(APP, default_timeout=60).run(), "pages/train.py")
    next(s for s in at.selectbox if s.label == "Dataset").set_value("shapes")
    next(n for n in at.number_input if n.label == "Epochs").set_value(1)
    next(t for t in at.text_input if t.label == "MLP hidden layers").set_value("16")
    next(t for t in at.text_input if t.label == "Run name").set_value("form-shapes")

    refused_by_the_limit(at, lambda: buttons(at, "Start training")[0].click().run(), monkeypatch)
    assert leftovers(folder) == [] and not (folder / "form-shapes.pt").exists()

    buttons(at, "Start training")[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    job = session_job(at)
    assert job.name == "form-shapes" and job.join(timeout=120)  # the same name: not form-shapes-2
    assert trained_on_shapes(folder, "form-shapes", 1).config.hidden == (16,)
    assert leftovers(folder) == []


def test_a_sweep_trains_shapes_and_a_refusal_frees_every_name(folder, monkeypatch):
    from ui.state import BATCH_KEY, job_registry

    at = open_page(AppTest.from_file(APP, default_timeout=60).run(), "pages/train.py")
    at.selectbox(key="sweep_dataset").set_value("shapes")
    at.number_input(key="sweep_epochs").set_value(1)
    at.multiselect(key="sweep_betas").set_value([1.0, 4.0])
    at.text_input(key="sweep_prefix").set_value("shp")

    refused_by_the_limit(at, lambda: buttons(at, "Start the sweep")[0].click().run(), monkeypatch)
    assert leftovers(folder) == []

    buttons(at, "Start the sweep")[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    batch = job_registry().batch(at.session_state[BATCH_KEY])
    assert sorted(job.name for job in batch) == ["shp-d2-b1", "shp-d2-b4"]
    assert all(job.join(timeout=120) for job in batch)
    assert [trained_on_shapes(folder, job.name, 1).config.beta for job in batch] == [1.0, 4.0]
    assert leftovers(folder) == []


@pytest.fixture
def mine(folder, tiny_shapes) -> str:
    """A 1-epoch shapes run that browser A made."""
    config = VAEConfig(dataset="shapes", arch="mlp", hidden=(16,), latent_dim=2, epochs=1)
    for _ in train_run(config, "mine", folder, data=tiny_shapes, owner=owner_hash(TOKEN_A)):
        pass
    return "mine"


@pytest.mark.parametrize(
    ("token", "label", "name"),
    [(TOKEN_A, "Continue mine", "mine"), (TOKEN_B, "Continue mine as a new run", "mine-continued")],
    ids=["in place", "as a new run"],
)
def test_continuing_a_shapes_run_trains_and_a_refusal_frees_its_name(folder, mine, monkeypatch, token, label, name):
    at = session(token, "pages/runs.py")
    at.selectbox(key="file_run").set_value(mine).run()
    at.number_input(key="more_epochs").set_value(1).run()

    refused_by_the_limit(at, lambda: buttons(at, label)[0].click().run(), monkeypatch)
    assert leftovers(folder) == [] and not (folder / "mine-continued.pt").exists()

    buttons(at, label)[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    job = session_job(at)
    assert job.name == name and job.join(timeout=120)  # in place: not "already being trained"; new: not -2
    run = trained_on_shapes(folder, name, 2)
    assert run.owner == owner_hash(token)
    assert leftovers(folder) == []


def test_any_error_on_the_way_to_the_server_is_one_line_and_frees_the_name(folder, monkeypatch):
    """Not a limit: a fault between reserving the name and starting the job is said in one line, and logged."""
    from vae.server import registry

    def broken(waiting: int, adding: int) -> None:
        raise RuntimeError("the queue is broken")

    at = open_page(AppTest.from_file(APP, default_timeout=60).run(), "pages/train.py")
    next(s for s in at.selectbox if s.label == "Dataset").set_value("shapes")
    next(t for t in at.text_input if t.label == "Run name").set_value("faulty")
    with monkeypatch.context() as patch:
        patch.setattr(registry, "check_queue", broken)
        buttons(at, "Start training")[0].click().run()
    assert not at.exception, at.exception
    said = [e.value for e in at.error]
    assert len(said) == 1 and said[0].startswith("Cannot start training: the server failed (RuntimeError: the queue")
    assert "\n" not in said[0] and leftovers(folder) == []
    next(n for n in at.number_input if n.label == "Epochs").set_value(1)
    buttons(at, "Start training")[0].click().run()
    job = session_job(at)
    assert job.name == "faulty" and job.join(timeout=120)
