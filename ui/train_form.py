"""The Train page's forms: a new training, a run continued for more epochs, and a β sweep. Each field's
label, help and limits come from the config (``vae.model.config``), so the form, the CLI and a link agree."""

from __future__ import annotations

import contextlib
from urllib.parse import urlencode, urlsplit, urlunsplit

import streamlit as st

from ui import state
from ui.training import launch, where_trainings_run
from vae.model import burda
from vae.model.config import VAEConfig, bounds, field_spec, flag_text
from vae.runfile import load_run
from vae.runfile.names import sanitize_run_name
from vae.training.jobs import TrainingJob, new_jobs
from vae.training.runs import continue_config
from vae.training.sweep import NAME_RULE, plan
from vae.vocabulary import CONTINUABLE, ConfigError

# Fine steps where beta matters most (near and below 1), coarse ones above, to the config's own bound: one range
# per field, the config's, in the form, the sweep, a link and the CLI (tests/test_lecture.py holds them together).
BETA_CHOICES = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 16.0)
BETA_CHOICES += (20.0, 32.0, 50.0, 100.0)
# What a sweep may vary: β's choices, and the larger values of C (nats), FactorVAE's γ and DIP-VAE's λ_od.
SWEEP_VALUES = tuple(sorted({*BETA_CHOICES, 12.0, 25.0, 30.0, 40.0}))
SWEEP_SEEDS = tuple(range(10))
BATCH_CHOICES = (1, 8, 16, 20, 32, 64, 100, 128, 256, 512, 1024, 2048, 4096, 8192)
MAX_SWEEP_RUNS = 24
SWEEP_BETAS = [0.25, 0.5, 1.0, 2.0, 4.0]


def _choices(options: tuple, value: float) -> list:
    """``options`` with ``value`` (a link's, within the config's bounds) among them: a link never stretches a range."""
    return sorted({*options, value})


def _label(name: str) -> str:
    return field_spec(name)["label"]


def _tip(name: str) -> str:
    return field_spec(name)["help"]


def _choice(column, name: str, start: VAEConfig) -> str:
    options = field_spec(name)["choices"]
    return column.selectbox(_label(name), options, index=options.index(getattr(start, name)), help=_tip(name))


def _basic_fields(start: VAEConfig) -> dict[str, object]:
    left, middle, right = st.columns(3)
    values: dict[str, object] = {name: _choice(left, name, start) for name in ("dataset", "arch", "likelihood")}
    values["latent_dim"] = middle.slider(
        _label("latent_dim"),
        *bounds("latent_dim"),
        start.latent_dim,
        help=_tip("latent_dim") + "; d = 2 is plotted directly on Latent space",
    )
    values["beta"] = middle.select_slider(
        _label("beta"), _choices(BETA_CHOICES, start.beta), value=start.beta, help=_tip("beta")
    )
    values["epochs"] = middle.number_input(_label("epochs"), *bounds("epochs"), start.epochs, help=_tip("epochs"))
    values["batch_size"] = right.select_slider(
        _label("batch_size"),
        _choices(BATCH_CHOICES, start.batch_size),
        value=start.batch_size,
        help=_tip("batch_size"),
    )
    values["lr"] = right.number_input(
        _label("lr"), *bounds("lr"), value=start.lr, step=1e-4, format="%.1e", help=_tip("lr") + "; 1e-3 is classic"
    )
    values["seed"] = right.number_input(_label("seed"), *bounds("seed"), start.seed, step=1, help=_tip("seed"))
    return values


def _objective_fields(start: VAEConfig) -> dict[str, object]:
    o0, o1, o2 = st.columns(3)
    o3, o4, o5 = st.columns(3)
    o6, o7, o8 = st.columns(3)
    values: dict[str, object] = {"objective": _choice(o0, "objective", start)}
    steps = {"free_bits": 0.1, "capacity": 1.0, "capacity_gamma": 10.0, "factor_gamma": 5.0}
    columns = {
        "factor_gamma": o1,
        "dip_lambda_od": o2,
        "dip_lambda_d": o3,
        "kl_warmup_epochs": o4,
        "free_bits": o5,
        "capacity": o6,
        "capacity_gamma": o7,
        "capacity_epochs": o8,
    }
    return values | {
        name: column.number_input(
            _label(name),
            *bounds(name),
            getattr(start, name),
            step=steps.get(name, type(getattr(start, name))(1)),  # Streamlit wants one numeric type
            help=_tip(name),
        )
        for name, column in columns.items()
    }


