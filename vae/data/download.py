"""Full MNIST and Fashion-MNIST from their mirrors (``vae.data.facts``, as torchvision lists them), for a data
root that lacks them: each file checked against its MD5, nothing left behind when a download fails, and an
offline machine pays the timeout once per process."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
import urllib.request
from pathlib import Path

from vae.data.facts import dataset_facts

DOWNLOAD_TIMEOUT_S = 5.0

_download_failed: set[tuple[str, str]] = set()
_download_lock = threading.Lock()


def download(name: str, raw: Path) -> None:
    """Fetch dataset ``name``'s missing gz files from its mirrors, failing fast when offline.

    A failure is remembered for the process, so an offline machine pays the timeout once.
    """
    facts = dataset_facts(name)
    key = (name, str(raw))
    with _download_lock:
        if key in _download_failed:
            raise OSError("download already failed in this process")
        try:  # the folder is made only once a file has come whole (see fetch_from_mirrors)
            for filename, md5 in facts.files:
                target = raw / filename
                if target.exists() or (raw / filename.removesuffix(".gz")).exists():
                    continue
                fetch_from_mirrors(facts.mirrors, filename, target, md5)
        except OSError:
            _download_failed.add(key)
            raise


def md5_of(path: Path) -> str:
    """The MD5 of the file at ``path``, in hex (a check against a known digest, not a security measure)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_from_mirrors(mirrors: tuple[str, ...] | list[str], filename: str, target: Path, md5: str) -> None:
    """Download ``filename`` from the first mirror that serves it whole: a file whose MD5 is not the
    one listed for it (truncated, altered) is discarded, and the next mirror is tried.

    The download lands in the system's temporary folder; ``target``'s folder is created, and the file
    moved there, only once it has passed its MD5, so a failed download leaves nothing in the data root.
    """
    last: Exception | None = None
    for mirror in mirrors:
        with tempfile.NamedTemporaryFile(prefix=f".{target.name}.", suffix=".part", delete=False) as part:
            tmp = Path(part.name)
        try:
            with urllib.request.urlopen(f"{mirror}{filename}", timeout=DOWNLOAD_TIMEOUT_S) as response:
                tmp.write_bytes(response.read())
            if md5_of(tmp) != md5:
                raise OSError(f"{filename} from {mirror} does not match its MD5 {md5}, so it was discarded")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(tmp, target)
            return
        except OSError as exc:
            last = exc
            tmp.unlink(missing_ok=True)
    raise OSError(f"could not download {filename}: {last}")
