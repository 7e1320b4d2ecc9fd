import pytest

from vae.config import ConfigError, VAEConfig, from_dict


def test_defaults_are_valid_and_frozen():
    config = VAEConfig()
    with pytest.raises(dataclasses_frozen_error()):
        config.beta = 2.0  # type: ignore[misc]


def dataclasses_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("latent_dim", 1, "[2, 64]"),
        ("latent_dim", 65, "[2, 64]"),
        ("latent_dim", 2.5, "integer"),
        ("beta", -0.1, "[0, 100]"),
        ("beta", float("nan"), "finite"),
        ("lr", 0.0, "[1e-06, 1]"),
        ("epochs", 0, "[1, 500]"),
        ("batch_size", 0, "[1, 8192]"),
        ("arch", "resnet", "mlp, conv"),
        ("dataset", "cifar", "mnist"),
        ("recon", "l1", "bce, mse"),
        ("device", "tpu", "auto"),
        ("seed", -1, "[0,"),
    ],
)
def test_each_bad_field_is_named_with_its_range(field, value, needle):
    with pytest.raises(ConfigError) as info:
        VAEConfig(**{field: value})
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}:")
    assert needle in str(info.value)


def test_from_dict_coerces_strings_like_a_url_or_cli_would():
    config = from_dict({"latent_dim": "10", "beta": "0.5", "arch": " CONV ", "epochs": "3.0"})
    assert (config.latent_dim, config.beta, config.arch, config.epochs) == (10, 0.5, "conv", 3)


@pytest.mark.parametrize(
    "values",
    [{"latent_dim": "ten"}, {"latent_dim": True}, {"beta": [1]}, {"epochs": "2.5"}, {"arch": 3}, {"bogus": 1}],
)
def test_from_dict_refuses_garbage_with_config_error(values):
    with pytest.raises(ConfigError):
        from_dict(values)


def test_round_trip_through_dict():
    config = VAEConfig(arch="conv", latent_dim=7, beta=0.25, lr_schedule="cosine")
    assert from_dict(config.to_dict()) == config
    assert config.replace(beta=4.0).beta == 4.0
