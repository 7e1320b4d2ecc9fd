"""Crafted run files: a valid run mutated field by field, through every door a file comes in by.

Every field of ``final``, ``history`` and ``config`` (and the payload's own) is replaced by a wrong type,
NaN, inf, a huge list, very long text, or removed; the weights lose, gain or reshape a tensor. Each file
goes through the upload (``import_run``), ``python -m vae import``, and a direct drop into the checkpoint
folder. Each is refused with a reason, or is a valid run; ``list``, ``eval`` and every page keep working.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.conftest import APP, PAGE_NAMES, open_page, snapshot
from vae.cli import main
from vae.model.config import VAEConfig
from vae.runfile import import_run, list_runs, load_run_bytes
from vae.training.runs import train_run
from vae.vocabulary import CheckpointError

MISSING = object()
WRONG = {
    "text": "x",
    "nan": float("nan"),
    "inf": float("inf"),
    "negative": -1,
    "none": None,
    "huge list": list(range(20_000)),
    "long text": "x" * 100_000,
    "mapping": {"a": 1},
    "missing": MISSING,
}
FINAL = [
    ("final",),
    ("final", "test"),
    *[("final", "test", k) for k in ("recon", "kl", "loss")],
    *[("final", k) for k in ("dataset", "n_test", "epochs", "status", "message", "trainer")],
]
HISTORY = [
    ("history",),
    ("history", "epochs"),
    ("history", "epochs", 0),
    ("history", "epochs", 0, "epoch"),
    ("history", "epochs", 0, "test"),
    ("history", "epochs", 0, "test", "loss"),
    ("history", "epochs", 0, "lr"),
    ("history", "steps"),
    ("history", "steps", "values"),
    ("history", "steps", "columns"),
    ("history", "steps", "steps_per_epoch"),
    ("history", "steps", "stride"),
    ("history", "frames"),
    ("history", "frames", "positions"),
    ("history", "frames", "recon_index"),
    ("history", "frames", "epochs"),
]
PAYLOAD = [("config",), ("state_dict",), ("format_version",), ("owner",), ("name",), ("created",)]
PAGES = PAGE_NAMES


def _set(payload: dict, path: tuple, value: object) -> None:
    *parents, last = path
    target = payload
    for key in parents:
        target = target[key]
    if value is MISSING and isinstance(target, list):
        del target[last]
    elif value is MISSING:
        target.pop(last, None)
    else:
        target[last] = value


def mutants(payload: dict) -> Iterator[tuple[str, dict]]:
    """(what was done, the mutated payload) for every field and every kind of wrong value."""
    config_paths = [("config", name) for name in payload["config"]]
    for path in [*FINAL, *HISTORY, *PAYLOAD, *config_paths]:
        for kind, value in WRONG.items():
            mutant = copy.deepcopy(payload)
            _set(mutant, path, value)
            yield f"{'.'.join(map(str, path))} = {kind}", mutant
    weights = payload["state_dict"]
    first = next(iter(weights))
    changes = {
        "a tensor missing": lambda w: w.pop(first),
        "an extra tensor": lambda w: w.update(extra=torch.zeros(3)),
        "a reshaped tensor": lambda w: w.update({first: w[first].reshape(-1)}),
        "a NaN weight": lambda w: w[first].view(-1).__setitem__(0, float("nan")),
        "integer weights": lambda w: w.update({first: w[first].long()}),
    }
    for what, change in changes.items():
        mutant = copy.deepcopy(payload)
        change(mutant["state_dict"])
        yield f"state_dict: {what}", mutant
    for what, value in {
        "steps rows of NaN": torch.full((3, 7), float("nan")),
        "steps of 6 columns": torch.zeros(3, 6),
        "frames outside the test set": torch.tensor([10**6, 0, 1], dtype=torch.int32),
    }.items():
        mutant = copy.deepcopy(payload)
        if what.startswith("frames"):
            mutant["history"]["frames"]["recon_index"] = value
        else:
            mutant["history"]["steps"]["values"] = value
        yield what, mutant


def to_bytes(payload: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def crafted(tmp_path_factory, small_data) -> tuple[Path, dict[str, bytes]]:
    """A small valid run (hidden 16, d = 2), and every mutant of it as bytes."""
    directory = tmp_path_factory.mktemp("template")
    data = dataclasses.replace(small_data, train_x=small_data.train_x[:256], train_y=small_data.train_y[:256])
    config = VAEConfig(dataset="mnist-5k", hidden=(16,), latent_dim=2, epochs=1)
    for _ in train_run(config, "valid", directory, data=data):
        pass
    payload = torch.load(directory / "valid.pt", weights_only=True)
    return directory / "valid.pt", {what: to_bytes(mutant) for what, mutant in mutants(payload)}


def test_every_crafted_file_is_refused_with_a_reason_or_is_a_valid_run(crafted, tmp_path):
    _, files = crafted
    directory = tmp_path / "runs"
    directory.mkdir()
    refused, accepted = [], []
    for what, data in files.items():
        before = snapshot(directory)
        try:
            path = import_run(directory, data, "upload")  # the upload's door
        except CheckpointError as exc:
            assert str(exc) and "\n" not in str(exc), what
            assert snapshot(directory) == before, f"{what}: a refused upload wrote something"
            refused.append(what)
            continue
        accepted.append(what)
        path.unlink()
    print(f"\n{len(files)} crafted files: {len(refused)} refused with a reason, {len(accepted)} valid runs: {accepted}")
    # What may stay valid: a field with a default, or one that nothing reads.
    harmless = (
        "config.",
        "final.message = text",
        "final.trainer = text",
        "final.trainer = missing",
        "owner = missing",
        "name = text",
        "created = text",
        "history.steps.stride = missing",
        "history.frames = missing",
    )
    assert all(what.startswith(harmless) for what in accepted), accepted
    assert len(refused) >= 0.8 * len(files)
    for what in accepted:  # and what loads, loads whole
        load_run_bytes(files[what])


@pytest.mark.slow
def test_the_cli_refuses_each_crafted_file_in_one_line(crafted, tmp_path, capsys):
    _, files = crafted
    directory = tmp_path / "runs"
    counts = {0: 0, 1: 0}
    for i, (what, data) in enumerate(files.items()):
        source = tmp_path / f"crafted-{i}.pt"
        source.write_bytes(data)
        code = main(["import", str(source), "--name", f"c{i}", "--checkpoint-dir", str(directory)])
        err = capsys.readouterr().err
        assert code in counts, (what, code, err)
        counts[code] += 1
        if code:
            one_line = err.count("\n") == 1 and err.startswith("vae import: error: ")
            assert one_line and "Traceback" not in err, (what, err)
    assert counts[1] >= 0.8 * len(files)


@pytest.mark.slow
def test_crafted_files_dropped_into_the_folder_leave_list_eval_and_every_page_working(
    crafted, tmp_path, capsys, monkeypatch
):
    valid, files = crafted
    directory = tmp_path / "runs"
    directory.mkdir()
    (directory / "valid.pt").write_bytes(valid.read_bytes())
    for i, data in enumerate(files.values()):
        (directory / f"crafted-{i}.pt").write_bytes(data)
    infos = list_runs(directory)
    assert len(infos) == len(files) + 1
    unreadable = [info for info in infos if info.error]
    assert all(info.error.startswith(f"{info.path.name}") for info in unreadable), [i.error for i in unreadable]
    assert main(["list", "--checkpoint-dir", str(directory)]) == 0
    listed = capsys.readouterr().out
    assert listed.count("unreadable: ") == len(unreadable)
    for info in infos:
        code = main(["eval", str(info.path)])
        err = capsys.readouterr().err
        assert code == (1 if info.error else 0), (info.name, err)
        assert "Traceback" not in err
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(directory))
    readable = [info.name for info in infos if not info.error]
    at = AppTest.from_file(APP, default_timeout=120).run()
    for name in readable:
        for page in PAGES:
            at = open_page(at, f"pages/{page}.py", run=name)
            assert not at.exception, (name, page, at.exception)
    at = open_page(at, "pages/runs.py", run="valid")
    warned = " ".join(w.value for w in at.warning)
    assert all(f"`{info.path.name}`" in warned for info in unreadable)


@pytest.mark.slow
def test_crafted_files_through_the_upload_widget_are_refused_in_one_line(crafted, run_dir, monkeypatch, capsys):
    """The Runs page's own upload, for every fifth crafted file and every weight change (AppTest, as a browser)."""
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(run_dir))
    _, files = crafted
    chosen = [what for i, what in enumerate(files) if i % 5 == 0 or what.startswith("state_dict")]
    at = open_page(AppTest.from_file(APP, default_timeout=120).run(), "pages/runs.py")
    before = snapshot(run_dir)
    refused = 0
    for what in chosen:
        at.file_uploader(key="upload").set_value((f"{what[:20]}.pt", files[what], "application/octet-stream")).run()
        add = [b for b in at.button if b.label == "Add to my runs"]
        if add:
            add[0].click().run()
        assert not at.exception, (what, at.exception)
        errors = [e.value for e in at.error if e.value.startswith("Not added: ")]
        if errors:
            refused += 1
            assert snapshot(run_dir) == before, what
        else:  # a valid run: added, and removed again for the next file
            added = set(snapshot(run_dir)) - set(before)
            assert len(added) == 1, (what, added)
            (run_dir / added.pop()).unlink()
    with capsys.disabled():
        print(f"\nupload widget: {len(chosen)} crafted files, {refused} refused in one line, the rest valid runs")
    assert refused >= 0.8 * len(chosen)


