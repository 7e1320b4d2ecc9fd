"""One CLI, one set of habits: results on stdout, runs by name or path, one exit-code rule, errors that name
the flag typed, ``import`` under ``train``'s naming rules and with the loss that trained the model."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import torch.nn.functional as F

from tests.conftest import cli, snapshot, wait_until, words
from tests.foreign_models import ExamplesVAE, SeedsConvVAE
from vae.cli import main
from vae.cli.parser import build_parser
from vae.data.datasets import to_float
from vae.runfile import load_run


def _subparser(name: str):
    return build_parser()._subparsers._group_actions[0].choices[name]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (words("train --name x --latent-dim -3"), "vae train: error: --latent-dim must be in [2, 64]; got -3"),
        (words("train --name x --hidden 200,x"), "vae train: error: --hidden: expected an integer, got 'x'"),
        (words("train --name x --lr-schedule step"), None),
        (
            words("sweep --beta 1 --latent-dim 99 --name-prefix s"),
            "vae sweep: error: --latent-dim must be in [2, 64]; got 99",
        ),
        (words("sweep --beta 1,500 --name-prefix s"), "vae sweep: error: --beta must be in [0, 100]; got 500"),
        (
            words("sweep --beta 1 --name-prefix s --jobs 0"),
            "vae sweep: error: --jobs must be in [1, 64]; got 0",
        ),
        (words("eval x --iw 0"), None),
    ],
)
def test_errors_name_the_flag_the_user_typed(args, line, tmp_path, capsys):
    assert main([*args, "--checkpoint-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.strip() == line if line else f"vae {args[0]}: error: " in err and args[-2] in err
    assert list(tmp_path.iterdir()) == []


def test_a_run_name_made_file_safe_is_reported_as_typed_and_as_it_became(tmp_path, capsys):
    assert main(["train", "--resume", "my run", "--epochs", "1", "--checkpoint-dir", str(tmp_path)]) == 2
    assert "no run named 'my run' (as a run name: 'my-run')" in capsys.readouterr().err


@pytest.mark.parametrize("command", words("sweep eval import list train"))
def test_every_option_of_every_command_explains_itself_with_its_default(command):
    parser = _subparser(command)
    for action in parser._actions:
        if action.dest == "help":
            continue
        assert action.help and len(action.help) > 8, f"{command} {action.dest} has no help"
        if action.option_strings:
            assert "default:" in action.help or "required" in action.help, (command, action.dest, action.help)
    if command == "sweep":  # each option's range, as train --help shows it
        text = " ".join(parser.format_help().split())
        assert "latent dimensions, each 2 to 64" in text and "1 to 5000" in text and "0.0 to 100.0" not in text


@pytest.mark.slow
def test_results_go_to_stdout_and_every_command_takes_a_name_or_a_path(run_dir, tmp_path):
    """``> result.txt`` keeps each command's result; ``eval`` and ``--resume`` take a run's name or its path."""
    by_name = cli("eval", "tiny-d4", "--checkpoint-dir", str(run_dir))
    by_path = cli("eval", str(run_dir / "tiny-d4.pt"))
    assert by_name.returncode == by_path.returncode == 0, by_name.stderr
    assert by_name.stdout == by_path.stdout and by_name.stdout.startswith("tiny-d4 (mlp d=4")

    listed = cli("list", "--checkpoint-dir", str(run_dir))
    assert listed.stdout.splitlines()[0].startswith("tiny-d2 ") and listed.stderr == ""

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(run_dir / "tiny-d4.pt", elsewhere / "mine.pt")
    more = cli("train", "--resume", str(elsewhere / "mine.pt"), "--epochs", "1", "--checkpoint-dir", str(run_dir))
    assert more.returncode == 0, more.stderr
    metrics, saved = more.stdout.strip().splitlines()
    assert metrics.startswith("epoch 2/2 test: recon") and saved == f"saved {run_dir / 'mine-continued.pt'}"
    assert "continuing 'mine' from epoch 2 for 1 more epoch (2), saving as 'mine-continued'" in more.stderr
    assert (elsewhere / "mine.pt").read_bytes() == (run_dir / "tiny-d4.pt").read_bytes(), "the source was changed"

    again = cli(*words("train --resume mine-continued --epochs 2 --checkpoint-dir"), str(run_dir))
    assert "for 2 more epochs (3 to 4)" in again.stderr and again.stdout.startswith("epoch 4/4 test:")


@pytest.mark.slow
def test_one_exit_code_rule_across_commands(run_dir, tmp_path):
    """2: the command line cannot be carried out (no such file or run); 1: it ran and failed (not a run)."""
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    before = snapshot(run_dir)
    for what, code in ((str(tmp_path / "missing.pt"), 2), ("missing-run", 2), (str(junk), 1)):
        outs = {
            "eval": cli("eval", what, "--checkpoint-dir", str(run_dir)),
            "import": cli("import", what, "--name", "x", "--checkpoint-dir", str(run_dir)),
            "train --resume": cli("train", "--resume", what, "--epochs", "1", "--checkpoint-dir", str(run_dir)),
        }
        for command, out in outs.items():
            assert out.returncode == code, (command, what, out.stderr)
            assert out.stderr.count("\n") == 1 and out.stderr.startswith(f"vae {command.split()[0]}: error: ")
    assert snapshot(run_dir) == before


@pytest.mark.slow
def test_import_follows_trains_naming_rules(run_dir, tmp_path):
    source = tmp_path / "source.pt"
    shutil.copy(run_dir / "tiny-d4.pt", source)
    imported = cli("import", str(source), "--name", "tiny-d4", "--checkpoint-dir", str(run_dir))
    trained = cli(*words("train --name tiny-d4 --epochs 1 --checkpoint-dir"), str(run_dir))
    assert imported.returncode == trained.returncode == 2
    refusal = f"run 'tiny-d4' already exists in {run_dir}; choose another --name or pass --overwrite"
    assert imported.stderr.strip() == f"vae import: error: {refusal}"
    assert trained.stderr.strip() == f"vae train: error: {refusal}"
    assert not (run_dir / "tiny-d4-2.pt").exists()

    shipped = cli("import", str(source), *words("--name tiny-d2 --overwrite --checkpoint-dir"), str(run_dir))
    assert shipped.returncode == 2 and "shipped run" in shipped.stderr

    shutil.copy(run_dir / "tiny-d2.pt", source)
    replaced = cli("import", str(source), *words("--name tiny-d4 --overwrite --checkpoint-dir"), str(run_dir))
    assert replaced.returncode == 0, replaced.stderr
    assert replaced.stdout.startswith(f"imported a VAE Lab run as {run_dir / 'tiny-d4.pt'} (mlp d=2")
    assert load_run(run_dir / "tiny-d4.pt").config.latent_dim == 2


def test_a_foreign_state_dict_given_to_eval_suggests_import(tmp_path):
    path = tmp_path / "examples.pth"
    torch.save(ExamplesVAE(20).state_dict(), path)
    out = cli("eval", str(path))
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "vae eval: error: examples.pth is a plain state_dict of the pytorch/examples VAE (vae/main.py), not a VAE "
        f"Lab run; add it with python -m vae import {path} --name NAME --dataset DATASET"
    )


@pytest.mark.slow
def test_import_likelihood_bce_measures_the_elbo_that_their_code_trained(tmp_path, mnist_5k):
    """The design notes' conv VAE trained with BCE: ``--likelihood bce`` stores their own BCE −ELBO."""
    torch.manual_seed(0)
    original = SeedsConvVAE(10).eval()
    path = tmp_path / "conv.pth"
    torch.save(original.state_dict(), path)
    runs = tmp_path / "runs"
    out = cli(
        "import",
        str(path),
        *words("--name bce --dataset mnist-5k --likelihood bce --json --checkpoint-dir"),
        str(runs),
    )
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout)
    assert reply["config"]["likelihood"] == "bce" and load_run(runs / "bce.pt").config.likelihood == "bce"
    x = to_float(mnist_5k.test_x)
    with torch.no_grad():
        mu, logvar = original.encode(x)
        z = mu + torch.randn(mu.shape, generator=torch.Generator().manual_seed(3)) * torch.exp(0.5 * logvar)
        bce = F.binary_cross_entropy(original.decode(z), x, reduction="sum")
        theirs = float(bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())) / len(x)
    assert reply["test"]["loss"] == pytest.approx(theirs, rel=0.01)

    default = cli("import", str(path), *words("--name mse --dataset mnist-5k --checkpoint-dir"), str(runs))
    assert default.returncode == 0 and load_run(runs / "mse.pt").config.likelihood == "mse"
    assert load_run(runs / "mse.pt").final["test"]["loss"] < reply["test"]["loss"] / 2, "MSE and BCE read alike"
    mismatch = cli("import", str(runs / "bce.pt"), *words("--name again --likelihood mse --checkpoint-dir"), str(runs))
    assert mismatch.returncode == 2 and "trained with bce" in mismatch.stderr


