"""Figures of the Contributions page: pure functions of an Explanation (attention/analyses/contributions/) or its parts.

    token_rows        one row per method, the tokens as columns, one diverging colour scale (each row divided by its
                      largest |score|), exact numbers on hover
    head_effect_map   a signed [layer, head] map with a clickable marker per head (trace 1, as layer_head_map)
    head_pair         one head's attention weights and value-weighted norms ‖α·f(x)‖ side by side (a cross-attention
                      head: decoder queries × source keys)
    agreement_map     rank agreement between methods
    curves_figure     deletion and insertion curves per method, random order dashed

And the page's figures of one Explanation, built from the pieces above:
    method_rows       token_rows of every method's scores (sentences A·/B·, or an encoder–decoder's src·/dec·)
    head_effect_maps  the head-removed and head-mean-ablated maps
    head_view_pair    head_pair of one HeadView
    agreement_maps    Spearman and Kendall τ between the methods
    faithfulness_curves  curves_figure of one direction's removal and insertion curves
    faithfulness_table   AOPC − random ± spread and τ with the leave-one-out effects, per method
    known_answer_table   the bench's known-answer shares and AOPC over many pairs (saved_figures)
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from attention.analyses.contributions import Explanation, HeadView, agreement
from figures import _BARE, click_cells, every_label, safe_text, token_labels

DIVERGING = "RdBu_r"
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _title(text: str) -> dict:
    return {"text": safe_text(text), "x": 0.0, "xref": "paper", "y": 0.995, "yref": "container", "yanchor": "top"}


def _labels_with_sentence(tokens: list[str], segments: np.ndarray | None, sides: tuple[str, str] = ("A", "B")) -> list[str]:
    """Token labels, prefixed 'A·'/'B·' (or an encoder–decoder's 'src·'/'dec·') for two segments so their tokens stay
    apart on one axis."""
    if segments is None or int(np.max(segments, initial=0)) == 0:
        return token_labels(tokens)
    return token_labels([f"{sides[int(s)]}·{t}" for t, s in zip(tokens, segments)])


def token_rows(tokens: list[str], scores: dict[str, np.ndarray], segments: np.ndarray | None = None,
               title: str = "Each method's score per token", sides: tuple[str, str] = ("A", "B")) -> go.Figure:
    """Methods × tokens on one diverging scale: each row divided by its largest |score| (−1 … 1), the exact score on hover."""
    names = list(scores)
    raw = np.array([np.asarray(scores[name], dtype=np.float64) for name in names]).reshape(len(names), len(tokens))
    largest = np.abs(raw).max(1, keepdims=True)
    scaled = np.divide(raw, largest, out=np.zeros_like(raw), where=largest > 0)
    labels = _labels_with_sentence(tokens, segments, sides)
    fig = go.Figure(go.Heatmap(
        z=scaled, x=labels, y=names, customdata=raw, colorscale=DIVERGING, zmin=-1, zmax=1, xgap=1, ygap=2,
        colorbar={"title": {"text": "score ÷ row's largest |score|"}, "thickness": 12},
        hovertemplate="%{y}<br>token %{x}<br>score %{customdata:.6g}<br>(%{z:+.2f} of the row's largest)<extra></extra>",
    ))
    fig.update_layout(
        template=_BARE, title=_title(title), height=int(120 + 34 * len(names)),
        xaxis={"title": "token", "side": "bottom", "tickangle": -60, "type": "category", **every_label(len(tokens), 80)},
        yaxis={"title": "method", "autorange": "reversed", "type": "category", "automargin": True},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig


def head_effect_map(values: np.ndarray, title: str, colorbar: str, rows: list[str] | None = None) -> go.Figure:
    """A signed [layer, head] map on a diverging scale centred at 0; an invisible marker per head (trace 1) carries the
    exact number on hover and the click that opens the head. `rows` names the rows (an encoder–decoder's "encoder 0",
    "decoder self 0", "decoder cross 0", …); NaN cells (heads a stack lacks) stay blank."""
    values = np.asarray(values, dtype=np.float64)
    layers, heads = values.shape
    named = rows is not None and any(not r.startswith("layer ") for r in rows)
    span = float(max(np.nanmax(np.abs(values), initial=0.0), 1e-6))
    fig = go.Figure(go.Heatmap(
        z=values, x=list(range(heads)), y=list(range(layers)), colorscale=DIVERGING, zmin=-span, zmax=span, xgap=2, ygap=2,
        hoverinfo="skip", colorbar={"title": {"text": safe_text(colorbar)}, "thickness": 12},
    ))
    fig.add_trace(click_cells(layers, heads, values, f"Layer %{{y}} · Head %{{x}}<br>{safe_text(colorbar)}: "
                              "%{customdata:+.5f}<br>click to open<extra></extra>", 16))
    fig.update_layout(
        template=_BARE, title=_title(title), height=int(min(600, max(240, 110 + 44 * layers))),
        # head numbers under the map: on top they would run into the title of a narrow figure
        xaxis={"title": "head", "dtick": 1, "side": "bottom", "showgrid": False, "zeroline": False, "range": [-0.5, heads - 0.5]},
        yaxis={"title": "layer", "dtick": 1, "range": [layers - 0.5, -0.5], "showgrid": False, "zeroline": False,
               **({"tickmode": "array", "tickvals": list(range(layers)), "ticktext": [safe_text(r) for r in rows],
                   "title": "stack · layer", "automargin": True} if named else {})},
        clickmode="event+select", dragmode=False,
    )
    return fig


def head_pair(query_tokens: list[str], key_tokens: list[str], weights: np.ndarray, norms: np.ndarray | None,
              title: str) -> go.Figure:
    """One head: where it looks (weights [query, key]) beside what it moves (‖α·f(x)‖ [query, key]), each its own scale;
    weights alone when the value-weighted norms are not available (transformers-only models)."""
    queries, keys = token_labels(query_tokens), token_labels(key_tokens)
    panels = [(weights, "weight", ".3f")] + ([(norms, "‖α·f(x)‖", ".4f")] if norms is not None else [])
    names = [f"{title} · attention weights α", f"{title} · ‖α·f(x)‖ (value-weighted)"][:len(panels)]
    fig = make_subplots(rows=1, cols=len(panels), horizontal_spacing=0.14, subplot_titles=[safe_text(n) for n in names])
    for column, (z, name, fmt) in enumerate(panels, start=1):
        fig.add_trace(go.Heatmap(
            z=np.asarray(z, dtype=np.float32), x=keys, y=queries, colorscale="Blues", zmin=0,
            colorbar={"x": (0.43 if column == 1 else 1.0) if len(panels) == 2 else 1.0, "thickness": 10, "title": {"text": name}},
            hovertemplate=f"query %{{y}}<br>key %{{x}}<br>{name} %{{z:{fmt}}}<extra></extra>",
        ), row=1, col=column)
    fig.update_xaxes(side="bottom", tickangle=-60, title_text="key", type="category", **every_label(len(key_tokens), 48))
    fig.update_yaxes(autorange="reversed", type="category", **every_label(len(query_tokens), 48))
    fig.update_yaxes(title_text="query", row=1, col=1)
    fig.update_layout(template=_BARE, height=int(min(760, max(360, 160 + 16 * max(len(query_tokens), len(key_tokens))))),
                      margin={"t": 50})
    return fig


def agreement_map(names: list[str], matrix: np.ndarray, title: str) -> go.Figure:
    """Rank agreement [method, method] (−1 … 1) with the number in each cell."""
    matrix = np.asarray(matrix, dtype=np.float64)
    text = [["—" if np.isnan(v) else f"{v:+.2f}" for v in row] for row in matrix]
    fig = go.Figure(go.Heatmap(
        z=matrix, x=names, y=names, colorscale=DIVERGING, zmin=-1, zmax=1, text=text, texttemplate="%{text}", xgap=2, ygap=2,
        hovertemplate="%{y} vs %{x}: %{z:+.3f}<extra></extra>", colorbar={"thickness": 12, "title": {"text": "rank corr."}},
    ))
    fig.update_layout(template=_BARE, title=_title(title), height=int(140 + 40 * len(names)),
                      xaxis={"title": "method", "tickangle": -30, "type": "category"},
                      yaxis={"title": "method", "autorange": "reversed", "type": "category"})
    return fig


def curves_figure(curves: dict[str, dict[str, np.ndarray]], full: float, target: str, title: str = "") -> go.Figure:
    """Removal (top share taken away) and insertion (only the top share kept) curves per method over the fraction of the
    explained tokens; random dashed; the input's value as a line."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=(f"{title}Top share removed", f"{title}Only top share kept"),
                        horizontal_spacing=0.08)
    for index, (name, curve) in enumerate(curves.items()):
        colour = "#444" if name == "random" else _PALETTE[index % len(_PALETTE)]
        style = {"color": colour, "dash": "dash" if name == "random" else "solid", "width": 2}
        for column, kind in enumerate(("deletion", "insertion"), start=1):
            fig.add_trace(go.Scatter(
                x=curve["fraction"], y=curve[kind], mode="lines+markers", name=name, legendgroup=name,
                showlegend=column == 1, line=style, marker={"size": 5},
                hovertemplate=f"{name}<br>share %{{x:.0%}}<br>{safe_text(target)} %{{y:.4f}}<extra></extra>",
            ), row=1, col=column)
        for column in (1, 2):
            fig.add_hline(y=full, line={"color": "#999", "width": 1, "dash": "dot"}, row=1, col=column)
    fig.update_xaxes(title="share of the explained tokens (ranked by the method)", tickformat=".0%")
    fig.update_yaxes(title=safe_text(target), col=1)
    fig.update_layout(template=_BARE, height=380, margin={"t": 50}, legend={"orientation": "h", "y": -0.25})
    return fig


