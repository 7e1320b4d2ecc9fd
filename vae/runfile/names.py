"""Run names: file-safe, the shipped ones read-only, and one writer each across processes.

A name is reserved with the kernel's lock on a file beside the run (``vae.runfile.writers``), so the app, several
app servers on one folder and the CLI can never write the same name at once, and a writer that dies frees it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from vae.runfile import writers
from vae.vocabulary import NameTaken

SUFFIX = ".pt"
LOCK_SUFFIX = ".lock"
TMP_MARKER = ".tmp-"  # in the name of a run file being written: FILE.pt.tmp-XXXX, replaced into FILE.pt
MAX_NAME_LENGTH = 64
SHIPPED_MANIFEST = "shipped.json"


def sanitize_run_name(raw: str) -> str:
    """A file-safe run name: ASCII letters, digits, ``.``, ``_`` and ``-``, at most 64 characters.

    Accents are folded (``é`` -> ``e``), other characters become ``-``, and leading dots are
    dropped, so the result can never name a parent directory or a hidden file. Raises
    ``ValueError`` when nothing usable remains.
    """
    if not isinstance(raw, str):
        raise TypeError("run name must be text")
    folded = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode("ascii")
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", folded)
    name = re.sub(r"-{2,}", "-", name).strip("-._")[:MAX_NAME_LENGTH].rstrip("-._")
    if not name:
        raise ValueError(f"run name {raw!r} has no usable characters; use letters, digits, '-', '_' or '.'")
    return name


def run_path(directory: Path, name: str) -> Path:
    """The file for run ``name`` in ``directory``; guaranteed to lie directly inside it."""
    directory = Path(directory)
    path = directory / f"{sanitize_run_name(name)}{SUFFIX}"
    if path.resolve().parent != directory.resolve():
        raise ValueError(f"run name {name!r} would write outside {directory}")
    return path


def shipped_names(directory: Path) -> tuple[str, ...]:
    """Names of the runs that ship with the app, in the order ``shipped.json`` lists them; they are read-only."""
    manifest = Path(directory) / SHIPPED_MANIFEST
    try:
        names = json.loads(manifest.read_text())["runs"]
        return tuple(str(name) for name in names)
    except (OSError, ValueError, KeyError, TypeError):
        return ()


# --- Reservations: a lock file beside the run. ---


def lock_path(directory: Path, name: str) -> Path:
    path = run_path(directory, name)
    return path.with_name(f".{path.name}{LOCK_SUFFIX}")


def holder(directory: Path, name: str) -> str:
    """The ``trainer_id()`` that holds ``name``, or "" when it is free (its holder gone or never there)."""
    return writers.holder(lock_path(directory, name))


def _take(directory: Path, name: str) -> bool:
    """Hold the lock of ``name`` for this process; False while another writer holds it."""
    return writers.take(lock_path(directory, name))


def _refusal(directory: Path, name: str) -> str:
    who = holder(directory, name)
    host, _, rest = who.partition(":")
    where = f"process {rest.partition(':')[0]} on {host}" if rest else "another process"
    return f"run {name!r} is being written by {where}; wait for it to finish or choose another name"


def reserve_run_name(directory: Path, wanted: str) -> str:
    """Claim a name that no file, shipped run or writer holds, adding ``-2``, ``-3``... when taken.

    Release it with ``release_run_name`` when the writer is done; the saved file keeps it taken.
    """
    base = sanitize_run_name(wanted)
    shipped = shipped_names(directory)
    Path(directory).mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        candidate = base if n == 1 else f"{base[: MAX_NAME_LENGTH - 6]}-{n}"
        if candidate in shipped or run_path(directory, candidate).exists() or not _take(directory, candidate):
            continue
        if run_path(directory, candidate).exists():  # written between the check and the lock
            release_run_name(directory, candidate)
            continue
        return candidate
    raise NameTaken(f"no free run name near {base!r}")


def reserve_exact(directory: Path, name: str, *, overwrite: bool = False) -> str:
    """Claim exactly ``name`` for a new run (the CLI's ``--name``). An existing run is refused unless
    ``overwrite``; a name that another writer holds is refused either way, naming the writer."""
    name = sanitize_run_name(name)
    if name in shipped_names(directory):
        raise NameTaken(f"{name!r} is a shipped run and cannot be overwritten; choose another name")
    Path(directory).mkdir(parents=True, exist_ok=True)
    if not _take(directory, name):
        raise NameTaken(_refusal(directory, name))
    if run_path(directory, name).exists() and not overwrite:
        release_run_name(directory, name)
        raise NameTaken(f"run {name!r} already exists in {directory}; choose another name or overwrite it")
    return name


@dataclass(frozen=True)
class Placement:
    """How a new run takes its name and whose it is. ``exact``: the name as given, refused when taken unless
    ``overwrite`` (the CLI's rule); else the next free one (the app's). ``owner`` (a hash) and ``origin``
    are stored with the run."""

    owner: str = ""
    origin: str = ""
    exact: bool = False
    overwrite: bool = False

    def reserve(self, directory: Path, wanted: str) -> str:
        """Reserve the run's name under this placement's rule (release it with ``release_run_name``)."""
        if self.exact:
            return reserve_exact(directory, wanted, overwrite=self.overwrite)
        return reserve_run_name(directory, wanted)


NEXT_FREE = Placement()  # the app's rule, with no owner: the next free name


def claim_run_name(directory: Path, name: str) -> str:
    """Claim an existing run's own name, to continue training it in place; refused while another writer holds it."""
    name = run_path(directory, name).stem
    if not _take(directory, name):
        raise NameTaken(_refusal(directory, name).replace("being written", "already being trained"))
    return name


def release_run_name(directory: Path, name: str) -> None:
    """Give the name back, if this process holds it."""
    writers.release(lock_path(directory, name))
