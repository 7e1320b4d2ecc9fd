"""Reading a run file: unpickled with ``weights_only=True`` only, then validated whole.

Nothing in a payload is used before ``validated`` has checked it: the config (``vae.model.config``), ``final``
and ``history`` (``vae.runfile.schema``), and every weight against the config's model (names, shapes, finite).
torch is imported where a file is unpickled or its weights checked, not with the module: the run list reads
summaries (``validated_header``) on the app's first screen, before torch is loaded.
"""

from __future__ import annotations

import functools
import re
import warnings
from pathlib import Path
from typing import Any, BinaryIO

from vae.data.facts import dataset_facts
from vae.model.config import VAEConfig, from_dict
from vae.runfile.names import MAX_NAME_LENGTH
from vae.runfile.owners import OWNER_HASH_LENGTH
from vae.runfile.schema import DISENTANGLEMENT, check_final, check_history, text
from vae.vocabulary import CheckpointError, ConfigError, SchemaError

FORMAT = "vae-lab-run"
FORMAT_VERSION = 1
MAX_CHECKPOINT_BYTES = 50 * 1024 * 1024
UPLOAD = "upload"  # ``origin`` of a run that a browser uploaded: counted against the upload limits
ORIGINS = (UPLOAD,)


def size_error(label: str, size: int) -> str:
    """The refusal of a file over ``MAX_CHECKPOINT_BYTES``: the one wording for every door a file comes in by."""
    return f"{label} is {size / 2**20:.1f} MB, over the {MAX_CHECKPOINT_BYTES // 2**20} MB limit for a checkpoint"


def check_size(label: str, size: int) -> None:
    """Refuse a file over ``MAX_CHECKPOINT_BYTES`` (``CheckpointError``) before it is read or parsed."""
    if size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(size_error(label, size))


def read_bytes(path: Path) -> bytes:
    """A run file's bytes, its size checked before it is read; ``CheckpointError`` names the file."""
    try:
        check_size(path.name, path.stat().st_size)
        return path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{path.name}: cannot read it ({exc.strerror or exc})") from None


def read_payload(source: Path | BinaryIO, size: int, label: str) -> dict[str, Any]:
    if size == 0:
        raise CheckpointError(f"{label} is empty")
    check_size(label, size)
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols of files we refuse anyway
            payload = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - the unpickler raises many types; all mean "unsafe or corrupt"
        # torch's own message suggests weights_only=False, which is exactly what must never happen here.
        unsafe = re.search(r"(?:unsupported|Unsupported global:) GLOBAL ([\w.]+)", str(exc))
        if unsafe:
            reason = f"it holds a Python object ({unsafe.group(1)}) that is unsafe to load, so it was refused"
        else:
            reason = "the file is corrupt, truncated or not a torch checkpoint"
        raise CheckpointError(f"{label} is not a readable VAE Lab checkpoint: {reason}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{label} is a torch file, but not a VAE Lab run (no '{FORMAT}' marker)")
    version = payload.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise CheckpointError(f"{label} has format version {version!r}; this VAE Lab reads up to {FORMAT_VERSION}")
    return payload


def owner_of_oversize(path: Path) -> str:
    """The owner hash of a run file too large to open as a run (one from before the writer held itself to the
    limit), so that its owner can still delete it; "" when it cannot be told. Memory-mapped: its tensors are never
    read, and ``weights_only`` keeps it from running code."""
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - as read_payload: any failure means "cannot be told"
        return ""
    return owner_of(payload) if isinstance(payload, dict) and payload.get("format") == FORMAT else ""


def owner_of(payload: dict[str, Any]) -> str:
    """The stored owner hash, or "" for none (or for anything that is not a hash)."""
    owner = payload.get("owner", "")
    valid = isinstance(owner, str) and len(owner) == OWNER_HASH_LENGTH and re.fullmatch("[0-9a-f]+", owner)
    return owner if valid else ""