def method_rows(found: Explanation, encoder_decoder: bool = False) -> go.Figure:
    """Every method's score per token (token_rows), tokens labelled by sentence or by encoder–decoder side."""
    return token_rows(found.tokens, found.scores, found.segments, sides=("src", "dec") if encoder_decoder else ("A", "B"))


def head_effect_maps(found: Explanation) -> tuple[go.Figure, go.Figure]:
    """The change of the target with each head removed, and with each head mean-ablated: two [layer, head] maps."""
    rows = found.layer_names
    return (head_effect_map(found.head_importance, "Head removed", "change of target", rows),
            head_effect_map(found.head_mean_ablation, "Head mean-ablated", "change of target", rows))


def head_view_pair(view: HeadView) -> go.Figure:
    """One head's weights [query, key] and value-weighted norms side by side (head_pair)."""
    return head_pair(view.query_tokens, view.key_tokens, view.weights, view.norms, view.title)


def agreement_maps(scores: dict[str, np.ndarray]) -> tuple[go.Figure, go.Figure]:
    """Spearman's and Kendall's rank agreement between every pair of methods' scores [token]."""
    names, spearman, kendall = agreement(scores)
    return agreement_map(names, spearman, "Spearman rank correlation"), agreement_map(names, kendall, "Kendall τ")


