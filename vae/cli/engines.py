"""The engine of a command (``--engine``, ``--address``): checked with the other flags, begun once the command line
is known to be good, and connected (and left) around the training."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from vae.cli.common import Failed, UsageError
from vae.training.engine import RAY, Engine, engine_from_env
from vae.vocabulary import EngineError


def engine_for(args: object) -> Engine:
    """The engine that ``--engine`` and ``--address`` name (their defaults: ``VAE_ENGINE``, ``VAE_RAY_ADDRESS``),
    refused at once when they do not fit."""
    kind, address = getattr(args, "engine", None), getattr(args, "address", None)
    if address and kind not in (RAY, None):
        raise UsageError("--address is the Ray cluster to join; it needs --engine ray")
    try:
        engine = engine_from_env(kind, address)
    except EngineError as exc:
        raise UsageError(str(exc)) from None
    return engine


def begin_connecting(engine: Engine) -> None:
    """Once the command line is known to be good: a Ray engine begins connecting in the background (a local
    instance takes about 2 s to start) while the command imports torch and reads its data; ``on_engine`` then
    waits for it."""
    if engine.is_ray:
        from vae.training.ray_cluster import connect_soon

        connect_soon(engine)


@contextmanager
def on_engine(engine: Engine) -> Iterator[Engine]:
    """For the block: ``engine``, connected when it is Ray (one line, exit 1, when that fails), and left at the
    end rather than at exit, where Ray's own hook first sleeps 0.5 s to let its logs print."""
    if not engine.is_ray:
        yield engine
        return
    from vae.training.ray_cluster import connect, shutdown

    try:
        connect(engine)
    except EngineError as exc:
        raise Failed(str(exc)) from None
    try:
        yield engine
    finally:
        shutdown()
