"""Views kept on disk beside a run (``vae.runfile.views``): read back after a restart, never stale after the run changes,
and never trusted when the file is not what it should be."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from vae.analysis.latents import encode_mu
from vae.runfile import cached_view, delete_run, load_run
from vae.runfile.views import VIEWS, view_folder
from vae.training.runs import continue_config, train_run


def _never() -> np.ndarray:
    raise AssertionError("computed again, though a view of this version was on disk")


def test_a_view_is_read_back_after_a_restart_and_made_anew_when_the_run_changes(tmp_path):
    run = tmp_path / "r.pt"
    run.write_bytes(b"version one")
    first = cached_view(run, "tsne-10-p30", lambda: np.arange(20, dtype=np.float32).reshape(10, 2), (10, 2), "f4")
    again = cached_view(run, "tsne-10-p30", _never, (10, 2), "f4")  # a new process: only the disk remembers
    assert np.array_equal(first, again)
    stamp = run.stat().st_mtime_ns
    run.write_bytes(b"version 2!!")  # as long as the first, and given its time: only the content tells
    os.utime(run, ns=(stamp, stamp))
    fresh = cached_view(run, "tsne-10-p30", lambda: np.zeros((10, 2), np.float32), (10, 2), "f4")
    assert not fresh.any()
    assert len(list(view_folder(run).glob("tsne-10-p30@*.npy"))) == 1  # the stale view is gone


@pytest.mark.parametrize(
    "crafted",
    [
        b"not a numpy file",
        b"",
        "pickle",
        "wrong shape",
        "nan",
        "wrong dtype",
    ],
)
def test_a_view_file_that_is_not_what_it_should_be_is_made_anew(tmp_path, crafted):
    run = tmp_path / "r.pt"
    run.write_bytes(b"a run")
    cached_view(run, "mu", lambda: np.ones((4, 3), np.float32), (4, None), "f4")
    (stored,) = view_folder(run).glob("mu@*.npy")
    if isinstance(crafted, bytes):
        stored.write_bytes(crafted)
    elif crafted == "pickle":
        np.save(stored, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    else:
        bad = {
            "wrong shape": np.ones((5, 3), np.float32),
            "nan": np.full((4, 3), np.nan, np.float32),
            "wrong dtype": np.ones((4, 3), np.float64),
        }[crafted]
        np.save(stored, bad)
    view = cached_view(run, "mu", lambda: np.full((4, 3), 2, np.float32), (4, None), "f4")
    assert view.shape == (4, 3) and (view == 2).all()


def test_a_folder_that_cannot_be_written_costs_only_the_computation(tmp_path):
    run = tmp_path / "r.pt"
    run.write_bytes(b"a run")
    (tmp_path / VIEWS).write_text("a file where the folder would be")
    view = cached_view(run, "mu", lambda: np.ones((2, 2), np.float32), (2, 2), "f4")
    assert view.sum() == 4
    with pytest.raises(ValueError, match="view key"):
        cached_view(run, "../../escape", lambda: view, (2, 2), "f4")


def test_a_continued_run_never_shows_the_latents_of_its_earlier_version(tmp_path, small_data, tiny_config):
    for _ in train_run(tiny_config.replace(epochs=1), "grow", tmp_path, data=small_data):
        pass
    path = tmp_path / "grow.pt"

    def latents() -> np.ndarray:
        return encode_mu(load_run(path).model, small_data.test_x).numpy()

    before = cached_view(path, "mu-mnist-5k", latents, (len(small_data.test_x), None), "f4")
    run = load_run(path)
    for _ in train_run(continue_config(run, 1), "grow", tmp_path, data=small_data, resume=run):
        pass
    after = cached_view(path, "mu-mnist-5k", latents, (len(small_data.test_x), None), "f4")
    assert not np.allclose(before, after)
    assert torch.equal(torch.from_numpy(after), torch.from_numpy(latents()))


def test_deleting_a_run_deletes_its_views(tmp_path, small_data, tiny_config):
    from vae.runfile.owners import new_owner_token, owner_hash

    token = new_owner_token()
    for _ in train_run(tiny_config.replace(epochs=1), "gone", tmp_path, data=small_data, owner=owner_hash(token)):
        pass
    cached_view(tmp_path / "gone.pt", "mu", lambda: np.ones((2, 2), np.float32), (2, 2), "f4")
    assert view_folder(tmp_path / "gone.pt").is_dir()
    delete_run(tmp_path, "gone", token)
    assert not view_folder(tmp_path / "gone.pt").exists()
