"""Shared fixtures: small slices of the embedded MNIST and tiny seeded models."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from vae.data.datasets import Dataset, load_dataset
from vae.data.files import is_available
from vae.model.config import VAEConfig
from vae.settings import data_root

ROOT = Path(__file__).resolve().parent.parent

# Tests never wait on the network: full datasets come from VAE_DATA_DIR or not at all.
os.environ.setdefault("VAE_OFFLINE", "1")
# In-process app tests (AppTest) draw pages without a warm-up thread beside them; servers started for browser
# tests warm up as a deployed app does (tests.browser_support), and tests/test_cold_start.py tests it directly.
os.environ.setdefault("VAE_WARM_UP", "0")
torch.set_num_threads(2)
# Ray's token authentication, as a cluster should have it, with a token of the session's own (not ~/.ray's): set
# before Ray is first imported, for the tests' cluster, their drivers and the processes they start.
os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.setdefault("RAY_AUTH_TOKEN", os.urandom(16).hex())


# Every page of the router, by its file's stem; a test of each page walks them all.
PAGE_NAMES = (
    "home",
    "train",
    "runs",
    "latent",
    "explorer",
    "interpolation",
    "generate",
    "diagnostics",
    "disentanglement",
    "draw",
)


def subset(data: Dataset, n_train: int, n_test: int) -> Dataset:
    """The first ``n_train`` training and ``n_test`` test images of ``data``, with their labels and factors."""
    parts = {}
    for split, n in (("train", n_train), ("test", n_test)):
        for kind in ("x", "y", "factors"):
            value = getattr(data, f"{split}_{kind}")
            if value is not None:
                parts[f"{split}_{kind}"] = value[:n]
    return dataclasses.replace(data, **parts)


@pytest.fixture(scope="session")
def mnist_5k() -> Dataset:
    return load_dataset("mnist-5k")


@pytest.fixture(scope="session")
def small_data(mnist_5k: Dataset) -> Dataset:
    """1,024 train and 200 test digits of the embedded set."""
    return subset(mnist_5k, 1024, 200)


@pytest.fixture
def tiny_config() -> VAEConfig:
    return VAEConfig(dataset="mnist-5k", arch="mlp", latent_dim=2, epochs=2, batch_size=128, seed=0)


@pytest.fixture(scope="session")
def full_mnist_root() -> Path:
    root = data_root()
    if not is_available("mnist", root):
        pytest.skip(f"full MNIST not found under {root} (set VAE_DATA_DIR)")
    return root


@pytest.fixture(scope="session")
def tiny_runs_template(tmp_path_factory, small_data) -> Path:
    """A checkpoint folder with two 1-epoch runs: ``tiny-d2`` (shipped, read-only) and ``tiny-d4``."""
    from vae.training.runs import train_run

    directory = tmp_path_factory.mktemp("tiny_runs")
    for name, d in (("tiny-d2", 2), ("tiny-d4", 4)):
        for _ in train_run(VAEConfig(dataset="mnist-5k", latent_dim=d, epochs=1), name, directory, data=small_data):
            pass
    (directory / "shipped.json").write_text(json.dumps({"runs": ["tiny-d2"]}))
    return directory


@pytest.fixture
def run_dir(tiny_runs_template, tmp_path) -> Path:
    """A fresh copy of the tiny runs for a test that may add, change or delete files."""
    directory = tmp_path / "runs"
    shutil.copytree(tiny_runs_template, directory)
    return directory


SHAPES_RUNS = {"shapes-b1": 1.0, "shapes-b4": 4.0}


@pytest.fixture(scope="session")
def shapes_template(tmp_path_factory, tiny_runs_template):
    """The tiny MNIST runs, plus two 1-epoch runs on 2,048 shapes at β = 1 and 4 (scores stored for β = 4 only)."""
    from vae.analysis.disentanglement import evaluate_run
    from vae.runfile import load_run, store_in_final
    from vae.training.runs import train_run

    full = load_dataset("shapes")
    data = subset(full, 2048, 300)
    directory = tmp_path_factory.mktemp("shapes_runs")
    shutil.copytree(tiny_runs_template, directory, dirs_exist_ok=True)
    for name, beta in SHAPES_RUNS.items():
        config = VAEConfig(dataset="shapes", arch="mlp", hidden=(64,), latent_dim=4, beta=beta, epochs=1)
        for _ in train_run(config, name, directory, data=data):
            pass
    run = load_run(directory / "shapes-b4.pt")
    store_in_final(run.path, "disentanglement", evaluate_run(run.model))
    return directory


@pytest.fixture
def shapes_dir(shapes_template, tmp_path):
    directory = tmp_path / "runs"
    shutil.copytree(shapes_template, directory)
    return directory


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file's bytes, to prove that nothing was added, lost or changed."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def leftovers(directory: Path) -> list[str]:
    """Hidden files a writer left in a run folder (locks, temporary files); not the views kept beside the runs."""
    from vae.runfile.views import VIEWS

    return sorted(p.name for p in Path(directory).iterdir() if p.name.startswith(".") and p.name != VIEWS)


APP = str(ROOT / "streamlit_app.py")


@pytest.fixture
def app(run_dir, monkeypatch):
    """The app in AppTest over a fresh copy of the tiny runs, with two training slots."""
    from streamlit.testing.v1 import AppTest

    from vae.training import jobs

    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(run_dir))
    monkeypatch.setattr(jobs, "_slots", threading.BoundedSemaphore(2))
    return AppTest.from_file(APP, default_timeout=60).run()


def open_page(at, page: str, run: str | None = None):
    """Switch an AppTest session to ``page``, with ``run`` as the current run if given."""
    if run is not None:
        at.session_state["current_run"] = run
    at.switch_page(page)
    return at.run()


def png_bytes(array) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def wait_until(condition, what: str, timeout: float = 120.0, poll: float = 0.02) -> None:
    """Poll ``condition()`` until it holds; fail with ``what`` never happened after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"within {timeout:g} s, this never happened: {what}")
        time.sleep(poll)


