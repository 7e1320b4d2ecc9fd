"""What a run file's ``final`` and ``history`` hold: one schema, used by every writer and every reader.

A run file is data from anywhere (an upload, a copy from another machine, an older VAE Lab), so it is
validated whole before any page, the CLI or a training reads it: the field names, their types,
finite numbers, lengths and shapes. ``final_summary`` is how a writer builds ``final``; it checks
what it builds against the same rules. A file that fails is not a run: listing shows it as
unreadable, with the reason that ``SchemaError`` gives (the path of the field, then what is wrong).
"""

from __future__ import annotations

import math
from typing import Any

from vae.data.facts import IMAGE_SIZE
from vae.model.config import DATASETS, MAX_EPOCHS
from vae.vocabulary import FILE_STATUSES, SchemaError

STEP_COLUMNS = ("epoch", "step", "recon", "kl", "loss", "beta", "capacity", "regularizer")
# Files written before the β-VAE family (vae.model.objectives) have no regularizer column; read as 0 there.
LEGACY_STEP_COLUMNS = STEP_COLUMNS[:-1]
METRIC_KEYS = ("recon", "kl", "loss")
MAX_STEP_ROWS = 50_000  # ~1.4 MB in a checkpoint; a classic 10-epoch run has 4,690 steps
# A continued run keeps its earlier rows at their own stride, so a file may hold a few times the cap.
MAX_STORED_STEP_ROWS = 4 * MAX_STEP_ROWS
MAX_TEXT = 1000
MAX_TEST_IMAGES = 1_000_000


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, (str, int, float, bool, type(None))) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def number(value: Any, where: str, low: float = -math.inf, high: float = math.inf) -> float:
    """A finite real number in [low, high] (a bool is not one)."""
    # By exact type: a numpy scalar is a float subclass that would not load back with weights_only.
    if type(value) not in (int, float) or not math.isfinite(value):
        raise SchemaError(where, f"expected a finite number, got {_shown(value)}")
    if not low <= value <= high:
        raise SchemaError(where, f"must be in [{low:g}, {high:g}]; got {value:g}")
    return float(value)


def integer(value: Any, where: str, low: int = 0, high: int = 2**31 - 1) -> int:
    if type(value) is not int:  # not a bool, nor a numpy integer (see ``number``)
        raise SchemaError(where, f"expected a whole number, got {_shown(value)}")
    if not low <= value <= high:
        raise SchemaError(where, f"must be in [{low}, {high}]; got {value}")
    return value


def text(value: Any, where: str, *, choices: tuple[str, ...] = (), max_length: int = MAX_TEXT) -> str:
    if type(value) is not str:  # a str subclass (an enum member) would not load back with weights_only
        raise SchemaError(where, f"expected text, got {_shown(value)}")
    if len(value) > max_length:
        raise SchemaError(where, f"is {len(value):,} characters, over {max_length:,}")
    if choices and value not in choices:
        raise SchemaError(where, f"must be one of {', '.join(choices)}; got {_shown(value)}")
    return value