# --- A disentanglement record that the schema alone accepts, but that does not fit its run (issue #34). ---

SHAPES_LATENTS = 4


def record(latents: int, factors: int) -> dict:
    """A disentanglement record of the schema's shape: ``latents`` MI rows of ``factors`` values each."""
    return {
        "seed": 0,
        "mig": 0.25,
        "mig_per_factor": [0.25] * factors,
        "mi": [[0.1] * (factors - 1) + [0.5] for _ in range(latents)],  # each latent holds the last factor best
        "entropy": [1.5] * factors,
        "factor_vae": 0.5,
        "factor_vae_train": 0.5,
        "factor_vae_active": min(latents, 2),
        "seconds": {"mig": 1.0, "factor_vae": 2.0},
        "mu_variance": [1.0] * latents,
    }


RECORDS = {
    "6 factors": (
        record(SHAPES_LATENTS, 6),
        (
            "final.disentanglement.entropy: has 6 values, but shapes has 5 factors "
            "(shape, scale, orientation, position x, position y)"
        ),
    ),
    "more MI rows than latents": (
        record(SHAPES_LATENTS + 6, 5),
        f"final.disentanglement.mi: has {SHAPES_LATENTS + 6} rows, but the run has {SHAPES_LATENTS} latents",
    ),
    "fewer MI rows than latents": (
        record(SHAPES_LATENTS - 1, 5),
        f"final.disentanglement.mi: has {SHAPES_LATENTS - 1} rows, but the run has {SHAPES_LATENTS} latents",
    ),
}


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory) -> Path:
    """A 1-epoch shapes run (d = 4) on 256 drawn images, holding a record that fits it."""
    from vae.data import shapes
    from vae.data.datasets import shapes_dataset
    from vae.runfile import store_in_final

    generator = torch.Generator().manual_seed(0)
    data = shapes_dataset(shapes.sample_factors(256, generator), shapes.sample_factors(64, generator))
    directory = tmp_path_factory.mktemp("shapes_record")
    config = VAEConfig(dataset="shapes", hidden=(16,), latent_dim=SHAPES_LATENTS, epochs=1)
    for _ in train_run(config, "fits", directory, data=data):
        pass
    return store_in_final(directory / "fits.pt", "disentanglement", record(SHAPES_LATENTS, 5))


