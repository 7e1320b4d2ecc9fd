"""The β-VAE family (vae.model.objectives): each objective's term on codes whose answer is known, its config, and that
each trains, logs its term, saves and carries on exactly."""

from __future__ import annotations

import json
import threading

import pytest
import torch

from vae.model.config import OBJECTIVES, VAEConfig, from_dict
from vae.model.networks import DiagonalGaussian, build_model, vae_parameters
from vae.model.objectives import critic_loss, dip_penalty, minibatch_tc, permute_dims
from vae.runfile import load_run
from vae.training.loop import EpochMetrics, StepMetrics, TrainingEnded
from vae.training.record import StepHistory
from vae.training.runs import continue_config, train_run
from vae.vocabulary import ConfigError

HYPERPARAMETERS = {
    "beta-vae": {"beta": 4.0},
    "annealed-vae": {"capacity": 5.0, "capacity_epochs": 1},
    "beta-tcvae": {"beta": 6.0},
    "factor-vae": {"factor_gamma": 20.0},
    "dip-vae-i": {"dip_lambda_od": 5.0},
    "dip-vae-ii": {"dip_lambda_od": 5.0},
}


def test_every_objective_has_its_hyperparameters_here():
    assert set(HYPERPARAMETERS) == set(OBJECTIVES)


def test_a_capacity_without_an_objective_is_an_annealed_vae_as_before():
    assert VAEConfig(capacity=25.0).objective == "annealed-vae"
    assert from_dict({"capacity": 25.0, "capacity_epochs": 5}).objective == "annealed-vae"  # an older run's config
    assert VAEConfig().objective == "beta-vae"
    with pytest.raises(ConfigError, match="^capacity: only annealed-vae uses a capacity; factor-vae does not"):
        VAEConfig(objective="factor-vae", capacity=5.0)


def test_the_logged_loss_weighs_the_kl_by_beta_only_for_beta_vae():
    """So that the logged total is −ELBO for every other objective, whatever its strength."""
    assert VAEConfig(beta=4.0).kl_weight == 4.0
    assert VAEConfig(objective="beta-tcvae", beta=6.0).kl_weight == 1.0
    assert VAEConfig(objective="dip-vae-i", dip_lambda_od=5).dip_lambda_d_in_effect == 50  # Kumar et al.'s choices
    assert VAEConfig(objective="dip-vae-ii", dip_lambda_od=5).dip_lambda_d_in_effect == 5
    assert VAEConfig(objective="dip-vae-ii", dip_lambda_od=5, dip_lambda_d=7).dip_lambda_d_in_effect == 7
    assert VAEConfig(objective="factor-vae", factor_gamma=20).label == "mlp d=20 FactorVAE γ=20 on mnist-5k"


def _codes(correlated: bool, n: int = 512, seed: int = 0) -> tuple[torch.Tensor, DiagonalGaussian]:
    """Codes ``[n, 3]`` from a posterior with small σ: independent dimensions, or the second a copy of the first."""
    generator = torch.Generator().manual_seed(seed)
    mu = torch.randn(n, 3, generator=generator)
    if correlated:
        mu[:, 1] = mu[:, 0]
    posterior = DiagonalGaussian(mu, torch.full_like(mu, -4.0))
    return posterior.rsample(generator), posterior


def test_minibatch_tc_sees_a_copied_dimension():
    z, posterior = _codes(correlated=False)
    independent = minibatch_tc(z, posterior, n_data=len(z)).item()
    z, posterior = _codes(correlated=True)
    correlated = minibatch_tc(z, posterior, n_data=len(z)).item()
    # The copy shares I(z0; z1) = ½ log(1 + 1 / 2σ²) = 1.67 nats with its original (σ = e^-2). MWS is biased by a
    # constant of about (D − 1)·log(N·M) − E[Σ_d log M q(z_d)] nats, the same for both codes, so the difference shows.
    assert 0.8 < correlated - independent < 2.5, (independent, correlated)


def test_dip_penalty_on_a_covariance_worked_by_hand():
    mu = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])  # mean 0, Cov μ = [[1, 1], [1, 1]]
    posterior = DiagonalGaussian(mu, torch.zeros_like(mu))  # σ² = 1
    assert dip_penalty(posterior, 3.0, 7.0, second_kind=False).item() == pytest.approx(3 * 2)  # diag already 1
    # Cov z = Cov μ + E[diag σ²] = [[2, 1], [1, 2]]: off-diagonal 1 twice, the diagonal 1 over twice.
    assert dip_penalty(posterior, 3.0, 7.0, second_kind=True).item() == pytest.approx(3 * 2 + 7 * 2)


