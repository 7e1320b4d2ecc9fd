"""VAEs trained elsewhere: each foreign model is built here from a copy of its own class, saved the way
its own code saves it, imported, and held against the original."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from tests.conftest import cli, open_page, snapshot, words
from tests.foreign_models import ExamplesVAE, SeedsConvVAE
from vae.data.datasets import to_float
from vae.runfile import load_run
from vae.training.importers import read_state_dict, recognise
from vae.vocabulary import CheckpointError


def _trained(model: nn.Module, data, flat: bool, steps: int = 60) -> nn.Module:
    """A few Adam steps, so that the weights are not just their initialisation."""
    torch.manual_seed(0)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    for i in range(steps):
        x = to_float(data.train_x[i * 32 : (i + 1) * 32])
        x = x.view(-1, 784) if flat else x
        mu, logvar = model.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        loss = model.loss_function(model.decode(z), x, mu, logvar)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


def _saved(model: nn.Module, path) -> bytes:
    torch.save(model.state_dict(), path)  # the way both originals save
    return path.read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize(("cls", "d", "flat"), [(ExamplesVAE, 20, True), (SeedsConvVAE, 10, False)])
def test_an_import_gives_the_originals_outputs(cls, d, flat, tmp_path, mnist_5k, monkeypatch):
    original = _trained(cls(d), mnist_5k, flat)
    path = tmp_path / "model.pth"
    _saved(original, path)
    out = cli(
        "import",
        str(path),
        *words("--name foreign --dataset mnist-5k --checkpoint-dir"),
        str(tmp_path / "runs"),
        "--json",
    )
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout)
    assert reply["config"]["latent_dim"] == d and reply["config"]["arch"] == ("mlp" if flat else "conv")
    run = load_run(tmp_path / "runs" / "foreign.pt")
    assert run.status == "imported" and run.epochs == []

    x = to_float(mnist_5k.test_x[:64])
    with torch.no_grad():
        mu, logvar = original.encode(x.view(-1, 784) if flat else x)
        posterior = run.model.encode(x)
        assert torch.allclose(posterior.mu, mu, atol=1e-6) and torch.allclose(posterior.logvar, logvar, atol=1e-6)
        z = torch.randn(64, d, generator=torch.Generator().manual_seed(1))
        expected = original.decode(z).view(-1, 1, 28, 28)
        assert torch.allclose(torch.sigmoid(run.model.decode(z)), expected, atol=1e-6)

        # The original's own loss over the test set, one posterior sample per image: VAE Lab's eval
        # (also one sample) must agree within Monte Carlo noise.
        test_x = to_float(mnist_5k.test_x)
        mu, logvar = original.encode(test_x.view(-1, 784) if flat else test_x)
        torch.manual_seed(2)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        theirs = float(original.loss_function(original.decode(z), test_x.view(-1, 784) if flat else test_x, mu, logvar))
    theirs /= len(test_x)
    assert reply["test"]["loss"] == pytest.approx(theirs, rel=0.01), (reply["test"], theirs)


def test_keys_that_match_with_a_wrong_shape_name_the_tensor(tmp_path):
    state = ExamplesVAE(20).state_dict()
    state["fc3.weight"] = torch.zeros(400, 19)
    with pytest.raises(CheckpointError, match=r"fc3\.weight has shape \(400, 19\), not \(400, 20\)"):
        recognise(state, "bad.pth")
    with pytest.raises(CheckpointError, match="d = 20, not the --latent-dim 8"):
        recognise(ExamplesVAE(20).state_dict(), "x.pth", latent_dim=8)
    assert recognise({"conv1.weight": torch.zeros(2)}) is None
    assert read_state_dict(b"garbage") is None


@pytest.mark.slow
def test_cli_import_refuses_clearly_and_writes_nothing(tmp_path, run_dir):
    before = snapshot(run_dir)
    path = tmp_path / "model.pth"
    _saved(ExamplesVAE(20), path)
    missing_dataset = cli("import", str(path), "--name", "x", "--checkpoint-dir", str(run_dir))
    assert missing_dataset.returncode == 2 and "--dataset" in missing_dataset.stderr
    state = ExamplesVAE(20).state_dict()
    state["fc4.bias"] = torch.zeros(10)
    torch.save(state, path)
    wrong = cli("import", str(path), *words("--name x --dataset mnist-5k --checkpoint-dir"), str(run_dir))
    assert wrong.returncode == 1 and "fc4.bias has shape (10,)" in wrong.stderr and "Traceback" not in wrong.stderr
    (tmp_path / "junk.pt").write_bytes(b"junk")
    junk = cli(
        "import", str(tmp_path / "junk.pt"), *words("--name x --dataset mnist-5k --checkpoint-dir"), str(run_dir)
    )
    assert junk.returncode == 1 and "not a readable VAE Lab checkpoint" in junk.stderr
    assert snapshot(run_dir) == before


@pytest.mark.parametrize(
    ("cls", "d", "flat", "kind", "likelihood"),
    [
        (SeedsConvVAE, 10, False, "the conv VAE of the design notes", "mse"),
        (ExamplesVAE, 5, True, "the pytorch/examples VAE", "bce"),
    ],
)
def test_runs_page_imports_a_foreign_upload_and_its_curves_say_imported(
    app, run_dir, tmp_path, mnist_5k, cls, d, flat, kind, likelihood
):
    original = _trained(cls(d), mnist_5k, flat=flat, steps=5)
    data = _saved(original, tmp_path / "elsewhere.pth")
    at = open_page(app, "pages/runs.py", "tiny-d2")
    at.file_uploader[0].set_value(("elsewhere.pth", data, "application/octet-stream")).run()
    assert any(kind in i.value for i in at.info), [i.value for i in at.info]
    next(s for s in at.selectbox if s.label == "Evaluate it on").set_value("mnist-5k")
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    run = load_run(run_dir / "elsewhere.pt")
    assert run.status == "imported" and run.config.latent_dim == d and run.config.likelihood == likelihood
    at = open_page(at, "pages/runs.py", "elsewhere")
    assert any("imported" in c.value for c in at.caption)
    at = open_page(at, "pages/latent.py", "elsewhere")
    assert not at.exception and any("no per-epoch record" in i.value for i in at.info)
