"""Plotly figures: pure functions (result, options) -> go.Figure, testable without a browser.

Kept light for the browser: weights travel as float32/uint8 typed arrays, labels once per axis,
no per-cell hover text, and a bare template (the app's theme styles the rest).
"""
from __future__ import annotations

import base64
import html

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from attention.run.result import Attention

COLORSCALE = "Blues"
_INVISIBLE = "\u200b\u200c\u200d\u2060"  # zero-width space, non-joiner, joiner, word joiner
_BARE = go.layout.Template(layout={"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "font": {"family": "sans-serif"}})


def click_cells(layers: int, heads: int, customdata: np.ndarray, hover: str, size: int = 18) -> go.Scatter:
    """An invisible square marker on each cell of a layers × heads map: plotly cannot select heatmap cells, so markers
    carry the clicks and the hover. `customdata` is [layer, head] or [layer, head, field]."""
    grid_heads, grid_layers = np.meshgrid(np.arange(heads), np.arange(layers))
    data = np.asarray(customdata)
    return go.Scatter(x=grid_heads.ravel(), y=grid_layers.ravel(), customdata=data.reshape(layers * heads, *data.shape[2:]),
                      mode="markers", showlegend=False, hovertemplate=hover,
                      marker={"symbol": "square", "size": size, "color": "rgba(0,0,0,0)"})


def token_labels(tokens: list[str]) -> list[str]:
    """Tokens as safe, unique axis labels: HTML-like text is escaped (plotly reads a little HTML),
    repeated tokens get a short invisible suffix (the repeat count in base 4, written in zero-width
    characters) so a categorical axis keeps every position."""
    seen: dict[str, int] = {}
    used: set[str] = set()
    labels = []
    for token in tokens:
        text = html.escape(token, quote=False) if token else "∅"
        label = text
        while label in used:  # a loop, not one step: a token may itself end in zero-width characters
            seen[text] = count = seen.get(text, 0) + 1
            label = text
            while count:
                count, digit = divmod(count, 4)
                label += _INVISIBLE[digit]
        used.add(label)
        labels.append(label)
    return labels


def safe_text(text: str) -> str:
    """User text for a plotly title or annotation, shown literally."""
    return html.escape(text, quote=False)


def every_label(n: int, up_to: int = 60) -> dict:
    """Axis settings that label each of `n` tokens while at most `up_to` (plotly would skip some); beyond, plotly thins."""
    return {"tickmode": "linear", "dtick": 1} if n <= up_to else {}


def top_margin(labels: list, font: int = 12, angle: float = 60, axis_title: bool = False) -> int:
    """Top margin (px) for a figure whose title sits at the top and whose key labels sit on top of the plot, slanted at
    `angle` degrees: a band for the title, a generous estimate of how far the longest label reaches, and a line for an
    axis title. (plotly's automargin makes room for the labels but not for the title, which then overlaps them.)"""
    longest = max((len(str(label)) for label in labels), default=1)
    width = 0.65 * font * longest                      # sans-serif averages ~0.55 em a character; err on the wide side
    slanted = np.ceil(width * np.sin(np.radians(angle)) + font * np.cos(np.radians(angle)) + 10)   # + tick and standoff
    return int(36 + slanted + (24 if axis_title else 0))


def head_heatmap(result: Attention, layer: int, head: int, height: int | None = None) -> go.Figure:
    """One head as a heatmap: query tokens as rows (top to bottom), key tokens as columns."""
    layer, head = result.clamp(layer, head)
    weights = result.head(layer, head)
    labels = token_labels(result.tokens)
    n = result.n_tokens
    fig = go.Figure(
        go.Heatmap(
            z=weights,
            x=labels,
            y=labels,
            zmin=0.0,
            zmax=float(max(weights.max(), 1e-6)),
            colorscale=COLORSCALE,
            colorbar={"title": {"text": "weight"}, "thickness": 12},
            hovertemplate="query: %{y}<br>key: %{x}<br>weight: %{z:.3f}<extra></extra>",
        )
    )
    side = height or int(min(900, max(380, 120 + 16 * n)))
    fig.update_layout(
        template=_BARE,
        title={"text": f"Layer {layer} · Head {head}", "x": 0.0, "xref": "paper", "y": 0.995, "yref": "container", "yanchor": "top"},
        height=side,
        # the title sits at the top of the figure, the key labels just above the plot: reserve room for both
        margin={"t": top_margin(result.tokens, font=10)},
        xaxis={"side": "top", "tickangle": -60, "tickfont": {"size": 10}, "automargin": True},
        yaxis={"title": "query (rows) attends to key (columns)", "autorange": "reversed", "tickfont": {"size": 10}, "automargin": True},
    )
    return fig


def heads_side_by_side(result: Attention, heads: list[tuple[int, int]], height: int = 420) -> go.Figure:
    """Chosen (layer, head) pairs side by side on one shared colour scale."""
    heads = [result.clamp(layer, head) for layer, head in heads] or [(0, 0)]
    labels = token_labels(result.tokens)
    zmax = float(max(result.head(layer, head).max() for layer, head in heads))
    fig = make_subplots(
        rows=1, cols=len(heads), subplot_titles=[f"Layer {layer} · Head {head}" for layer, head in heads],
        horizontal_spacing=0.04 if len(heads) > 1 else 0.0,
    )
    for column, (layer, head) in enumerate(heads, start=1):
        fig.add_trace(
            go.Heatmap(
                z=result.head(layer, head), x=labels, y=labels, coloraxis="coloraxis",
                hovertemplate=f"L{layer} H{head}<br>query: %{{y}}<br>key: %{{x}}<br>weight: %{{z:.3f}}<extra></extra>",
            ),
            row=1, col=column,
        )
        fig.update_yaxes(autorange="reversed", showticklabels=column == 1, tickfont={"size": 9}, row=1, col=column)
        fig.update_xaxes(tickfont={"size": 9}, tickangle=-60, row=1, col=column)
    fig.update_layout(
        template=_BARE, height=height,
        coloraxis={"colorscale": COLORSCALE, "cmin": 0.0, "cmax": zmax, "colorbar": {"title": {"text": "weight"}, "thickness": 12}},
    )
    return fig
