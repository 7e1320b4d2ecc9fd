import threading

import pytest
import torch

from tests.conftest import words
from vae.runfile import load_run
from vae.training.loop import EpochMetrics, StepMetrics, TrainingEnded, evaluate, train
from vae.training.record import StepHistory
from vae.training.runs import prepare, train_run


def _events(config, data, **kwargs):
    config, model, data = prepare(config, data)
    return model, list(train(model, config, data, **kwargs))


def test_two_epochs_on_mnist_5k_lower_the_loss(tiny_config, small_data):
    _model, events = _events(tiny_config, small_data)
    epochs = [e for e in events if isinstance(e, EpochMetrics)]
    steps = [e for e in events if isinstance(e, StepMetrics)]
    assert [e.epoch for e in epochs] == [1, 2]
    assert len(steps) == 2 * 8 and steps[-1].steps_per_epoch == 8
    assert epochs[1].test["loss"] < epochs[0].test["loss"]
    assert steps[-1].loss < steps[0].loss
    for e in epochs:
        for split in (e.train, e.test):
            assert split["loss"] == pytest.approx(split["recon"] + e.beta * split["kl"])
            assert split["kl"] >= 0
    assert isinstance(events[-1], TrainingEnded) and events[-1].reason == "completed"


def test_same_seed_same_numbers(tiny_config, small_data):
    _, first = _events(tiny_config, small_data)
    _, second = _events(tiny_config, small_data)
    numbers = [(e.recon, e.kl, e.loss) for e in first if isinstance(e, StepMetrics)]
    assert numbers == [(e.recon, e.kl, e.loss) for e in second if isinstance(e, StepMetrics)]
    assert [e.test for e in first if isinstance(e, EpochMetrics)] == [
        e.test for e in second if isinstance(e, EpochMetrics)
    ]
    _, other_seed = _events(tiny_config.replace(seed=1), small_data)
    assert numbers != [(e.recon, e.kl, e.loss) for e in other_seed if isinstance(e, StepMetrics)]


def test_stop_request_ends_after_the_current_step(tiny_config, small_data):
    stop = threading.Event()
    config, model, data = prepare(tiny_config, small_data)
    seen = []
    for event in train(model, config, data, stop=stop):
        seen.append(event)
        if isinstance(event, StepMetrics) and event.step == 3:
            stop.set()
    assert isinstance(seen[-1], TrainingEnded) and seen[-1].reason == "stopped"
    assert sum(isinstance(e, StepMetrics) for e in seen) == 3


def test_non_finite_loss_keeps_the_last_good_epoch(tiny_config, small_data):
    config, model, data = prepare(tiny_config.replace(epochs=3), small_data)
    decode = model.decode
    calls = {"n": 0}

    def poisoned(z):
        calls["n"] += 1
        out = decode(z)
        return out * float("nan") if calls["n"] > 12 else out  # epoch 2, after an evaluation

    model.decode = poisoned
    events = list(train(model, config, data))
    end = events[-1]
    assert isinstance(end, TrainingEnded) and end.reason == "diverged" and end.epochs_completed == 1
    assert "lower learning rate" in end.message
    model.decode = decode
    after = evaluate(model, data.test_x)
    epoch1 = next(e for e in events if isinstance(e, EpochMetrics)).test
    assert after["loss"] == pytest.approx(epoch1["loss"])
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_train_run_saves_every_epoch_and_the_final_metrics_agree(tiny_config, small_data, tmp_path):
    saved_epochs = []
    for event in train_run(tiny_config, "tiny", tmp_path, data=small_data):
        if isinstance(event, EpochMetrics):
            saved_epochs.append(len(load_run(tmp_path / "tiny.pt").epochs))
    assert saved_epochs == [1, 2]
    run = load_run(tmp_path / "tiny.pt")
    assert run.final["status"] == "completed" and run.final["epochs"] == 2
    steps = StepHistory.from_history(run.history)
    assert len(steps) == 16 and steps.steps_per_epoch == 8
    fresh = evaluate(run.model, small_data.test_x, beta=run.config.beta, likelihood=run.config.likelihood)
    assert fresh["loss"] == pytest.approx(run.final["test"]["loss"], rel=1e-5)


def test_stopped_run_keeps_the_partly_trained_weights(tiny_config, small_data, tmp_path):
    stop = threading.Event()
    for event in train_run(tiny_config, "partial", tmp_path, data=small_data, stop=stop):
        if isinstance(event, StepMetrics) and event.epoch == 2 and event.step == 2:
            stop.set()
    run = load_run(tmp_path / "partial.pt")
    assert run.final["status"] == "stopped" and run.final["epochs"] == 1
    assert len(StepHistory.from_history(run.history)) == 10
    fresh = evaluate(run.model, small_data.test_x)
    assert fresh["loss"] == pytest.approx(run.final["test"]["loss"], rel=1e-5)


def test_a_run_stopped_in_its_first_epoch_is_drawn_over_the_part_it_trained(tiny_config, small_data, tmp_path):
    """Its per-step curve ends at 3/8 of an epoch, not stretched over a whole one."""
    stop = threading.Event()
    for event in train_run(tiny_config, "early", tmp_path, data=small_data, stop=stop):
        if isinstance(event, StepMetrics) and event.step == 3:
            stop.set()
    steps = StepHistory.from_history(load_run(tmp_path / "early.pt").history)
    assert steps.steps_per_epoch == 8 and len(steps) == 3
    assert steps.epoch_axis() == [1 / 8, 2 / 8, 3 / 8]
    from ui.curves import step_series

    assert step_series(steps, "early", None)["x"][-1] == 3 / 8


def test_old_checkpoints_step_tensors_still_read():
    import torch

    rows = [[1, s, 100.0 - s, 5.0, 105.0 - s, 1.0, 0.0] for s in range(1, 5)] + [[2, 1, 90.0, 5.0, 95.0, 1.0, 0.0]]
    old = {"steps": torch.tensor(rows), "step_columns": words("epoch step recon kl loss beta capacity")}
    steps = StepHistory.from_history(old)
    assert len(steps) == 5 and steps.steps_per_epoch == 4 and steps.epoch_axis()[-1] == 1.25
    assert steps.column("recon")[:2] == [99.0, 98.0]
    assert len(StepHistory.from_history({})) == 0
    assert len(StepHistory.from_history({"steps": "garbage"})) == 0
