"""Figures of the Generation page: pure functions of a Generation (attention/analyses/generation.py) and of head scores."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from attention.analyses.generation import Generation
from attention.analyses.lens import LogitLens
from figures import COLORSCALE, every_label, safe_text, token_labels, top_margin

_BARE = go.layout.Template(layout={"margin": {"l": 10, "r": 10, "t": 50, "b": 10}, "font": {"family": "sans-serif"},
                                   "xaxis": {"automargin": True}, "yaxis": {"automargin": True}})


def _title(text: str) -> dict:
    return {"text": text, "x": 0.0, "xref": "paper", "y": 0.99, "yref": "container", "yanchor": "top"}


def candidates_figure(generation: Generation, step: int) -> go.Figure:
    """The model's top-10 next tokens before generated token `step` (0-based), with probabilities; the pick is darker."""
    candidates = generation.candidates[step]
    chosen = generation.tokens[generation.generated_from + step]
    labels = token_labels([token for token, _ in candidates])
    colours = ["#1f4e99" if token == chosen else "#9ecae1" for token, _ in candidates]
    fig = go.Figure(go.Bar(x=[p for _, p in candidates], y=labels, orientation="h", marker={"color": colours},
                           text=[f"{p:.1%}" for _, p in candidates], textposition="outside", cliponaxis=False,
                           hovertemplate="%{y}: %{x:.2%}<extra></extra>"))
    fig.update_layout(template=_BARE, height=330, title=_title(f"Step {step + 1}: what the model expected next"),
                      xaxis={"title": "probability", "tickformat": ".0%", "range": [0, min(1.0, max(p for _, p in candidates) * 1.25)]},
                      yaxis={"autorange": "reversed", "automargin": True, **every_label(len(labels))})
    return fig


def cache_figure(generation: Generation, layer: int, head: int, step: int) -> go.Figure:
    """The chosen head's causal weights up to the token that is newest after `step` generated tokens; its row (what this
    step computes) is outlined, the rows above are what earlier steps computed, and the key columns are the key/value
    cache: keys and values of every earlier token, stored and read again, never recomputed."""
    query = generation.generated_from - 1 + step
    n = query + 1
    matrix = np.array(generation.weights[layer, head, :n, :n], dtype=np.float32)
    matrix[np.triu_indices(n, 1)] = np.nan                                   # not yet written: blank, not a 0
    labels = token_labels(generation.tokens[:n])
    fig = go.Figure(go.Heatmap(z=matrix, x=labels, y=labels, colorscale=COLORSCALE, zmin=0.0, zmax=1.0, xgap=1, ygap=1,
                               colorbar={"title": {"text": "weight"}, "thickness": 10},
                               hovertemplate="query %{y} → key %{x}: %{z:.3f}<extra></extra>"))
    fig.add_shape(type="rect", x0=-0.5, x1=n - 0.5, y0=query - 0.5, y1=query + 0.5, line={"color": "#d62728", "width": 3})
    if query > 0:
        fig.add_shape(type="rect", x0=-0.5, x1=query - 0.5, y0=-0.5, y1=query - 0.5, line={"color": "#2ca02c", "width": 2, "dash": "dot"})
    fig.add_annotation(x=1.0, xref="paper", y=-0.02, yref="paper", yanchor="top", xanchor="right", showarrow=False,
                       text="<span style='color:#d62728'>■</span> this step: one new query, key and value "
                            f"· <span style='color:#2ca02c'>┅</span> cache: {query} keys and values stored")
    fig.update_layout(template=_BARE, height=int(min(720, max(320, 160 + 20 * n))),
                      title=_title(f"Layer {layer} · head {head}: token {query} ({safe_text(generation.tokens[query])}) attends"),
                      margin={"t": top_margin(labels), "b": 40},
                      xaxis={"side": "top", "tickangle": -60, **every_label(n, 48)},
                      yaxis={"autorange": "reversed", **every_label(n, 48)})
    return fig


def latest_heads_figure(generation: Generation, layer: int, step: int) -> go.Figure:
    """Every head of `layer` for the newest token after `step` generated tokens: [head, key]."""
    query = generation.generated_from - 1 + step
    rows = np.array(generation.latest(layer, step)[:, : query + 1], dtype=np.float32)
    labels = token_labels(generation.tokens[: query + 1])
    fig = go.Figure(go.Heatmap(z=rows, x=labels, y=[f"head {h}" for h in range(rows.shape[0])], colorscale=COLORSCALE,
                               zmin=0.0, zmax=1.0, xgap=1, ygap=1, colorbar={"title": {"text": "weight"}, "thickness": 10},
                               hovertemplate="%{y} → %{x}: %{z:.3f}<extra></extra>"))
    fig.update_layout(template=_BARE, height=int(140 + 34 * rows.shape[0]) + top_margin(labels) - 50,
                      title=_title(f"Layer {layer}, every head: where token {query} ({safe_text(generation.tokens[query])}) looks"),
                      margin={"t": top_margin(labels)}, xaxis={"side": "top", "tickangle": -60, **every_label(len(labels), 48)},
                      yaxis={"autorange": "reversed"})
    return fig


