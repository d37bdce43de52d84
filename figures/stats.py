"""Plotly figures for the Head stats page: pure functions of the statistics in attention/stats.py and corpus.py."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from figures import _BARE, click_cells, safe_text
from figures.inspect import Panel, _title, panel_grid
from attention.analyses.stats import PATTERNS, STATS

PATTERN_COLOURS = ("#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#bdbdbd")   # in the order of PATTERNS
SIMILARITY_TICKS = 24   # head labels per axis of the similarity heatmap: more would be too small to read


def stat_grid(values: dict[str, np.ndarray], pattern: np.ndarray, stat: str, title: str,
              selected: tuple[int, int] | None = None) -> go.Figure:
    """Layers × heads coloured by one statistic of STATS or by "pattern" (type per head); every statistic is in the
    hover, and a click on a cell (trace 1) opens that head. `values[name]` and `pattern` are [layer, head]."""
    layers, heads = pattern.shape
    if stat == "pattern":
        codes = np.vectorize(PATTERNS.index)(pattern).astype(float)
        steps = np.linspace(0, 1, len(PATTERNS) + 1)
        scale = [[edge, colour] for i, colour in enumerate(PATTERN_COLOURS) for edge in (steps[i], steps[i + 1])]
        heat = go.Heatmap(z=codes, zmin=-0.5, zmax=len(PATTERNS) - 0.5, colorscale=scale,
                          colorbar={"tickvals": list(range(len(PATTERNS))), "ticktext": list(PATTERNS), "thickness": 12})
    else:
        percent = STATS[stat][1]
        heat = go.Heatmap(z=values[stat], colorscale="Viridis", colorbar={"title": {"text": stat}, "thickness": 12,
                                                                          "tickformat": ".0%" if percent else ".2f"})
    names = list(STATS)
    data = np.stack([*(np.asarray(values[n], dtype=object) for n in names), pattern], axis=-1)   # [layer, head, stat]
    lines = "<br>".join(f"{n}: %{{customdata[{i}]:{'.1%' if STATS[n][1] else '.2f'}}}" for i, n in enumerate(names))
    hover = f"Layer %{{y}} · Head %{{x}}<br>pattern: %{{customdata[{len(names)}]}}<br>{lines}<br>click to open<extra></extra>"
    fig = go.Figure([heat.update(x=list(range(heads)), y=list(range(layers)), xgap=2, ygap=2, hoverinfo="skip"),
                     click_cells(layers, heads, data, hover)])
    if selected is not None:
        fig.add_shape(type="rect", x0=selected[1] - 0.5, x1=selected[1] + 0.5, y0=selected[0] - 0.5, y1=selected[0] + 0.5,
                      line={"color": "#f97316", "width": 3})
    fig.update_layout(
        template=_BARE, title=_title(safe_text(title)), height=int(min(640, max(280, 150 + 48 * layers))),
        margin={"t": 110},
        xaxis={"title": "head", "dtick": 1, "side": "top", "showgrid": False, "zeroline": False, "range": [-0.5, heads - 0.5]},
        yaxis={"title": "layer", "dtick": 1, "range": [layers - 0.5, -0.5], "showgrid": False, "zeroline": False},
        clickmode="event+select", dragmode=False,
    )
    return fig


def similarity_heatmap(distances: np.ndarray, order: np.ndarray, n_heads: int, title: str = "") -> go.Figure:
    """Jensen–Shannon distance between every pair of heads ([head, head], heads numbered layer·n_heads + head), rows and
    columns in the clustering `order`, so alike heads form dark blocks on the diagonal."""
    labels = [f"L{index // n_heads}·H{index % n_heads}" for index in order]
    fig = go.Figure(go.Heatmap(
        z=np.asarray(distances, dtype=np.float32)[np.ix_(order, order)], x=labels, y=labels, colorscale="Viridis",
        zmin=0.0, zmax=1.0, colorbar={"title": {"text": "JS distance"}, "thickness": 12},
        hovertemplate="%{y} vs %{x}<br>Jensen–Shannon distance: %{z:.3f}<extra></extra>",
    ))
    side = int(min(900, max(420, 160 + 9 * len(order))))
    # a readable size for every k-th label (at most SIMILARITY_TICKS of them); every name stays in the hover
    step = max(1, -(-len(labels) // SIMILARITY_TICKS))
    shown = labels[::step]
    ticks = {"tickmode": "array", "tickvals": shown, "ticktext": shown, "tickfont": {"size": 11}, "automargin": True,
             "showgrid": False}
    fig.update_layout(template=_BARE, title=_title(safe_text(title)), height=side,
                      xaxis={**ticks, "tickangle": -90}, yaxis={**ticks, "autorange": "reversed"})
    return fig


def stat_spread(table, stat: str, layer: int, head: int) -> go.Figure:
    """Corpus mode: how one statistic of one head varies over the sentences (a histogram of the per-sentence values)."""
    chosen = table[(table["layer"] == layer) & (table["head"] == head)]
    fig = go.Figure(go.Histogram(x=chosen[stat].to_numpy(np.float32), nbinsx=30, marker={"color": "#3b6fb6"},
                                 hovertemplate=f"{stat}: %{{x}}<br>sentences: %{{y}}<extra></extra>"))
    fig.update_layout(template=_BARE, title=_title(f"Layer {layer} · Head {head}: {stat} over {len(chosen)} sentences"),
                      height=300, xaxis={"title": stat, "tickformat": ".0%" if STATS[stat][1] else ""},
                      yaxis={"title": "sentences"}, bargap=0.05)
    return fig


def rollout_flow_figure(tokens: list[str], rolled: np.ndarray, flows: np.ndarray | None) -> go.Figure:
    """Rollout after the last layer ([layer, query, input token]: its last layer drawn) beside attention flow
    ([query, input token], when computed): rows are positions after the last layer, columns input tokens."""
    panels = [Panel(f"Rollout after layer {len(rolled) - 1}", rolled[-1], tokens, tokens)]
    if flows is not None:
        panels.append(Panel("Attention flow", flows, tokens, tokens))
    return panel_grid(panels, title="Rows: positions after the last layer · columns: input tokens")
