"""Figures of the Induction heads page: pure functions of induction-mini's training history, its findings
(attention/domains/induction_mini/scores.py) and traces of a text."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from attention.domains.induction_mini.scores import Findings, Removal
from attention.run.trace import Trace
from figures import COLORSCALE, every_label, safe_text, token_labels

_BARE = go.layout.Template(layout={"margin": {"l": 10, "r": 10, "t": 60, "b": 10}, "font": {"family": "sans-serif"},
                                   "xaxis": {"automargin": True}, "yaxis": {"automargin": True}})
_HEAD_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _title(text: str) -> dict:
    return {"text": text, "x": 0.0, "xref": "paper"}


def phase_change_figure(history: dict[str, np.ndarray], phase_step: int | None, steps: int | None = None) -> go.Figure:
    """Per recorded training step: the loss on the first and on the repeated part (top), every head's induction score
    (middle) and previous-token score (bottom); layer-1 heads solid, layer-0 heads dotted; the phase change marked
    (None: not yet, while training). `steps`: the x axis runs to it (a chart drawn while training grows into it)."""
    recorded = np.asarray(history["step"])                          # [record]
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07,
                        subplot_titles=("Loss (nats) on each part of the training batch", "Induction score of every head",
                                        "Previous-token score of every head"))
    for name, label, colour in (("loss_first", "first part (unpredictable)", "#7f7f7f"),
                                ("loss_repeated", "repeated part", "#d62728")):
        fig.add_trace(go.Scatter(x=recorded, y=history[name], name=label, line={"color": colour},
                                 hovertemplate=f"step %{{x}}: %{{y:.2f}} nats<extra>{label}</extra>"), row=1, col=1)
    for row, kind in ((2, "induction"), (3, "previous")):
        scores = np.asarray(history[kind])                                   # [record, layer, head]
        for layer in range(scores.shape[1]):
            for head in range(scores.shape[2]):
                fig.add_trace(go.Scatter(x=recorded, y=scores[:, layer, head], name=f"L{layer} H{head}", legendgroup=f"{layer}-{head}",
                                         showlegend=row == 2, line={"color": _HEAD_COLOURS[head % len(_HEAD_COLOURS)],
                                                                     "dash": "solid" if layer else "dot"},
                                         hovertemplate=f"step %{{x}}: %{{y:.2f}}<extra>layer {layer} head {head}</extra>"),
                              row=row, col=1)
        fig.update_yaxes(range=[0, 1], row=row, col=1)
    if phase_step is not None:
        fig.add_vline(x=phase_step, line={"color": "#444", "dash": "dash"})
        fig.add_annotation(x=phase_step, y=1.0, yref="paper", text=f"phase change, step {phase_step}", showarrow=False,
                           xanchor="left", yanchor="bottom")
    fig.update_xaxes(title_text="training step", row=3, col=1)
    if steps is not None:
        fig.update_xaxes(range=[0, steps])
    fig.update_layout(template=_BARE, height=720, legend={"orientation": "h", "y": -0.08})
    return fig


def head_scores_figure(findings: Findings) -> go.Figure:
    """The trained network's induction and previous-token score of every head, side by side: [layer, head] maps."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Induction score", "Previous-token score"), horizontal_spacing=0.12)
    for col, scores in ((1, findings.induction), (2, findings.previous)):
        layers, heads = scores.shape
        fig.add_trace(go.Heatmap(z=scores, x=[f"head {h}" for h in range(heads)], y=[f"layer {l}" for l in range(layers)],
                                 zmin=0, zmax=1, colorscale=COLORSCALE, showscale=col == 2, xgap=2, ygap=2,
                                 text=np.round(scores, 2), texttemplate="%{text:.2f}",
                                 hovertemplate="%{y}, %{x}: %{z:.3f}<extra></extra>"), row=1, col=col)
        fig.update_yaxes(autorange="reversed", row=1, col=col)
    fig.update_layout(template=_BARE, height=260)
    return fig


def removal_figure(removal: Removal, removed: tuple[int, int]) -> go.Figure:
    """Every head's induction score before and after removing head `removed`: grouped bars, heads of every layer."""
    layers, heads = removal.induction_before.shape
    names = [f"L{l} H{h}" for l in range(layers) for h in range(heads)]
    fig = go.Figure([go.Bar(x=names, y=removal.induction_before.ravel(), name="all heads", marker={"color": "#1f4e99"},
                            hovertemplate="%{x}: %{y:.3f}<extra>all heads</extra>"),
                     go.Bar(x=names, y=removal.induction_after.ravel(), name=f"without L{removed[0]} H{removed[1]}",
                            marker={"color": "#f4a582"}, hovertemplate="%{x}: %{y:.3f}<extra>head removed</extra>")])
    fig.update_layout(template=_BARE, height=300, barmode="group", yaxis={"title": "induction score", "range": [0, 1]},
                      title=_title(f"Induction score of every head, with and without layer {removed[0]} head {removed[1]}"),
                      legend={"orientation": "h", "y": 1.02, "x": 1.0, "xanchor": "right", "yanchor": "bottom"})
    return fig


def composition_figure(findings: Findings) -> go.Figure:
    """K-composition of every layer-0 head (rows) with every layer-1 head (columns), trained beside untrained."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Trained", "Untrained (the seeded start)"), horizontal_spacing=0.12)
    top = float(max(findings.composition.max(), findings.composition_untrained.max()))
    for col, scores in ((1, findings.composition), (2, findings.composition_untrained)):
        h1, h2 = scores.shape
        fig.add_trace(go.Heatmap(z=scores, x=[f"L1 H{h}" for h in range(h2)], y=[f"L0 H{h}" for h in range(h1)], zmin=0,
                                 zmax=top, colorscale=COLORSCALE, showscale=col == 2, xgap=2, ygap=2, text=np.round(scores, 2),
                                 texttemplate="%{text:.2f}", hovertemplate="%{y} → %{x}: %{z:.3f}<extra></extra>"), row=1, col=col)
        fig.update_yaxes(autorange="reversed", row=1, col=col)
    fig.update_layout(template=_BARE, height=300)
    return fig


def text_attention_figure(run: Trace, gated: Trace, layer: int, head: int, removed: tuple[int, int]) -> go.Figure:
    """One head's weights [query, key] on a text, as trained (left) and with head `removed` gated to 0 (right)."""
    labels = token_labels(run.tokens)
    n = run.n_tokens
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.06,
                        subplot_titles=(f"Layer {layer} head {head}", f"… without layer {removed[0]} head {removed[1]}"))
    for col, source in ((1, run), (2, gated)):
        weights = np.array(source.head(layer, head), dtype=np.float32)
        weights[np.triu_indices(n, 1)] = np.nan                                    # causal: blank, not a 0
        fig.add_trace(go.Heatmap(z=weights, x=labels, y=labels, zmin=0, zmax=1, colorscale=COLORSCALE, showscale=col == 2,
                                 hovertemplate="query %{y} → key %{x}: %{z:.3f}<extra></extra>"), row=1, col=col)
        fig.update_xaxes(tickangle=0, row=1, col=col, **every_label(n, 64))
        fig.update_yaxes(autorange="reversed", row=1, col=col, **every_label(n, 64))
    size = int(min(640, max(320, 120 + 9 * n)))
    fig.update_layout(template=_BARE, height=size, margin={"t": 80},
                      title=_title(f"{safe_text(run.model)} on your text"))
    return fig
