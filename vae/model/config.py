"""One frozen config, shared by the Train page, the CLI and checkpoints."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from typing import Any

from vae.data.facts import DATASET_NAMES
from vae.model.size import parameter_count
from vae.settings import MAX_PARAMETERS
from vae.vocabulary import ConfigError

DATASETS = DATASET_NAMES  # every dataset's facts live in vae.data.facts
ARCHITECTURES = ("mlp", "conv")
ACTIVATIONS = ("relu", "tanh")
LIKELIHOODS = ("bce", "mse")
# What a reconstruction term is measured in, per image: −log p(x|z) in nats for the Bernoulli decoder; the squared
# error summed over pixels for MSE, which is not a likelihood and must not share an axis with nats.
RECON_UNITS = {"bce": "nats", "mse": "squared error"}
DEVICES = ("auto", "cpu", "cuda", "mps")
LR_SCHEDULES = ("constant", "cosine", "burda")
PRECISIONS = ("auto", "fp32", "bf16")
# The β-VAE family (vae.model.objectives), as disentanglement_lib trains it.
OBJECTIVES = ("beta-vae", "annealed-vae", "beta-tcvae", "factor-vae", "dip-vae-i", "dip-vae-ii")
# The objectives that weigh the KL by β; the others weigh it by 1 (β-TCVAE's β weighs its TC term).
KL_WEIGHTED = ("beta-vae",)
OBJECTIVE_NAMES = {
    "beta-vae": "β-VAE",
    "annealed-vae": "AnnealedVAE",
    "beta-tcvae": "β-TCVAE",
    "factor-vae": "FactorVAE",
    "dip-vae-i": "DIP-VAE-I",
    "dip-vae-ii": "DIP-VAE-II",
}
STRENGTH_SYMBOLS = {"beta": "β", "capacity": "C", "factor_gamma": "γ", "dip_lambda_od": "λ"}
# Each objective's strength: the field a sweep or a study varies (Locatello et al. 2019's one hyperparameter).
STRENGTH = {
    "beta-vae": "beta",
    "annealed-vae": "capacity",
    "beta-tcvae": "beta",
    "factor-vae": "factor_gamma",
    "dip-vae-i": "dip_lambda_od",
    "dip-vae-ii": "dip_lambda_od",
}
MAX_EPOCHS = 5000  # room for Burda et al.'s whole schedule (vae.model.burda.EPOCHS)
MAX_HIDDEN_LAYERS = 4
MLP_HIDDEN = 400  # the classic pytorch/examples width
# Keys that older checkpoints and links used, and the field that replaced each.
RENAMED_FIELDS = {"recon": "likelihood"}


def _field(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] = (),
    bounds: tuple[float, float] | None = None,
    label: str = "",
) -> Any:
    """A config field that carries its own help, choices or bounds, and its Train-form label ("" when the
    form leaves it to its default or a link). Validation, the CLI's flags and the form read them from here.
    For a tuple field (layer widths), ``bounds`` limits each entry."""
    return field(default=default, metadata={"help": help, "choices": choices, "bounds": bounds, "label": label})


def field_spec(name: str) -> dict[str, Any]:
    """The metadata of config field ``name``: ``help``, ``choices``, ``bounds``, ``label``, and its ``default``."""
    spec = next(f for f in fields(VAEConfig) if f.name == name)
    return {**spec.metadata, "default": spec.default}


def flag_text(value: Any) -> str:
    """A field's value as a command-line flag or a link writes it: layer widths as ``200,200``."""
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def bounds(name: str) -> tuple[Any, Any]:
    """The (low, high) a numeric field allows, for a form widget's limits."""
    return field_spec(name)["bounds"]