def test_permuting_dimensions_keeps_each_marginal_and_breaks_their_bond():
    z, _ = _codes(correlated=True)
    shuffled = permute_dims(z, torch.Generator().manual_seed(1))
    for d in range(z.shape[1]):
        assert torch.equal(shuffled[:, d].sort().values, z[:, d].sort().values)
    assert torch.corrcoef(shuffled[:, :2].T)[0, 1].abs() < 0.2 < torch.corrcoef(z[:, :2].T)[0, 1]


@pytest.mark.slow
def test_factor_vaes_critic_learns_to_tell_correlated_codes():
    """The density-ratio trick: trained on codes and their permutation, the critic's logit gap estimates TC."""
    torch.manual_seed(0)
    gaps = {}
    for correlated in (False, True):
        z, _ = _codes(correlated)
        model = build_model(VAEConfig(objective="factor-vae", latent_dim=3))
        optimizer = torch.optim.Adam(model.critic.parameters(), lr=1e-3)
        generator = torch.Generator().manual_seed(2)
        for _ in range(300):
            optimizer.zero_grad()
            critic_loss(model.critic, z, generator).backward()
            optimizer.step()
        with torch.no_grad():  # on codes it has not seen, so that what it learnt is the density ratio
            logits = model.critic(_codes(correlated, seed=9)[0])
        gaps[correlated] = (logits[:, 0] - logits[:, 1]).mean().item()
    assert gaps[True] > 1.0 and abs(gaps[False]) < 0.4, gaps


def test_the_critic_is_saved_with_the_model_but_not_trained_by_its_optimiser():
    model = build_model(VAEConfig(objective="factor-vae", latent_dim=3))
    assert any(k.startswith("critic.") for k in model.state_dict())
    assert not any(p is q for p in vae_parameters(model) for q in model.critic.parameters())
    assert not hasattr(build_model(VAEConfig(latent_dim=3)), "critic")


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_each_objective_trains_logs_its_term_and_saves(objective, tmp_path, small_data):
    config = VAEConfig(
        dataset="mnist-5k", latent_dim=3, hidden=(32,), epochs=1, objective=objective, **HYPERPARAMETERS[objective]
    )
    events = list(train_run(config, "run", tmp_path, data=small_data))
    assert isinstance(events[-1], TrainingEnded) and events[-1].reason == "completed", events[-1]
    steps = [e for e in events if isinstance(e, StepMetrics)]
    has_term = objective not in ("beta-vae", "annealed-vae")
    assert any(s.regularizer != 0 for s in steps) == has_term
    assert all(s.loss == pytest.approx(s.recon + config.kl_weight * s.kl, rel=1e-5) for s in steps)
    run = load_run(tmp_path / "run.pt")
    assert run.config == config
    stored = StepHistory.from_history(run.history).column("regularizer")
    assert stored == pytest.approx([s.regularizer for s in steps], rel=1e-5, abs=1e-5)
    (epoch,) = [e for e in events if isinstance(e, EpochMetrics)]
    assert run.epochs[0]["regularizer"] == pytest.approx(epoch.regularizer)


def test_a_factor_vae_stopped_mid_epoch_carries_on_to_the_weights_of_an_unbroken_run(tmp_path, small_data):
    """Its critic and the critic's Adam travel in the run file, so a continued FactorVAE trains as one run."""
    config = VAEConfig(dataset="mnist-5k", latent_dim=3, hidden=(32,), epochs=2, objective="factor-vae", seed=5)
    list(train_run(config, "straight", tmp_path, data=small_data))
    stop = threading.Event()
    for event in train_run(config, "cut", tmp_path, data=small_data, stop=stop):
        if isinstance(event, StepMetrics) and event.epoch == 2 and event.step == 3:
            stop.set()
    cut = load_run(tmp_path / "cut.pt")
    assert "critic_optimizer" in cut.train_state
    list(train_run(continue_config(cut, 1), "cut", tmp_path, data=small_data, resume=cut))
    a, b = load_run(tmp_path / "straight.pt"), load_run(tmp_path / "cut.pt")
    for key, value in a.model.state_dict().items():
        assert torch.equal(value, b.model.state_dict()[key]), key


def test_a_sweep_varies_the_objectives_own_strength_and_the_seed():
    from vae.training.sweep import plan

    base = VAEConfig(objective="factor-vae", latent_dim=4)
    grid = plan(base, [10.0, 20.0], [4], "fv", [0, 1])
    assert [name for name, _ in grid] == ["fv-d4-b10-s0", "fv-d4-b10-s1", "fv-d4-b20-s0", "fv-d4-b20-s1"]
    assert [(c.factor_gamma, c.seed) for _, c in grid] == [(10, 0), (10, 1), (20, 0), (20, 1)]
    assert {c.beta for _, c in grid} == {1.0}
    # One seed keeps the names sweeps always had.
    assert [name for name, _ in plan(VAEConfig(), [1.0, 4.0], [2], "b")] == ["b-d2-b1", "b-d2-b4"]


