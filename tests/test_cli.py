import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, cli, words


def test_import_vae_does_no_work_and_pulls_in_no_streamlit():
    code = "import sys, vae, vae.model.config; print('streamlit' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    # The command line's grammar and commands load without torch, so that --help and a usage error are instant.
    code = "import sys, vae.cli, vae.cli.train, vae.cli.evaluate, vae.cli.importing; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    for bad in (["train", "--name", "x", "--latent-dim", "-3"], ["sweep", "--beta", "1,x", "--name-prefix", "s"]):
        code = f"import sys; from vae.cli import main; code = main({bad!r}); print(code, 'torch' in sys.modules)"
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
        assert out.stdout.split() == ["2", "False"], (bad, out.stdout, out.stderr)
    code = "import sys, vae.analysis.latents, vae.training.runs, vae.runfile.writing; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_train_json_contract_then_eval(tmp_path):
    out = cli(
        *words("train --dataset mnist-5k --arch mlp --latent-dim 2 --beta 1 --epochs 2 --name cli --checkpoint-dir"),
        str(tmp_path),
        "--json",
    )
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    for r in records:
        assert set(r) == {"epoch", "train_seconds", "train", "test"}
        assert set(r["train"]) == set(r["test"]) == {"recon", "kl", "loss"}
    assert (tmp_path / "cli.pt").exists()

    ev = cli("eval", str(tmp_path / "cli.pt"), "--json")
    assert ev.returncode == 0, ev.stderr
    result = json.loads(ev.stdout)
    assert {"config", "dataset", "n", "recon", "kl", "loss"} <= set(result)
    assert len(result["kl_per_dim"]) == 2 and 0 <= result["active_units"] <= 2
    assert result["dataset"] == "mnist-5k" and result["n"] == 1000 and result["config"]["latent_dim"] == 2
    assert result["loss"] == pytest.approx(records[-1]["test"]["loss"], rel=1e-5)

    iw = cli("eval", str(tmp_path / "cli.pt"), *words("--json --iw 5 --n 100"))
    assert iw.returncode == 0, iw.stderr
    iw_result = json.loads(iw.stdout)
    assert iw_result["iw_k"] == 5 and iw_result["iw_n"] == 100 and iw_result["iw_nll"] > 0

    again = cli(*words("train --dataset mnist-5k --epochs 1 --name cli --checkpoint-dir"), str(tmp_path))
    assert again.returncode == 2 and "already exists" in again.stderr


