import json
import os
import pickle

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import snapshot
from vae.model.config import VAEConfig
from vae.model.networks import build_model
from vae.runfile import clean_stale_tmp, delete_run, import_run, list_runs, load_run, load_run_bytes, save_run
from vae.runfile import reading as runfile
from vae.runfile import writing as checkpoints
from vae.runfile.names import release_run_name, reserve_run_name, run_path, sanitize_run_name
from vae.runfile.owners import owner_hash
from vae.runfile.schema import final_summary
from vae.training.record import StepHistory
from vae.training.runs import prepare
from vae.vocabulary import CheckpointError

TOKEN = "a-browser-owner-token"
EMPTY_HISTORY = {"epochs": [], "steps": StepHistory().to_dict()}
EMPTY_FINAL = final_summary({"recon": 0.0, "kl": 0.0, "loss": 0.0}, "mnist-5k", 0, 0, "imported", "")


@pytest.fixture
def saved(tmp_path, tiny_config, small_data):
    _, model, _ = prepare(tiny_config, small_data)
    metrics = {"recon": 1.0, "kl": 0.5, "loss": 1.5}
    epoch = {
        "epoch": 1,
        "train": metrics,
        "test": metrics,
        "beta": 1.0,
        "lr": 1e-3,
        "train_seconds": 1.0,
        "seconds": 1.0,
        "capacity": 0.0,
    }
    history = {"epochs": [epoch], "steps": StepHistory().to_dict()}
    final = final_summary(metrics, "mnist-5k", 200, 1, "completed", "trained 1 epochs")
    path = save_run(tmp_path, "good", model, tiny_config, history, final, owner=owner_hash(TOKEN))
    return path, model


def test_round_trip(saved):
    path, model = saved
    run = load_run(path)
    assert run.name == "good" and run.config.latent_dim == 2 and not run.shipped
    assert run.final["test"]["loss"] == 1.5 and run.epochs[0]["epoch"] == 1
    for key, value in model.state_dict().items():
        assert torch.equal(run.model.state_dict()[key], value)
    assert not run.model.training


def test_a_pickle_carrying_code_never_runs(tmp_path, saved):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "vae-lab-run", "x": Payload()}, evil)
    plain = tmp_path / "evil_plain.pt"
    plain.write_bytes(pickle.dumps(Payload()))
    before = snapshot(tmp_path)
    for path in (evil, plain):
        with pytest.raises(CheckpointError, match="unsafe|not a readable"):
            load_run(path)
        with pytest.raises(CheckpointError):
            load_run_bytes(path.read_bytes())
    assert not marker.exists()
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda good: good[: len(good) // 2], "not a readable"),
        (lambda good: os.urandom(4096), "not a readable"),
        (lambda good: b"", "empty"),
    ],
    ids=["truncated", "random", "empty"],
)
def test_broken_files_get_one_clear_error(tmp_path, saved, make, needle):
    path, _ = saved
    bad = tmp_path / "bad.pt"
    bad.write_bytes(make(path.read_bytes()))
    with pytest.raises(CheckpointError, match=needle):
        load_run(bad)
    assert load_run(path).name == "good"  # the good run next to it is untouched


def test_foreign_torch_file(tmp_path):
    foreign = tmp_path / "resnet.pt"
    torch.save({"conv1.weight": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not a VAE Lab run"):
        load_run(foreign)


def test_weights_that_do_not_match_their_config(tmp_path, saved):
    path, _ = saved
    payload = torch.load(path, weights_only=True)
    payload["config"]["latent_dim"] = 5
    torch.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="do not match its config"):
        load_run(tmp_path / "mismatch.pt")
    payload["config"]["latent_dim"] = 500
    torch.save(payload, tmp_path / "badconfig.pt")
    with pytest.raises(CheckpointError, match="invalid config: latent_dim"):
        load_run(tmp_path / "badconfig.pt")


def test_file_over_the_size_limit(tmp_path, saved, monkeypatch):
    path, _ = saved
    monkeypatch.setattr(runfile, "MAX_CHECKPOINT_BYTES", 1000)
    with pytest.raises(CheckpointError, match="over the 0 MB limit|MB, over"):
        load_run(path)


def test_newer_format_is_refused(tmp_path, saved):
    path, _ = saved
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = 99
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="format version 99"):
        load_run(tmp_path / "future.pt")


