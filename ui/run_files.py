"""The Runs page's file controls: continue, delete and upload, each allowed by who owns the run.

A run made in the app belongs to the browser that made it (``state.session_owner``): only that browser
sees Delete or continues it in place. Anyone may continue any run under a new name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import streamlit as st

from ui import state, widgets
from ui.curves import KL_UNIT, NATS, loss_unit
from ui.training import admit
from vae.data.files import default_dataset
from vae.model.config import RECON_UNITS, bounds, field_spec
from vae.runfile import RunInfo, delete_run, import_run, load_run
from vae.runfile.names import Placement
from vae.runfile.reading import UPLOAD, check_size
from vae.runfile.schema import DISENTANGLEMENT
from vae.server.limits import check_disk, check_upload
from vae.training.importers import import_foreign, read_state_dict, recognise
from vae.training.jobs import TrainingJob
from vae.training.runs import continue_config
from vae.vocabulary import CONTINUABLE, CheckpointError, LimitError


def continue_run(info: RunInfo) -> None:
    """Continue the picked run for more epochs: in place for its owner, else as a new run; watched on Train."""
    if info.status not in CONTINUABLE:
        st.caption(
            f"{info.name} is {info.status or 'of unknown status'}: only a run that completed, was stopped, "
            "was interrupted or was imported can be continued."
        )
        return
    more = st.number_input(
        "More epochs", min_value=1, max_value=bounds("epochs")[1], value=2, step=1, key="more_epochs"
    )
    in_place = state.owns(info)
    label = f"Continue {info.name}" + ("" if in_place else " as a new run")
    if not st.button(label, icon=":material/resume:"):
        return
    if state.session_busy():
        st.error("One training per visitor: yours is still running (see Train).", icon=":material/error:")
        return

    def job() -> TrainingJob:
        blocked = state.may_change_run(info) if in_place else ""
        if blocked:
            raise CheckpointError(blocked)
        run = load_run(info.path)
        return TrainingJob(
            continue_config(run, int(more)),
            f"{info.name}-continued",
            state.checkpoint_dir(),
            resume=run,
            in_place=in_place,
            owner=state.owner_hash_for_new_run(),
        )

    if admit(job, "continue") is not None:
        st.switch_page("pages/train.py")


def delete_control(info: RunInfo) -> None:
    """Delete, behind a confirmation, for the run's owner; a line saying why not for everyone else."""
    blocked = state.may_change_run(info)
    if blocked:
        st.caption(f"{blocked}.")
        return
    confirm = st.checkbox(f"Yes, delete {info.name} for good", key=f"confirm_{info.name}")
    if st.button("Delete run", disabled=not confirm, icon=":material/delete:", key=f"delete_{info.name}"):
        try:
            delete_run(state.checkpoint_dir(), info.name, state.session_owner())
        except CheckpointError as exc:
            widgets.checkpoint_error(exc)
            return
        if st.session_state.get(state.CURRENT_RUN_KEY) == info.name:
            st.session_state.pop(state.CURRENT_RUN_KEY)
        st.session_state[state.DELETED_KEY] = info.name
        st.rerun()