def _mlp_fields(start: VAEConfig) -> dict[str, object]:
    o1, o2 = st.columns(2)
    o3, o4 = st.columns(2)
    values: dict[str, object] = {
        "hidden": o1.text_input(
            _label("hidden"), flag_text(start.hidden), help=_tip("hidden") + "; the conv model ignores it"
        ),
        "activation": _choice(o2, "activation", start),
        "lr_schedule": _choice(o3, "lr_schedule", start),
        "adam_eps": o4.number_input(
            _label("adam_eps"), *bounds("adam_eps"), value=start.adam_eps, format="%.0e", help=_tip("adam_eps")
        ),
    }
    st.caption(
        "Burda et al. 2015: dataset binarized-mnist, hidden 200,200, tanh, d = 50, batch 20, schedule "
        f"burda, Adam ε 1e-4, and {burda.EPOCHS:,} epochs; `burda-vae-k1` on the Runs page is trained with it."
    )
    return values


def new_training(start: VAEConfig, busy: bool, base: VAEConfig, run_name: str = "") -> None:
    """The config form, opened on ``start``; a submitted form starts this visitor's training. "Link to these
    settings" puts the form's settings (those that differ from the page's ``base``) in the address, and no token."""
    with (
        st.expander("New training", expanded=not busy, icon=":material/add_circle:"),
        st.form("train_form", enter_to_submit=False),
    ):
        values = _basic_fields(start)
        with st.expander("Objective: β-VAE, AnnealedVAE, β-TCVAE, FactorVAE, DIP-VAE; warm-up, free bits"):
            st.caption(
                "Each objective reads its own strength: β (β-VAE, β-TCVAE), C and γ (AnnealedVAE), FactorVAE's γ, "
                "DIP-VAE's λ. A capacity C > 0 makes a β-VAE an AnnealedVAE."
            )
            values |= _objective_fields(start)
        with st.expander("MLP layers and optimiser: Burda et al. 2015's setup"):
            values |= _mlp_fields(start)
        name = st.text_input(
            "Run name", value=run_name or "my-run", max_chars=64, help="Letters, digits, '-', '_' and '.'."
        )
        left, right = st.columns([1, 3])
        submitted = left.form_submit_button("Start training", type="primary", disabled=busy)
        linked = right.form_submit_button("Link to these settings", icon=":material/link:")
    if linked:
        settings_link(start, values, base)
    if busy:
        st.caption("One training per visitor: stop yours, or wait for it to finish, to start another.")
    elif submitted:  # fields with no form label (device, precision) keep the link's or default values
        with contextlib.suppress(ConfigError):  # a started form is in the address too; launch names a bad value
            _settings_in_address(start.replace(**values), base)
        owner = state.owner_hash_for_new_run()
        launch(
            lambda: TrainingJob(start.replace(**values), name, state.checkpoint_dir(), owner=owner), "start training"
        )


def _settings_in_address(config: VAEConfig, base: VAEConfig) -> dict[str, str]:
    """Put ``config``'s settings that differ from ``base`` in the address, settings only and never a token."""
    settings = {k: flag_text(v) for k, v in config.to_dict().items() if v != getattr(base, k)}
    st.query_params.from_dict(settings)
    return settings


def settings_link(start: VAEConfig, values: dict[str, object], base: VAEConfig) -> None:
    """Put the form's settings in the address and show the link to copy: settings only, never a token."""
    try:
        settings = _settings_in_address(start.replace(**values), base)
    except ConfigError as exc:
        st.error(f"No link: {exc}", icon=":material/error:")
        return
    here = urlsplit(st.context.url or "")
    link = urlunsplit((here.scheme, here.netloc, here.path, urlencode(settings), ""))
    st.caption("This link opens the form with these settings (it carries no run, owner or training):")
    st.code(link, language=None, wrap_lines=True)


