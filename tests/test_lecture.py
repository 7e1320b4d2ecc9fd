"""A lecture without friction (issue #40): one range per field, links that say what they ignored, and a run name
that a link may preset. Enter in a form field is tested in the browser (tests/test_browser_jobs.py)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import APP, open_page
from ui.train_form import BATCH_CHOICES, BETA_CHOICES, SWEEP_VALUES
from vae.model.config import bounds


def test_the_forms_choices_span_the_configs_range_and_no_more():
    assert (BETA_CHOICES[0], BETA_CHOICES[-1]) == bounds("beta") and 16.0 in BETA_CHOICES  # Locatello et al.'s grid
    assert (BATCH_CHOICES[0], BATCH_CHOICES[-1]) == bounds("batch_size")
    assert list(BETA_CHOICES) == sorted(BETA_CHOICES) and list(BATCH_CHOICES) == sorted(BATCH_CHOICES)
    assert max(SWEEP_VALUES) == bounds("beta")[1]


def _train(run_dir, monkeypatch, params: dict[str, str]) -> AppTest:
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(run_dir))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params)
    at.run()
    at.query_params.update(params)
    return open_page(at, "pages/train.py")


def _slider(at: AppTest, label: str):
    return next(s for s in at.select_slider if s.label == label)


@pytest.mark.parametrize("params", [{}, {"beta": "100", "batch_size": "8192"}, {"beta": "0", "batch_size": "1"}])
def test_a_link_at_the_edges_never_stretches_a_widget(run_dir, monkeypatch, params):
    at = _train(run_dir, monkeypatch, params)
    assert not at.exception and not at.error
    beta, batch = _slider(at, "β (KL weight)"), _slider(at, "Batch size")
    assert (beta.options[0], beta.options[-1]) == ("0.0", "100.0")
    assert (batch.options[0], batch.options[-1]) == ("1", "8192")
    assert beta.value == float(params.get("beta", 1.0)) and batch.value == int(params.get("batch_size", 128))


def test_a_link_value_outside_the_range_is_named_and_the_field_keeps_its_default(run_dir, monkeypatch):
    at = _train(run_dir, monkeypatch, {"beta": "101", "batch_size": "9000", "epochs": "7"})
    (notice,) = [e.value for e in at.error]
    assert "beta: must be in [0, 100]; got 101" in notice and "batch_size: must be in [1, 8192]; got 9000" in notice
    assert notice.endswith("The rest of the link's settings were applied.")
    assert _slider(at, "β (KL weight)").value == 1.0 and _slider(at, "β (KL weight)").options[-1] == "100.0"
    assert next(n for n in at.number_input if n.label == "Epochs").value == 7


def test_a_link_names_what_it_carries_that_is_not_a_setting_and_may_preset_the_run_name(run_dir, monkeypatch):
    at = _train(run_dir, monkeypatch, {"name": "lecture-1", "run": "mlp-d2-b1", "colour": "red", "epochs": "2"})
    (notice,) = [e.value for e in at.error]
    assert "colour= is not a setting of the form" in notice and "run= is not a setting of the form" in notice
    assert "name=" not in notice
    assert next(t for t in at.text_input if t.label == "Run name").value == "lecture-1"
    long = _train(run_dir, monkeypatch, {"name": "x" * 5000})
    assert next(t for t in long.text_input if t.label == "Run name").value == "x" * 64 and not long.exception
