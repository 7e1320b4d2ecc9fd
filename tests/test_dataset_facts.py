"""One home for dataset facts (``vae.data.facts``): every dataset the config offers has every fact, the modules
that used to keep their own tables read it, and it agrees with the data as loaded or drawn."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from vae.data import files as data_files
from vae.data.facts import DOWNLOADED, FACTS, GENERATED, SOURCES, DatasetFacts, dataset_facts
from vae.model.config import DATASETS, VAEConfig
from vae.server.limits import check_training, training_steps
from vae.vocabulary import LimitError


def test_the_config_offers_exactly_the_registered_datasets_in_its_order():
    assert tuple(FACTS) == DATASETS


@pytest.mark.parametrize("name", DATASETS)
def test_every_dataset_has_every_fact(name):
    facts = dataset_facts(name)
    assert isinstance(facts, DatasetFacts) and facts.name == name
    assert facts.source in SOURCES
    assert facts.class_names and all(isinstance(c, str) and c for c in facts.class_names)
    assert len(set(facts.class_names)) == len(facts.class_names)
    assert type(facts.max_train_images) is int and facts.max_train_images > 0
    assert bool(facts.folder) == (facts.source == DOWNLOADED)
    assert bool(facts.factors) == (facts.source == GENERATED)
    if facts.binarized_from:  # the same images and classes as its source, pixels drawn from them
        source = dataset_facts(facts.binarized_from)
        assert not source.binarized_from
        assert (source.class_names, source.max_train_images) == (facts.class_names, facts.max_train_images)
    assert training_steps(VAEConfig(dataset=name, epochs=1, batch_size=100)) == math.ceil(facts.max_train_images / 100)


def test_a_shapes_training_is_priced_and_refused_by_the_limit_in_one_line(monkeypatch):
    """The bug of issue #34: ``shapes`` was missing from the limits' own table (``KeyError: 'shapes'``)."""
    config = VAEConfig(dataset="shapes", epochs=2, batch_size=128)
    assert training_steps(config) == 2 * math.ceil(184_320 / 128)
    monkeypatch.setenv("VAE_MAX_TRAINING_STEPS", "100")
    with pytest.raises(LimitError, match=r"^2 epochs of shapes at batch 128 \(2,880 optimizer steps\)"):
        check_training(config)


def test_the_shapes_facts_are_those_vae_shapes_draws_from():
    from vae.data import shapes

    facts = dataset_facts("shapes")
    assert facts.factors == tuple((f.name, f.size) for f in shapes.FACTORS)
    assert facts.class_names == shapes.SHAPE_NAMES == shapes.FACTORS[0].values
    assert facts.max_train_images == shapes.N_IMAGES  # every combination: the split's training part is no larger


def test_the_facts_are_those_of_the_data_as_loaded(mnist_5k):
    facts = dataset_facts("mnist-5k")
    assert len(mnist_5k.train_x) == facts.max_train_images and mnist_5k.class_names == facts.class_names
    assert int(mnist_5k.train_y.max()) + 1 == len(facts.class_names)


@pytest.mark.full_data
def test_full_mnist_as_loaded_fits_its_facts(full_mnist_root):
    from vae.data.datasets import load_dataset

    for name in ("mnist", "binarized-mnist"):
        data = load_dataset(name, full_mnist_root, allow_download=False)
        assert data.name == name and len(data.train_x) == dataset_facts(name).max_train_images
        assert data.class_names == dataset_facts(name).class_names


def test_the_file_level_names_are_read_from_the_facts():
    downloaded = {n: f.folder for n, f in FACTS.items() if f.source == DOWNLOADED and not f.binarized_from}
    assert data_files.FULL_DATASETS == downloaded == {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
    assert data_files.GENERATED_DATASET == "shapes" and data_files.OFFLINE_DATASET == "mnist-5k"
    assert data_files.BINARIZED == {"binarized-mnist": "mnist", "binarized-mnist-5k": "mnist-5k"}
    assert data_files.is_available("shapes") and data_files.is_available("binarized-mnist-5k")


@pytest.mark.parametrize("bad", ["svhn", "", None, ["mnist"]])
def test_an_unknown_dataset_is_refused_in_one_line(bad):
    from vae.data.datasets import load_dataset

    for ask in (dataset_facts, load_dataset):
        with pytest.raises(ValueError, match=r"^dataset must be one of mnist, fashion-mnist, .*; got ") as caught:
            ask(bad)
        assert "\n" not in str(caught.value)


LIGHT = """
import json, sys
import vae.data.facts, vae.data.files, vae.server.limits, vae.runfile.schema, vae.model.config
from vae.server.limits import training_steps
from vae.model.config import VAEConfig
steps = training_steps(VAEConfig(dataset="shapes", epochs=1, batch_size=512))
print(json.dumps({"torch": "torch" in sys.modules, "steps": steps}))
"""


def test_the_facts_the_limits_and_the_schema_need_no_torch():
    """The app's first screen is drawn before torch is loaded (tests/test_cold_start.py): pricing and reading a
    run's summary must not load it."""
    out = subprocess.run(
        [sys.executable, "-c", LIGHT], check=False, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout) == {"torch": False, "steps": math.ceil(184_320 / 512)}
