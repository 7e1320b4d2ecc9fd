"""This process's link to Ray: a local instance started here, or a cluster joined by address; once per process,
shared by the app's jobs and the CLI (``vae.training.ray_engine`` runs the trainings over it). Ray is imported only here
and in ``vae.training.ray_engine``, and only when the Ray engine is used.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from vae.training.engine import Engine
from vae.vocabulary import EngineError

PACKAGE = Path(__file__).resolve().parents[1]  # vae/, shipped whole to a cluster's workers
RAY_MISSING = "Ray is not installed here: pip install -r requirements-ray.txt, or use the local engine"
CONNECT_TIMEOUT_S = 5.0
RETRY_AFTER_S = 30.0  # a page tries a failed connection again after this long
STATUS_WAIT_S = 3.0  # a page waits this long for a first connection (a local instance starts in about 2 s)
CPU_READING_S = 2.0  # a page's reading of the cluster's free CPUs is at most this old, plus one Ray round trip

_lock = threading.Lock()
_data_lock = threading.Lock()
_state: dict[str, Any] = {}  # the connection: engine, the thread that holds it, the control actor, dataset refs


def ray() -> Any:
    try:
        import ray
    except ImportError:
        raise EngineError(RAY_MISSING) from None
    return ray


def _check_reachable(engine: Engine) -> None:
    """One line naming the address when nothing answers there: Ray itself would retry for minutes."""
    try:
        socket.create_connection(engine.host_port(), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise EngineError(f"cannot reach the Ray cluster at {engine.address}: {exc.strerror or exc}") from None


def connect(engine: Engine) -> None:
    """Start a local Ray instance (no address) or join the cluster at ``engine.address``, once per process.

    On a cluster the ``vae`` package travels with the job (``py_modules``): workers need torch, not this
    repository. ``EngineError`` when Ray is missing or the cluster cannot be reached.
    """
    api = ray()
    attempt = _attempts.get(engine)
    if attempt is not None and attempt.thread is not threading.current_thread() and not attempt.stale():
        attempt.thread.join()  # begun by connect_soon or a page: its outcome is this call's
        if attempt.error:
            raise EngineError(attempt.error)
    with _lock:
        if _state.get("engine") == engine and api.is_initialized():
            return
        if api.is_initialized():
            raise EngineError(f"this process already uses {_state['engine'].describe()}; restart to use another")
        if engine.address and engine.address != "auto":
            _check_reachable(engine)
        release, outcome = _keep_connected(api, engine)
        if outcome:
            exc = outcome[0]
            raise EngineError(f"cannot use {engine.describe()}: {str(exc).splitlines()[0]}") from None
        _state.clear()
        _state.update(engine=engine, release=release, control=api.remote(num_cpus=0)(Control).remote(), data={})


def _keep_connected(api: Any, engine: Engine) -> tuple[threading.Event, list[BaseException]]:
    """``ray.init`` in a thread that lives until ``shutdown``: a local instance's processes are started with a
    parent-death signal, which the kernel sends when the *thread* that started them ends, and the app's script
    runs and jobs end their threads all the time. Returns the event that lets the thread go, and the error."""
    release, ready, outcome = threading.Event(), threading.Event(), []

    def keep() -> None:
        quiet = {"log_to_driver": False, "logging_level": "ERROR"}
        try:
            if engine.address:
                api.init(address=engine.address, runtime_env={"py_modules": [str(PACKAGE)]}, **quiet)
            else:
                # Workers of a local instance inherit this environment: with the package's parent on their path they
                # can import it, and a runtime_env (which would keep them from using the pre-started workers, a
                # second a run) is not needed.
                path = os.environ.get("PYTHONPATH")
                os.environ["PYTHONPATH"] = os.pathsep.join([str(PACKAGE.parent), *([path] if path else [])])
                api.init(num_cpus=os.cpu_count(), include_dashboard=False, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            outcome.append(exc)
            return
        finally:
            ready.set()
        release.wait()

    threading.Thread(target=keep, name="ray-connection", daemon=True).start()
    ready.wait()
    return release, outcome


def connect_soon(engine: Engine) -> None:
    """Begin ``connect`` in the background (a local instance takes about 2 s to start), so that a command can
    import torch and load its data meanwhile; ``connect`` then waits for it and says how it went."""
    with _lock:
        if engine not in _attempts:
            _attempts[engine] = _Attempt(engine)


def connected() -> Engine | None:
    """The engine this process is connected to, if any, without connecting."""
    return _state.get("engine")


def status_line(engine: Engine) -> str:
    """For a person: "a local Ray instance, 2 of 2 CPUs free", or that it is still connecting (begun here, in the
    background, and waited for ``STATUS_WAIT_S`` at most), or why it cannot be used."""
    if connected() == engine:
        reading = _cpu_reading()
        if reading is None:
            return f"{engine.describe()} (reading its free CPUs…)"
        return f"{engine.describe()}, {reading[0]:g} of {reading[1]:g} CPUs free"
    with _lock:
        attempt = _attempts.get(engine)
        if attempt is None or attempt.stale():
            attempt = _attempts[engine] = _Attempt(engine)
    attempt.thread.join(timeout=STATUS_WAIT_S)
    if connected() == engine:
        return status_line(engine)
    return (
        f"{engine.describe()}: cannot be used, {attempt.error}"
        if attempt.error
        else f"{engine.describe()} (connecting…)"
    )


def _cpu_reading() -> tuple[float, float] | None:
    """(free, total) CPUs as last read, read again in the background when older than ``CPU_READING_S``: a page
    never waits on Ray for it, but for the first reading (``STATUS_WAIT_S`` at most)."""
    with _lock:
        reading, refresh = _cpus.get("reading"), _cpus.get("refresh")
        if (refresh is None or not refresh.is_alive()) and (
            reading is None or time.monotonic() - _cpus.get("at", 0.0) > CPU_READING_S
        ):
            refresh = _cpus["refresh"] = threading.Thread(target=_read_cpus, name="ray-cpus", daemon=True)
            refresh.start()
    if reading is None:
        refresh.join(timeout=STATUS_WAIT_S)
    return _cpus.get("reading")


def _read_cpus() -> None:
    try:
        reading = cpus()
    except Exception:  # noqa: BLE001  (Ray went away: the next page reads again)
        return
    _cpus.update(reading=reading, at=time.monotonic())


_cpus: dict[str, Any] = {}  # the last reading of the cluster's CPUs, when it was taken, and the thread taking one


class _Attempt:
    """A connection made in the background, so that a page can say where trainings run without waiting for Ray."""

    def __init__(self, engine: Engine) -> None:
        self.error, self.began = "", time.monotonic()
        self.thread = threading.Thread(target=self._connect, args=(engine,), name="ray-connect", daemon=True)
        self.thread.start()

    def stale(self) -> bool:
        """A failure old enough to try again."""
        return bool(self.error) and time.monotonic() - self.began > RETRY_AFTER_S

    def _connect(self, engine: Engine) -> None:
        try:
            connect(engine)
        except EngineError as exc:
            self.error = str(exc)


_attempts: dict[Engine, _Attempt] = {}


def cpus() -> tuple[float, float]:
    """(free, total) CPUs of the cluster, as Ray reports them now."""
    api = ray()
    return api.available_resources().get("CPU", 0.0), api.cluster_resources().get("CPU", 0.0)


def shutdown() -> None:
    """Leave the cluster (or stop the local instance): tests, and a CLI command that is done."""
    with _lock:
        _attempts.clear()
        _cpus.clear()
        if _state:
            ray().shutdown()
            _state["release"].set()
            _state.clear()


def control() -> Any:
    """The driver's control actor (``vae.training.ray_engine``): the tokens of the trainings asked to stop."""
    return _state["control"]


def dataset(name: str) -> Any:
    """The dataset as one object in Ray's store, put once per process and shared by every run that uses it."""
    refs = _state["data"]
    with _data_lock:  # the runs of a sweep ask at once: one load, one copy in the store
        if name not in refs:
            from vae.data.datasets import load_dataset

            refs[name] = ray().put(load_dataset(name))
        return refs[name]


class Control:
    """An async actor of the driver's that knows which trainings were asked to stop: a task learns it from
    ``stopped``, a call that returns then (and fails when the driver, and with it the actor, is gone)."""

    def __init__(self) -> None:
        self.events: dict[str, asyncio.Event] = {}

    def _event(self, token: str) -> asyncio.Event:
        return self.events.setdefault(token, asyncio.Event())

    async def stop(self, token: str) -> None:
        self._event(token).set()

    async def is_stopped(self, token: str) -> bool:
        return self._event(token).is_set()

    async def stopped(self, token: str) -> bool:
        await self._event(token).wait()
        return True

    async def forget(self, token: str) -> None:
        """The training has ended: answer its ``stopped`` call and let the token go."""
        self._event(token).set()
        self.events.pop(token, None)
