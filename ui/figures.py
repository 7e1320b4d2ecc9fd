"""Plotly figure builders: pure functions from arrays and run metadata to figures, testable without Streamlit."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.colors import sample_colorscale

from vae.analysis.latents import latent_norms

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


SVG_MAX_POINTS = 2500


def label_colors(n: int) -> tuple[str, ...]:
    """Colours for ``n`` labels: the categorical palette for up to 10, else an ordered scale (a factor's values,
    such as 40 orientations, read best as a gradient)."""
    if n <= len(PALETTE):
        return PALETTE
    return tuple(sample_colorscale("Viridis", [i / (n - 1) for i in range(n)]))


def latent_scatter(
    points: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...], axis: str, legend: str = "label"
) -> go.Figure:
    """Points ``[N, 2]`` coloured by label, one legend entry per class; ``customdata`` is the row index."""
    fig = go.Figure()
    colors = label_colors(len(class_names))
    scatter = go.Scatter if len(points) <= SVG_MAX_POINTS else go.Scattergl
    for c, class_name in enumerate(class_names):
        idx = np.flatnonzero(labels == c)
        fig.add_trace(
            scatter(
                x=points[idx, 0],
                y=points[idx, 1],
                mode="markers",
                name=class_name if class_name == str(c) else f"{c}: {class_name}",
                marker={"size": 5, "color": colors[c % len(colors)], "opacity": 0.75},
                customdata=idx,
                hovertemplate="test image %{customdata}<extra>" + class_name + "</extra>",
            )
        )
    # Margins that fit the axes and the legend from the start: left to grow them itself, plotly draws
    # the plot, measures, and draws it again, a visible part of a visit to Latent space. The legend leaves room
    # for the 10 characters of "your digit", which Draw adds, as the explorer adds "decoded".
    legend_width = 50 + 7 * max(10, *(len(trace.name) for trace in fig.data))
    fig.update_layout(
        height=560,
        xaxis_title=f"{axis} 1",
        yaxis_title=f"{axis} 2",
        legend_title=legend,
        margin={"t": 10, "b": 50, "l": 60, "r": legend_width, "autoexpand": False},
    )
    return fig


def latent_animation(
    frames: np.ndarray, epochs: list[int], labels: np.ndarray, class_names: tuple[str, ...], axis: str
) -> go.Figure:
    """The latent space forming: ``frames`` ``[E, N, 2]`` positions after each epoch in ``epochs``,
    one plotly frame per epoch, with an epoch slider and a play button. Axes fit every frame."""

    def traces(points: np.ndarray) -> list[go.Scatter]:
        return [
            go.Scatter(
                x=points[labels == c, 0],
                y=points[labels == c, 1],
                mode="markers",
                name=name if name == str(c) else f"{c}: {name}",
                marker={"size": 5, "color": PALETTE[c % len(PALETTE)], "opacity": 0.75},
            )
            for c, name in enumerate(class_names)
        ]

    lo, hi = frames.reshape(-1, 2).min(0), frames.reshape(-1, 2).max(0)
    pad = 0.05 * (hi - lo + 1e-6)
    fig = go.Figure(
        data=traces(frames[-1]),
        frames=[go.Frame(data=traces(f), name=str(e)) for f, e in zip(frames, epochs, strict=True)],
    )
    step = {"frame": {"duration": 600, "redraw": False}, "transition": {"duration": 400}, "mode": "immediate"}
    fig.update_layout(
        height=560,
        margin={"t": 10, "b": 10, "l": 10, "r": 10},
        legend_title="label",
        xaxis={"title": f"{axis} 1", "range": [lo[0] - pad[0], hi[0] + pad[0]]},
        yaxis={"title": f"{axis} 2", "range": [lo[1] - pad[1], hi[1] + pad[1]]},
        updatemenus=[
            {
                "type": "buttons",
                "showactive": False,
                "x": 0,
                "y": -0.08,
                "xanchor": "left",
                "buttons": [
                    {"label": "▶ Play", "method": "animate", "args": [None, {**step, "fromcurrent": True}]},
                    {
                        "label": "❚❚ Pause",
                        "method": "animate",
                        "args": [[None], {"frame": {"duration": 0}, "mode": "immediate"}],
                    },
                ],
            }
        ],
        sliders=[
            {
                "active": len(epochs) - 1,
                "x": 0.15,
                "len": 0.85,
                "y": -0.02,
                "currentvalue": {"prefix": "epoch "},
                "steps": [{"label": str(e), "method": "animate", "args": [[str(e)], step]} for e in epochs],
            }
        ],
    )
    return fig


def latent_plane(
    mu: np.ndarray,
    labels: np.ndarray,
    class_names: tuple[str, ...],
    extent: tuple[float, float, float, float],
    grid_points: int = 60,
    background: str | None = None,
    here: np.ndarray | None = None,
) -> go.Figure:
    """The 2-D latent plane to click on: the test digits ``mu`` ``[N, 2]``, and under them an invisible,
    dense grid of selectable points whose ``customdata`` is their coordinate, so that a click
    anywhere, not only on a digit, names a spot. ``background`` is an optional image (a data URL)
    stretched over ``extent`` = (x0, x1, y0, y1); ``here`` marks the current point."""
    x0, x1, y0, y1 = extent
    gx, gy = np.meshgrid(np.linspace(x0, x1, grid_points), np.linspace(y0, y1, grid_points))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    fig = latent_scatter(mu, labels, class_names, "z")
    for trace in fig.data:  # a click on a digit decodes its μ, like a click on empty space
        trace.customdata = mu[np.asarray(trace.customdata, dtype=int)]
        trace.hovertemplate = "z = (%{x:.2f}, %{y:.2f})<extra>%{fullData.name}</extra>"
    fig.add_trace(
        go.Scattergl(
            x=grid[:, 0],
            y=grid[:, 1],
            customdata=grid,
            mode="markers",
            name="anywhere",
            showlegend=False,
            marker={"size": 9, "opacity": 0.01, "color": "#000000"},
            hovertemplate="decode z = (%{x:.2f}, %{y:.2f})<extra></extra>",
        )
    )
    if here is not None:
        mark(fig, here, "decoded", {"symbol": "x", "size": 16, "color": "black", "line": {"width": 2}})
    if background is not None:
        fig.add_layout_image(
            source=background,
            xref="x",
            yref="y",
            x=x0,
            y=y1,
            sizex=x1 - x0,
            sizey=y1 - y0,
            sizing="stretch",
            opacity=0.35,
            layer="below",
        )
    fig.update_layout(xaxis={"range": [x0, x1]}, yaxis={"range": [y0, y1]}, height=520)
    return fig


def latent_norms_figure(paths: dict[str, torch.Tensor], latent_dim: int) -> go.Figure:
    """‖z‖ along each latent path ``[N, D]`` of ``paths`` (by method: linear dashed, spherical solid), against
    √d, the radius of the shell where the prior's mass lies."""
    fig = go.Figure()
    for kind, path in paths.items():
        line = {"dash": "dash" if kind == "linear" else "solid"}
        fig.add_trace(go.Scatter(x=list(range(len(path))), y=latent_norms(path), name=kind, line=line))
    radius = math.sqrt(latent_dim)
    fig.add_hline(y=radius, line_dash="dot", annotation_text=f"√d = {radius:.2f}")
    fig.update_layout(
        height=260, xaxis_title="step along the chain", yaxis_title="‖z‖", margin={"t": 10, "b": 10, "l": 10, "r": 10}
    )
    return fig


def mark(fig: go.Figure, point: np.ndarray, name: str, marker: dict) -> go.Figure:
    """Add one marked point ``[2]`` to a latent plot: where a decoded spot, or a drawn digit, lies."""
    fig.add_trace(go.Scatter(x=[point[0]], y=[point[1]], mode="markers", name=name, hoverinfo="skip", marker=marker))
    return fig
