"""VAEs trained elsewhere: plain ``state_dict`` files of two well-known models, mapped onto VAE Lab's.

- ``pytorch/examples`` ``vae/main.py``: ``fc1`` (784->400), ``fc21`` (mu), ``fc22`` (log sigma^2),
  ``fc3`` and ``fc4``; the decoder ends in a sigmoid. ``MLPVAE`` keeps logits, which are ``fc4``'s
  outputs, so the weights carry over unchanged.
- The conv VAE printed in the design notes (../shared/seeds): ``Encoder.0``/``.2``, ``FC_mu``,
  ``FC_logvar``, ``Decoder.0``/``.3``/``.5``/``.7``, ending in a sigmoid; its loss is MSE.

Both keep mu and log sigma^2 in two layers; VAE Lab emits them from one (``to_posterior``), so
those two are stacked, mu first. Files are read with ``weights_only=True`` only.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from vae.model.config import VAEConfig, bounds
from vae.model.networks import IMAGE_SHAPE, build_model
from vae.runfile import save_run
from vae.runfile.names import NEXT_FREE, Placement, release_run_name
from vae.runfile.schema import final_summary
from vae.training.loop import evaluate
from vae.training.record import StepHistory
from vae.vocabulary import CheckpointError, RunStatus

N_PIXELS = IMAGE_SHAPE[1] * IMAGE_SHAPE[2]


@dataclass(frozen=True)
class Layout:
    """A foreign model's keys: ``ours`` -> the foreign layers it comes from (stacked along dim 0)."""

    description: str
    arch: str
    likelihood: str  # the likelihood its own loss uses
    keys: dict[str, tuple[str, ...]]
    latent_from: str  # the foreign weight whose first dimension is d


LAYOUTS = (
    Layout(
        "the pytorch/examples VAE (vae/main.py)",
        "mlp",
        "bce",
        {"encoder.1": ("fc1",), "to_posterior": ("fc21", "fc22"), "decoder.0": ("fc3",), "decoder.2": ("fc4",)},
        "fc21.weight",
    ),
    Layout(
        "the conv VAE of the design notes",
        "conv",
        "mse",
        {
            "encoder.0": ("Encoder.0",),
            "encoder.2": ("Encoder.2",),
            "to_posterior": ("FC_mu", "FC_logvar"),
            "decoder.0": ("Decoder.0",),
            "decoder.3": ("Decoder.3",),
            "decoder.5": ("Decoder.5",),
            "decoder.7": ("Decoder.7",),
        },
        "FC_mu.weight",
    ),
)


@dataclass(frozen=True)
class ForeignModel:
    """A recognised foreign file, already in VAE Lab's keys."""

    layout: Layout
    latent_dim: int
    state_dict: dict[str, torch.Tensor]

    def config(self, dataset: str, likelihood: str | None = None) -> VAEConfig:
        """The run's config; ``likelihood`` is the loss that trained it, when not the model's usual one."""
        return VAEConfig(
            dataset=dataset,
            arch=self.layout.arch,
            latent_dim=self.latent_dim,
            likelihood=likelihood or self.layout.likelihood,
            epochs=1,
        )


