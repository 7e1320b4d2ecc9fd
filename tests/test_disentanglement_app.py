"""The disentanglement lab end to end: ``eval --disentanglement``, the stored scores, and the pages that show them."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import cli, open_page, snapshot
from vae.data.facts import SHAPES_FACTORS
from vae.runfile import load_run

FACTOR_NAMES = [name for name, _ in SHAPES_FACTORS]


@pytest.mark.slow
def test_eval_measures_stores_and_is_deterministic(shapes_dir):
    done = cli("eval", "shapes-b1", "--checkpoint-dir", str(shapes_dir), "--disentanglement", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["disentanglement"]
    assert 0 <= report["mig"] <= 1 and 0 <= report["factor_vae"] <= 1
    assert len(report["mi"]) == 4 and all(len(row) == 5 for row in report["mi"])
    stored = load_run(shapes_dir / "shapes-b1.pt")
    assert stored.final["disentanglement"] == report  # stored whole, and the run still loads
    again = cli("eval", "shapes-b1", "--checkpoint-dir", str(shapes_dir), "--disentanglement", "--json")
    assert json.loads(again.stdout)["disentanglement"]["mig"] == report["mig"]  # same seed, same points


@pytest.mark.slow
def test_eval_keeps_everything_else_in_the_run(shapes_dir):
    before = load_run(shapes_dir / "shapes-b1.pt")
    cli("eval", "shapes-b1", "--checkpoint-dir", str(shapes_dir), "--disentanglement")
    after = load_run(shapes_dir / "shapes-b1.pt")
    assert {k: v for k, v in after.final.items() if k != "disentanglement"} == before.final
    assert after.history["epochs"] == before.history["epochs"]
    for key, value in before.model.state_dict().items():
        assert torch.equal(value, after.model.state_dict()[key])


@pytest.mark.slow
def test_eval_refuses_mnist_runs_and_does_not_write_shipped_ones(shapes_dir):
    refused = cli("eval", "tiny-d4", "--checkpoint-dir", str(shapes_dir), "--disentanglement")
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0 and "trained on shapes" in refused.stderr
    (shapes_dir / "shipped.json").write_text(json.dumps({"runs": ["tiny-d2", "shapes-b1"]}))
    before = snapshot(shapes_dir)
    done = cli("eval", "shapes-b1", "--checkpoint-dir", str(shapes_dir), "--disentanglement")
    assert done.returncode == 0 and "MIG" in done.stdout
    assert "not stored with the run" in done.stderr and "shipped run" in done.stderr
    assert snapshot(shapes_dir) == before


@pytest.mark.slow
def test_the_disentanglement_page_shows_scores_heatmap_traversals_and_beta(shapes_dir, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP

    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(shapes_dir))
    at = open_page(AppTest.from_file(APP, default_timeout=120).run(), "pages/disentanglement.py", "shapes-b4")
    assert not at.exception, at.exception
    stored = load_run(shapes_dir / "shapes-b4.pt").final["disentanglement"]
    shown = {m.label: m.value for m in at.metric}
    assert shown == {
        "MIG": f"{stored['mig']:.3f}",
        "FactorVAE score": f"{stored['factor_vae']:.3f}",
        "DCI disentanglement": "not measured",  # stored by eval --dci only
    }
    assert "stored with the run" in " ".join(c.value for c in at.caption)
    per_factor = " · ".join(f"{name} {gap:.2f}" for name, gap in zip(FACTOR_NAMES, stored["mig_per_factor"]))
    assert f"MIG per factor: {per_factor}" in [c.value for c in at.caption]
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    assert len(charts) == 2  # the heatmap, and β against the scores: two βs share the config
    assert at.get("image")  # the traversal grid
    assert "One row per active latent" in " ".join(c.value for c in at.caption)
    at.radio[0].set_value("a test image").run()  # the traversal from a test image's μ, at the last one
    at.slider[0].set_value(at.slider[0].max).run()
    assert not at.exception and at.get("image")
    # The β-1 run has no stored scores: the page measures them, and says they are not in the file.
    at.sidebar.selectbox[0].set_value("shapes-b1").run()
    assert not at.exception
    assert "measured here, not stored" in " ".join(c.value for c in at.caption)


@pytest.mark.slow
def test_a_stored_dci_is_shown_and_runs_of_unlike_length_are_never_joined(shapes_dir, monkeypatch):
    """Issue #40: DCI was stored but never shown; the β chart joined a 1-epoch try to a 200-epoch run."""
    import dataclasses

    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP
    from ui.factors import sweep_key
    from vae.runfile import list_runs, store_in_final

    path = shapes_dir / "shapes-b4.pt"
    store_in_final(path, "disentanglement", {**load_run(path).final["disentanglement"], "dci": 0.4321})
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(shapes_dir))
    at = open_page(AppTest.from_file(APP, default_timeout=120).run(), "pages/disentanglement.py", "shapes-b4")
    assert not at.exception and {m.label: m.value for m in at.metric}["DCI disentanglement"] == "0.432"
    info = next(i for i in list_runs(shapes_dir) if i.name == "shapes-b4")
    longer = dataclasses.replace(info, final={**info.final, "epochs": 200})
    assert sweep_key(info) != sweep_key(longer) and sweep_key(info).endswith(", 1 epoch")