def test_list_keeps_its_columns_aligned_for_long_names_and_descriptions(run_dir, capsys):
    from vae.runfile import save_run

    run = load_run(run_dir / "tiny-d4.pt")
    config = run.config.replace(hidden=(512, 512, 512, 512), activation="tanh", beta=0.0625)
    from vae.model.networks import build_model

    save_run(run_dir, "a-rather-long-run-name-for-a-wide-model", build_model(config), config, run.history, run.final)
    assert main(["list", "--checkpoint-dir", str(run_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and len({line.index(" test loss ") for line in lines}) == 1, lines
    assert any("…" in line for line in lines), "the long description was not shortened"


def test_a_sweep_stopped_by_ctrl_c_starts_no_further_run(tmp_path, tiny_config):
    """The first Ctrl-C sets the stop event (``ctrl_c_stops``): the runs not yet started are reported, not run."""
    import os
    import signal

    from vae.cli.common import ctrl_c_stops
    from vae.training.sweep import run_sweep

    with ctrl_c_stops() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        wait_until(stop.is_set, "the Ctrl-C was seen", timeout=10)
        grid = [("a", tiny_config), ("b", tiny_config)]
        results = list(run_sweep(grid, tmp_path, 1, stop=stop))
    assert sorted(r.name for r in results) == ["a", "b"]
    assert all(r.error == "not started: the sweep was interrupted" for r in results)
    assert list(tmp_path.iterdir()) == []


def test_a_reader_that_goes_away_gets_no_traceback(run_dir):
    """``python -m vae list | head -1``: the pipe closes before the list is written."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    process = subprocess.Popen(
        [sys.executable, "-m", "vae", "list", "--checkpoint-dir", str(run_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()  # the reader is gone before a line is written
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1 and b"Traceback" not in err and err == b""
