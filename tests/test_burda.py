"""Burda et al. 2015's setup: binarized MNIST, the configurable MLP, the learning-rate schedule, and the
shipped run that reproduces their VAE row."""

import dataclasses
import json
import math

import pytest
import torch

from tests.conftest import ROOT, cli, subset, words
from vae.analysis.likelihood import iw_nll, iw_nll_per_image
from vae.data.datasets import BINARIZE_TEST_SEED, binarize, load_dataset
from vae.model.burda import stage as burda_stage
from vae.model.config import VAEConfig, from_dict
from vae.model.networks import MLPVAE, build_model
from vae.runfile import load_run
from vae.training.loop import EpochMetrics, StepMetrics, learning_rate, train
from vae.training.record import StepHistory, frame_epochs
from vae.training.runs import train_run
from vae.vocabulary import ConfigError

BURDA = ROOT / "checkpoints" / "burda-vae-k1.pt"


@pytest.fixture(scope="module")
def binarized_5k():
    return load_dataset("binarized-mnist-5k")


def test_binarizing_draws_each_pixel_with_its_intensity_as_probability():
    x = torch.tensor([0, 1, 64, 128, 254, 255], dtype=torch.uint8).repeat(200_000, 1)
    drawn = binarize(x, torch.Generator().manual_seed(0))
    assert set(drawn.unique().tolist()) <= {0.0, 1.0}
    expected = x[0].double() / 255
    assert torch.allclose(drawn.double().mean(0), expected, atol=4 * math.sqrt(0.25 / len(x)))
    assert drawn[:, 0].sum() == 0 and drawn[:, -1].all()  # never a 1 from black, always from white