def test_the_beta_chart_joins_like_with_like_and_draws_seeds_as_a_spread(shapes_dir):
    """Issue #40: the β chart joins only runs that differ in β (their seeds drawn as a spread at each β, the line
    through each β's median), never runs of another learning rate, batch, size, objective or length."""
    import dataclasses

    from ui.factors import beta_figure, sweep_key
    from vae.runfile import list_runs

    info = next(i for i in list_runs(shapes_dir) if i.name == "shapes-b4")
    key = sweep_key(info)
    for beta, seed in ((1.0, 0), (4.0, 1), (16.0, 2)):
        assert sweep_key(dataclasses.replace(info, config=info.config.replace(beta=beta, seed=seed))) == key
    for change in ({"lr": 5e-4}, {"batch_size": 64}, {"latent_dim": 6}, {"objective": "beta-tcvae"}, {"epochs": 7}):
        assert sweep_key(dataclasses.replace(info, config=info.config.replace(**change))) != key, change

    runs = [("a", 1.0, 0.1, 30.0), ("b", 4.0, 0.3, 40.0), ("c", 4.0, 0.5, 44.0), ("d", 4.0, 0.4, 42.0)]
    points = [{"name": n, "beta": b, "mig": m, "factor_vae": m, "recon": r, "likelihood": "bce"} for n, b, m, r in runs]
    traces = {t.name: t for t in beta_figure(points).data}
    assert list(traces["MIG"].x) == [1.0, 4.0, 4.0, 4.0] and traces["MIG"].mode == "markers"  # every seed a dot
    median = traces["MIG, median over seeds"]
    assert median.mode == "lines" and list(median.x) == [1.0, 4.0] and list(median.y) == [0.1, 0.4]
    assert list(traces["test reconstruction (nats per image), median over seeds"].y) == [30.0, 42.0]


def test_the_disentanglement_page_without_shapes_runs_points_to_train(app):
    at = open_page(app, "pages/disentanglement.py")
    assert not at.exception
    assert any("No run is trained on shapes yet" in i.value for i in at.info)


@pytest.mark.slow
def test_latent_space_colours_a_shapes_run_by_the_chosen_factor(shapes_dir, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP

    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(shapes_dir))
    at = open_page(AppTest.from_file(APP, default_timeout=120).run(), "pages/latent.py", "shapes-b1")
    assert not at.exception, at.exception
    colour = next(s for s in at.selectbox if s.label == "Colour by")
    for k, name in enumerate(("shape", "scale", "orientation", "position x", "position y")):
        colour.set_value(k).run()
        assert not at.exception
        figure = json.loads(at.get("plotly_chart")[0].proto.spec)
        assert figure["layout"]["legend"]["title"]["text"] == name


@pytest.mark.slow
@pytest.mark.parametrize(
    "page", ["home", "runs", "latent", "explorer", "interpolation", "generate", "diagnostics", "draw"]
)
def test_every_page_works_on_a_shapes_run(shapes_dir, monkeypatch, page):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP

    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(shapes_dir))
    at = open_page(AppTest.from_file(APP, default_timeout=120).run(), f"pages/{page}.py", "shapes-b4")
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


CRAFTED = {
    "a score above 1": (lambda d: d.update(mig=1.5), "final.disentanglement.mig: must be in [0, 1]"),
    "a NaN in the MI": (lambda d: d["mi"][0].__setitem__(0, float("nan")), "final.disentanglement.mi[0][0]"),
    "a short MI row": (lambda d: d["mi"][1].pop(), "final.disentanglement.mi[1]: should have 5 values"),
    "text for a score": (lambda d: d.update(factor_vae="0.9"), "final.disentanglement.factor_vae"),
    "an unknown key": (lambda d: d.update(comment="hi"), "final.disentanglement.comment: is not a field"),
    "an endless MI": (lambda d: d.update(mi=[[0.0] * 5] * 10_000), "final.disentanglement.mi: expected a list"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_a_crafted_disentanglement_record_is_refused_by_name_and_nothing_breaks(shapes_dir, tmp_path, case):
    from tests.conftest import poisoned
    from vae.runfile import import_run, list_runs
    from vae.vocabulary import CheckpointError

    edit, reason = CRAFTED[case]
    bad = poisoned(shapes_dir / "shapes-b4.pt", tmp_path / "bad.pt", lambda p: edit(p["final"]["disentanglement"]))
    before = snapshot(shapes_dir)
    with pytest.raises(CheckpointError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        import_run(shapes_dir, bad, "crafted")
    assert snapshot(shapes_dir) == before  # nothing written
    (shapes_dir / "crafted.pt").write_bytes(bad)  # put straight into the folder: listed as unreadable, with why
    listed = {r.name: r for r in list_runs(shapes_dir)}
    assert reason.split(":")[0] in listed["crafted"].error


def test_the_runs_table_shows_stored_scores_only(shapes_dir, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP

    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(shapes_dir))
    at = open_page(AppTest.from_file(APP, default_timeout=120).run(), "pages/runs.py", "shapes-b4")
    assert not at.exception, at.exception
    table = at.dataframe[0].value.set_index("run")
    stored = load_run(shapes_dir / "shapes-b4.pt").final["disentanglement"]
    assert table.loc["shapes-b4", "MIG"] == round(stored["mig"], 3)
    assert table.loc["shapes-b4", "FactorVAE"] == round(stored["factor_vae"], 3)
    assert table[["MIG", "FactorVAE"]].drop(index="shapes-b4").isna().all().all()  # not measured: no number
