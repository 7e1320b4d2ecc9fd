"""What a deploy installs and reads: requirements.txt for Streamlit Community Cloud, config.toml,
and the checks on downloaded data."""

from __future__ import annotations

import ast
import hashlib
import os
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import ROOT, words

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
FIRST_PARTY = {"vae", "ui", "pages", "tests", "streamlit_app"}


def _requirements(file: str = "requirements.txt") -> tuple[list[str], dict[str, Requirement]]:
    options, requirements = [], {}
    for line in (ROOT / file).read_text().splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            options.append(line)
        else:
            req = Requirement(line)
            requirements[canonicalize_name(req.name)] = req
    return options, requirements


@pytest.mark.parametrize("package", ["torch"])
def test_cloud_gets_a_cpu_only_torch(package):
    """Cloud installs requirements.txt as it is: it must lead pip and uv to the +cpu wheels."""
    options, requirements = _requirements()
    assert any(re.fullmatch(rf"--(extra-)?index-url[ =]{re.escape(CPU_INDEX)}/?", o) for o in options), options
    req = requirements[package]
    pinned = [s for s in req.specifier if s.operator == "=="]
    assert len(pinned) == 1, f"{package} must be pinned to one release: {req}"
    release = Version(pinned[0].version)
    assert release.local is None, f"{req} names a local build; the CPU index's '+cpu' must be able to match"
    cpu, cuda = Version(f"{release}+cpu"), release
    # PEP 440: '==X' admits 'X+cpu', which sorts after plain 'X', so a resolver that sees both takes +cpu.
    assert req.specifier.contains(cpu) and cpu > cuda
    assert not any("+cu" in str(s) for s in req.specifier)


# The optional Ray engine: its package, and the only modules that may import it (when the engine is used).
RAY_MODULES = {"ray_cluster.py", "ray_engine.py"}


def _third_party_imports(optional: bool = False) -> set[str]:
    """What the app and the core import from outside; with ``optional``, only what the Ray engine's modules do."""
    files = [ROOT / "streamlit_app.py", *sorted((ROOT / "pages").glob("*.py"))]
    files += [*sorted((ROOT / "ui").glob("*.py")), *sorted((ROOT / "vae").rglob("*.py"))]
    modules = set()
    for path in files:
        if (path.name in RAY_MODULES) != optional:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m not in FIRST_PARTY}


def _missing(modules: set[str], requirements: dict) -> dict[str, list[str]]:
    owners = packages_distributions()
    missing = {}
    for module in sorted(modules):
        dists = {canonicalize_name(d) for d in owners.get(module, [module])}
        if not dists & set(requirements):
            missing[module] = sorted(dists)
    return missing


def test_every_third_party_import_of_the_app_and_core_is_a_requirement():
    _, requirements = _requirements()
    assert _third_party_imports() >= {"torch", "streamlit", "numpy", "plotly"}, "the import scan found too little"
    missing = _missing(_third_party_imports(), requirements)
    assert not missing, f"imported but not in requirements.txt: {missing}"