def continue_run(busy: bool) -> None:
    """Continue a completed, stopped or interrupted run for more epochs, from its saved optimizer state."""
    candidates = {r.name: r for r in state.runs() if r.status in CONTINUABLE}
    if not candidates:
        st.caption("No run can be continued yet: train one first.")
        return
    names = list(candidates)
    current = st.session_state.get(state.CURRENT_RUN_KEY)
    left, middle, right = st.columns([2, 1, 1])
    pick = left.selectbox(
        "Run to continue",
        names,
        index=names.index(current) if current in names else 0,
        format_func=lambda n: f"{n} · {candidates[n].status}",
    )
    info = candidates[pick]
    more = middle.number_input("More epochs", min_value=1, max_value=bounds("epochs")[1], value=2, step=1)
    new_name, in_place = pick, state.owns(info)
    if in_place:
        stop = info.final.get("position")
        where = f"step {stop['step']:,} of epoch {stop['epoch']:,}" if stop else f"epoch {info.final['epochs']:,}"
        right.caption(f"Continues **{pick}** in place, from {where}; its curves carry on.")
    else:
        new_name = right.text_input(
            "Save as",
            value=f"{pick}-continued",
            max_chars=64,
            help="Only your own runs continue in place; this one becomes a new run.",
        )
    if not st.button("Continue training", icon=":material/resume:", disabled=busy):
        return
    if blocked := (state.may_change_run(info) if in_place else ""):
        st.error(f"Cannot continue: {blocked}.", icon=":material/error:")
        return

    def job() -> TrainingJob:
        run = load_run(info.path)
        config = continue_config(run, int(more))
        owner = state.owner_hash_for_new_run()
        directory = state.checkpoint_dir()
        return TrainingJob(config, sanitize_run_name(new_name), directory, resume=run, in_place=in_place, owner=owner)

    launch(job, "continue")


def sweep(start: VAEConfig, busy: bool) -> None:
    """A β sweep (and, optionally, several latent dimensions) started as one batch through the queue."""
    with st.form("sweep_form", enter_to_submit=False):
        left, middle, right = st.columns(3)
        options = field_spec("dataset")["choices"]
        dataset = left.selectbox("Sweep dataset", options, index=options.index(start.dataset), key="sweep_dataset")
        options = field_spec("arch")["choices"]
        arch = left.selectbox("Sweep architecture", options, index=options.index(start.arch), key="sweep_arch")
        epochs = left.number_input("Epochs per run", *bounds("epochs"), start.epochs, key="sweep_epochs")
        options = field_spec("objective")["choices"]
        objective = middle.selectbox(
            "Sweep objective", options, index=options.index(start.objective), key="sweep_objective"
        )
        betas = middle.multiselect(
            "β values (or the objective's strength)",
            SWEEP_VALUES,
            default=SWEEP_BETAS,
            key="sweep_betas",
            help="β for β-VAE and β-TCVAE, C for AnnealedVAE, γ for FactorVAE, λ_od for DIP-VAE",
        )
        seeds = right.multiselect(
            "Seeds", SWEEP_SEEDS, default=[start.seed % 10], key="sweep_seeds", help="one run per seed: the spread"
        )
        low, high = bounds("latent_dim")
        dims = middle.multiselect(
            "Latent dimensions", list(range(low, high + 1)), default=[start.latent_dim], key="sweep_dims"
        )
        prefix = right.text_input(
            "Name prefix", value="sweep", max_chars=40, key="sweep_prefix", help=f"Runs are named {NAME_RULE}."
        )
        right.caption(where_trainings_run())
        go = st.form_submit_button("Start the sweep", type="primary", disabled=busy)
    if not go:
        return
    if not betas or not dims or not seeds:
        st.error("Choose at least one value, one latent dimension and one seed.", icon=":material/error:")
        return
    if len(betas) * len(dims) * len(seeds) > MAX_SWEEP_RUNS:
        count = len(betas) * len(dims) * len(seeds)
        st.error(f"{count} runs is more than the {MAX_SWEEP_RUNS} a sweep may have.", icon=":material/error:")
        return

    def jobs() -> list[TrainingJob]:
        # A capacity belongs to AnnealedVAE alone: another objective's sweep starts from none.
        capacity = start.capacity if objective == "annealed-vae" else 0.0
        base = start.replace(dataset=dataset, arch=arch, epochs=int(epochs), objective=objective, capacity=capacity)
        grid = plan(base, sorted(betas), sorted(dims), sanitize_run_name(prefix), sorted(seeds))
        return new_jobs(grid, state.checkpoint_dir(), owner=state.owner_hash_for_new_run())

    launch(jobs, "start the sweep")
