"""Figures of the disentanglement study (``vae.analysis.study``): each objective's spread over seeds, as Locatello et al.
2019's Figure 7 draws it, and the trade-off against reconstruction. Pure functions from rows to figures."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.curves import recon_unit
from vae.analysis.study import BASE, StudyRow, medians
from vae.model.config import OBJECTIVE_NAMES, OBJECTIVES, strength_label

# One colour per objective, the same in both figures.
COLOURS = dict(zip(OBJECTIVES, ("#1f77b4", "#8c564b", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"), strict=True))
SCORES = (("mig", "MIG"), ("factor_vae", "FactorVAE score"))


def _groups(rows: list[StudyRow]) -> list[tuple[str, float]]:
    """(objective, strength) in the config's order of objectives, then by strength."""
    return sorted({(r.objective, r.value) for r in rows}, key=lambda g: (OBJECTIVES.index(g[0]), g[1]))


def spread_figure(rows: list[StudyRow]) -> go.Figure:
    """Per objective and strength, one dot per seed and a bar at the median, for MIG and the FactorVAE score."""
    groups, middle = _groups(rows), medians(rows)
    labels = [strength_label(*g) for g in groups]
    fig = make_subplots(rows=1, cols=2, subplot_titles=[title for _, title in SCORES], shared_yaxes=True)
    for col, (key, _) in enumerate(SCORES, start=1):
        for (objective, value), label in zip(groups, labels, strict=True):
            seeds = [r for r in rows if (r.objective, r.value) == (objective, value)]
            colour = COLOURS[objective]
            fig.add_trace(
                go.Scatter(
                    x=[label] * len(seeds),
                    y=[getattr(r, key) for r in seeds],
                    mode="markers",
                    marker={"color": colour, "size": 9, "opacity": 0.7},
                    text=[f"seed {r.seed}" for r in seeds],
                    hovertemplate="%{x}, %{text}: %{y:.3f}<extra></extra>",
                    showlegend=False,
                ),
                row=1,
                col=col,
            )
            fig.add_trace(
                go.Scatter(
                    x=[label],
                    y=[middle[(objective, value)][key]],
                    mode="markers",
                    marker={"color": colour, "symbol": "line-ew-open", "size": 26, "line": {"width": 3}},
                    hovertemplate="%{x}: median %{y:.3f}<extra></extra>",
                    showlegend=False,
                ),
                row=1,
                col=col,
            )
    fig.update_yaxes(range=[0, 1.02], title_text="score (1 is disentangled)", col=1)
    fig.update_layout(height=360, margin={"t": 30, "b": 10, "l": 10, "r": 10})
    return fig


def tradeoff_figure(rows: list[StudyRow]) -> go.Figure:
    """Each run's MIG against its test reconstruction: what disentanglement costs, objective by objective."""
    unit = recon_unit(BASE.likelihood)  # every run of the study is BASE with another objective
    fig = go.Figure()
    for objective in OBJECTIVES:
        mine = [r for r in rows if r.objective == objective]
        if not mine:
            continue
        fig.add_trace(
            go.Scatter(
                x=[r.recon for r in mine],
                y=[r.mig for r in mine],
                mode="markers",
                name=OBJECTIVE_NAMES[objective],
                marker={"color": COLOURS[objective], "size": 9},
                text=[f"{strength_label(r.objective, r.value)}, seed {r.seed}" for r in mine],
                hovertemplate=f"%{{text}}: recon %{{x:.1f}} {unit}, MIG %{{y:.3f}}<extra></extra>",
            )
        )
    fig.update_layout(
        height=340,
        xaxis={"title": f"test reconstruction ({unit}; lower is better)"},
        yaxis={"title": "MIG", "range": [0, 1.02]},
        legend={"orientation": "h", "y": -0.3},
        margin={"t": 10, "b": 10, "l": 10, "r": 10},
    )
    return fig
