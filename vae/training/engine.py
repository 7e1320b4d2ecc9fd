"""Where trainings run: ``local`` (a process per training on this machine, the default, no Ray needed) or ``ray``
(a task per training on a local Ray instance or a cluster). Shared by the CLI (``--engine``, ``--address``) and the
app (``VAE_ENGINE``, ``VAE_RAY_ADDRESS``). Light on purpose: neither torch nor Ray is imported here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from vae.vocabulary import EngineError

LOCAL = "local"
RAY = "ray"
ENGINES = (LOCAL, RAY)
ENGINE_SETTING = "VAE_ENGINE"
ADDRESS_SETTING = "VAE_RAY_ADDRESS"
# The README's settings table: name -> (default shown, what it sets).
ENGINE_SETTINGS = {
    ENGINE_SETTING: (LOCAL, "where the app's trainings run: `local` (processes on this server) or `ray`"),
    ADDRESS_SETTING: (
        "unset",
        "with `ray`: the cluster to join (`HOST:PORT`, `ray://HOST:PORT` or `auto`); unset starts a local Ray instance",
    ),
}


@dataclass(frozen=True)
class Engine:
    """An engine and, for Ray, the cluster's address ("" starts a local instance)."""

    kind: str = LOCAL
    address: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ENGINES:
            raise EngineError(f"the engine must be {' or '.join(ENGINES)}; got {self.kind!r}")
        if self.address and self.kind != RAY:
            raise EngineError("a Ray address needs the ray engine (--engine ray, or VAE_ENGINE=ray)")
        if self.address and self.address != "auto" and not all(self.host_port()):
            raise EngineError(f"the Ray address {self.address!r} is not HOST:PORT, ray://HOST:PORT or auto")

    def host_port(self) -> tuple[str, int]:
        """The cluster's host and port from the address ("", 0 when it names none)."""
        host, _, port = self.address.removeprefix("ray://").rpartition(":")
        return host.strip("[]"), int(port) if port.isdigit() else 0

    @property
    def is_ray(self) -> bool:
        return self.kind == RAY

    def describe(self) -> str:
        """For a person: "this machine", "a local Ray instance" or "the Ray cluster at ADDR"."""
        if not self.is_ray:
            return "this machine"
        return f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"


def engine_from_env(kind: str | None = None, address: str | None = None) -> Engine:
    """The engine named by ``kind`` and ``address`` (a command line's), each taken from ``VAE_ENGINE`` and
    ``VAE_RAY_ADDRESS`` when not given: the app's engine when neither is. ``EngineError`` for a bad value."""
    settings = []  # the settings that the values came from, to name them when they are wrong
    if not kind:
        kind = os.environ.get(ENGINE_SETTING, "").strip().lower() or LOCAL
        settings.append(ENGINE_SETTING)
    if address is None and kind == RAY:
        address = os.environ.get(ADDRESS_SETTING, "").strip()
        settings.append(ADDRESS_SETTING)
    try:
        return Engine(kind, address or "")
    except EngineError as exc:
        raise EngineError(f"{exc} (from {' and '.join(settings)})" if settings else str(exc)) from None