def score_maps(scores: dict[str, np.ndarray], title: str) -> go.Figure:
    """Per-head scores [layer, head] of several models side by side on one 0–1 scale ({model label: scores})."""
    names = list(scores)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[safe_text(n) for n in names], horizontal_spacing=0.08)
    for index, name in enumerate(names):
        values = np.asarray(scores[name], dtype=np.float32)
        layers, heads = values.shape
        fig.add_trace(go.Heatmap(z=values, x=list(range(heads)), y=list(range(layers)), coloraxis="coloraxis", xgap=2, ygap=2,
                                 text=[[f"{v:.2f}" for v in row] for row in values], texttemplate="%{text}",
                                 hovertemplate="layer %{y} · head %{x}: %{z:.3f}<extra></extra>"), row=1, col=index + 1)
        fig.update_xaxes(title="head", dtick=1, row=1, col=index + 1)
        fig.update_yaxes(title="layer" if index == 0 else None, dtick=1, autorange="reversed", row=1, col=index + 1)
    fig.update_layout(template=_BARE, height=300, title=_title(safe_text(title)),
                      coloraxis={"colorscale": "Reds", "cmin": 0.0, "cmax": 1.0, "colorbar": {"thickness": 10}})
    return fig


def perplexity_figure(scores: dict) -> go.Figure:
    """Held-out perplexity of gpt-mini beside the unigram and bigram baselines (lower is better)."""
    names = ["gpt-mini", "bigram (add-k)", "unigram"]
    values = [scores["perplexity"], scores["bigram"], scores["unigram"]]
    fig = go.Figure(go.Bar(x=values, y=names, orientation="h", marker={"color": ["#1f4e99", "#9ecae1", "#c6dbef"]},
                           text=[f"{v:.1f}" for v in values], textposition="outside", cliponaxis=False))
    fig.update_layout(template=_BARE, height=220, title=_title(f"Held-out perplexity on {scores['tokens']:,} tokens (lower is better)"),
                      xaxis={"title": "perplexity", "range": [0, max(values) * 1.2]}, yaxis={"autorange": "reversed"})
    return fig


def lens_figure(lens: LogitLens, position: int | None = None) -> go.Figure:
    """The logit lens at one position (default: the newest token): a row per residual row (embeddings, after each
    layer), the top tokens left to right, coloured by probability; the last row is the model's own prediction."""
    position = lens.newest if position is None else position
    tokens, probabilities = lens.column(position)                       # [row][top], [row, top]
    labels = [[safe_text(t) for t in row] for row in tokens]
    rows = [f"{name} (output)" if index == len(lens.rows) - 1 else name for index, name in enumerate(lens.rows)]
    fig = go.Figure(go.Heatmap(z=probabilities, x=[f"top {rank + 1}" for rank in range(probabilities.shape[1])], y=rows,
                               text=[[f"{t}<br>{p:.0%}" for t, p in zip(row, values)] for row, values in zip(labels, probabilities)],
                               texttemplate="%{text}", colorscale=COLORSCALE, zmin=0.0, zmax=1.0, xgap=2, ygap=2,
                               customdata=labels, colorbar={"title": {"text": "probability"}, "thickness": 10},
                               hovertemplate="%{y}, %{x}: %{customdata} %{z:.1%}<extra></extra>"))
    fig.update_layout(template=_BARE, height=int(130 + 52 * len(rows)), margin={"t": 80},
                      title=_title(f"Logit lens after token {position} ({safe_text(lens.tokens[position])}): the next token "
                                   "read from each layer"),
                      xaxis={"side": "top"}, yaxis={"autorange": "reversed"})
    return fig


def continuations_table(samples: list[dict]) -> dict[str, list[str]]:
    """held_out_continuations() as table columns: prompt, greedy, sampled, what really followed."""
    return {"held-out prompt": [s["prompt"] for s in samples], "greedy": [s["greedy"] for s in samples],
            "sampled (T 0.8, top-40, seed 0)": [s["sampled"] for s in samples],
            "what really followed": [s["actual"] for s in samples]}


def roles_caption(roles: dict[str, tuple[int, int, float]], strong: float = 0.3) -> str:
    """gpt_mini.head_roles() in words: which head does what, with its score; a best score under `strong` is said to be weak."""
    what = {"previous": "on the previous token", "induction": "in the second copy, on the token after the current "
            "token's earlier occurrence (an induction head: it copies what came next last time)",
            "sink": "on the first token (an attention sink)"}
    parts = []
    for kind in ("previous", "induction", "sink"):
        layer, head, score = roles[kind]
        if score >= strong:
            parts.append(f"layer {layer} · head {head} puts {score:.0%} of its weight {what[kind]}")
        else:
            parts.append(f"no head puts much weight {what[kind].split(' (')[0]} (the most: layer {layer} · head {head}, {score:.0%})")
    return f"Measured on random tokens repeated twice: {parts[0]}; {parts[1]}; {parts[2]}."