def test_killed_writer_leaves_the_old_file_and_no_stray_tmp(tmp_path, saved, monkeypatch, tiny_config):
    path, model = saved
    before = path.read_bytes()

    def crash(obj, f):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_run(tmp_path, "good", model, tiny_config, EMPTY_HISTORY, EMPTY_FINAL)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["good.pt"]


def test_stale_tmp_files_are_ignored_and_cleaned(tmp_path, saved):
    stale = tmp_path / ".good.pt.tmp-abc123"
    stale.write_bytes(b"partial")
    os.utime(stale, (0, 0))
    fresh = tmp_path / ".other.pt.tmp-def456"
    fresh.write_bytes(b"being written")
    assert [r.name for r in list_runs(tmp_path)] == ["good"]
    assert clean_stale_tmp(tmp_path) == [stale]
    assert fresh.exists()


def test_list_runs_shows_unreadable_files_with_their_error(tmp_path, saved):
    (tmp_path / "junk.pt").write_bytes(b"junk")
    runs = {r.name: r for r in list_runs(tmp_path)}
    assert runs["good"].error == "" and runs["good"].config.latent_dim == 2
    assert "not a readable" in runs["junk"].error


def test_shipped_runs_cannot_be_overwritten_or_deleted(tmp_path, saved, tiny_config):
    path, model = saved
    (tmp_path / "shipped.json").write_text(json.dumps({"runs": ["good"]}))
    with pytest.raises(CheckpointError, match="shipped"):
        save_run(tmp_path, "good", model, tiny_config, EMPTY_HISTORY, EMPTY_FINAL)
    with pytest.raises(CheckpointError, match="shipped"):
        delete_run(tmp_path, "good", TOKEN)
    assert load_run(path).shipped
    assert reserve_run_name(tmp_path, "good") == "good-2"


def test_delete_user_run(tmp_path, saved):
    before = snapshot(tmp_path)
    for stranger in (None, "", "another-browser-token"):
        with pytest.raises(CheckpointError, match="not yours to delete"):
            delete_run(tmp_path, "good", stranger)
    assert snapshot(tmp_path) == before
    delete_run(tmp_path, "good", TOKEN)
    assert list_runs(tmp_path) == []
    with pytest.raises(CheckpointError, match="no run named"):
        delete_run(tmp_path, "good", TOKEN)


def test_import_validates_before_writing(tmp_path, saved):
    path, _ = saved
    before = snapshot(tmp_path)
    with pytest.raises(CheckpointError):
        import_run(tmp_path, b"not a checkpoint", "upload")
    assert snapshot(tmp_path) == before
    new_path = import_run(tmp_path, path.read_bytes(), "good")
    assert new_path.name == "good-2.pt" and load_run(new_path).config == load_run(path).config


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../x", "x"),
        ("/etc/passwd", "etc-passwd"),
        ("a\0b", "a-b"),
        ("x" * 300, "x" * 64),
        ("ünïcödé run", "unicode-run"),
        ("..", None),
        ("数字", None),
        ("  conv d20 β=1 ", "conv-d20-1"),
    ],
)
def test_sanitize_run_name(raw, expected):
    if expected is None:
        with pytest.raises(ValueError, match="no usable characters"):
            sanitize_run_name(raw)
    else:
        assert sanitize_run_name(raw) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=400))
def test_any_name_stays_inside_the_directory(tmp_path_factory, raw):
    directory = tmp_path_factory.getbasetemp() / "runs"
    try:
        path = run_path(directory, raw)
    except ValueError:
        return
    assert path.resolve().parent == directory.resolve()
    assert not path.name.startswith(".") and len(path.stem) <= 64


def test_reserved_names_are_distinct_while_held(tmp_path):
    first = reserve_run_name(tmp_path, "job")
    second = reserve_run_name(tmp_path, "job")
    assert (first, second) == ("job", "job-2")
    release_run_name(tmp_path, first)
    assert reserve_run_name(tmp_path, "job") == "job"


def test_model_built_from_a_loaded_config_is_the_same_architecture(saved):
    path, _model = saved
    run = load_run(path)
    assert type(run.model) is type(build_model(VAEConfig(latent_dim=2)))
