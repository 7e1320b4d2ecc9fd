"""The disentanglement study on ``shapes``: its grid, and its score table read back and checked.

Locatello et al. 2019 (disentanglement_lib's study) trained each objective of the β-VAE family over a range of its
one hyperparameter and many seeds, and found that the seed matters as much as the objective. This study is that,
in small: each objective (``vae.model.objectives``) at two values of its strength × 3 seeds, trained by
``scripts/study.py``, which writes one row per finished run into ``checkpoints/study/scores.json``.

| objective | strength | values |
|---|---|---|
| beta-vae | β | 4, 8 |
| beta-tcvae | β | 6, 10 |
| factor-vae | γ | 20, 40 |
| dip-vae-i | λ_od (λ_d = 10 λ_od) | 5, 20 |
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from vae.model.config import OBJECTIVES, STRENGTH, VAEConfig
from vae.vocabulary import StudyError

STUDY_FOLDER = "study"  # beside the runs, in the checkpoint folder
SCORES_FILE = "scores.json"
# 155,520 steps of 64, half disentanglement_lib's 300k. One quiet thread trains an epoch in 7-14 s here (DIP-VAE-I
# to FactorVAE and its critic; bench/disentanglement_speed.py --study): 24 runs, about 2.5 hours of 2 quiet cores.
EPOCHS = 60
SEEDS = (0, 1, 2)
GRID = {"beta-vae": (4.0, 8.0), "beta-tcvae": (6.0, 10.0), "factor-vae": (20.0, 40.0), "dip-vae-i": (5.0, 20.0)}
BASE = VAEConfig(
    dataset="shapes",
    arch="mlp",
    hidden=(128, 128),
    latent_dim=10,
    batch_size=64,
    epochs=EPOCHS,
    lr=1e-3,
    lr_schedule="cosine",
    precision="fp32",
    device="cpu",
)


@dataclass(frozen=True)
class StudyRow:
    """One finished run of the study: its objective, strength and seed, and what it scored."""

    name: str
    objective: str
    value: float
    seed: int
    epochs: int
    mig: float
    factor_vae: float
    recon: float
    kl: float
    active_latents: int
    dci: float | None = None


def study_runs() -> dict[str, VAEConfig]:
    """Every run of the study by name, seed-major, so that a study cut short has each objective's first seeds."""
    return {
        f"{objective}-{value:g}-s{seed}": BASE.replace(objective=objective, seed=seed, **{STRENGTH[objective]: value})
        for seed in SEEDS
        for objective, values in GRID.items()
        for value in values
    }


def _row(name: str, raw: object) -> StudyRow:
    if not isinstance(raw, dict):
        raise StudyError(f"{name}: expected a mapping")
    try:
        row = StudyRow(
            name=name,
            objective=raw["objective"],
            value=float(raw["value"]),
            seed=int(raw["seed"]),
            epochs=int(raw["epochs"]),
            mig=float(raw["mig"]),
            factor_vae=float(raw["factor_vae"]),
            recon=float(raw["recon"]),
            kl=float(raw["kl"]),
            active_latents=int(raw["active_latents"]),
            dci=float(raw["dci"]) if raw.get("dci") is not None else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StudyError(f"{name}: {type(exc).__name__}: {exc}") from None
    if row.objective not in OBJECTIVES:
        raise StudyError(f"{name}: objective {row.objective!r} is not one of {', '.join(OBJECTIVES)}")
    scores = (row.mig, row.factor_vae, *(() if row.dci is None else (row.dci,)))
    if not all(0 <= s <= 1 for s in scores) or not all(math.isfinite(v) for v in (row.value, row.recon, row.kl)):
        raise StudyError(f"{name}: scores must lie in [0, 1] and figures be finite")
    return row


def read_scores(directory: Path) -> list[StudyRow]:
    """The rows of ``directory/scores.json`` ([] when there is none); ``StudyError`` when it cannot be read."""
    path = Path(directory) / SCORES_FILE
    if not path.exists():
        return []
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StudyError(f"{path.name} cannot be read: {exc}") from None
    if not isinstance(raw, dict):
        raise StudyError(f"{path.name}: expected a mapping of run names to score rows")
    return [_row(str(name), row) for name, row in raw.items()]


def medians(rows: list[StudyRow]) -> dict[tuple[str, float], dict[str, float]]:
    """Per (objective, strength): the median MIG, FactorVAE score and reconstruction over its seeds, and their
    count."""
    groups: dict[tuple[str, float], list[StudyRow]] = {}
    for row in rows:
        groups.setdefault((row.objective, row.value), []).append(row)
    return {
        key: {
            "mig": statistics.median(r.mig for r in group),
            "factor_vae": statistics.median(r.factor_vae for r in group),
            "recon": statistics.median(r.recon for r in group),
            "seeds": len(group),
        }
        for key, group in groups.items()
    }