def upload_section(upload) -> None:
    """Add an uploaded file as this browser's run: a VAE Lab checkpoint as it is, a foreign model after
    evaluating it. Nothing is written for a bad file, or past the upload limits."""
    data = upload.getvalue()
    stem = Path(upload.name).stem[:64] or "uploaded"
    try:
        check_upload(state.uploaded_sizes(), len(data))
        check_disk(state.checkpoint_dir(), len(data) / 2**20)
        check_size(upload.name, len(data))
        state_dict = read_state_dict(data)
        foreign = recognise(state_dict, "the uploaded file") if state_dict is not None else None
    except (CheckpointError, LimitError) as exc:
        st.error(f"Not added: {exc}", icon=":material/error:")
        return
    directory = state.checkpoint_dir()
    if foreign is None:
        if st.button("Add to my runs", icon=":material/upload:"):
            owner = state.owner_hash_for_new_run()  # a token is made on the click, not while a file waits
            add(lambda: import_run(directory, data, stem, Placement(owner, UPLOAD)))
        return
    st.info(
        f"Recognised **{foreign.layout.description}**, d = {foreign.latent_dim}. It is mapped onto VAE Lab's "
        f"{foreign.layout.arch} model with the same outputs, and measured on a test set.",
        icon=":material/input:",
    )
    datasets = field_spec("dataset")["choices"]
    dataset = st.selectbox("Evaluate it on", datasets, index=datasets.index(default_dataset()))
    if st.button("Import", icon=":material/upload:"):
        owner = state.owner_hash_for_new_run()
        add(lambda: import_foreign(directory, foreign, stem, dataset, Placement(owner, UPLOAD), source=upload.name))


def add(save: Callable[[], Path]) -> None:
    """Run ``save`` (which writes a run) and report the result; nothing is written for a bad file."""
    try:
        with st.spinner("Checking and measuring it…"):
            path = save()
    except (CheckpointError, ValueError) as exc:
        st.error(f"Not added: {exc}", icon=":material/error:")
    else:
        st.success(f"Added **{path.stem}**; it is yours: only this browser can delete it.")
        st.session_state[state.CURRENT_RUN_KEY] = path.stem


def deleted_notice() -> None:
    """Confirm the delete that caused this rerun."""
    deleted = st.session_state.pop(state.DELETED_KEY, None)
    if deleted:
        st.success(f"Deleted {deleted}.", icon=":material/delete:")


def unreadable_files() -> None:
    """Files in the folder that are not valid runs, each with its reason; its owner can delete it."""
    for bad in state.unreadable_runs():
        st.warning(f"`{bad.path.name}` in the checkpoint folder cannot be used: {bad.error}", icon=":material/warning:")
        if bad.owned_by(state.session_owner()):
            delete_control(bad)


def _score(info: RunInfo, key: str) -> float | None:
    scores = info.final.get(DISENTANGLEMENT)
    return round(scores[key], 3) if scores else None


def metrics_table(available: list[RunInfo]) -> None:
    """Every run's final test metrics (validated when listed, so each row is numbers), and a CSV of them."""
    rows = []
    for info in available:
        test, c = info.final["test"], info.config
        rows.append(
            {
                "run": info.name,
                "shipped": info.shipped,
                "yours": state.owns(info),
                "dataset": c.dataset,
                "arch": c.arch,
                "d": c.latent_dim,
                "beta": c.beta,
                "epochs": info.final["epochs"],
                "status": info.status,
                # Nats and squared errors are different quantities: each has its own column, never one mixed column.
                **{f"test recon ({unit})": None for unit in RECON_UNITS.values()},
                f"test recon ({RECON_UNITS[c.likelihood]})": round(test["recon"], 3),
                f"test KL ({NATS})": round(test["kl"], 3),
                "test loss": round(test["loss"], 3),
                # Disentanglement, for runs on data with known factors that have it stored (eval --disentanglement).
                "MIG": _score(info, "mig"),
                "FactorVAE": _score(info, "factor_vae"),
                "saved": info.created.replace("T", " ")[:16],
            }
        )
    table = pd.DataFrame(rows)
    st.subheader("Final test metrics")
    # The headers keep short units (and the CSV's column names stable); what they are per is said once, here.
    st.caption(
        f"Each figure is per test image, averaged over the test split: the KL in {KL_UNIT}, the reconstruction in "
        f"its column's unit per image, and the loss (recon + β·KL) in {loss_unit('bce')} for a bce run, "
        f"{loss_unit('mse')} for an mse run."
    )
    st.dataframe(table, hide_index=True)
    st.download_button("Download the table (CSV)", table.to_csv(index=False), "vae_lab_runs.csv", "text/csv")