def mapping(value: Any, where: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """A dict with every ``required`` key, and no key beyond those and ``optional``."""
    if not isinstance(value, dict):
        raise SchemaError(where, f"expected a mapping, got {_shown(value)}")
    missing = [k for k in required if k not in value]
    if missing:
        raise SchemaError(f"{where}.{missing[0]}", "is missing")
    extra = sorted(str(k) for k in value if k not in required and k not in optional)
    if extra:
        raise SchemaError(f"{where}.{extra[0]}", "is not a field of a run file")
    return value


def tensor(value: Any, where: str, *, ndim: int, floating: bool, max_rows: int, width: tuple[int, ...] = ()) -> Any:
    """A tensor of ``ndim`` dims, at most ``max_rows`` along the first, ``width`` for the rest, all finite."""
    import torch  # here, not with the module: a run's summary (config, final) is checked before torch is loaded

    if not isinstance(value, torch.Tensor):
        raise SchemaError(where, f"expected a tensor, got {_shown(value)}")
    if value.ndim != ndim or (width and tuple(value.shape[1:]) != width) or len(value) > max_rows:
        raise SchemaError(where, f"has shape {tuple(value.shape)}, which does not fit")
    if value.is_floating_point() != floating or value.is_complex():
        raise SchemaError(where, f"has dtype {value.dtype}, expected {'floats' if floating else 'integers'}")
    if floating and value.numel() and not torch.isfinite(value).all():
        raise SchemaError(where, "holds non-finite numbers")
    return value


def metrics(value: Any, where: str) -> dict[str, float]:
    """Per-image ``recon``, ``kl`` and ``loss`` in nats."""
    mapping(value, where, METRIC_KEYS)
    return {k: number(value[k], f"{where}.{k}", 0) for k in METRIC_KEYS}  # nats: none is below 0


def _position(value: Any, where: str) -> None:
    mapping(value, where, ("epoch", "step"))
    integer(value["epoch"], f"{where}.epoch", 1, MAX_EPOCHS)
    integer(value["step"], f"{where}.step", 1)


def _reference(value: Any, where: str) -> None:
    mapping(value, where, ("source", "iw_k", "nll", "active_units", "epochs"))
    text(value["source"], f"{where}.source")
    integer(value["iw_k"], f"{where}.iw_k", 1)
    number(value["nll"], f"{where}.nll", 0)
    integer(value["active_units"], f"{where}.active_units")
    integer(value["epochs"], f"{where}.epochs", 1)


def _iw(value: Any, where: str) -> None:
    mapping(value, where, ("k", "n", "seed", "nll", "seconds"))
    integer(value["k"], f"{where}.k", 1)
    integer(value["n"], f"{where}.n", 1, MAX_TEST_IMAGES)
    integer(value["seed"], f"{where}.seed")
    number(value["nll"], f"{where}.nll", 0)
    number(value["seconds"], f"{where}.seconds", 0)


def numbers(value: Any, where: str, low: float = 0.0, high: float = math.inf, max_length: int = 64) -> list[float]:
    """A list of at most ``max_length`` finite numbers in [low, high]."""
    if not isinstance(value, list) or len(value) > max_length:
        raise SchemaError(where, f"expected a list of at most {max_length} numbers, got {_shown(value)}")
    return [number(v, f"{where}[{i}]", low, high) for i, v in enumerate(value)]


DISENTANGLEMENT = "disentanglement"  # final's field for vae.analysis.disentanglement.evaluate_run's scores
DISENTANGLEMENT_KEYS = (
    "seed",
    "mig",
    "mig_per_factor",
    "mi",
    "entropy",
    "factor_vae",
    "factor_vae_train",
    "factor_vae_active",
    "seconds",
)


def _disentanglement(value: Any, where: str) -> None:
    """``vae.analysis.disentanglement.evaluate_run``'s result: scores in [0, 1], MI ``[D][F]`` and entropies in nats."""
    mapping(value, where, DISENTANGLEMENT_KEYS, ("dci", "mu_variance"))
    integer(value["seed"], f"{where}.seed")
    for key in ("mig", "factor_vae", "factor_vae_train", "dci"):
        if key in value:
            number(value[key], f"{where}.{key}", 0, 1)
    n_factors = len(numbers(value["entropy"], f"{where}.entropy"))
    if len(numbers(value["mig_per_factor"], f"{where}.mig_per_factor", -1, 1)) != n_factors:
        raise SchemaError(f"{where}.mig_per_factor", f"should have {n_factors} values, one per factor")
    rows = value["mi"]
    if not isinstance(rows, list) or not 1 <= len(rows) <= 64:
        raise SchemaError(f"{where}.mi", f"expected a list of 1 to 64 latents' rows, got {_shown(rows)}")
    for j, row in enumerate(rows):
        if len(numbers(row, f"{where}.mi[{j}]")) != n_factors:
            raise SchemaError(f"{where}.mi[{j}]", f"should have {n_factors} values, one per factor")
    integer(value["factor_vae_active"], f"{where}.factor_vae_active", 0, len(rows))
    if "mu_variance" in value and len(numbers(value["mu_variance"], f"{where}.mu_variance")) != len(rows):
        raise SchemaError(f"{where}.mu_variance", f"should have {len(rows)} values, one per latent")
    seconds = mapping(value["seconds"], f"{where}.seconds", ("mig", "factor_vae"), ("dci",))
    for key, v in seconds.items():
        number(v, f"{where}.seconds.{key}", 0)


FINAL_REQUIRED = ("test", "dataset", "n_test", "epochs", "status", "message")
FINAL_OPTIONAL = ("trainer", "position", "reference", "iw", "active_units", DISENTANGLEMENT)


def check_final(final: Any) -> dict[str, Any]:
    """``final``: the run's last test metrics and how it stands. Returns it unchanged, or raises ``SchemaError``."""
    mapping(final, "final", FINAL_REQUIRED, FINAL_OPTIONAL)
    metrics(final["test"], "final.test")
    text(final["dataset"], "final.dataset", choices=DATASETS)
    integer(final["n_test"], "final.n_test", 0, MAX_TEST_IMAGES)
    integer(final["epochs"], "final.epochs", 0, MAX_EPOCHS)
    text(final["status"], "final.status", choices=tuple(FILE_STATUSES))
    text(final["message"], "final.message")
    checks = {
        "trainer": lambda v, w: text(v, w, max_length=200),
        "position": _position,
        "reference": _reference,
        "iw": _iw,
        "active_units": lambda v, w: integer(v, w, 0, 4096),
        DISENTANGLEMENT: _disentanglement,
    }
    for key, check in checks.items():
        if key in final:
            check(final[key], f"final.{key}")
    return final


def final_summary(
    test: dict[str, float], dataset: str, n_test: int, epochs: int, status: str, message: str, **extra: Any
) -> dict[str, Any]:
    """``final`` as every writer builds it (training, import, ``build_pretrained``), checked on the way out."""
    final = {
        "test": {k: float(test[k]) for k in METRIC_KEYS},
        "dataset": dataset,
        "n_test": int(n_test),
        "epochs": int(epochs),
        "status": str(status),
        "message": message,
        **extra,
    }
    return check_final(final)


EPOCH_KEYS = ("epoch", "train", "test", "beta", "lr", "train_seconds", "seconds", "capacity")


def _epochs(value: Any, final: dict[str, Any]) -> None:
    if not isinstance(value, list) or len(value) > MAX_EPOCHS:
        raise SchemaError("history.epochs", f"expected a list of at most {MAX_EPOCHS} epochs, got {_shown(value)}")
    if len(value) != final["epochs"]:
        raise SchemaError("history.epochs", f"has {len(value)} epochs, but final.epochs says {final['epochs']}")
    for i, epoch in enumerate(value):
        where = f"history.epochs[{i}]"
        mapping(epoch, where, EPOCH_KEYS, ("regularizer",))
        if integer(epoch["epoch"], f"{where}.epoch", 1, MAX_EPOCHS) != i + 1:
            raise SchemaError(f"{where}.epoch", f"should be {i + 1}, got {epoch['epoch']}")
        metrics(epoch["train"], f"{where}.train")
        metrics(epoch["test"], f"{where}.test")
        for key in ("beta", "lr", "train_seconds", "seconds", "capacity"):
            number(epoch[key], f"{where}.{key}", 0)
        if "regularizer" in epoch:  # a total correlation estimate may be below 0
            number(epoch["regularizer"], f"{where}.regularizer")


def _steps(value: Any, history: dict[str, Any]) -> None:
    import torch

    known = (list(STEP_COLUMNS), list(LEGACY_STEP_COLUMNS))
    if isinstance(value, torch.Tensor):  # older files: a bare tensor, with its columns beside it
        columns = list(history.get("step_columns", LEGACY_STEP_COLUMNS))
        if columns not in known:
            raise SchemaError("history.step_columns", f"must be {', '.join(STEP_COLUMNS)}")
        tensor(value, "history.steps", max_rows=MAX_STORED_STEP_ROWS, ndim=2, floating=True, width=(len(columns),))
        return
    mapping(value, "history.steps", ("steps_per_epoch", "columns", "values"), ("stride", "pending"))
    integer(value["steps_per_epoch"], "history.steps.steps_per_epoch", 0)
    if value["columns"] not in known:
        raise SchemaError("history.steps.columns", f"must be the list {', '.join(STEP_COLUMNS)}")
    rows = {"ndim": 2, "floating": True, "width": (len(value["columns"]),)}
    tensor(value["values"], "history.steps.values", max_rows=MAX_STORED_STEP_ROWS, **rows)
    if "stride" in value:
        integer(value["stride"], "history.steps.stride", 1)
    if "pending" in value:
        tensor(value["pending"], "history.steps.pending", max_rows=value.get("stride", 1), **rows)


def _frames(value: Any, final: dict[str, Any]) -> None:
    keys = ("epochs", "index", "labels", "positions", "recon_index", "recons")
    mapping(value, "history.frames", keys)
    n_epochs = len(tensor(value["epochs"], "history.frames.epochs", ndim=1, floating=False, max_rows=MAX_EPOCHS))
    n_points = len(tensor(value["index"], "history.frames.index", ndim=1, floating=False, max_rows=MAX_TEST_IMAGES))
    tensor(value["labels"], "history.frames.labels", ndim=1, floating=False, max_rows=n_points)
    tensor(
        value["positions"], "history.frames.positions", ndim=3, floating=True, max_rows=n_epochs, width=(n_points, 2)
    )
    index = tensor(value["recon_index"], "history.frames.recon_index", ndim=1, floating=False, max_rows=100)
    tensor(
        value["recons"],
        "history.frames.recons",
        ndim=4,
        floating=False,
        max_rows=n_epochs,
        width=(len(index), *IMAGE_SIZE),
    )
    for name in ("index", "recon_index"):
        picked = value[name]
        if picked.numel() and not (0 <= int(picked.min()) and int(picked.max()) < max(final["n_test"], 1)):
            raise SchemaError(f"history.frames.{name}", f"points outside the {final['n_test']} test images")
    if len(value["labels"]) != n_points or len(value["positions"]) != n_epochs or len(value["recons"]) != n_epochs:
        raise SchemaError("history.frames", "its epochs, points and pictures do not line up")


def check_history(history: Any, final: dict[str, Any]) -> dict[str, Any]:
    """``history``: every epoch's metrics, the step curves and optional records; ``final`` must be checked first."""
    mapping(history, "history", ("epochs", "steps"), ("frames", "imported", "iw_per_image", "step_columns"))
    _epochs(history["epochs"], final)
    _steps(history["steps"], history)
    if "frames" in history:
        _frames(history["frames"], final)
    if "imported" in history:
        mapping(history["imported"], "history.imported", ("from", "file"))
        text(history["imported"]["from"], "history.imported.from")
        text(history["imported"]["file"], "history.imported.file")
    if "iw_per_image" in history:
        per_image = tensor(
            history["iw_per_image"], "history.iw_per_image", ndim=1, floating=True, max_rows=MAX_TEST_IMAGES
        )
        if "iw" in final and len(per_image) != final["iw"]["n"]:
            raise SchemaError(
                "history.iw_per_image", f"has {len(per_image)} values, but final.iw.n says {final['iw']['n']}"
            )
    return history
