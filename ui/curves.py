"""Plotly figures of how runs train and compare: loss curves (per epoch and per step) and the
rate–distortion plane. Pure functions from run metadata to figures, testable without Streamlit."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vae.model.config import RECON_UNITS
from vae.runfile import RunInfo

if TYPE_CHECKING:  # vae.training.record imports torch, and Home imports this module's units before torch is loaded
    from vae.training.record import StepHistory

# The units every page labels a loss term with, built here alone. Each term is summed over the image's pixels and
# latent dimensions and averaged over the images (STYLE.md, "Per-image units"), so each is a figure per image.
NATS = "nats"  # a KL, and the Bernoulli decoder's −log p(x|z)
KL_UNIT = f"{NATS} per image"


def recon_unit(likelihood: str) -> str:
    """What a reconstruction term of this decoder likelihood is measured in (``vae.model.config.RECON_UNITS``)."""
    return f"{RECON_UNITS[likelihood]} per image"


def loss_unit(likelihood: str) -> str:
    """What recon + β·KL is measured in: nats per image, unless the reconstruction is not in nats (MSE)."""
    return _total_unit((RECON_UNITS[likelihood],))


def _total_unit(units: tuple[str, ...]) -> str:
    """recon + β·KL's unit, for runs whose reconstructions are in ``units`` (``RECON_UNITS`` values)."""
    kinds = sorted(set(units))
    if kinds == [NATS]:
        return KL_UNIT
    return f"{kinds[0]} + β·{NATS} per image" if len(kinds) == 1 else "per image; the runs' units differ"


# Where the view of the later epochs begins: the end of the first epoch. Its steps fall from ~540 to ~165 nats per
# image on MNIST, and an axis that holds them draws the later epochs' progress (164 to 150) as a flat line.
FIRST_EPOCH_END = 1.0
_CROPPED = ("recon", "kl", "loss", "regularizer")  # not β's panel: a warm-up is drawn whole


def past_first_epoch(series: list[dict]) -> bool:
    """Whether any series goes on past the first epoch: then the view of the later epochs is the default."""
    return any(x > FIRST_EPOCH_END for s in series for x in s["x"])


def loss_figure(
    series: list[dict],
    title: str = "",
    units: tuple[str, ...] = (NATS,),
    *,
    after_first_epoch: bool | None = None,
) -> go.Figure:
    """Panels for reconstruction, KL and total on their own axes (the terms differ by orders of magnitude),
    plus the β or C in effect when any series carries a schedule.

    Each series is ``{"name", "x", "recon", "kl", "loss", "dash", "color"}`` with optional ``"beta"``,
    ``"capacity"`` and ``"regularizer"`` lists; a key set to None is not drawn. The objective's own term (TC for
    β-TCVAE and FactorVAE, DIP-VAE's penalty) gets a panel when any series has one. ``units``: what the runs'
    reconstructions are measured in (``vae.model.config.RECON_UNITS``), each per image. ``after_first_epoch``: the loss
    panels start at the end of the first epoch, scaled to what follows it; None: when the series go past it.
    """
    recon_units = f"{' or '.join(sorted(set(units)))} per image"
    total_units = _total_unit(units)
    panels = ["recon", "kl", "loss"]
    titles = [
        f"Reconstruction ({recon_units})",
        f"KL ({KL_UNIT})",
        f"Total: recon + β·KL ({total_units})",
    ]
    hover_units = {"recon": recon_units, "kl": KL_UNIT, "loss": total_units}
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
            unit = f" {hover_units[key]}" if key in hover_units else ""
            hover = f"%{{fullData.name}}<br>epoch %{{x:.2~f}}: %{{y:.2f}}{unit}<extra></extra>"
            fig.add_trace(
                go.Scatter(
                    x=s["x"],
                    y=s[key],
                    name=s["name"],
                    showlegend=col == 1,
                    line=style,
                    hovertemplate=hover,
                    **common,
                ),
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
    crop = past_first_epoch(series) if after_first_epoch is None else after_first_epoch
    if crop:
        _after_first_epoch(fig, series, panels)
    fig.update_layout(height=340, margin={"t": 40, "b": 10, "l": 10, "r": 10}, title=title or None)
    fig.update_layout(legend={"orientation": "h", "y": -0.25})
    return fig


def _after_first_epoch(fig: go.Figure, series: list[dict], panels: list[str]) -> None:
    """Start the loss panels' x-axes at the end of the first epoch, and fit their y-axes to the points after it:
    plotly's autorange would still span the first epoch's points, hidden off the left edge. The first epoch's own
    points (its steps, and its train mean, which averages them) are left out of the fit: lines from them enter
    from the edge."""
    end = max((x for s in series for x in s["x"]), default=FIRST_EPOCH_END)
    if end <= FIRST_EPOCH_END:
        return
    pad = 0.02 * (end - FIRST_EPOCH_END)  # the last epoch's markers whole, not cut at the right edge
    for col, key in enumerate(panels, start=1):
        if key not in _CROPPED:
            continue
        shown = [
            y
            for s in series
            if s.get(key) is not None
            for x, y in zip(s["x"], s[key], strict=True)
            if x > FIRST_EPOCH_END and y is not None and math.isfinite(y)
        ]
        fig.update_xaxes(range=[FIRST_EPOCH_END, end + pad], title_text="epoch (after the first)", row=1, col=col)
        if shown:
            low, high = min(shown), max(shown)
            margin = 0.05 * (high - low) or 0.05 * abs(high) or 1.0
            fig.update_yaxes(range=[low - margin, high + margin], row=1, col=col)


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
            hovertemplate=(
                f"%{{customdata[0]}}<br>%{{customdata[1]}}<br>R=%{{x:.2f}}, D=%{{y:.2f}} {KL_UNIT}<extra></extra>"
            ),
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
        xaxis={"title": f"rate R = test KL ({KL_UNIT})", "range": [0, x_max]},
        yaxis={
            "title": f"distortion D = test reconstruction ({recon_unit('bce')})",
            "range": [max(0, distortion.min() * 0.9 - 1), y_max],
        },
    )
    return fig
