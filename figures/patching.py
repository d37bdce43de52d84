"""Figures of the Patching page: pure functions of a Patching (attention/analyses/patching.py).

    head_map       what patching each head restores, [layer, head], on a scale from −1 to 1 (0 = corrupted, 1 = clean)
    residual_map   what patching the residual stream restores, [layer + 1, position]: row 0 the embeddings, the last
                   row the output; changed positions labelled clean/corrupted
    blocks_figure  each layer's attention block against its feed-forward block
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from attention.analyses.patching import Patching
from figures import _BARE, every_label, safe_text, token_labels

SCALE = "RdBu_r"          # blue below 0 (worse than corrupted), white 0, red 1 (as clean)
RESTORED = "restored (0 = corrupted, 1 = clean)"


def _title(text: str) -> dict:
    return {"text": safe_text(text), "x": 0.0, "xref": "paper", "y": 0.995, "yref": "container", "yanchor": "top"}


def _span(values: np.ndarray) -> float:
    """The colour scale's half-width: at least 1, wider when a patch overshoots."""
    return float(max(1.0, np.nanmax(np.abs(values), initial=0.0)))


def position_labels(found: Patching) -> list[str]:
    """The clean tokens as axis labels; a position where the inputs differ reads 'clean/corrupted'."""
    changed = set(found.changed)
    words = [f"{a}/{b}" if i in changed else a for i, (a, b) in enumerate(zip(found.tokens, found.corrupted_tokens))]
    return token_labels(words)


def head_map(found: Patching) -> go.Figure:
    """[layer, head]: the metric restored by patching each head's output, the number written in each cell."""
    values = np.asarray(found.heads, dtype=np.float64)
    layers, heads = values.shape
    span = _span(values)
    rows = [safe_text(name) for name in found.layer_names]
    fig = go.Figure(go.Heatmap(
        z=values, x=[f"H{h}" for h in range(heads)], y=rows, colorscale=SCALE, zmin=-span, zmax=span, xgap=2, ygap=2,
        texttemplate="%{z:.2f}", textfont={"size": 11}, colorbar={"title": {"text": RESTORED}, "thickness": 12},
        hovertemplate="%{y} · %{x}<br>restored %{z:.3f}<extra></extra>",
    ))
    fig.update_layout(
        template=_BARE, title=_title("Heads: each head's output taken from the clean run"),
        height=int(min(620, max(240, 110 + 44 * layers))),
        xaxis={"title": "head", "side": "bottom", "type": "category", "automargin": True},
        yaxis={"title": "layer", "autorange": "reversed", "type": "category", "automargin": True},
    )
    return fig


def residual_map(found: Patching) -> go.Figure:
    """[layer + 1, position]: the metric restored by patching the residual stream entering each layer at one position."""
    values = np.asarray(found.residual, dtype=np.float64)
    rows = values.shape[0]
    names = ["embeddings"] + [f"into layer {l}" for l in range(1, rows - 1)] + ["output"]
    labels = position_labels(found)
    span = _span(values)
    fig = go.Figure(go.Heatmap(
        z=values, x=labels, y=names, colorscale=SCALE, zmin=-span, zmax=span, xgap=1, ygap=2,
        colorbar={"title": {"text": RESTORED}, "thickness": 12},
        hovertemplate="%{y} · position %{x}<br>restored %{z:.3f}<extra></extra>",
    ))
    fig.update_layout(
        template=_BARE, title=_title("Residual stream: the stream at one layer and position taken from the clean run"),
        height=int(min(560, max(220, 120 + 34 * rows))),
        xaxis={"title": "position (clean/corrupted where they differ)", "tickangle": -60, "type": "category",
               "automargin": True, **every_label(len(labels), 80)},
        yaxis={"title": "stream", "autorange": "reversed", "type": "category", "automargin": True},
    )
    return fig


def blocks_figure(found: Patching) -> go.Figure:
    """Per layer row, the metric restored by patching its attention block's output and its feed-forward block's."""
    rows = [safe_text(name) for name in found.layer_names]
    fig = go.Figure([
        go.Bar(name="attention block", x=rows, y=np.asarray(found.attention, dtype=np.float64), marker_color="#c0392b",
               hovertemplate="%{x} · attention<br>restored %{y:.3f}<extra></extra>"),
        go.Bar(name="feed-forward block", x=rows, y=np.asarray(found.feed_forward, dtype=np.float64), marker_color="#2e6fb7",
               hovertemplate="%{x} · feed-forward<br>restored %{y:.3f}<extra></extra>"),
    ])
    fig.update_layout(
        template=_BARE, title=_title("Blocks: each layer's attention output or feed-forward output from the clean run"),
        barmode="group", height=340, xaxis={"title": "layer", "type": "category", "automargin": True},
        yaxis={"title": "restored", "zeroline": True, "zerolinewidth": 2, "automargin": True},
        legend={"orientation": "h", "y": -0.25},
    )
    return fig