def with_record(path: Path, value: dict) -> bytes:
    payload = torch.load(path, weights_only=True)
    payload["final"]["disentanglement"] = value
    return to_bytes(payload)


@pytest.mark.parametrize("case", sorted(RECORDS))
def test_a_record_that_does_not_fit_its_run_is_refused_with_its_reason(shapes_run, tmp_path, case):
    value, reason = RECORDS[case]
    directory = tmp_path / "runs"
    directory.mkdir()
    (directory / "fits.pt").write_bytes(shapes_run.read_bytes())
    before = snapshot(directory)
    with pytest.raises(CheckpointError, match=f"^the uploaded file is not a valid run: {re.escape(reason)}"):
        import_run(directory, with_record(shapes_run, value), "crafted")
    assert snapshot(directory) == before  # the upload's door: nothing written
    (directory / "crafted.pt").write_bytes(with_record(shapes_run, value))  # the folder's door: listed, with why
    listed = {info.name: info for info in list_runs(directory)}
    assert listed["crafted"].error == f"crafted.pt is not a valid run: {reason}"
    assert not listed["fits"].error


def test_a_record_on_data_without_known_factors_is_refused(crafted, tmp_path):
    valid, _ = crafted
    with pytest.raises(CheckpointError, match="final.disentanglement: mnist-5k has no known factors"):
        import_run(tmp_path, with_record(valid, record(2, 5)), "crafted")
    assert list(tmp_path.iterdir()) == []


def test_records_that_do_not_fit_leave_the_disentanglement_page_working(shapes_run, tmp_path, monkeypatch):
    """The page once raised ``dimension must be in 0..9`` on such a record: now it never sees one, on either door."""
    directory = tmp_path / "runs"
    directory.mkdir()
    (directory / "fits.pt").write_bytes(shapes_run.read_bytes())
    for i, case in enumerate(sorted(RECORDS)):
        (directory / f"crafted-{i}.pt").write_bytes(with_record(shapes_run, RECORDS[case][0]))
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(directory))
    at = AppTest.from_file(APP, default_timeout=120).run()
    for run in ("fits", *(f"crafted-{i}" for i in range(len(RECORDS)))):  # an unreadable one: a readable is shown
        at = open_page(at, "pages/disentanglement.py", run=run)
        assert not at.exception, (run, at.exception)
        assert [m.value for m in at.metric] == ["0.250", "0.500", "not measured"]  # the fitting record, whole
    at = open_page(at, "pages/runs.py", run="fits")
    warned = " ".join(w.value for w in at.warning)
    for i, case in enumerate(sorted(RECORDS)):
        assert (
            f"`crafted-{i}.pt` in the checkpoint folder cannot be used: crafted-{i}.pt is not a valid run: " in warned
        )
        assert RECORDS[case][1] in warned
    before = snapshot(directory)
    for case in sorted(RECORDS):
        at.file_uploader(key="upload").set_value((f"{case}.pt", with_record(shapes_run, RECORDS[case][0]), "")).run()
        add = [b for b in at.button if b.label == "Add to my runs"]
        add[0].click().run()
        assert not at.exception, (case, at.exception)
        assert [e.value for e in at.error if e.value.startswith("Not added: ")] == [
            f"Not added: the uploaded file is not a valid run: {RECORDS[case][1]}"
        ]
    assert snapshot(directory) == before