def test_the_curves_draw_the_objectives_term_beside_recon_and_kl():
    from ui.curves import epoch_series, loss_figure

    epochs = [
        {"epoch": e, "train": {"recon": 9.0, "kl": 1.0, "loss": 10.0}, "test": {"recon": 9.0, "kl": 1.0, "loss": 10.0}}
        for e in (1, 2)
    ]
    plain = loss_figure(epoch_series(epochs, "run"))
    with_term = loss_figure(epoch_series([{**e, "regularizer": 0.5} for e in epochs], "run"))
    titles = [a.text for a in with_term.layout.annotations]
    assert "Objective's term: TC or DIP penalty" in titles
    assert len(with_term.data) == len(plain.data) + 1  # the train series' term; the test pass has none


def _study_rows() -> dict[str, dict]:
    """A small score table as scripts/study.py writes it: two objectives × 3 seeds."""
    rows = {}
    for objective, value, mig in (("beta-vae", 8.0, 0.3), ("factor-vae", 20.0, 0.5)):
        for seed in range(3):
            rows[f"{objective}-{value:g}-s{seed}"] = {
                "objective": objective,
                "value": value,
                "seed": seed,
                "epochs": 30,
                "mig": mig + 0.01 * seed,
                "factor_vae": 0.7 + 0.01 * seed,
                "recon": 40.0 + seed,
                "kl": 20.0,
                "active_latents": 5,
            }
    return rows


def test_the_study_grid_is_the_scripts_and_its_table_reads_back(tmp_path):
    from vae.analysis.study import GRID, SEEDS, medians, read_scores, study_runs

    runs = study_runs()
    assert len(runs) == len(GRID) * 2 * len(SEEDS) == 24
    assert runs["factor-vae-40-s2"].factor_gamma == 40 and runs["factor-vae-40-s2"].seed == 2
    assert read_scores(tmp_path) == []
    (tmp_path / "scores.json").write_text(json.dumps(_study_rows()))
    rows = read_scores(tmp_path)
    assert medians(rows)[("factor-vae", 20.0)] == {"mig": 0.51, "factor_vae": 0.71, "recon": 41.0, "seeds": 3}


_ROW = {"value": 1, "seed": 0, "epochs": 1, "factor_vae": 0.2, "recon": 1, "kl": 1, "active_latents": 1}


@pytest.mark.slow
@pytest.mark.parametrize(
    "crafted, reason",
    [
        ("{", "cannot be read"),
        ("[1, 2]", "expected a mapping"),
        ('{"a": {"objective": "gan"}}', "a: KeyError"),
        (json.dumps({"a": {**_ROW, "objective": "gan", "mig": 0.1}}), "objective 'gan' is not one of"),
        (json.dumps({"a": {**_ROW, "objective": "beta-vae", "mig": 7}}), "scores must lie in [0, 1]"),
    ],
)
def test_a_crafted_score_table_is_one_line_on_the_page(crafted, reason, shapes_dir, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP, open_page
    from vae.analysis.study import read_scores
    from vae.vocabulary import StudyError

    (shapes_dir / "study").mkdir()
    (shapes_dir / "study" / "scores.json").write_text(crafted)
    with pytest.raises(StudyError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        read_scores(shapes_dir / "study")
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(shapes_dir))
    at = open_page(AppTest.from_file(APP, default_timeout=120).run(), "pages/disentanglement.py", "shapes-b4")
    assert not at.exception, at.exception
    assert any(reason in w.value for w in at.warning)


@pytest.mark.slow
def test_the_disentanglement_page_shows_the_study_spread_and_trade_off(shapes_dir, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP, open_page

    (shapes_dir / "study").mkdir()
    (shapes_dir / "study" / "scores.json").write_text(json.dumps(_study_rows()))
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(shapes_dir))
    at = open_page(AppTest.from_file(APP, default_timeout=120).run(), "pages/disentanglement.py", "shapes-b4")
    assert not at.exception, at.exception
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    spread = charts[-2]
    dots = [t for t in spread["data"] if len(t["x"]) == 3]  # one trace of 3 seeds per (objective, strength, score)
    assert len(dots) == 4 and {t["x"][0] for t in dots} == {"β=8", "FactorVAE γ=20"}
    assert "FactorVAE γ=20, MIG 0.51 and FactorVAE score 0.71 over 3 seeds" in " ".join(c.value for c in at.caption)
    assert len(charts[-1]["data"]) == 2  # the trade-off: one series per objective