def session_job(at):
    """The training job that an AppTest session started, looked up by its token as the pages do."""
    from ui.state import JOB_TOKEN_KEY, job_registry

    job = job_registry().get(at.session_state[JOB_TOKEN_KEY])
    assert job is not None, "the session holds no known job token"
    return job


def words(line: str) -> list[str]:
    """A command line (or any list of plain words) as a person types it: split on spaces."""
    return line.split()


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m vae ARGS`` offline, as a person would run it; never waits more than 5 minutes."""
    full_env = {**os.environ, "VAE_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "vae", *args],
        check=False,
        cwd=cwd or ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


# --- Owners and crafted files: shared by the "safe to share" tests. ---

TOKEN_A, TOKEN_B = "browser-a-owner-token-0001", "browser-b-owner-token-0002"


def own(path, token: str) -> None:
    """Make the run at ``path`` belong to the browser holding ``token``, as a run made in its app would."""
    from vae.runfile.owners import owner_hash
    from vae.runfile.writing import write_atomic

    payload = torch.load(path, weights_only=True)
    payload["owner"] = owner_hash(token)
    write_atomic(path, payload)


def poisoned(path, out, edit) -> bytes:
    """A copy of the run at ``path`` with ``edit(payload)`` applied, written to ``out``; returns its bytes."""
    payload = torch.load(path, weights_only=True)
    edit(payload)
    torch.save(payload, out)
    return out.read_bytes()


def session(token: str | None, page: str | None = None):
    """A new browser session on the app, holding owner ``token`` (None: a stranger with no runs of its own)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    if token is not None:
        at.session_state["owner_token"] = token
    at.run()
    return open_page(at, page) if page else at


def browser_cookie(monkeypatch, token: str | None) -> None:
    """Every AppTest session from now on is a tab of a browser whose owner cookie holds ``token`` (None: no cookie).
    AppTest cannot send cookies, so the one function that reads it answers for the browser."""
    from ui import state

    monkeypatch.setattr(state, "visitor_cookie", lambda: token)


def buttons(at, label: str) -> list:
    return [b for b in at.button if b.label == label]


@pytest.fixture(scope="session")
def ray_address():
    """A real Ray cluster of one node, as a process of its own (``ray start --head --block`` on 127.0.0.1, 2 CPUs),
    for the whole session: its ``HOST:PORT``. Stopped at the end with everything it started."""
    pytest.importorskip("ray")
    import socket
    import tempfile

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths live under it
    ray = Path(sys.executable).with_name("ray")
    command = [str(ray), "start", "--head", "--block", f"--port={port}", "--node-ip-address=127.0.0.1"]
    head = subprocess.Popen(
        [*command, "--num-cpus=2", "--include-dashboard=false", f"--temp-dir={folder}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
        start_new_session=True,  # its processes end with it, and a Ctrl-C of pytest reaches them only through it
    )
    address = f"127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(port), "the Ray head answered", timeout=90, poll=0.2)
        yield address
    finally:
        from vae.training import ray_cluster

        ray_cluster.shutdown()
        head.terminate()
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, 9)
        shutil.rmtree(folder, ignore_errors=True)


def _answers(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def chromium():
    """A headless chromium for a module's browser tests (``tests.browser_support.chromium``); skipped without it."""
    from tests.browser_support import chromium as launch
    from tests.browser_support import playwright_or_skip

    playwright_or_skip()
    with launch() as browser:
        yield browser