def test_the_test_split_is_binarized_once_and_the_training_batches_afresh(binarized_5k, mnist_5k):
    assert binarized_5k.name == "binarized-mnist-5k" and binarized_5k.dynamic_binarization
    assert set(binarized_5k.test_x.unique().tolist()) == {0, 255}
    # Fixed: the same seed gives the same test images, and they follow the grey ones.
    fixed = binarize(mnist_5k.test_x, torch.Generator().manual_seed(BINARIZE_TEST_SEED)).to(torch.uint8) * 255
    assert torch.equal(binarized_5k.test_x, fixed)
    assert torch.equal(binarized_5k.test_y, mnist_5k.test_y)
    assert torch.equal(binarized_5k.train_x, mnist_5k.train_x)  # intensities, binarized per batch

    generator = torch.Generator().manual_seed(0)
    index = torch.arange(64)
    first, second = (binarized_5k.train_batch(index, generator) for _ in range(2))
    assert first.dtype == torch.float32 and first.shape == (64, 1, 28, 28)
    assert set(first.unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(first, second)  # the same images, drawn afresh
    grey = mnist_5k.train_x[index] > 0
    assert not (first.bool() & ~grey).any()  # a black pixel is never drawn on


def test_training_batches_change_between_epochs_and_replay_from_the_seed(binarized_5k):
    data = dataclasses.replace(binarized_5k, train_x=binarized_5k.train_x[:8], train_y=binarized_5k.train_y[:8])
    config = VAEConfig(dataset="binarized-mnist-5k", latent_dim=2, epochs=3, batch_size=8)
    seen: list[torch.Tensor] = []
    original = data.train_batch

    def recording(index, generator, device="cpu"):
        batch = original(index, generator, device)
        seen.append(batch[index.argsort()].clone())  # in a fixed image order, whatever the shuffle
        return batch

    object.__setattr__(data, "train_batch", recording)
    torch.manual_seed(0)
    for _ in train(build_model(config), config, data):
        pass
    assert len(seen) == 3
    assert not torch.equal(seen[0], seen[1]) and not torch.equal(seen[1], seen[2])
    assert all(set(batch.unique().tolist()) == {0.0, 1.0} for batch in seen)


def test_binarized_mnist_falls_back_to_the_5k_subset_binarized_the_same_way(tmp_path):
    data = load_dataset("binarized-mnist", tmp_path, allow_download=False)
    assert data.name == "binarized-mnist-5k" and data.dynamic_binarization
    assert "binarized the same way" in data.notice
    assert set(data.test_x.unique().tolist()) == {0, 255}


@pytest.mark.full_data
def test_binarized_mnist_from_the_full_files(full_mnist_root):
    data = load_dataset("binarized-mnist", full_mnist_root, allow_download=False)
    assert (data.name, len(data.train_x), len(data.test_x)) == ("binarized-mnist", 60_000, 10_000)
    assert set(data.test_x.unique().tolist()) == {0, 255}


def test_the_schedule_is_3_to_the_i_epochs_at_lr_times_10_to_the_minus_i_over_7():
    lengths = [sum(burda_stage(e) == i for e in range(3280)) for i in range(8)]
    assert lengths == [3**i for i in range(8)] and sum(lengths) == 3280
    assert [burda_stage(e) for e in (0, 1, 3, 4, 12, 13, 39, 40, 363, 364, 1092, 1093, 3279)] == [
        0,
        1,
        1,
        2,
        2,
        3,
        3,
        4,
        5,
        6,
        6,
        7,
        7,
    ]
    config = VAEConfig(lr=1e-3, lr_schedule="burda", epochs=3280, batch_size=20)
    per_epoch = 3000
    total = config.epochs * per_epoch
    for i, first_epoch in enumerate((0, 1, 4, 13, 40, 121, 364, 1093)):
        for step in (first_epoch * per_epoch, (first_epoch + 3**i) * per_epoch - 1):  # a stage's first, last step
            assert learning_rate(config, step, total) == pytest.approx(1e-3 * 10 ** (-i / 7), rel=1e-12)
    # Closed form in the epoch alone: a run cut at 364 epochs reads the same rates as the whole schedule.
    short = config.replace(epochs=364)
    assert learning_rate(short, 363 * per_epoch, 364 * per_epoch) == learning_rate(config, 363 * per_epoch, total)


def test_adam_takes_the_configs_epsilon(binarized_5k):
    from vae.training.loop import TrainState

    config = VAEConfig(dataset="binarized-mnist-5k", adam_eps=1e-4)
    state = TrainState.fresh(build_model(config), config)
    assert state.optimizer.param_groups[0]["eps"] == 1e-4


@pytest.mark.parametrize(
    ("value", "expected"), [("200,200", (200, 200)), (" 200, 200 ", (200, 200)), ([64], (64,)), ((8, 6, 4), (8, 6, 4))]
)
def test_hidden_widths_come_from_a_flag_a_link_or_a_checkpoint(value, expected):
    assert from_dict({"hidden": value}).hidden == expected
    assert from_dict(from_dict({"hidden": value}).to_dict()).hidden == expected


@pytest.mark.parametrize("value", ["", "200,,200", "two hundred", *words("0 200,5000 1,2,3,4,5 2.5"), [True]])
def test_bad_hidden_widths_are_refused_naming_the_field(value):
    with pytest.raises(ConfigError) as info:
        from_dict({"hidden": value})
    assert info.value.field == "hidden"


def test_activation_and_adam_eps_are_checked():
    with pytest.raises(ConfigError, match="relu, tanh"):
        VAEConfig(activation="gelu")
    with pytest.raises(ConfigError, match="adam_eps"):
        VAEConfig(adam_eps=0.0)


def test_the_default_mlp_is_the_classic_one_and_older_checkpoints_load(tmp_path):
    assert VAEConfig().hidden == (400,) and VAEConfig().activation == "relu"
    keys = {k: tuple(v.shape) for k, v in MLPVAE(20).state_dict().items()}
    assert keys == {
        "encoder.1.weight": (400, 784),
        "encoder.1.bias": (400,),
        "to_posterior.weight": (40, 400),
        "to_posterior.bias": (40,),
        "decoder.0.weight": (400, 20),
        "decoder.0.bias": (400,),
        "decoder.2.weight": (784, 400),
        "decoder.2.bias": (784,),
    }
    # A run saved before hidden and activation existed: its config has neither.
    run = load_run(ROOT / "checkpoints" / "mlp-d20-b1.pt")
    assert (run.config.hidden, run.config.activation) == ((400,), "relu")


def test_burdas_mlp_has_their_shapes_and_glorot_init():
    torch.manual_seed(0)
    model = MLPVAE(50, (200, 200), "tanh")
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [tuple(m.weight.shape) for m in linears] == [
        (200, 784),
        (200, 200),
        (100, 200),
        (200, 50),
        (200, 200),
        (784, 200),
    ]
    for layer in linears:
        fan_out, fan_in = layer.weight.shape
        assert layer.weight.abs().max() <= math.sqrt(6 / (fan_in + fan_out)) and not layer.bias.any()
    assert sum(isinstance(m, torch.nn.Tanh) for m in model.modules()) == 4
    x = torch.rand(3, 1, 28, 28)
    logits, posterior = model(x)
    assert logits.shape == (3, 1, 28, 28) and posterior.mu.shape == (3, 50)


def test_a_tiny_configurable_mlp_trains_saves_and_loads(binarized_5k, tmp_path):
    data = subset(binarized_5k, 400, 100)
    config = VAEConfig(
        dataset="binarized-mnist-5k",
        hidden=(32, 16),
        activation="tanh",
        latent_dim=4,
        batch_size=20,
        epochs=4,
        lr_schedule="burda",
        adam_eps=1e-4,
    )
    events = list(train_run(config, "tiny-burda", tmp_path, data=data))
    epochs = [e for e in events if isinstance(e, EpochMetrics)]
    assert [e.lr for e in epochs] == pytest.approx([1e-3] + [1e-3 * 10 ** (-1 / 7)] * 3)  # stages 0, 1, 1, 1
    assert epochs[-1].test["loss"] < epochs[0].test["loss"]
    run = load_run(tmp_path / "tiny-burda.pt")
    assert run.config == config and run.model.encoder[1].out_features == 32
    assert "mlp 32-16 tanh d=4" in run.config.label


def test_the_cli_trains_burdas_model_from_flags(tmp_path):
    model = "--dataset binarized-mnist-5k --hidden 16,16 --activation tanh --latent-dim 3 --batch-size 500"
    optimiser = "--epochs 1 --lr-schedule burda --adam-eps 1e-4"
    done = cli("train", *words(model), *words(optimiser), "--name", "flags", "--checkpoint-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    config = load_run(tmp_path / "flags.pt").config
    assert (config.hidden, config.activation, config.adam_eps, config.lr_schedule) == ((16, 16), "tanh", 1e-4, "burda")
    bad = cli(*words("train --hidden 200,x --name bad --checkpoint-dir"), str(tmp_path))
    assert bad.returncode == 2 and "hidden" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "bad.pt").exists()


def test_a_long_run_keeps_a_bounded_step_history_of_means():
    history = StepHistory(stride=4)
    for step in range(1, 11):  # one epoch of 10 steps: rows of 4, 4 and the last 2
        history.append(StepMetrics(1, step, 10, float(step), 0.0, float(step), 1.0, 0.0))
    history.append(StepMetrics(2, 1, 10, 100.0, 0.0, 100.0, 1.0, 0.0))  # a new epoch closes the open row
    history.append(StepMetrics(2, 2, 10, 200.0, 0.0, 200.0, 1.0, 0.0))
    assert history.column("step") == [4, 8, 10]
    assert history.column("recon") == [2.5, 6.5, 9.5]
    history.flush()  # a run that ends here keeps its last, shorter row too
    assert history.column("step") == [4, 8, 10, 2] and history.column("recon")[-1] == 150.0
    burda = StepHistory.for_run(VAEConfig(epochs=3280, batch_size=20), 60_000)
    assert burda.stride == 197 and 3280 * 3000 / burda.stride <= 50_000
    assert StepHistory.for_run(VAEConfig(epochs=10, batch_size=128), 60_000).stride == 1
    restored = StepHistory.from_history({"steps": history.to_dict()})
    assert restored.stride == 4 and restored.rows == history.rows


def test_a_long_run_keeps_at_most_50_latent_frames_and_always_the_last():
    assert [e for e in range(1, 23) if frame_epochs(22)(e)] == list(range(1, 23))
    kept = [e for e in range(1, 365) if frame_epochs(364)(e)]
    assert len(kept) <= 50 and kept[-1] == 364 and kept[:2] == [8, 16]


def test_iw_per_image_estimates_average_to_the_bound_and_tighten_with_k(binarized_5k):
    torch.manual_seed(0)
    model = build_model(VAEConfig(hidden=(32,), latent_dim=4))
    x = binarized_5k.test_x[:30]
    per_image = iw_nll_per_image(model, x, 50, seed=3)
    assert per_image.shape == (30,) and per_image.dtype == torch.float64
    assert float(per_image.mean()) == pytest.approx(iw_nll(model, x, 50, seed=3), abs=1e-9)
    one, many = iw_nll(model, x, 1, seed=3), iw_nll(model, x, 500, seed=3)
    assert many < one


@pytest.mark.full_data
def test_the_shipped_burda_run_matches_a_fresh_iw_estimate_within_mc_noise(full_mnist_root):
    """The stored per-image IW figure (k = 5000, seed 0) against `python -m vae eval --iw 5000` with another
    seed on the first 200 test images: two independent estimates of the same quantity."""
    run = load_run(BURDA)
    stored = run.final["iw"]
    per_image = run.history["iw_per_image"]  # [10000]
    assert (stored["k"], stored["n"], len(per_image)) == (5000, 10_000, 10_000)
    assert stored["nll"] == pytest.approx(float(per_image.double().mean()), abs=1e-4)
    done = cli(
        "eval",
        str(BURDA),
        *words("--iw 5000 --n 200 --seed 1 --json"),
        env={"VAE_DATA_DIR": str(full_mnist_root)},
    )
    assert done.returncode == 0, done.stderr
    fresh = json.loads(done.stdout)
    assert fresh["dataset"] == "binarized-mnist" and fresh["iw_n"] == 200
    # IW(5000)'s spread per image is a few tenths of a nat at most, so 200 images average to within ~0.05.
    assert fresh["iw_nll"] == pytest.approx(float(per_image[:200].double().mean()), abs=0.1)
    assert fresh["active_units"] == run.final["active_units"]


def test_diagnostics_sets_the_shipped_run_beside_the_papers_figures(app, run_dir):
    import shutil

    from tests.conftest import open_page

    shutil.copy(BURDA, run_dir / BURDA.name)
    at = open_page(app, "pages/diagnostics.py", "burda-vae-k1")
    assert not at.exception
    metrics = {m.label: m for m in at.metric}
    stored = load_run(BURDA).final
    iw = metrics["−log p(x), IW k = 5,000, 10,000 test images"]
    assert iw.value == f"{stored['iw']['nll']:.2f} nats per image" and "the paper's 86.76" in iw.delta
    assert f"{stored['iw']['nll'] - 86.76:+.2f}" in iw.delta
    assert "the paper's 19" in metrics["Active units, as the paper counts them"].delta
    trained = f"{len(load_run(BURDA).epochs):,}"
    assert metrics["Epochs trained"].value == trained and "3,280" in metrics["Epochs trained"].delta
    assert any("Burda, Grosse & Salakhutdinov 2015" in c.value for c in at.caption)
    # A run with no published figure shows no comparison.
    plain = open_page(app, "pages/diagnostics.py", "tiny-d4")
    assert not any(m.label.startswith("−log p(x), IW") for m in plain.metric)


def test_a_link_presets_burdas_setup_in_the_train_form(app):
    from tests.conftest import open_page

    for key, value in {
        "dataset": "binarized-mnist-5k",
        "hidden": "200,200",
        "activation": "tanh",
        "latent_dim": "50",
        "lr_schedule": "burda",
        "adam_eps": "1e-4",
        "batch_size": "20",
    }.items():
        app.query_params[key] = value
    at = open_page(app, "pages/train.py")
    assert not at.exception and not at.error
    assert next(t for t in at.text_input if t.label == "MLP hidden layers").value == "200,200"
    selects = {s.label: s.value for s in at.selectbox}
    assert (selects["MLP activation"], selects["Learning-rate schedule"], selects["Dataset"]) == (
        "tanh",
        "burda",
        "binarized-mnist-5k",
    )
    assert next(n for n in at.number_input if n.label == "Adam ε").value == 1e-4


def test_a_long_runs_per_step_curve_is_drawn_thinned_over_the_whole_run():
    from ui.curves import MAX_STEP_POINTS, step_series

    rows = [(1 + i // 3000, 1 + i % 3000, 90.0, 20.0, 110.0, 1.0, 0.0, 0.0) for i in range(49_000)]
    series = step_series(StepHistory(3000, rows, stride=22), "burda", None)
    assert MAX_STEP_POINTS // 2 <= len(series["x"]) <= MAX_STEP_POINTS
    assert series["x"][-1] > 16.0  # still reaches the end of the run


def test_every_activation_the_config_offers_has_a_layer():
    from vae.model.config import ACTIVATIONS
    from vae.model.networks import ACTIVATION_LAYERS

    assert set(ACTIVATION_LAYERS) == set(ACTIVATIONS)