@dataclass(frozen=True)
class VAEConfig:
    """Everything that defines a training run.

    ``beta`` weighs the KL term (beta-VAE, Higgins et al. 2017); ``beta=1`` is the plain ELBO.
    Beyond a fixed beta: ``kl_warmup_epochs`` ramps beta linearly from 0 (Bowman et al. 2016;
    Sønderby et al. 2016); ``free_bits`` is a floor in nats on each latent dimension's KL
    (Kingma et al. 2016); ``capacity`` > 0 switches to ``recon + capacity_gamma * |KL - C|`` with C
    ramping from 0 to ``capacity`` over ``capacity_epochs`` (Burgess et al. 2018).
    ``precision`` is for training matmuls: ``auto`` uses bfloat16 where the hardware does it natively
    (faster per MLP epoch on an AVX512-BF16 CPU, same test loss: bench/train_speed.py); evaluation is always fp32.
    """

    dataset: str = _field("mnist-5k", "training data", choices=DATASETS, label="Dataset")
    arch: str = _field(
        "mlp",
        "mlp: 784-400-d-400-784 by default (see hidden); conv: two strided convolutions each way",
        choices=ARCHITECTURES,
        label="Architecture",
    )
    hidden: tuple[int, ...] = _field(
        (MLP_HIDDEN,),
        "the MLP's hidden widths, encoder side, comma-separated (the decoder mirrors them), e.g. "
        "200,200 for Burda et al. 2015",
        bounds=(1, 4096),
        label="MLP hidden layers",
    )
    activation: str = _field(
        "relu",
        "the MLP's hidden activation; tanh layers start from Glorot's initialisation",
        choices=ACTIVATIONS,
        label="MLP activation",
    )
    latent_dim: int = _field(20, "latent dimension d", bounds=(2, 64), label="Latent dimension d")
    objective: str = _field(
        "beta-vae",
        "beta-vae: recon + β·KL; annealed-vae: recon + γ·|KL − C| (capacity); beta-tcvae: KL + (β − 1)·TC; "
        "factor-vae: KL + γ·TC by a discriminator; dip-vae-i / dip-vae-ii: KL + DIP's covariance penalty",
        choices=OBJECTIVES,
        label="Objective",
    )
    beta: float = _field(
        1.0,
        "β: the KL weight of beta-vae (1 is the plain ELBO), the TC weight of beta-tcvae",
        bounds=(0.0, 100.0),
        label="β (KL weight)",
    )
    factor_gamma: float = _field(
        10.0, "factor-vae's weight γ on the total correlation", bounds=(0.0, 1000.0), label="FactorVAE γ"
    )
    dip_lambda_od: float = _field(
        10.0, "dip-vae's weight λ_od on the off-diagonal covariance", bounds=(0.0, 1000.0), label="DIP-VAE λ_od"
    )
    dip_lambda_d: float = _field(
        0.0,
        "dip-vae's weight λ_d on the diagonal; 0: Kumar et al.'s choice, 10·λ_od for dip-vae-i, λ_od for dip-vae-ii",
        bounds=(0.0, 10_000.0),
        label="DIP-VAE λ_d",
    )
    likelihood: str = _field(
        "bce",
        "decoder likelihood: bce is -log p(x|z) in nats (Bernoulli); mse is squared error",
        choices=LIKELIHOODS,
        label="Reconstruction loss",
    )
    epochs: int = _field(10, "passes over the training set", bounds=(1, MAX_EPOCHS), label="Epochs")
    batch_size: int = _field(128, "images per optimiser step", bounds=(1, 8192), label="Batch size")
    lr: float = _field(1e-3, "Adam's learning rate", bounds=(1e-6, 1.0), label="Learning rate")
    lr_schedule: str = _field(
        "constant",
        "constant; cosine decay to 0 over the run; or burda: 3^i epochs at "
        "lr·10^(-i/7) for i = 0, 1, … (Burda et al. 2015)",
        choices=LR_SCHEDULES,
        label="Learning-rate schedule",
    )
    adam_eps: float = _field(1e-8, "Adam's ε; Burda et al. 2015 use 1e-4", bounds=(1e-12, 1.0), label="Adam ε")
    seed: int = _field(0, "seeds the weights, the data order and the noise", bounds=(0, 2**31 - 1), label="Seed")
    device: str = _field("auto", "where to train; auto picks cuda, then mps, then cpu", choices=DEVICES)
    kl_warmup_epochs: int = _field(
        0,
        "ramp β linearly from 0 over this many epochs (Bowman et al. 2016); 0: off",
        bounds=(0, 500),
        label="KL warm-up epochs",
    )
    free_bits: float = _field(
        0.0,
        "KL floor per latent dimension in nats (Kingma et al. 2016); 0: off",
        bounds=(0.0, 10.0),
        label="Free bits (nats per dimension)",
    )
    capacity: float = _field(
        0.0,
        "KL target C_max in nats for recon + γ·|KL − C| (Burgess et al. 2018); 0: off",
        bounds=(0.0, 500.0),
        label="Capacity C_max (nats)",
    )
    capacity_gamma: float = _field(100.0, "weight γ on |KL − C|", bounds=(0.0, 10_000.0), label="γ for capacity")
    capacity_epochs: int = _field(0, "epochs to ramp C from 0 to C_max", bounds=(0, 500), label="Epochs to reach C_max")
    precision: str = _field(
        "auto", "training matmuls; auto uses bfloat16 where the hardware does it natively", choices=PRECISIONS
    )

    def __post_init__(self) -> None:
        for spec in fields(self):
            value, meta = getattr(self, spec.name), spec.metadata
            if isinstance(spec.default, tuple):
                _check_widths(spec.name, value, *meta["bounds"])
            elif meta.get("choices"):
                _check_choice(spec.name, value, meta["choices"])
            elif isinstance(spec.default, int):
                _check_int(spec.name, value, *meta["bounds"])
            else:
                _check_float(spec.name, value, *meta["bounds"])

        if self.capacity > 0 and self.objective == "beta-vae":
            # Capacity control predates ``objective``: a capacity with the default objective is an AnnealedVAE.
            object.__setattr__(self, "objective", "annealed-vae")
        if self.capacity > 0 and self.objective != "annealed-vae":
            raise ConfigError("capacity", f"only annealed-vae uses a capacity; {self.objective} does not")
        _check_size(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def kl_weight(self) -> float:
        """The weight on the logged KL in the logged loss: β for β-VAE, else 1, so the logged loss is −ELBO."""
        return self.beta if self.objective in KL_WEIGHTED else 1.0

    @property
    def dip_lambda_d_in_effect(self) -> float:
        """DIP-VAE's λ_d: as set, or Kumar et al.'s default for the variant when 0."""
        if self.dip_lambda_d > 0:
            return self.dip_lambda_d
        return 10 * self.dip_lambda_od if self.objective == "dip-vae-i" else self.dip_lambda_od

    def replace(self, **changes: Any) -> VAEConfig:
        return from_dict({**self.to_dict(), **changes})

    def beta_at(self, progress: float) -> float:
        """The KL weight in effect after ``progress`` epochs (fractional): beta, ramped during warm-up."""
        if self.kl_warmup_epochs == 0:
            return self.beta
        return self.beta * min(1.0, max(0.0, progress) / self.kl_warmup_epochs)

    def capacity_at(self, progress: float) -> float:
        """The KL target C in effect after ``progress`` epochs; 0 when capacity control is off."""
        if self.capacity == 0 or self.capacity_epochs == 0:
            return self.capacity
        return self.capacity * min(1.0, max(0.0, progress) / self.capacity_epochs)

    @property
    def label(self) -> str:
        """A short human description, e.g. ``conv d=20 β=1 on mnist`` or ``mlp 200-200 tanh d=50 β=1 on …``."""
        arch = self.arch
        if arch == "mlp" and (self.hidden, self.activation) != ((MLP_HIDDEN,), "relu"):
            arch += f" {'-'.join(map(str, self.hidden))} {self.activation}"
        return f"{arch} d={self.latent_dim} {self.objective_label} on {self.dataset}"

    @property
    def objective_label(self) -> str:
        """The objective and its strength in a few characters: ``β=4``, ``β-TCVAE β=6``, ``FactorVAE γ=20`` …"""
        return strength_label(self.objective, getattr(self, STRENGTH[self.objective]))


def strength_label(objective: str, value: float) -> str:
    """``objective`` at strength ``value`` in a few characters; a β-VAE is named by its β alone, as ever."""
    strength = f"{STRENGTH_SYMBOLS[STRENGTH[objective]]}={value:g}"
    return strength if objective == "beta-vae" else f"{OBJECTIVE_NAMES[objective]} {strength}"


def from_dict(values: dict[str, Any]) -> VAEConfig:
    """Build a config from loosely typed values (CLI strings, URL params, a checkpoint).

    Unknown keys are refused, missing ones take their defaults, and numeric strings are
    converted; anything else that does not fit raises ``ConfigError`` naming the field. Keys that
    older checkpoints used (``recon``) are read as the field that replaced them.
    """
    if not isinstance(values, dict):
        raise ConfigError("config", f"expected a mapping, got {type(values).__name__}")
    values = {RENAMED_FIELDS.get(k, k) if RENAMED_FIELDS.get(k) not in values else k: v for k, v in values.items()}
    known = {f.name: f for f in fields(VAEConfig)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(unknown[0], f"unknown field (known: {', '.join(known)})")
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        kwargs[name] = _coerce(name, value, type(known[name].default))
    return VAEConfig(**kwargs)


def apply_valid(base: VAEConfig, values: dict[str, Any]) -> tuple[VAEConfig, list[ConfigError]]:
    """``base`` with every valid field of ``values`` applied, and one ``ConfigError`` per field that is not
    (an unknown key, or a value outside what the field allows). Each error's reason ends with the field's
    allowed values where it does not already give them."""
    applied, errors = base, []
    for name, value in values.items():
        try:
            applied = from_dict({**applied.to_dict(), name: value})
        except ConfigError as exc:
            known = exc.field in {f.name for f in fields(VAEConfig)}
            reason = (
                exc.reason
                if not known or "[" in exc.reason or "one of" in exc.reason
                else (f"{exc.reason}; allowed: {allowed(exc.field)}")
            )
            errors.append(ConfigError(exc.field, reason))
    return applied, errors


def allowed(name: str) -> str:
    """What config field ``name`` allows, in words: ``one of mlp, conv``, ``2 to 64``, ``1 to 4 widths …``."""
    spec = field_spec(name)
    if spec["choices"]:
        return f"one of {', '.join(spec['choices'])}"
    low, high = spec["bounds"]
    if isinstance(spec["default"], tuple):
        return f"1 to {MAX_HIDDEN_LAYERS} comma-separated widths, each {low} to {high}"
    return f"{low:g} to {high:g}"


def _coerce(name: str, value: Any, kind: type) -> Any:
    if kind is tuple:  # layer widths: "200,200" from a flag or link, a list from JSON
        parts = value.replace(" ", "").split(",") if isinstance(value, str) else value
        if not isinstance(parts, (list, tuple)):
            raise ConfigError(name, f"expected comma-separated integers, got {value!r}")
        return tuple(_coerce(name, part, int) for part in parts)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(name, f"expected text, got {value!r}")
        return value.strip().lower()
    if isinstance(value, bool):
        raise ConfigError(name, f"expected a number, got {value!r}")
    try:
        number = float(value) if isinstance(value, str) else value
        if kind is int and isinstance(number, float):
            if not number.is_integer():
                raise ValueError
            return int(number)
        return float(number) if kind is float else number
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(name, f"expected {'an integer' if kind is int else 'a number'}, got {value!r}") from None


def _check_size(config: VAEConfig) -> None:
    """Refuse a model whose run file could not be read back: more than ``MAX_PARAMETERS`` parameters."""
    count = parameter_count(config)
    if count > MAX_PARAMETERS:
        field = "hidden" if config.arch == "mlp" else "latent_dim"
        raise ConfigError(
            field,
            f"{config.arch} {'-'.join(map(str, config.hidden))} d={config.latent_dim} has {count:,} parameters, "
            f"over the {MAX_PARAMETERS:,} a run file can hold with its optimiser state",
        )


def _check_widths(name: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, tuple) or not 1 <= len(value) <= MAX_HIDDEN_LAYERS:
        raise ConfigError(name, f"must be 1 to {MAX_HIDDEN_LAYERS} layer widths, e.g. 200,200; got {value!r}")
    for width in value:
        _check_int(name, width, low, high)


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(name, f"must be one of {', '.join(choices)}; got {value!r}")


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(name, f"must be an integer in [{low}, {high}]; got {value!r}")
    if not low <= value <= high:
        raise ConfigError(name, f"must be in [{low}, {high}]; got {value}")


def _check_float(name: str, value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(name, f"must be a finite number in [{low:g}, {high:g}]; got {value!r}")
    if not low <= value <= high:
        raise ConfigError(name, f"must be in [{low:g}, {high:g}]; got {value:g}")
