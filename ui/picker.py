"""The widgets that come before any model is loaded: the run picker, the "Compare with" picker, and the notice
of which dataset new runs get. Light on purpose (no torch): Home's first screen uses them on a cold server."""

from __future__ import annotations

import streamlit as st

from ui.state import CURRENT_RUN_KEY, runs
from vae.data.files import OFFLINE_DATASET, default_dataset
from vae.runfile import RunInfo
from vae.settings import data_root

PICKER_KEY = "run_picker"
PICKER_SYNCED_KEY = "run_picker_synced"  # the current run the picker last agreed with


def select_run(
    where: st.delta_generator.DeltaGenerator | None = None,
    among: list[RunInfo] | None = None,
    help: str = "Shipped runs are read-only; runs you train are added here.",
) -> RunInfo | None:
    """The run picker, over every run or ``among`` those. The choice is kept in session state, so it follows the
    user across pages."""
    available = runs() if among is None else among
    if not available:
        return None
    names = [r.name for r in available]
    current = st.session_state.get(CURRENT_RUN_KEY)
    # A keyed picker keeps its identity as the list or the current run changes; without a key, its `index` was part
    # of it, so a pick made right after another came back to a new widget and was lost. Its value is set on every
    # run: the user's new pick, else the current run (which an upload, a finished training or another page's
    # picker may have set), else the first run.
    picked = st.session_state.get(PICKER_KEY)
    if picked in names and picked != st.session_state.get(PICKER_SYNCED_KEY):
        st.session_state[PICKER_KEY] = picked
    else:
        st.session_state[PICKER_KEY] = current if current in names else names[0]
    target = where if where is not None else st.sidebar
    chosen = target.selectbox(
        "Run",
        names,
        key=PICKER_KEY,
        format_func=lambda n: f"{n}  ·  {next(r for r in available if r.name == n).config.label}",
        help=help,
    )
    st.session_state[CURRENT_RUN_KEY] = st.session_state[PICKER_SYNCED_KEY] = chosen
    return next(r for r in available if r.name == chosen)


def compare_with(info: RunInfo, where: st.delta_generator.DeltaGenerator | None = None) -> RunInfo | None:
    """The "Compare with" picker: a second run on the same dataset to draw beside ``info``, or None."""
    others = [r for r in runs() if r.name != info.name and r.config.dataset == info.config.dataset]
    by_name = {r.name: r for r in others}
    target = where if where is not None else st
    choice = target.selectbox(
        "Compare with",
        [None, *by_name],
        format_func=lambda n: "nothing" if n is None else f"{n} · {by_name[n].config.label}",
        help=f"Another run on {info.config.dataset}, drawn beside this one with the same test digits and settings.",
    )
    return by_name.get(choice)


def dataset_notice() -> None:
    """Tell the user which dataset is in use when the offline subset stands in for full MNIST."""
    if default_dataset() == OFFLINE_DATASET:
        st.warning(
            f"Full MNIST was not found under `{data_root()}`, so new runs default to the offline **mnist-5k** "
            "subset (5,000 real digits). Set `VAE_DATA_DIR` to a folder with MNIST's files to use all 70,000; "
            "online, the app downloads them when you train on `mnist`.",
            icon=":material/cloud_off:",
        )
