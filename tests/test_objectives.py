"""Beyond a fixed beta: schedules, free bits, capacity control, active units and the IWAE bound."""

import pytest
import torch

from vae.analysis.latents import encode_mu
from vae.analysis.likelihood import iw_nll, latent_diagnostics
from vae.data.datasets import to_float
from vae.model.config import VAEConfig
from vae.model.losses import LossTerms
from vae.model.networks import DiagonalGaussian
from vae.model.objectives import regularized
from vae.training.loop import EpochMetrics, StepMetrics, evaluate, train
from vae.training.runs import prepare


def test_kl_warmup_ramps_beta_linearly():
    config = VAEConfig(beta=4.0, kl_warmup_epochs=4)
    assert [config.beta_at(p) for p in (0, 1, 2, 3.5, 4, 10)] == [0.0, 1.0, 2.0, 3.5, 4.0, 4.0]
    assert VAEConfig(beta=4.0).beta_at(0) == 4.0


def test_capacity_ramps_to_its_maximum():
    config = VAEConfig(capacity=25.0, capacity_epochs=5)
    assert [config.capacity_at(p) for p in (0, 1, 2.5, 5, 9)] == [0.0, 5.0, 12.5, 25.0, 25.0]
    assert VAEConfig(capacity=25.0).capacity_at(0) == 25.0  # no ramp: the full target at once
    assert VAEConfig().capacity_at(3) == 0.0


def _terms(kl_per_dim):
    kl_per_dim = torch.tensor(kl_per_dim, requires_grad=True)
    recon = torch.tensor(100.0)
    return LossTerms(recon + kl_per_dim.sum(), recon, kl_per_dim.sum(), kl_per_dim), kl_per_dim


def _objective(terms, beta=1.0, c=0.0, **fields):
    config = VAEConfig(**fields)
    posterior = DiagonalGaussian(torch.zeros(4, len(terms.kl_per_dim)), torch.zeros(4, len(terms.kl_per_dim)))
    return regularized(config, terms, posterior, posterior.mu, beta=beta, capacity=c, n_data=100)


def test_free_bits_floor_each_dimension():
    terms, kl_per_dim = _terms([0.1, 0.5, 3.0])
    objective, extra = _objective(terms, free_bits=1.0)
    assert objective.item() == pytest.approx(100 + 1.0 + 1.0 + 3.0) and extra.item() == 0
    objective.backward()
    assert kl_per_dim.grad.tolist() == [0.0, 0.0, 1.0]  # dimensions under the floor get no push to collapse


def test_capacity_objective_is_gamma_times_the_gap():
    terms, _ = _terms([2.0, 3.0])
    annealed = _objective(terms, c=10.0, objective="annealed-vae", capacity_gamma=50.0)
    assert annealed.objective.item() == pytest.approx(100 + 50 * 5)
    assert _objective(terms).objective.item() == pytest.approx(105)
    assert _objective(terms, beta=0.5).objective.item() == pytest.approx(102.5)


def test_training_logs_the_beta_and_capacity_in_effect(small_data):
    config, model, data = prepare(VAEConfig(latent_dim=2, epochs=2, beta=2.0, kl_warmup_epochs=2), small_data)
    events = list(train(model, config, data))
    steps = [e for e in events if isinstance(e, StepMetrics)]
    assert steps[0].beta == 0.0 and steps[8].beta == pytest.approx(1.0) and steps[-1].beta == pytest.approx(1.875)
    assert [e.beta for e in events if isinstance(e, EpochMetrics)] == [1.0, 2.0]
    assert all(s.loss == pytest.approx(s.recon + s.beta * s.kl, rel=1e-5) for s in steps)

    config, model, data = prepare(VAEConfig(latent_dim=2, epochs=1, capacity=8.0, capacity_epochs=1), small_data)
    steps = [e for e in train(model, config, data) if isinstance(e, StepMetrics)]
    assert [s.capacity for s in steps[:3]] == [0.0, 1.0, 2.0]


@pytest.fixture(scope="module")
def trained(small_data):
    config, model, data = prepare(VAEConfig(latent_dim=4, epochs=3), small_data)
    for _ in train(model, config, data):
        pass
    return model, data


def test_iw_bound_tightens_with_k_and_stays_below_the_elbo(trained):
    model, data = trained
    x = data.test_x[:100]
    elbo_loss = evaluate(model, x)["loss"]
    estimates = {k: iw_nll(model, x, k, seed=0) for k in (1, 10, 100)}
    assert estimates[1] == pytest.approx(elbo_loss, rel=0.02)  # one sample: the -ELBO itself
    assert estimates[100] <= estimates[10] <= estimates[1]
    assert estimates[100] < elbo_loss
    assert iw_nll(model, x, 10, seed=0) == estimates[10]  # seeded


def test_active_units_sees_a_dimension_forced_dead(trained):
    model, data = trained
    before = latent_diagnostics(model, data.test_x)
    assert len(before["kl_per_dim"]) == 4 and all(kl >= 0 for kl in before["kl_per_dim"])
    with torch.no_grad():
        dead = type(model)(4)
        dead.load_state_dict(model.state_dict())
        dead.to_posterior.weight[0].zero_()  # mu_0 no longer depends on x
    after = latent_diagnostics(dead, data.test_x)
    assert after["active"][0] is False and after["mu_variance"][0] == 0.0
    assert after["active_units"] == before["active_units"] - int(before["active"][0])


def test_uint8_and_float_images_give_the_same_numbers(trained):
    model, data = trained
    pixels = data.test_x[:64]
    floats = to_float(pixels)
    assert pixels.dtype == torch.uint8 and floats.dtype == torch.float32
    # Converted one batch at a time, the pixels give bit-identical results to a float copy of the split.
    assert evaluate(model, pixels, batch_size=10) == evaluate(model, floats, batch_size=10)
    assert torch.equal(encode_mu(model, pixels, batch_size=10), encode_mu(model, floats, batch_size=10))
    assert latent_diagnostics(model, pixels, batch_size=10) == latent_diagnostics(model, floats, batch_size=10)
    assert iw_nll(model, pixels, 5, max_batch_elements=50) == iw_nll(model, floats, 5, max_batch_elements=50)