@functools.lru_cache(maxsize=64)
def _expected_shapes(config: VAEConfig) -> dict[str, tuple[int, ...]]:
    """The tensor shapes of ``config``'s model, from a model on the meta device (no memory, no init cost)."""
    import torch

    from vae.model.networks import build_model

    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in build_model(config).state_dict().items()}


def check_fits_run(final: dict[str, Any], latent_dim: int) -> None:
    """``final`` (checked by ``check_final``) against the run it describes, a run of ``latent_dim`` latents on
    ``final["dataset"]``: its active units at most its latents, and a disentanglement record with exactly the
    dataset's factors and one MI row (and Var[μ]) per latent, so that a page can index both by what it holds."""
    if "active_units" in final and final["active_units"] > latent_dim:
        raise SchemaError("final.active_units", f"is {final['active_units']}, over the run's {latent_dim} latents")
    record = final.get(DISENTANGLEMENT)
    if record is None:
        return
    where, facts = f"final.{DISENTANGLEMENT}", dataset_facts(final["dataset"])
    if not facts.factors:
        raise SchemaError(where, f"{facts.name} has no known factors to score latents against")
    # Checked against each other by _disentanglement: MIG per factor and every MI row have as many as the entropy.
    if len(record["entropy"]) != len(facts.factors):
        raise SchemaError(
            f"{where}.entropy",
            f"has {len(record['entropy'])} values, but {facts.name} has {len(facts.factors)} factors "
            f"({', '.join(facts.factor_names)})",
        )
    if len(record["mi"]) != latent_dim:
        raise SchemaError(f"{where}.mi", f"has {len(record['mi'])} rows, but the run has {latent_dim} latents")


def validated_header(payload: dict[str, Any], label: str) -> tuple[VAEConfig, dict[str, Any]]:
    """The config and ``final`` of a payload or a run's summary, with its name, creation time, owner and origin,
    each checked; else ``CheckpointError`` naming the field. Needs no torch."""
    try:
        config = from_dict(payload.get("config"))
    except ConfigError as exc:
        raise CheckpointError(f"{label} has an invalid config: {exc}") from None
    try:
        text(payload.get("name"), "name", max_length=MAX_NAME_LENGTH)
        text(payload.get("created"), "created", max_length=40)
        if "owner" in payload and not owner_of(payload):
            raise SchemaError("owner", "is not an owner hash")
        if "origin" in payload:
            text(payload["origin"], "origin", choices=ORIGINS)
        final = check_final(payload.get("final"))
        if final["dataset"] != config.dataset:
            raise SchemaError("final.dataset", f"is {final['dataset']}, its config says {config.dataset}")
        check_fits_run(final, config.latent_dim)
    except SchemaError as exc:
        raise CheckpointError(f"{label} is not a valid run: {exc}") from None
    return config, final


def validated(payload: dict[str, Any], label: str) -> tuple[VAEConfig, dict[str, Any], dict[str, Any]]:
    """The payload's config, ``final`` and ``history``, each checked whole, and its weights checked against the
    config (names, shapes, finite values) before any is used; else ``CheckpointError`` naming the field."""
    import torch

    config, final = validated_header(payload, label)
    try:
        history = check_history(payload.get("history"), final)
    except SchemaError as exc:
        raise CheckpointError(f"{label} is not a valid run: {exc}") from None
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{label} holds no weights")
    expected = _expected_shapes(config)
    for key, shape in expected.items():
        if key not in state or tuple(state[key].shape) != shape or not state[key].is_floating_point():
            found = f"shape {tuple(state[key].shape)}" if key in state else "no such tensor"
            raise CheckpointError(
                f"{label}: the weights do not match its config ({config.label}): {key} should have "
                f"shape {shape}, found {found}"
            )
    extra = sorted(set(state) - set(expected))
    if extra:
        raise CheckpointError(f"{label}: the weights do not match its config ({config.label}): unexpected {extra[0]}")
    if not all(torch.isfinite(v).all() for v in state.values()):
        raise CheckpointError(f"{label} holds non-finite weights")
    return config, final, history
