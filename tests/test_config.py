import pytest

from vae.model.config import VAEConfig, from_dict
from vae.vocabulary import ConfigError


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
        ("epochs", 0, "[1, 5000]"),
        ("batch_size", 0, "[1, 8192]"),
        ("arch", "resnet", "mlp, conv"),
        ("dataset", "cifar", "mnist"),
        ("likelihood", "l1", "bce, mse"),
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


def test_old_checkpoints_and_links_that_say_recon_still_load():
    assert from_dict({"recon": "mse"}).likelihood == "mse"
    assert "recon" not in VAEConfig().to_dict()
    with pytest.raises(ConfigError) as info:
        from_dict({"recon": "l1"})
    assert info.value.field == "likelihood"


def test_every_field_has_a_flag_and_a_form_control_or_is_named_as_hidden():
    """The CLI's flags and the Train form are built from each field's metadata; none is forgotten."""
    import dataclasses

    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT
    from vae.cli.parser import build_parser
    from vae.model.config import field_spec

    hidden_from_form = {"device", "precision"}  # set by a link or the CLI; the form keeps them
    names = [f.name for f in dataclasses.fields(VAEConfig)]
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    flags = {option for action in train._actions for option in action.option_strings}
    assert {f"--{n.replace('_', '-')}" for n in names} <= flags
    for name in names:
        spec = field_spec(name)
        assert spec["help"], name
        assert bool(spec["label"]) == (name not in hidden_from_form), name

    # Through the router, as every page is served (a page file run alone hands itself to the router: ui.routing).
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run().switch_page("pages/train.py").run()
    widgets = [*at.selectbox, *at.slider, *at.select_slider, *at.number_input, *at.text_input]
    labels = {w.label for w in widgets}
    for name in names:
        if name not in hidden_from_form:
            assert field_spec(name)["label"] in labels, f"the Train form has no control for {name}"
    # The form's limits are the config's bounds.
    by_label = {w.label: w for w in at.number_input}
    assert (by_label["Epochs"].min, by_label["Epochs"].max) == field_spec("epochs")["bounds"]
    assert (by_label["Seed"].min, by_label["Seed"].max) == field_spec("seed")["bounds"]
