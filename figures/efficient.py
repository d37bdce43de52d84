"""Plotly figures for the "Efficient attention" page: pure functions of the core's arrays."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from attention.analyses.efficient import Quality, allowed_pairs
from attention.run.trace import Trace
from figures import safe_text
from figures.learn import _BARE, matrices_grid, matrix_figure

def forward_work(d_model: int, d_ff: int, n: int) -> float:
    """Multiply-adds per layer of one encoder pass over n tokens: the projections (4·d²) and feed-forward layer (2·d·d_ff)
    per token, plus the n × n scores and their weighted sum (2·n·d per token)."""
    return float(n) * (4 * d_model ** 2 + 2 * d_model * d_ff + 2 * n * d_model)


def doubling_ratio(d_model: int, d_ff: int, n: int) -> float:
    """How much more work a layer does at 2n tokens than at n (4 for the scores alone; less for the whole model)."""
    return forward_work(d_model, d_ff, 2 * n) / forward_work(d_model, d_ff, n)


MINILM_SIZES = {"d_model": 384, "d_ff": 1536}   # all-MiniLM-L6-v2's hidden and feed-forward sizes (checked in a test)
MINILM_DOUBLING = doubling_ratio(**MINILM_SIZES, n=512)   # 512 → 1,024 tokens: ≈ 2.4× the work


COLOURS = {"full": "#444444", "causal": "#888888", "sliding": "#1f6fb4", "dilated": "#6baed6", "longformer": "#2ca02c",
           "bigbird": "#9467bd", "probsparse": "#d62728"}


LEVELS = (("never scored (weight exactly 0)", "#f4f4f4"), ("not attending: takes the mean of the values", "#c6dbef"),
          ("scored", "#1f6fb4"))   # level 0, 1, 2 of mask_figure


def mask_figure(levels: np.ndarray, tokens: list[str], title: str) -> go.Figure:
    """The pattern [query, key]: 2 where a query scores a key, 0 where its weight is exactly 0, 1 where a ProbSparse
    query skipped attention and takes the plain mean of the values. A legend names the colours in use."""
    fig = matrix_figure(np.zeros((1, 1)), tokens, tokens, title, signed=False, row_title="query", column_title="key",
                        height=min(660, max(340, 160 + 14 * len(tokens))))      # labels and layout; the data comes next
    labels = fig.data[0]
    fig.data = ()
    levels = np.asarray(levels, dtype=np.uint8)
    fig.add_trace(go.Heatmap(z=levels, x=labels.x, y=labels.y, zmin=0, zmax=2, showscale=False,
                             colorscale=[[0, LEVELS[0][1]], [0.5, LEVELS[1][1]], [1, LEVELS[2][1]]],   # bytes: ¼ of float32
                             hovertemplate="query %{y}<br>key %{x}<br>%{z} (2 scored, 1 mean, 0 never)<extra></extra>"))
    present = set(np.unique(levels).tolist())
    for level, (name, colour) in enumerate(LEVELS):   # legend entries: invisible points in the level's colour
        if level in present:
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name, showlegend=True, hoverinfo="skip",
                                     marker={"symbol": "square", "size": 12, "color": colour,
                                             "line": {"color": "#999", "width": 1}}))
    fig.update_layout(legend={"orientation": "h", "y": -0.02, "yanchor": "top", "x": 0.0, "font": {"size": 11}},
                      margin={"b": 60})
    return fig


def side_by_side(sparse: np.ndarray, full: np.ndarray, tokens: list[str], names: tuple[str, str]) -> go.Figure:
    """One head's weights under the pattern beside the same head under full attention, on one colour scale."""
    return matrices_grid([sparse, full], list(names), [tokens, tokens], [tokens, tokens], per_row=2, scale_title="weight",
                         height_each=min(560, max(300, 100 + 12 * len(tokens))))


def quality_figure(quality: Quality, name: str) -> go.Figure:
    """Per layer: KL(pattern ‖ full) of the rows, relative error of the layer output, top-k overlap."""
    layers = list(range(len(quality.kl)))
    titles = ["KL(pattern ‖ full), mean per row", "Relative error of the layer output", f"Top-{quality.top_k} keys kept"]
    fig = make_subplots(rows=1, cols=3, subplot_titles=titles, horizontal_spacing=0.08)
    for col, values, fmt in ((1, quality.kl, ".3f"), (2, quality.error, ".1%"), (3, quality.overlap, ".0%")):
        fig.add_trace(go.Bar(x=layers, y=values, marker_color=COLOURS.get(name, "#1f6fb4"), showlegend=False,
                             hovertemplate=f"layer %{{x}}: %{{y:{fmt}}}<extra></extra>"), row=1, col=col)
        fig.update_xaxes(title_text="layer", dtick=1, row=1, col=col)
    fig.update_yaxes(title_text="KL (nats)", row=1, col=1)
    fig.update_yaxes(title_text="relative error", tickformat=".0%", row=1, col=2)
    fig.update_yaxes(title_text="share kept", tickformat=".0%", range=[0, 1.02], row=1, col=3)
    fig.update_layout(template=_BARE, height=320, margin={"t": 60})
    return fig


def cost_figure(costs: dict) -> go.Figure:
    """Measured time and peak memory against length, log-log, one line per pattern (from bench_patterns.py's table)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["CPU time per forward pass (ms)", "Peak extra memory (MB)"],
                        horizontal_spacing=0.1)
    names = list(dict.fromkeys(row["pattern"] for row in costs["rows"]))
    for name in names:
        rows = sorted((r for r in costs["rows"] if r["pattern"] == name), key=lambda r: r["length"])
        slope = costs.get("exponents", {}).get(name, {})
        for col, field in ((1, "ms"), (2, "mb")):
            label = f"{name} (∝ n^{slope.get('time' if field == 'ms' else 'memory', float('nan')):.1f})"
            fig.add_trace(go.Scatter(
                x=[r["length"] for r in rows], y=[max(r[field], 0.05) for r in rows], mode="lines+markers", name=safe_text(label),
                legendgroup=name, showlegend=col == 1, line={"color": COLOURS.get(name), "width": 3 if name == "full" else 2},
                hovertemplate=f"{name}<br>%{{x}} tokens: %{{y:.1f}} {field}<extra></extra>"), row=1, col=col)
    fig.update_xaxes(type="log", title_text="tokens (log)", tickvals=[128, 512, 2048, 8192])
    fig.update_yaxes(type="log", dtick=1)   # a label per power of ten (minor ticks read "2", "5": 0.5 looked like 5)
    fig.update_yaxes(title_text="ms (log)", row=1, col=1)
    fig.update_yaxes(title_text="MB (log)", row=1, col=2)
    fig.update_layout(template=_BARE, height=420, margin={"t": 60}, legend={"orientation": "h", "y": -0.25})
    return fig


def pattern_figure(patterned: Trace, layer: int, head: int, pattern: str) -> go.Figure:
    """Who may look at whom under `pattern` in this head (for ProbSparse: which queries attend)."""
    title = f"Active queries · layer {layer} · head {head}" if pattern == "probsparse" else f"{pattern}: who may look at whom"
    return mask_figure(allowed_pairs(patterned, layer, head), patterned.result.tokens, title)


def head_pair_figure(patterned: Trace, full: Trace, layer: int, head: int, pattern: str) -> go.Figure:
    """One head under `pattern` beside the same head under full attention (the same text and weights)."""
    return side_by_side(patterned.result.head(layer, head), full.head(layer, head), patterned.result.tokens,
                        (f"{pattern} · layer {layer} · head {head}", f"full · layer {layer} · head {head}"))