@pytest.mark.parametrize(
    "args",
    [
        words("train --name x --latent-dim 99"),
        words("train --name x --beta -1"),
        words("train --name x --arch resnet"),
        words("train --name x --epochs two"),
        words("train --name ... --epochs 1"),
        ["train"],
        ["frobnicate"],
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args, tmp_path):
    out = cli(*args, "--checkpoint-dir", str(tmp_path)) if args[0] == "train" and len(args) > 1 else cli(*args)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert list(tmp_path.iterdir()) == []


def test_name_cannot_escape_the_checkpoint_dir(tmp_path):
    target = tmp_path / "ckpt"
    out = cli(*words("train --dataset mnist-5k --epochs 1 --name ../../escape --checkpoint-dir"), str(target))
    assert out.returncode == 0, out.stderr
    assert [p.name for p in target.iterdir()] == ["escape.pt"]
    assert not (tmp_path / "escape.pt").exists()


def test_a_bad_or_missing_checkpoint_is_one_line_with_its_exit_code(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x80\x04garbage")
    for path, code in ((bad, 1), (tmp_path / "missing.pt", 2)):  # not a run: 1; no such file: 2 (README)
        out = cli("eval", str(path))
        assert out.returncode == code
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_every_train_option_says_what_it_does_and_its_default():
    from vae.cli.parser import build_parser

    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    options = train.format_help().split("\noptions:\n", 1)[1]
    for action in train._actions:
        if not action.option_strings or action.dest == "help":
            continue
        flag = action.option_strings[0]
        assert action.help and len(action.help) > 8, f"{flag} has no help text"
        # The help line of each option ends with its default, whatever argparse wraps.
        block = options.split(f"\n  {flag}", 1)[1].split("\n  --", 1)[0]
        assert "default" in " ".join(block.split()), f"{flag} does not show its default: {block!r}"


def test_train_without_json_prints_the_final_metrics_and_the_path_on_stdout(tmp_path):
    out = cli(
        *words("train --dataset mnist-5k --latent-dim 2 --epochs 1 --name plain --checkpoint-dir"),
        str(tmp_path),
    )
    assert out.returncode == 0, out.stderr
    metrics, saved = out.stdout.strip().splitlines()  # results on stdout, so that `> result.txt` keeps them
    from vae.runfile import load_run

    test = load_run(tmp_path / "plain.pt").final["test"]
    assert metrics == (
        f"epoch 1/1 test: recon {test['recon']:.2f}  kl {test['kl']:.2f}  loss {test['loss']:.2f} nats/image"
    )
    assert saved == f"saved {tmp_path / 'plain.pt'}"


def test_the_app_and_the_cli_use_the_same_checkpoint_folder(tmp_path, monkeypatch):
    from ui.state import checkpoint_dir

    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    # Unset, both mean the repository's checkpoints/, whatever the current directory.
    monkeypatch.delenv("VAE_CHECKPOINT_DIR", raising=False)
    env = {k: v for k, v in __import__("os").environ.items() if k != "VAE_CHECKPOINT_DIR"}
    listed = subprocess.run(
        [sys.executable, *words("-m vae list --json")],
        cwd=elsewhere,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    shipped = {r["name"] for r in json.loads(listed.stdout) if r["shipped"]}
    assert checkpoint_dir() == ROOT / "checkpoints" and "mlp-d20-b1" in shipped

    # Set, both use it.
    chosen = tmp_path / "chosen"
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(chosen))
    out = cli(
        *words("train --dataset mnist-5k --epochs 1 --name here"),
        cwd=elsewhere,
        env={"VAE_CHECKPOINT_DIR": str(chosen), "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr
    assert checkpoint_dir() == chosen and (chosen / "here.pt").exists()
    assert not (elsewhere / "checkpoints").exists()


@pytest.mark.slow
def test_sweep_trains_one_named_run_per_combination(tmp_path):
    grid = "--beta 0.5,2 --latent-dim 2,3 --name-prefix sw --jobs 2"
    out = cli(
        "sweep", "--dataset", "mnist-5k", "--epochs", "1", *words(grid), "--checkpoint-dir", str(tmp_path), "--json"
    )
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert sorted(r["name"] for r in records) == words("sw-d2-b0.5 sw-d2-b2 sw-d3-b0.5 sw-d3-b2")
    from vae.runfile import load_run

    for r in records:
        run = load_run(tmp_path / f"{r['name']}.pt")
        assert (run.config.beta, run.config.latent_dim) == (r["beta"], r["latent_dim"]) and not r["error"]
        assert run.final["test"]["loss"] == pytest.approx(r["test"]["loss"])
    # Higher β buys a lower rate: the trade-off the sweep is for.
    kl = {r["name"]: r["test"]["kl"] for r in records}
    assert kl["sw-d2-b2"] < kl["sw-d2-b0.5"] and kl["sw-d3-b2"] < kl["sw-d3-b0.5"]
    again = cli(*words("sweep --beta 0.5 --latent-dim 2 --name-prefix sw --checkpoint-dir"), str(tmp_path))
    assert again.returncode == 2 and "already exist" in again.stderr
    bad = cli(*words("sweep --beta 0.5,x --name-prefix sw2 --checkpoint-dir"), str(tmp_path))
    assert bad.returncode == 2 and "beta" in bad.stderr and "Traceback" not in bad.stderr