def test_ray_is_optional_and_only_the_ray_engine_imports_it():
    _, cloud = _requirements()
    _, optional = _requirements("requirements-ray.txt")
    assert "ray" in optional and "ray" not in cloud  # Cloud's install does not pull it in
    assert "ray" in _third_party_imports(optional=True) and "ray" not in _third_party_imports()
    assert not _missing(_third_party_imports(optional=True), {**cloud, **optional})
    dev = (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert "-r requirements-ray.txt" in dev  # the test setup installs it


def test_streamlit_config_names_only_options_this_streamlit_knows():
    from streamlit import config

    known = set(config._config_options or config.get_config_options())
    settings = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    options = [f"{section}.{key}" for section, values in settings.items() for key in values]
    assert options, "config.toml is empty"
    unknown = [o for o in options if o not in known]
    assert not unknown, f"options this Streamlit does not know: {unknown}"


def test_a_download_is_kept_only_when_its_md5_matches(tmp_path):
    from vae.data.download import fetch_from_mirrors

    served = tmp_path / "mirror"
    served.mkdir()
    payload = b"idx bytes as served"
    (served / "t10k-labels-idx1-ubyte.gz").write_bytes(payload)
    good_md5 = hashlib.md5(payload).hexdigest()
    mirror = served.as_uri() + "/"

    target = tmp_path / "raw" / "t10k-labels-idx1-ubyte.gz"
    target.parent.mkdir()
    with pytest.raises(OSError, match="does not match its MD5"):
        fetch_from_mirrors([mirror], target.name, target, "0" * 32)
    assert not target.exists() and not list(target.parent.iterdir()), "an altered file was kept"

    fetch_from_mirrors([mirror], target.name, target, good_md5)
    assert target.read_bytes() == payload


def test_a_download_that_fails_its_md5_is_named_in_the_notice(tmp_path, monkeypatch):
    """One line says which file was refused; the app stands on mnist-5k and keeps nothing."""
    import dataclasses

    from vae.data.datasets import load_dataset
    from vae.data.facts import FACTS

    served = tmp_path / "mirror"
    served.mkdir()
    for filename, _ in FACTS["mnist"].files:
        (served / filename).write_bytes(b"altered in transit")
    monkeypatch.setitem(FACTS, "mnist", dataclasses.replace(FACTS["mnist"], mirrors=(served.as_uri() + "/",)))
    loaded = load_dataset("mnist", tmp_path / "data", allow_download=True)
    assert loaded.name == "mnist-5k"
    assert "does not match its MD5" in loaded.notice and "\n" not in loaded.notice
    assert not (tmp_path / "data").exists(), "a failed download left folders in the data root"


@pytest.mark.slow
def test_setup_runs_from_any_folder_and_ends_with_the_command_that_starts_the_app(tmp_path):
    out = subprocess.run(
        [str(ROOT / "scripts" / "setup.sh")], cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-2].startswith("Installed: torch ") and " build; .venv takes " in lines[-2]
    assert lines[-1] == (
        f"Ready. Start the app with: {ROOT}/scripts/app.sh   "
        f"(or: {ROOT}/.venv/bin/streamlit run {ROOT}/streamlit_app.py)"
    )
    assert list(tmp_path.iterdir()) == []


def test_the_venvs_python_runs_the_cli_from_any_folder(tmp_path):
    """Set up by setup.sh, the venv finds VAE Lab's packages wherever ``python -m vae`` is typed."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-m", "vae", "list", "--checkpoint-dir", str(ROOT / "checkpoints")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "mlp-d20-b1" in out.stdout and list(tmp_path.iterdir()) == []


def test_setup_names_an_interpreter_that_cannot_run_instead_of_calling_it_too_old(tmp_path):
    """A pyenv shim for a Python that is installed but not active exists, and fails when run."""
    shim = tmp_path / "python3.12"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.12: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    out = subprocess.run(
        [str(ROOT / "scripts" / "setup.sh")],
        env={**os.environ, "PYTHON": str(shim)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 1
    assert out.stderr.strip() == f"error: {shim} could not be run: pyenv: python3.12: command not found"


def test_python_m_vae_without_torch_says_how_to_set_up_in_one_line():
    """``python -S`` leaves out site-packages: a Python without the venv's packages, as a stranger's would be."""
    out = subprocess.run(
        [sys.executable, *words("-S -m vae list")], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip() == (
        f"vae: error: torch is not installed for {sys.executable}; set up with scripts/setup.sh, then run "
        ".venv/bin/python -m vae (or source .venv/bin/activate first)"
    )


def _lock() -> dict[str, Version]:
    """requirements.lock: each package's canonical name and its exact release."""
    pinned = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            (spec,) = req.specifier  # one exact release a line, nothing else
            assert spec.operator == "==" and not req.marker and not req.extras, line
            pinned[canonicalize_name(req.name)] = Version(spec.version)
    return pinned


@pytest.mark.parametrize("file", ["requirements.txt", "requirements-ray.txt", "requirements-dev.txt"])
def test_the_lock_picks_a_release_inside_every_range(file):
    """Cloud installs requirements.txt's ranges; setup.sh and CI install the lock's releases: they must agree."""
    lock = _lock()
    _, requirements = _requirements(file)
    for name, req in requirements.items():
        assert name in lock, f"{name} ({file}) is not in requirements.lock; run scripts/lock.sh"
        assert req.specifier.contains(lock[name], prereleases=True), f"the lock's {name}=={lock[name]} is outside {req}"


def test_the_lock_leaves_the_cuda_builds_own_pins_to_torch_and_names_no_local_build():
    lock = _lock()
    assert not [name for name in lock if name.startswith(("nvidia-", "cuda-")) or name == "triton"]
    assert not [f"{name}=={v}" for name, v in lock.items() if v.local], "a +cpu or +cu label would refuse the other"


def test_setup_installs_through_the_lock_and_this_venv_holds_its_releases():
    """What CI tested is what a user gets: every locked package installed here is the locked release."""
    from importlib.metadata import distributions

    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert '-r "$requirements" -c requirements.lock' in setup
    lock = _lock()
    installed = {canonicalize_name(d.metadata["Name"]): Version(d.version) for d in distributions()}
    # Compared without a local label: the GPU build that README's "GPU" installs is torch 2.14.1+cu128.
    off = [f"{n} {installed[n]} (locked: {v})" for n, v in lock.items() if Version(installed.get(n, v).public) != v]
    assert not off, f"{off}; run scripts/setup.sh"


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_the_listed_md5s_are_those_of_the_real_files(name):
    """The download table (``vae.data.facts``, which replaced torchvision's) names each real gz file and its
    MD5: checked against the files under ``VAE_DATA_DIR``, skipped where they are absent."""
    from vae.data.download import md5_of
    from vae.data.facts import FACTS
    from vae.settings import data_root

    facts = FACTS[name]
    raw = data_root() / facts.folder / "raw"
    if not all((raw / filename).exists() for filename, _ in facts.files):
        pytest.skip(f"{name}'s gz files are not under {raw} (set VAE_DATA_DIR)")
    assert {filename: md5_of(raw / filename) for filename, _ in facts.files} == dict(facts.files)
    assert facts.mirrors and all(m.startswith(("https://", "http://")) and m.endswith("/") for m in facts.mirrors)
