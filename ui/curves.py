"""Plotly figures of how runs train and compare: loss curves (per epoch and per step) and the
rate–distortion plane. Pure functions from run metadata to figures, testable without Streamlit."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vae.folder import RunInfo
from vae.history import StepHistory


def loss_figure(series: list[dict], title: str = "", units: tuple[str, ...] = ("nats",)) -> go.Figure:
    """Panels for reconstruction, KL and total on their own axes (the terms differ by orders of magnitude),
    plus the β or C in effect when any series carries a schedule.

    Each series is ``{"name", "x", "recon", "kl", "loss", "dash", "color"}`` with optional ``"beta"``,
    ``"capacity"`` and ``"regularizer"`` lists; a key set to None is not drawn. The objective's own term (TC for
    β-TCVAE and FactorVAE, DIP-VAE's penalty) gets a panel when any series has one. ``units``: what the runs'
    reconstructions are measured in (``vae.config.RECON_UNITS``), each per image.
    """
    panels = ["recon", "kl", "loss"]
    titles = [
        f"Reconstruction ({' or '.join(sorted(set(units)))} per image)",
        "KL (nats per image)",
        "Total: recon + β·KL",
    ]
    if any(any(s.get("regularizer") or []) for s in series):
        panels.append("regularizer")
        titles.append("Objective's term: TC or DIP penalty")
    if any(s.get("beta") is not None for s in series):
        panels.append("beta")
        titles.append("β in effect (C dotted)")
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=titles)
    for s in series:
        for col, key in enumerate(panels, start=1):
            if s.get(key) is None:
                continue
            style = {"dash": s.get("dash", "solid"), "color": s.get("color"), "width": s.get("width", 2)}
            common = {
                "legendgroup": s["name"],
                "mode": s.get("mode", "lines+markers"),
                "opacity": s.get("opacity", 1.0),
            }
            fig.add_trace(
                go.Scatter(x=s["x"], y=s[key], name=s["name"], showlegend=col == 1, line=style, **common),
                row=1,
                col=col,
            )
            if key == "beta" and any(s.get("capacity") or []):
                fig.add_trace(
                    go.Scatter(
                        x=s["x"],
                        y=s["capacity"],
                        name=f"{s['name']} C",
                        showlegend=False,
                        line={**style, "dash": "dot"},
                        **common,
                    ),
                    row=1,
                    col=col,
                )
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(height=340, margin={"t": 40, "b": 10, "l": 10, "r": 10}, title=title or None)
    fig.update_layout(legend={"orientation": "h", "y": -0.25})
    return fig


MAX_STEP_POINTS = 5000  # a per-step curve of a whole run; plotly stays responsive well past this


def step_series(
    steps: StepHistory, name: str, color: str | None, *, scheduled: bool = False, opacity: float = 0.35
) -> dict:
    """A thin per-step series for ``loss_figure``, on the fractional-epoch axis; β and C only when ``scheduled``.
    At most ``MAX_STEP_POINTS`` rows are drawn: a long run (Burda's 364 epochs keep ~50,000) is thinned."""
    steps = steps.thinned(MAX_STEP_POINTS)
    return {
        "name": name,
        "x": steps.epoch_axis(),
        "recon": steps.column("recon"),
        "kl": steps.column("kl"),
        "loss": steps.column("loss"),
        "regularizer": steps.column("regularizer"),
        "beta": steps.column("beta") if scheduled else None,
        "capacity": steps.column("capacity") if scheduled else None,
        "mode": "lines",
        "color": color,
        "width": 1,
        "opacity": opacity,
    }


def epoch_series(epochs: list[dict], name: str, color: str | None = None) -> list[dict]:
    """Train (dashed) and test (solid) series from a run's epoch history."""
    x = [e["epoch"] for e in epochs]
    return [
        {
            "name": f"{name} {split}",
            "x": x,
            "recon": [e[split]["recon"] for e in epochs],
            "kl": [e[split]["kl"] for e in epochs],
            "loss": [e[split]["loss"] for e in epochs],
            "dash": "dash" if split == "train" else "solid",
            "color": color,
            # Training alone computes the objective's term (the test pass measures the ELBO).
            "regularizer": [e.get("regularizer", 0.0) for e in epochs] if split == "train" else None,
            # The schedule is the same for both splits: draw it once.
            "beta": [e.get("beta") for e in epochs] if split == "test" and _scheduled(epochs) else None,
            "capacity": [e.get("capacity", 0.0) for e in epochs] if split == "test" else None,
        }
        for split in ("train", "test")
    ]


def _scheduled(epochs: list[dict]) -> bool:
    """Whether β or C changed during the run, so that its panel says something."""
    betas = {e.get("beta") for e in epochs}
    return len(betas) > 1 or any(e.get("capacity", 0.0) for e in epochs)


# Up to this many points a scatter is drawn as SVG, past it with WebGL. Without a GPU (headless
# chromium, many laptops' browsers on battery) the WebGL context alone costs more than a few
# thousand SVG points take to draw (bench/app_speed.py).
def rate_distortion_figure(infos: list[RunInfo], batch: tuple[str, ...] = ()) -> go.Figure:
    """Runs as points at (rate = test KL, distortion = test recon), coloured by β, with iso-ELBO lines R + D = c.

    The runs named in ``batch`` (a sweep) are ringed and joined by a line in β order, one per latent dimension.
    """
    rate = np.array([i.final["test"]["kl"] for i in infos])
    distortion = np.array([i.final["test"]["recon"] for i in infos])
    betas = np.array([i.config.beta for i in infos])
    fig = go.Figure()
    totals = rate + distortion
    span = (totals.max() - totals.min()) or 10.0
    x_max, y_max = rate.max() * 1.15 + 1, distortion.max() * 1.05 + 1
    for c in np.linspace(totals.min() - 0.25 * span, totals.max() + 0.25 * span, 6):
        fig.add_trace(
            go.Scatter(
                x=[0, c],
                y=[c, 0],
                mode="lines",
                line={"dash": "dash", "color": "#bbbbbb", "width": 1},
                hoverinfo="skip",
                showlegend=False,
            )
        )
    color = np.log10(np.maximum(betas, 0.01))
    ticks = [b for b in (0.01, 0.1, 0.25, 0.5, 1, 2, 4, 8, 10) if betas.min() <= b <= max(betas.max(), 0.01)]
    fig.add_trace(
        go.Scatter(
            x=rate,
            y=distortion,
            mode="markers+text",
            text=[f"β={b:g}" for b in betas],
            textposition="top center",
            customdata=[[i.name, i.config.label] for i in infos],
            hovertemplate="%{customdata[0]}<br>%{customdata[1]}<br>R=%{x:.2f}, D=%{y:.2f}<extra></extra>",
            marker={
                "size": 12,
                "color": color,
                "colorscale": "Viridis",
                "showscale": True,
                "colorbar": {"title": "β", "tickvals": np.log10(ticks).tolist(), "ticktext": [f"{t:g}" for t in ticks]},
            },
            showlegend=False,
        )
    )
    swept = [i for i in infos if i.name in batch]
    for d in sorted({i.config.latent_dim for i in swept}):
        line = sorted((i for i in swept if i.config.latent_dim == d), key=lambda i: i.config.beta)
        fig.add_trace(
            go.Scatter(
                x=[i.final["test"]["kl"] for i in line],
                y=[i.final["test"]["recon"] for i in line],
                mode="lines+markers",
                name=f"your sweep, d={d}",
                hoverinfo="skip",
                line={"color": "#d62728", "width": 2},
                marker={"size": 18, "color": "rgba(0,0,0,0)", "line": {"color": "#d62728", "width": 2}},
            )
        )
    fig.update_layout(
        height=460,
        margin={"t": 10, "b": 10, "l": 10, "r": 10},
        xaxis={"title": "rate R = test KL (nats)", "range": [0, x_max]},
        yaxis={
            "title": "distortion D = test reconstruction (nats)",
            "range": [max(0, distortion.min() * 0.9 - 1), y_max],
        },
    )
    return fig
