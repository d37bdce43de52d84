"""Figures for the Time series page: pure functions (result, options) -> plotly Figure."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from attention.run.result import Attention
from attention.domains.timeseries import past_attention

BELOW_AXIS = dict(orientation="h", yanchor="top", y=-0.25, x=0)   # the legend under the x-axis title, never on it


def forecast_figure(result: Attention, output: int, layer: int, head: int | None) -> go.Figure:
    """The window, the forecast and the truth; the past steps that forecast `output` attends to shaded under the curve."""
    window = np.asarray(result.meta["window"])[:, 0]
    prediction, truth = np.asarray(result.meta["prediction"]), np.asarray(result.meta["truth"])
    past = np.arange(-len(window) + 1, 1)
    future = np.arange(1, len(prediction) + 1)
    weight = past_attention(result, output, layer, head)                       # [step]
    low = float(min(window.min(), truth.min(), prediction.min()))
    shade = low + (window - low) * weight / max(float(weight.max()), 1e-9)      # shading height ∝ weight
    patch = int(result.meta["patch"])
    chosen = future[output * patch:(output + 1) * patch]
    fig = go.Figure([
        go.Scatter(x=past, y=np.full_like(window, low), mode="lines", line=dict(width=0), showlegend=False, hoverinfo="skip"),
        go.Scatter(x=past, y=shade, mode="lines", fill="tonexty", line=dict(width=0), fillcolor="rgba(214,39,40,0.45)",
                   name="attention (shaded)", customdata=weight, hovertemplate="step %{x}: weight %{customdata:.3f}<extra></extra>"),
        go.Scatter(x=past, y=window, mode="lines", name="past (input window)", line=dict(color="#1f77b4")),
        go.Scatter(x=future, y=truth, mode="lines", name="what happened", line=dict(color="#555", dash="dot")),
        go.Scatter(x=future, y=prediction, mode="lines+markers", name="forecast", line=dict(color="#ff7f0e"), marker=dict(size=4)),
    ])
    fig.add_vrect(x0=chosen[0] - 0.5, x1=chosen[-1] + 0.5, fillcolor="rgba(255,127,14,0.15)", line_width=0)
    which = "heads averaged" if head is None else f"head {head}"
    fig.update_layout(title=f"Forecast steps {chosen[0]}–{chosen[-1]}: where it looks (layer {layer}, {which})",
                      xaxis_title="time step (0 = the latest observed)", yaxis_title="value", height=420,
                      margin=dict(l=50, r=10, t=50, b=40), legend=BELOW_AXIS)
    return fig


def gradient_figure(result: Attention, gradient: np.ndarray, output: int) -> go.Figure:
    """|∂forecast/∂x| per past step [window] of forecast token `output`, as bars under the window's time axis."""
    steps = np.arange(-len(gradient) + 1, 1)
    patch = int(result.meta["patch"])
    fig = go.Figure(go.Bar(x=steps, y=np.asarray(gradient, dtype=np.float64), marker_color="rgba(44,160,44,0.7)",
                           name="|∂forecast/∂x|", hovertemplate="step %{x}: %{y:.4f}<extra></extra>"))
    fig.update_layout(title=f"|∂forecast/∂x| of steps {output * patch + 1}–{(output + 1) * patch} (whole model)",
                      xaxis_title="time step (0 = the latest observed)",
                      yaxis_title="|∂forecast/∂x|", bargap=0, height=420, margin=dict(l=50, r=10, t=50, b=40))
    return fig


def sensors_figure(result: Attention, sensor_names: list[str], layer: int, head: int | None) -> go.Figure:
    """The machine's sensor traces (standardised) over the window, the [RUL] token's attention shaded behind them."""
    window = np.asarray(result.meta["window"])                                # [cycle, sensor]
    scaled = (window - window.mean(0)) / (window.std(0) + 1e-9)
    cycles = np.arange(-len(window) + 1, 1)
    weight = past_attention(result, 0, layer, head)
    fig = go.Figure(go.Bar(x=cycles, y=weight / max(float(weight.max()), 1e-9) * float(np.abs(scaled).max()), base=0,
                           marker_color="rgba(214,39,40,0.35)", name="attention of the RUL token (shaded)", customdata=weight,
                           hovertemplate="cycle %{x}: weight %{customdata:.3f}<extra></extra>"))
    for index, name in enumerate(sensor_names):
        fig.add_trace(go.Scatter(x=cycles, y=scaled[:, index], mode="lines", name=name, line=dict(width=1)))
    predicted, true = result.meta["prediction"][0], result.meta["truth"][0]
    which = "heads averaged" if head is None else f"head {head}"
    fig.update_layout(title=f"Predicted RUL {predicted:.0f} cycles, true {true:.0f} (layer {layer}, {which})",
                      xaxis_title="cycle (0 = the latest)", yaxis_title="sensor (standardised)", bargap=0, height=420,
                      margin=dict(l=50, r=10, t=50, b=40), legend=dict(font=dict(size=11)))   # 11 entries: a column beside
    return fig


def time_heatmap(result: Attention, layer: int, head: int | None) -> go.Figure:
    """Attention over time tokens as a [query, key] heatmap: one head, or the heads averaged."""
    matrix = result.weights[layer].mean(0) if head is None else result.head(layer, head)
    labels = list(result.tokens)            # the steps each token covers (t−95…t−88, …, t+1…t+8 or RUL): unique
    fig = go.Figure(go.Heatmap(z=matrix, x=labels, y=labels, colorscale="Viridis", zmin=0, colorbar=dict(title="weight"),
                               hovertemplate="query %{y}<br>key %{x}<br>weight %{z:.3f}<extra></extra>"))
    which = "heads averaged" if head is None else f"head {head}"
    axis = dict(type="category", automargin=True, tickfont=dict(size=10), nticks=24)   # thinned labels when the window is long
    fig.update_layout(title=f"Attention over time, layer {layer} ({which})", height=520, margin=dict(l=10, r=10, t=50, b=10),
                      xaxis=dict(title="key (looked at)", tickangle=-45, **axis),
                      yaxis=dict(title="query (looking)", autorange="reversed", **axis))
    return fig


def rul_trace_figure(true: np.ndarray, predicted: np.ndarray, cycles: np.ndarray) -> go.Figure:
    """Predicted vs true remaining useful life over one held-out machine's life."""
    fig = go.Figure([go.Scatter(x=cycles, y=true, mode="lines", name="true RUL (capped)", line=dict(color="#555", dash="dot")),
                     go.Scatter(x=cycles, y=predicted, mode="lines", name="predicted RUL", line=dict(color="#ff7f0e"))])
    fig.update_layout(title="Predicted vs true RUL along one machine's life", xaxis_title="cycle", yaxis_title="cycles left",
                      height=320, margin=dict(l=50, r=10, t=50, b=40))
    return fig
