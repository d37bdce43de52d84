"""Plotly figures for the Compare and Bias probe pages: pure functions of the core's arrays.

Every user-derived label goes through `token_labels`/`safe_text` (plotly reads a little HTML); matrices
travel as float32 typed arrays with one hover template per trace, never per-cell text.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from attention.run.result import Attention
from figures import _BARE, COLORSCALE, click_cells, every_label, safe_text, token_labels

DIVERGING = "RdBu_r"   # A − B: red where A attends more, blue where B does, white where they agree


@dataclass(frozen=True)
class Panel:
    """One matrix to draw: rows are query tokens, columns key tokens."""

    title: str
    matrix: np.ndarray       # [query, key]
    rows: list[str]
    columns: list[str]


def _title(text: str) -> dict:
    return {"text": text, "x": 0.0, "xref": "paper", "y": 0.995, "yref": "container", "yanchor": "top"}


def _side(n: int) -> int:
    return int(min(760, max(320, 140 + 18 * n)))


def panel_grid(panels: list[Panel], columns: int | None = None, title: str = "") -> go.Figure:
    """[query, key] matrices in a grid (row by row, `columns` across; all in one row by default),
    on one shared colour scale from 0 to the largest weight, so strengths compare directly."""
    if not panels:
        raise ValueError("Choose at least one head to draw.")
    columns = columns or len(panels)
    rows = -(-len(panels) // columns)
    zmax = float(max(max(panel.matrix.max(), 1e-6) for panel in panels))
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=[safe_text(panel.title) for panel in panels],
                        horizontal_spacing=0.15 if columns > 1 else 0.0, vertical_spacing=0.18 if rows > 1 else 0.0)
    for index, panel in enumerate(panels):
        row, column = divmod(index, columns)
        fig.add_trace(go.Heatmap(
            z=np.asarray(panel.matrix, dtype=np.float32), x=token_labels(panel.columns), y=token_labels(panel.rows),
            coloraxis="coloraxis",
            hovertemplate=f"{safe_text(panel.title)}<br>query: %{{y}}<br>key: %{{x}}<br>weight: %{{z:.3f}}<extra></extra>",
        ), row=row + 1, col=column + 1)
    longest = max(len(p.rows) for p in panels)
    # automargin: the first column's row labels and the bottom row's slanted key labels get room instead of being cut off
    fig.update_yaxes(autorange="reversed", tickfont={"size": 9}, automargin=True, **every_label(longest))
    fig.update_xaxes(tickfont={"size": 9}, tickangle=-60, automargin=True, **every_label(longest))
    fig.update_layout(
        template=_BARE, title=_title(safe_text(title)), height=rows * _side(longest) + 60,
        margin={"t": 70},
        coloraxis={"colorscale": COLORSCALE, "cmin": 0.0, "cmax": zmax, "colorbar": {"title": {"text": "weight"}, "thickness": 12}},
    )
    return fig


def difference_heatmap(diff: np.ndarray, labels: list[str], title: str, names: tuple[str, str] = ("A", "B"),
                       floor: float = 0.02) -> go.Figure:
    """A − B over aligned tokens, on a colour scale centred on 0 and symmetric (equal shades, equal size).

    The scale spans at least ±floor, so rounding noise between equal models stays white instead of saturating."""
    diff = np.asarray(diff, dtype=np.float32)
    bound = float(max(np.abs(diff).max() if diff.size else 0.0, floor))
    axis = token_labels(labels)
    a, b = (safe_text(name) for name in names)
    fig = go.Figure(go.Heatmap(
        z=diff, x=axis, y=axis, colorscale=DIVERGING, zmid=0.0, zmin=-bound, zmax=bound,
        colorbar={"title": {"text": f"{a} − {b}"}, "thickness": 12},
        hovertemplate=f"query: %{{y}}<br>key: %{{x}}<br>{a} − {b}: %{{z:+.3f}}<extra></extra>",
    ))
    fig.update_layout(
        template=_BARE, title=_title(safe_text(title)), height=_side(len(labels)),
        margin={"t": 50},
        xaxis={"tickangle": -60, "tickfont": {"size": 10}, "automargin": True, **every_label(len(labels))},
        yaxis={"title": "query (rows) attends to key (columns)", "autorange": "reversed", "tickfont": {"size": 10},
               "automargin": True, **every_label(len(labels))},
    )
    return fig


def layer_head_map(scores: np.ndarray, title: str, colorbar: str, percent: bool = True) -> go.Figure:
    """A [layer, head] score per cell (e.g. how much attention moves). An invisible marker on each cell
    (trace 1) carries hover and clicks, since plotly cannot select heatmap cells."""
    scores = np.asarray(scores, dtype=np.float32)
    layers, heads = scores.shape
    value = "%{customdata:.1%}" if percent else "%{customdata:.4f}"
    fig = go.Figure(go.Heatmap(
        z=scores, x=list(range(heads)), y=list(range(layers)), colorscale="Reds", zmin=0.0,
        zmax=float(max(scores.max(), 1e-6)), xgap=2, ygap=2, hoverinfo="skip",
        colorbar={"title": {"text": colorbar}, "thickness": 12, "tickformat": ".0%" if percent else ".3f"},
    ))
    fig.add_trace(click_cells(layers, heads, scores,
                              f"Layer %{{y}} · Head %{{x}}<br>{safe_text(colorbar)}: {value}<br>click to open<extra></extra>", 16))
    fig.update_layout(
        template=_BARE, title=_title(safe_text(title)), height=int(min(600, max(240, 110 + 48 * layers))),
        # fixed ranges: the click markers would otherwise widen autorange to phantom heads/layers (−1, n)
        xaxis={"title": "head", "dtick": 1, "side": "top", "showgrid": False, "zeroline": False, "range": [-0.5, heads - 0.5]},
        yaxis={"title": "layer", "dtick": 1, "range": [layers - 0.5, -0.5], "showgrid": False, "zeroline": False},
        clickmode="event+select", dragmode=False,
    )
    return fig


def key_shift_bars(shifts: list[tuple[str, float]], title: str, names: tuple[str, str]) -> go.Figure:
    """Per key word, the mean change in attention from the swapped term (A − B, A and B named in the hover), largest first."""
    labels = token_labels([key for key, _ in shifts])
    values = np.array([value for _, value in shifts], dtype=np.float32)
    a, b = (safe_text(name) for name in names)
    fig = go.Figure(go.Bar(
        x=values, y=labels, orientation="h", marker={"color": np.where(values >= 0, "#c0392b", "#2e6fb7").tolist()},
        hovertemplate=f"key: %{{y}}<br>{a} − {b}: %{{x:+.3f}}<extra></extra>",
    ))
    fig.update_layout(
        template=_BARE, title=_title(safe_text(title)), height=int(min(640, max(240, 90 + 22 * len(labels)))),
        xaxis={"title": "A − B", "zeroline": True, "zerolinewidth": 2},
        yaxis={"title": "key word", "autorange": "reversed", "automargin": True, "type": "category"},
    )
    return fig


def excess_map(excess: np.ndarray, p_values: np.ndarray, adjusted: np.ndarray, alpha: float, title: str = "") -> go.Figure:
    """Excess shift per head [layer, head] (gender swap minus control swaps) on a diverging scale centred on 0; heads
    whose excess survives the corrected test (adjusted p ≤ alpha) outlined. Trace 1: invisible markers for hover and
    clicks (plotly cannot select heatmap cells), with the excess and both p-values."""
    excess = np.asarray(excess, dtype=np.float32)
    layers, heads = excess.shape
    bound = float(np.nanmax(np.abs(excess))) if np.isfinite(excess).any() else 0.0
    bound = max(bound, 1e-6)
    fig = go.Figure(go.Heatmap(
        z=excess, x=list(range(heads)), y=list(range(layers)), colorscale="RdBu_r", zmid=0.0, zmin=-bound, zmax=bound,
        xgap=2, ygap=2, hoverinfo="skip",
        colorbar={"title": {"text": "excess shift<br>(gender − control)"}, "thickness": 12, "tickformat": "+.1%"},
    ))
    data = np.stack([excess, np.asarray(p_values), np.asarray(adjusted)], axis=-1)      # [layer, head, field]
    fig.add_trace(click_cells(layers, heads, data, "Layer %{y} · Head %{x}<br>excess: %{customdata[0]:+.2%}<br>p = "
                              "%{customdata[1]:.4f} (adjusted %{customdata[2]:.4f})<br>click to open<extra></extra>", 16))
    survive = np.argwhere(np.asarray(adjusted) <= alpha)
    fig.add_trace(go.Scatter(
        x=survive[:, 1].tolist(), y=survive[:, 0].tolist(), mode="markers", hoverinfo="skip",
        name=f"survives the test (FDR {alpha:.0%})", showlegend=True,
        marker={"symbol": "square-open", "size": 22, "color": "#111", "line": {"width": 2.5}},
    ))
    fig.update_layout(
        template=_BARE, title=_title(safe_text(title)), height=int(min(640, max(280, 150 + 48 * layers))),
        xaxis={"title": "head", "dtick": 1, "side": "top", "showgrid": False, "zeroline": False, "range": [-0.5, heads - 0.5]},
        yaxis={"title": "layer", "dtick": 1, "range": [layers - 0.5, -0.5], "showgrid": False, "zeroline": False},
        legend={"orientation": "h", "y": -0.02, "yanchor": "top", "x": 0.0},
        clickmode="event+select", dragmode=False,
    )
    return fig


def paired_heads_figure(result_a: Attention, result_b: Attention, heads: dict[str, tuple[int, int]],
                        labels: tuple[str, str]) -> go.Figure:
    """The chosen heads (name -> (layer, head)) of A (top row) and B (bottom row), all on one colour scale."""
    rows = [Panel(f"{label} · {name}", result.head(*where), result.tokens, result.tokens)
            for label, result in zip(labels, (result_a, result_b)) for name, where in heads.items()]
    return panel_grid(rows, columns=len(heads))