def read_state_dict(data: bytes) -> dict[str, torch.Tensor] | None:
    """A plain ``{name: tensor}`` file, or None for anything else (a VAE Lab run, garbage)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - unreadable files get the checkpoint loader's own message
        return None
    if isinstance(state, dict) and state and all(isinstance(v, torch.Tensor) for v in state.values()):
        return {str(k): v for k, v in state.items()}
    return None


def recognise(
    state: dict[str, torch.Tensor], label: str = "the file", latent_dim: int | None = None
) -> ForeignModel | None:
    """Map a foreign ``state_dict`` onto VAE Lab's keys, or None when its keys are no known model's.

    Keys that match but shapes that do not raise ``CheckpointError`` naming the tensor.
    """
    names = {k.rsplit(".", 1)[0] for k in state}
    for layout in LAYOUTS:
        wanted = {name for parts in layout.keys.values() for name in parts}
        if names != wanted:
            continue
        _check_keys(state, layout, label)
        d = int(state[layout.latent_from].shape[0]) if state[layout.latent_from].ndim == 2 else 0
        low, high = bounds("latent_dim")
        if not low <= d <= high:
            raise CheckpointError(f"{label} is {layout.description} with d = {d}; VAE Lab takes {low} to {high}")
        if latent_dim is not None and d != latent_dim:
            raise CheckpointError(f"{label} is {layout.description} with d = {d}, not the --latent-dim {latent_dim}")
        ours = _mapped(state, layout, d, label)
        if not all(torch.isfinite(v).all() for v in ours.values()):
            raise CheckpointError(f"{label} holds non-finite weights")
        return ForeignModel(layout, d, ours)
    return None


def _mapped(state: dict[str, torch.Tensor], layout: Layout, d: int, label: str) -> dict[str, torch.Tensor]:
    """``state`` in VAE Lab's keys, as float32, each foreign tensor checked against the shape it must have."""
    expected = build_model(VAEConfig(arch=layout.arch, latent_dim=max(d, 2))).state_dict()
    ours: dict[str, torch.Tensor] = {}
    for target, sources in layout.keys.items():
        for suffix in ("weight", "bias"):
            want = expected[f"{target}.{suffix}"].shape
            want = (want[0] // len(sources), *want[1:])  # the foreign layers are stacked along dim 0
            parts = [state[f"{source}.{suffix}"] for source in sources]
            for source, part in zip(sources, parts, strict=True):
                if tuple(part.shape) != tuple(want):
                    raise CheckpointError(
                        f"{label} looks like {layout.description}, but {source}.{suffix} "
                        f"has shape {tuple(part.shape)}, not {tuple(want)}"
                    )
            ours[f"{target}.{suffix}"] = torch.cat(parts).float() if len(parts) > 1 else parts[0].float()
    return ours


def _check_keys(state: dict[str, torch.Tensor], layout: Layout, label: str) -> None:
    """Every tensor the mapping reads is there, and nothing else: checked before any is read."""
    needed = {f"{name}.{suffix}" for parts in layout.keys.values() for name in parts for suffix in ("weight", "bias")}
    missing, extra = sorted(needed - set(state)), sorted(set(state) - needed)
    if missing or extra:
        what = f"{missing[0]} is missing" if missing else f"it has an unexpected {extra[0]}"
        raise CheckpointError(f"{label} looks like {layout.description}, but {what}")
    for key in sorted(needed):
        if state[key].is_complex() or not state[key].is_floating_point():
            raise CheckpointError(f"{label} looks like {layout.description}, but {key} holds {state[key].dtype}")


def import_foreign(
    directory: Path,
    foreign: ForeignModel,
    wanted_name: str,
    dataset: str,
    placement: Placement = NEXT_FREE,
    *,
    source: str = "",
    likelihood: str | None = None,
) -> Path:
    """Evaluate ``foreign`` on ``dataset``'s test split and save it as a run with no training history, under
    ``placement``'s name rule and owner. ``likelihood`` is the loss its own code trained it with, so that the
    stored −ELBO is that code's.
    """
    from vae.data.datasets import load_dataset

    config = foreign.config(dataset, likelihood)
    data = load_dataset(dataset)
    if data.name != dataset:
        raise CheckpointError(f"{dataset} is not available here ({data.notice}); an import is measured on it")
    model = build_model(config)
    model.load_state_dict(foreign.state_dict)
    test = evaluate(model, data.test_x, beta=config.kl_weight, likelihood=config.likelihood)
    history = {
        "epochs": [],
        "steps": StepHistory().to_dict(),
        "imported": {"from": foreign.layout.description, "file": source[-200:]},
    }
    final = final_summary(
        test, data.name, len(data.test_x), 0, RunStatus.IMPORTED, f"imported from {foreign.layout.description}"
    )
    name = placement.reserve(directory, wanted_name)
    try:
        return save_run(directory, name, model, config, history, final, owner=placement.owner, origin=placement.origin)
    finally:
        release_run_name(directory, name)
