"""Facts that the README states and the code defines: each is written once in code, and the README is held
to it here (the settings table is checked in test_safe_to_share.py)."""

from tests.conftest import ROOT
from vae.model import burda
from vae.training.sweep import NAME_RULE

README = (ROOT / "README.md").read_text()


def test_the_papers_row_is_the_one_the_code_holds_the_run_against():
    ref = burda.REFERENCE
    assert f"| the paper (Table 1, VAE, k = 1) | {ref['epochs']:,} | {ref['nll']} | {ref['active_units']} | |" in README
    assert f"The paper's schedule is {burda.EPOCHS:,} epochs" in README


def test_the_sweep_naming_rule_is_the_one_the_sweep_uses():
    assert f"named `{NAME_RULE}`" in README
    assert NAME_RULE == "PREFIX-d{d}-b{value}[-s{seed}]"


def test_the_live_views_cadences_are_the_ones_the_pages_run_at():
    from ui import training, widgets

    said = (
        f"A training tab's live view reruns every {training.LIVE_EVERY_S:g} s and\n"
        f"rebuilds its curves every {widgets.CURVES_EVERY_S:g} s"
    )
    assert said in README
    assert f"the server's list reruns every {training.SERVER_EVERY_S:g} s" in README