def faithfulness_curves(found: Explanation, direction: str) -> go.Figure:
    """One direction's removal and insertion curves of every method and the random order, the input's target as a line."""
    title = {"A": "Sentence A explained (B whole) · ", "B": "Sentence B explained (A whole) · "}.get(direction, "")
    return curves_figure(found.curves[direction], found.target_value, "target", title)


FITS = {True: "comprehensiveness − random, τ with LOO (signed) and with |LOO|",
        False: "τ with |LOO| (no sign: comprehensiveness assumes one)"}


def faithfulness_table(found: Explanation, direction: str | None = None) -> list[dict]:
    """One row per method: AOPC minus the random order's ± the shuffles' spread, Kendall τ with the leave-one-out effects,
    and which measure fits it (signed methods: all; unsigned ones: τ with |LOO|). The mean over the directions, or one."""
    from attention.analyses.contributions import UNSIGNED

    rows = []
    for row in found.faithfulness_rows(direction):
        if row["method"] == "random":
            continue
        rows.append({"method": row["method"],
                     "comprehensiveness − random": f"{row['comprehensiveness_vs_random']:+.3f} ± {row['comprehensiveness_spread']:.3f}",
                     "sufficiency − random (↓)": f"{row['sufficiency_vs_random']:+.3f} ± {row['sufficiency_spread']:.3f}",
                     "τ with |LOO|": _number(row["tau_abs"]), "τ with LOO": _number(row["tau_signed"]),
                     "fits": FITS[row["method"] not in UNSIGNED]})
    return rows


def _number(value: float, form: str = "+.2f") -> str:
    return "—" if value is None or not np.isfinite(value) else format(value, form)


def known_answer_table(saved: dict, methods: list[str]) -> list[dict]:
    """The bench's figures per method: each known-answer set's share of cases whose known token ranks first, and the
    comprehensiveness − random over its sentence pairs (mean ± 95% interval) beside them."""
    sets = saved.get("known_answers", {})
    rows = []
    for method in methods:
        row = {"method": method}
        for name, found in sets.items():
            share = found["shares"].get(method)
            row[f"{name} ({found['cases']} cases)"] = "—" if share is None else f"{share:.0%}"
        mean, interval = saved.get("methods", {}).get(method, {}).get("comprehensiveness_vs_random", [np.nan, np.nan])
        row[f"comprehensiveness − random, {saved.get('pairs', 0)} pairs"] = f"{_number(mean, '+.3f')} ± {_number(interval, '.3f')}"
        rows.append(row)
    return rows
