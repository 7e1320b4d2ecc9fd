"""What the Disentanglement page shares with the others: a run's disentanglement scores, and their figures."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui.curves import recon_unit
from ui.loaders import load
from ui.state import heavy_work, runs
from vae.data.datasets import Dataset
from vae.data.files import GENERATED_DATASET
from vae.data.shapes import FACTORS
from vae.model.config import STRENGTH, flag_text
from vae.runfile import RunInfo
from vae.runfile.schema import DISENTANGLEMENT
from vae.vocabulary import LimitError


def colouring(data: Dataset, labels: np.ndarray) -> tuple[np.ndarray, tuple[str, ...], str]:
    """What the test points are coloured by: the class ``labels`` ``[N]``, or for data with known factors, the
    factor the user picks. Returns (labels ``[N]``, their names, the legend's title)."""
    if not data.factors:
        return labels, data.class_names, "label"
    k = st.selectbox(
        "Colour by", range(len(data.factors)), format_func=lambda i: data.factors[i].name, help="a true factor"
    )
    return data.test_factors[:, k].numpy(), data.factors[k].values, data.factors[k].name


def factor_runs() -> list[RunInfo]:
    """The runs trained on data with known factors (``shapes``)."""
    return [r for r in runs() if r.config.dataset == GENERATED_DATASET]


@st.cache_data(max_entries=32, show_spinner=False)
def _measured(path: str, mtime_ns: int, _info: RunInfo) -> dict[str, Any]:
    """Keyed by the file's path and version; ``_info`` (not hashed) is that file's run."""
    from vae.analysis.disentanglement import evaluate_run  # the metrics are needed only here

    with heavy_work().slot(f"Scoring {_info.name}"):
        return evaluate_run(load(_info).model)


def scores(info: RunInfo) -> dict[str, Any]:
    """The run's stored disentanglement scores; a run without them is measured here once per file version, with
    the same seed as ``python -m vae eval --disentanglement``, and nothing is written to the file. A measurement
    waits its turn among the server's heavy computations; past the wait, one line and the page stops."""
    stored = info.final.get(DISENTANGLEMENT)
    if stored:
        return stored
    with st.spinner(f"Measuring MIG and the FactorVAE score of {info.name}…", show_time=True):
        try:
            return _measured(str(info.path), info.path.stat().st_mtime_ns, info)
        except LimitError as exc:
            st.error(str(exc), icon=":material/hourglass_top:")
            st.stop()


def captured(mi: np.ndarray, entropy: np.ndarray) -> list[int]:
    """For each latent ``mi`` ``[D, F]``: the factor it holds the largest share of (MI over the factor's entropy)."""
    return [int(k) for k in (mi / entropy).argmax(axis=1)]


def mi_heatmap(mi: np.ndarray, entropy: np.ndarray, active: np.ndarray) -> go.Figure:
    """Latent × factor mutual information as a share of each factor's entropy, ``[D, F]`` in [0, 1]; a row is
    named by the factor its latent knows best, or as inactive (``active`` ``[D]`` False): its μ barely moves."""
    share = mi / entropy
    holds = captured(mi, entropy)
    rows = [f"z{j} · {FACTORS[k].name if active[j] else 'inactive'}" for j, k in enumerate(holds)]
    fig = go.Figure(
        go.Heatmap(
            z=share,
            x=[f.name for f in FACTORS],
            y=rows,
            zmin=0,
            zmax=1,
            colorscale="Viridis",
            customdata=mi,
            text=np.round(share, 2),
            texttemplate="%{text}",
            hovertemplate="%{y} and %{x}: I = %{customdata:.3f} nats, %{z:.0%} of H(factor)<extra></extra>",
            colorbar={"title": "I / H"},
        )
    )
    fig.update_layout(
        height=80 + 32 * len(rows),
        yaxis={"autorange": "reversed"},
        margin={"t": 10, "b": 10, "l": 10, "r": 10},
    )
    return fig


def _medians(points: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """Each β of ``points`` once, ascending, and the median of ``key`` over the runs at that β (their seeds)."""
    betas = sorted({p["beta"] for p in points})
    return betas, [float(np.median([p[key] for p in points if p["beta"] == b])) for b in betas]


def beta_figure(points: list[dict[str, Any]]) -> go.Figure:
    """MIG and FactorVAE score (left axis) and test reconstruction (right) against β: one marker per run, so that
    runs that differ only by seed show as a spread at their β, and a line through each β's median. The points
    share one likelihood (``sweep_key``), so one unit for their reconstructions."""
    points = sorted(points, key=lambda p: p["beta"])
    unit = recon_unit(points[0]["likelihood"])
    betas = sorted({p["beta"] for p in points})
    fig = go.Figure()
    for key, label, axis, line in (
        ("mig", "MIG", "y", {"color": "#6f42c1"}),
        ("factor_vae", "FactorVAE score", "y", {"color": "#2ca02c"}),
        ("recon", f"test reconstruction ({unit})", "y2", {"color": "#d62728", "dash": "dot"}),
    ):
        hover = f"%{{customdata}}: β %{{x:g}}, {label} %{{y:.3f}}"
        fig.add_trace(
            go.Scatter(
                x=[p["beta"] for p in points],
                y=[p[key] for p in points],
                name=label,
                legendgroup=key,
                yaxis=axis,
                mode="markers",
                customdata=[p["name"] for p in points],
                marker={"color": line["color"], "size": 9},
                hovertemplate=hover,
            )
        )
        median_betas, medians = _medians(points, key)
        fig.add_trace(
            go.Scatter(
                x=median_betas,
                y=medians,
                name=f"{label}, median over seeds",
                legendgroup=key,
                showlegend=False,
                yaxis=axis,
                mode="lines",
                line=line,
                hovertemplate=f"median at β %{{x:g}}: %{{y:.3f}}<extra>{label}</extra>",
            )
        )
    log_axis = min(betas) > 0 and max(betas) / min(betas) >= 4
    fig.update_layout(
        height=380,
        xaxis={
            "title": "β",
            "type": "log" if log_axis else "linear",
            "tickvals": betas,
            "ticktext": [f"{b:g}" for b in betas],
        },
        yaxis={"title": "score (1 is disentangled)", "range": [0, 1.05]},
        yaxis2={"title": f"reconstruction ({unit})", "overlaying": "y", "side": "right", "showgrid": False},
        legend={"orientation": "h", "y": -0.25},
        margin={"t": 10, "b": 10, "l": 10, "r": 10},
    )
    return fig


# What may differ within one β sweep: β, the seed (drawn as a spread at each β), and where it trained. The label
# names the model and objective; every other setting must be equal too, or the runs are not like with like.
SWEEP_FREE = ("beta", "seed", "device")
_LABELLED = ("arch", "hidden", "activation", "latent_dim", "objective", "dataset", "likelihood", "epochs")


def sweep_key(info: RunInfo) -> str:
    """What the runs of one β sweep share, said for a person: the model and objective (the label without β), its
    likelihood, any other setting off its default, and the epochs trained, so that a 1-epoch try is never joined to
    a 200-epoch run, nor a run at another learning rate."""
    c, epochs = info.config.replace(beta=1.0), info.final["epochs"]
    strength = STRENGTH[c.objective]
    others = [
        f"{f.name} {flag_text(getattr(c, f.name))}"
        for f in dataclasses.fields(c)
        if f.name not in (*SWEEP_FREE, *_LABELLED, strength) and getattr(c, f.name) != f.default
    ]
    trained = f"{epochs:,}" + (f" of {c.epochs:,}" if c.epochs != epochs else "")
    named = c.label.replace(f" β=1 on {c.dataset}", "")
    return ", ".join([named, c.likelihood, *others, f"{trained} epoch{'s' * (c.epochs != 1)}"])


def sweep_points(members: list[RunInfo]) -> list[dict[str, Any]]:
    """One point per run of a sweep: its β, scores, test reconstruction and the likelihood it is measured by."""
    out = []
    for info in members:
        measured = scores(info)
        out.append(
            {
                "name": info.name,
                "beta": info.config.beta,
                "mig": measured["mig"],
                "factor_vae": measured["factor_vae"],
                "recon": info.final["test"]["recon"],
                "likelihood": info.config.likelihood,
            }
        )
    return out


def traversal_values(steps: int, span: float = 3.0) -> np.ndarray:
    """``steps`` values from −span to +span, in units of the prior's σ = 1."""
    return np.linspace(-span, span, steps)
