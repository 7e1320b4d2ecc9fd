"""What every command shares: exit codes, one-line errors, where output goes, runs by name or path, Ctrl-C.

Results go to stdout, so that ``python -m vae train … > result.txt`` keeps them; progress bars, notes
and errors go to stderr.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vae.vocabulary import ConfigError, NameTaken

EXIT_OK = 0
EXIT_FAILED = 1  # the command was carried out and failed: a file that is not a run, a diverged or stopped training
EXIT_USAGE = 2  # the command line cannot be carried out: a bad flag or value, no such file or run, a name taken


class UsageError(Exception):
    """The command line cannot be carried out as typed (exit 2)."""


class Failed(Exception):
    """The command was carried out and failed (exit 1)."""


def result(text: str) -> None:
    """A result: stdout."""
    print(text, flush=True)


def note(text: str) -> None:
    """Something the user should know that is not a result: stderr."""
    print(f"note: {text}", file=sys.stderr, flush=True)


def flag(field: str) -> str:
    """The command-line flag of config field ``field``: ``latent_dim`` -> ``--latent-dim``."""
    return f"--{field.replace('_', '-')}"


def flag_message(exc: ConfigError) -> str:
    """A config error as the flag the user typed: ``--latent-dim must be in [2, 64]; got -3``."""
    if exc.field == "config":
        return str(exc)
    joiner = " " if exc.reason.startswith("must") else ": "
    return f"{flag(exc.field)}{joiner}{exc.reason}"


def taken_message(exc: NameTaken) -> str:
    """A name refusal in the CLI's own words (the core's are the app's)."""
    return (
        str(exc)
        .replace("choose another name", "choose another --name")
        .replace("or overwrite it", "or pass --overwrite")
    )


def run_file(text: str, directory: Path) -> Path:
    """The run that ``text`` names: a path to a ``.pt`` file, or a run name in ``directory``.

    ``UsageError`` when neither exists, naming the text as typed and, where the name was made file-safe,
    what it became.
    """
    from vae.runfile.names import SUFFIX, run_path, sanitize_run_name

    as_path = Path(text).expanduser()
    if as_path.is_file():
        return as_path
    looks_like_path = "/" in text or text.endswith(SUFFIX)
    if not looks_like_path:
        try:
            path = run_path(directory, text)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if path.is_file():
            return path
        became = f" (as a run name: {path.stem!r})" if sanitize_run_name(text) != text else ""
        raise UsageError(f"no run named {text!r}{became} in {directory}, and no such file")
    raise UsageError(f"no such file: {text}")


@contextmanager
def ctrl_c_stops() -> Iterator[threading.Event]:
    """Ctrl-C sets the yielded event, which a training loop reads as the app's Stop button: it ends after
    the current step and keeps the weights. An exception raised asynchronously could land in a finalizer
    and be swallowed, so the first Ctrl-C only asks; a second one aborts with ``KeyboardInterrupt``."""
    stop = threading.Event()

    def on_interrupt(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
