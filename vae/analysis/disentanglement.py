"""Disentanglement metrics on data with known factors, as google-research/disentanglement_lib defines them.

Each metric reads a *code function*: factor indices ``[B, F]`` -> codes ``[B, D]``. For a trained run it renders
the images (``vae.data.shapes.render``) and returns the encoder's means μ; a test passes constructed codes instead.
Factors are drawn uniformly and independently over their whole grid, as ``ground_truth_data.sample_factors`` does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from vae.data import shapes
from vae.data.datasets import to_float
from vae.model.networks import eval_mode

CodeFunction = Callable[[torch.Tensor], np.ndarray]  # factor indices [B, F] int64 -> codes [B, D] float
MIG_POINTS = 10_000
MIG_BINS = 20
FACTOR_VAE_BATCH = 64
FACTOR_VAE_TRAIN = 10_000
FACTOR_VAE_EVAL = 5_000
FACTOR_VAE_VARIANCE_POINTS = 10_000
PRUNE_STD = 0.05
DCI_TRAIN = 10_000
CHUNK = 8192  # images encoded at once


def encoder_means(model: torch.nn.Module, batch_size: int = CHUNK) -> CodeFunction:
    """The code function of a trained VAE: its posterior means μ ``[B, D]`` of the images drawn from the factors."""

    @torch.no_grad()
    def code(factors: torch.Tensor) -> np.ndarray:
        with eval_mode(model):  # the caller's mode comes back afterwards
            parts = [
                model.encode(to_float(shapes.render(factors[i : i + batch_size]))).mu
                for i in range(0, len(factors), batch_size)
            ]
        return torch.cat(parts).numpy().astype(np.float64)

    return code


def discretize(codes: np.ndarray, bins: int = MIG_BINS) -> np.ndarray:
    """Each code column ``[N, D]`` cut into ``bins`` equal-width bins over its own range: ints ``[N, D]``.

    disentanglement_lib's ``histogram_discretize``: ``np.digitize`` on ``np.histogram``'s edges but the last.
    """
    out = np.empty(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram(codes[:, j], bins)[1][:-1]
        out[:, j] = np.digitize(codes[:, j], edges)
    return out


def mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """The discrete mutual information of two label vectors ``[N]``, in nats (as sklearn's ``mutual_info_score``)."""
    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    joint = np.bincount(a * (b.max() + 1) + b, minlength=(a.max() + 1) * (b.max() + 1)).reshape(a.max() + 1, -1)
    p = joint / joint.sum()
    outer = p.sum(axis=1, keepdims=True) * p.sum(axis=0, keepdims=True)
    seen = p > 0
    return float(np.sum(p[seen] * np.log(p[seen] / outer[seen])))


def mi_matrix(codes: np.ndarray, factors: np.ndarray, bins: int = MIG_BINS) -> np.ndarray:
    """I(z_j; v_k) for every latent j and factor k, the latents discretised into ``bins``: ``[D, F]`` nats."""
    binned = discretize(codes, bins)
    return np.array(
        [
            [mutual_information(binned[:, j], factors[:, k]) for k in range(factors.shape[1])]
            for j in range(codes.shape[1])
        ]
    )


@dataclass(frozen=True)
class MIG:
    """Mutual Information Gap (Chen et al. 2018, *Isolating Sources of Disentanglement in VAEs*).

    Per factor v_k: (I(z_a; v_k) − I(z_b; v_k)) / H(v_k), where z_a and z_b are the two latents with the most
    mutual information with v_k; ``score`` is the mean over factors. 1: each factor lives in one latent alone;
    0: its information is split evenly between two latents, or it is in none.
    """

    score: float
    per_factor: tuple[float, ...]  # [F]
    mi: tuple[tuple[float, ...], ...]  # [D][F] nats
    entropy: tuple[float, ...]  # [F] nats


def mig_from_codes(codes: np.ndarray, factors: np.ndarray, bins: int = MIG_BINS) -> MIG:
    """MIG of codes ``[N, D]`` (D ≥ 2) against factor indices ``[N, F]``, as disentanglement_lib's ``mig.py``."""
    mi = mi_matrix(codes, factors, bins)
    entropy = np.array([mutual_information(factors[:, k], factors[:, k]) for k in range(factors.shape[1])])
    top = np.sort(mi, axis=0)[::-1]
    per_factor = np.divide(top[0] - top[1], entropy, out=np.zeros_like(entropy), where=entropy > 0)
    # Plain floats (tolist): they are stored in run files, which hold no numpy scalars.
    return MIG(
        float(per_factor.mean()), tuple(per_factor.tolist()), tuple(map(tuple, mi.tolist())), tuple(entropy.tolist())
    )


def mig(code: CodeFunction, generator: torch.Generator, n: int = MIG_POINTS) -> MIG:
    """MIG over ``n`` points (10,000 in disentanglement_lib) drawn from the factor grid."""
    return mig_and_variance(code, generator, n)[0]


def mig_and_variance(code: CodeFunction, generator: torch.Generator, n: int = MIG_POINTS) -> tuple[MIG, np.ndarray]:
    """MIG, and each latent's variance over the same points ``[D]``: Var[μ_j] > 0.01 marks an active unit."""
    factors = shapes.sample_factors(n, generator)
    codes = code(factors)
    return mig_from_codes(codes, factors.numpy()), codes.var(axis=0)


def _votes(code: CodeFunction, scale: np.ndarray, n_votes: int, generator: torch.Generator, batch: int) -> np.ndarray:
    """FactorVAE votes ``[D, F]``: for each of ``n_votes`` batches with one factor fixed, the latent whose
    variance, over its global scale, is smallest votes for that factor."""
    n_factors = len(shapes.FACTOR_SIZES)
    votes = np.zeros((len(scale), n_factors), dtype=np.int64)
    per_chunk = max(1, CHUNK // batch)
    for start in range(0, n_votes, per_chunk):
        m = min(per_chunk, n_votes - start)
        fixed = torch.randint(0, n_factors, (m,), generator=generator)
        factors = shapes.sample_factors(m * batch, generator).reshape(m, batch, n_factors)
        rows = torch.arange(m)
        factors[rows, :, fixed] = factors[rows, 0, fixed][:, None]  # the fixed factor: the batch's first value
        codes = code(factors.reshape(m * batch, n_factors)).reshape(m, batch, -1)
        local = codes.var(axis=1, ddof=1) / scale  # [m, D]
        np.add.at(votes, (local.argmin(axis=1), fixed.numpy()), 1)
    return votes


@dataclass(frozen=True)
class FactorVAEScore:
    """FactorVAE score (Kim & Mnih 2018, *Disentangling by Factorising*).

    Codes are divided by their global standard deviation; latents with a deviation under 0.05 are pruned. For a
    batch of 64 with one factor fixed, the latent of least variance votes for that factor. A majority-vote
    classifier (latent -> factor) is fit on 10,000 votes; ``score`` is its accuracy on 5,000 held-out votes.
    """

    score: float
    train_accuracy: float
    active: tuple[int, ...]  # the latents kept


def factor_vae_score(
    code: CodeFunction,
    generator: torch.Generator,
    n_train: int = FACTOR_VAE_TRAIN,
    n_eval: int = FACTOR_VAE_EVAL,
    batch: int = FACTOR_VAE_BATCH,
) -> FactorVAEScore:
    """The FactorVAE score as disentanglement_lib's ``factor_vae.py`` computes it."""
    variance = code(shapes.sample_factors(FACTOR_VAE_VARIANCE_POINTS, generator)).var(axis=0, ddof=1)
    active = np.flatnonzero(np.sqrt(variance) >= PRUNE_STD)
    if not len(active):
        return FactorVAEScore(0.0, 0.0, ())

    def kept(factors: torch.Tensor) -> np.ndarray:
        return code(factors)[:, active]

    train = _votes(kept, variance[active], n_train, generator, batch)
    classifier = train.argmax(axis=1)  # each latent's factor
    rows = np.arange(len(active))
    evaluation = _votes(kept, variance[active], n_eval, generator, batch)
    return FactorVAEScore(
        float(evaluation[rows, classifier].sum() / evaluation.sum()),
        float(train[rows, classifier].sum() / train.sum()),
        tuple(int(i) for i in active),
    )


def dci_disentanglement(code: CodeFunction, generator: torch.Generator, n_train: int = DCI_TRAIN) -> float:
    """DCI disentanglement (Eastwood & Williams 2018, *A Framework for the Quantitative Evaluation of Disentangled
    Representations*), as disentanglement_lib's ``dci.py``: a gradient-boosted classifier per factor gives each
    latent's importance R ``[D, F]``; each latent scores 1 − H_F(its row of R, normalised), weighted by its share
    of all importance. 1: every latent that matters predicts one factor. (The trees' test accuracy, DCI's
    *informativeness*, is not part of this score and is not computed.)"""
    from sklearn.ensemble import GradientBoostingClassifier  # slow to import; only this metric needs it

    factors = shapes.sample_factors(n_train, generator)
    codes = code(factors)
    importance = np.zeros((codes.shape[1], factors.shape[1]))
    for k in range(factors.shape[1]):
        model = GradientBoostingClassifier(random_state=0).fit(codes, factors[:, k].numpy())
        importance[:, k] = np.abs(model.feature_importances_)
    return dci_from_importance(importance)


def dci_from_importance(importance: np.ndarray) -> float:
    """DCI disentanglement of an importance matrix ``[D, F]``."""
    share = importance / np.maximum(importance.sum(axis=1, keepdims=True), 1e-11)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(share > 0, np.log(share) / math.log(importance.shape[1]), 0.0)
    per_code = 1 - (-(share * logs).sum(axis=1))
    if importance.sum() == 0:
        return 0.0
    weight = importance.sum(axis=1) / importance.sum()
    return float((per_code * weight).sum())


def evaluate_run(model: torch.nn.Module, seed: int = 0, dci: bool = False) -> dict[str, object]:
    """Every metric of a trained ``shapes`` model, with the seconds each took: ``final["disentanglement"]``."""
    code = encoder_means(model)
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    gap, variance = mig_and_variance(code, torch.Generator().manual_seed(seed))
    seconds["mig"] = time.perf_counter() - began
    began = time.perf_counter()
    factor_vae = factor_vae_score(code, torch.Generator().manual_seed(seed + 1))
    seconds["factor_vae"] = time.perf_counter() - began
    result: dict[str, object] = {
        "seed": seed,
        "mig": gap.score,
        "mig_per_factor": list(gap.per_factor),
        "mi": [list(row) for row in gap.mi],
        "entropy": list(gap.entropy),
        "mu_variance": variance.tolist(),
        "factor_vae": factor_vae.score,
        "factor_vae_train": factor_vae.train_accuracy,
        "factor_vae_active": len(factor_vae.active),
    }
    if dci:
        began = time.perf_counter()
        result["dci"] = dci_disentanglement(code, torch.Generator().manual_seed(seed + 2))
        seconds["dci"] = time.perf_counter() - began
    return {**result, "seconds": seconds}
