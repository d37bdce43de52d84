"""Plotly figures for the Learn pages: pure functions of the core's arrays, testable without a browser.

Every user-derived label goes through `token_labels`/`safe_text` (plotly reads a little HTML).
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from figures import COLORSCALE, every_label, safe_text, token_labels, top_margin
from attention.analyses.multihead import Ablation, LayerHeads
from attention.analyses.positions import Permutation
from attention.run.result import Attention
from attention.analyses.steps import Steps

SIGNED = "RdBu_r"   # negative blue, zero white, positive red: for vectors (embeddings, queries, keys, values)
_BARE = go.layout.Template(layout={"margin": {"l": 10, "r": 10, "t": 50, "b": 10}, "font": {"family": "sans-serif"},
                                   "xaxis": {"automargin": True}, "yaxis": {"automargin": True}})


def _nice_step(span: float, ticks: int = 5) -> float:
    """A round tick step (1, 2 or 5 × 10^k) giving about `ticks` ticks over [0, span]."""
    raw = span / ticks
    power = 10 ** np.floor(np.log10(raw))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))   # power ≤ raw < 10·power: one fits


def _finite(matrix: np.ndarray) -> np.ndarray:
    """-inf (masked scores) cannot travel as JSON: blank cells instead, labelled −∞ where numbers are shown."""
    matrix = np.asarray(matrix, dtype=np.float32)
    return np.where(np.isfinite(matrix), matrix, np.nan)


def _cell(value: float) -> str:
    """A cell's number: whole numbers as they are (the toy), others with two decimals, so a column reads evenly."""
    return f"{value:.0f}" if float(value).is_integer() and abs(value) < 1e4 else f"{value:.2f}"


def _dimension_ticks(n: int) -> dict:
    """Ticks for a numbered axis (dimensions, positions): every number up to 12, else a round step (1, 2, 5 × 10^k),
    so 32 dimensions read 0 5 10 … rather than 0123456789101112… run together."""
    return {"tickmode": "linear", "tick0": 0, "dtick": 1 if n <= 12 else max(1, int(_nice_step(n, 6)))}


def _heatmap(matrix, x, y, *, signed: bool, numbers: bool, coloraxis: str | None = None, name: str = "",
             clip: float | None = None, scale_title: str = "") -> go.Heatmap:
    z = _finite(matrix)
    trace = dict(z=z, x=x, y=y, hovertemplate=f"{name}row: %{{y}}<br>column: %{{x}}<br>value: %{{z:.3f}}<extra></extra>")
    if numbers:
        text = np.where(np.isneginf(np.asarray(matrix, dtype=float)), "−∞", np.vectorize(_cell)(np.nan_to_num(z)))
        trace.update(text=text, texttemplate="%{text}", textfont={"size": 12})
    if coloraxis:
        trace["coloraxis"] = coloraxis
    elif signed:
        bound = float(np.nanquantile(np.abs(z), clip) if clip else np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
        trace.update(colorscale=SIGNED, zmid=0.0, zmin=-bound, zmax=bound,
                     colorbar={"thickness": 10, "title": {"text": scale_title or "value", "side": "right"}})
    else:
        trace.update(colorscale=COLORSCALE, zmin=0.0, zmax=float(max(np.nanmax(z), 1e-6)),
                     colorbar={"thickness": 10, "title": {"text": scale_title or "weight", "side": "right"}})
    return go.Heatmap(**trace)


def matrix_figure(matrix: np.ndarray, rows: list[str] | None, columns: list[str] | None = None, title: str = "", *,
                  signed: bool = True, numbers: bool = False, row_title: str = "", column_title: str = "",
                  height: int | None = None, clip: float | None = None, scale_title: str = "") -> go.Figure:
    """One labelled matrix: rows and columns are tokens (escaped), or numbered (positions, dimensions) when None.

    `clip` (signed only): the colour scale ends at this quantile of |values| (e.g. 0.99), so a few outliers do not
    wash out the rest; hover still shows every exact value. `scale_title`: the colour bar's title (default "value" for
    signed matrices, "weight" otherwise)."""
    matrix = np.asarray(matrix)
    x = token_labels(columns) if columns is not None else list(range(matrix.shape[1]))
    y = token_labels(rows) if rows is not None else list(range(matrix.shape[0]))
    fig = go.Figure(_heatmap(matrix, x, y, signed=signed, numbers=numbers, clip=clip, scale_title=scale_title))
    tokens_across = columns is not None   # token columns read best on top, like the home heatmap; numbers below
    fig.update_layout(
        template=_BARE, height=height or int(min(700, max(220, 110 + 22 * len(y)))),
        title={"text": safe_text(title), "x": 0.0, "xref": "paper", "y": 0.995, "yref": "container", "yanchor": "top"},
        margin={"t": top_margin(x, axis_title=bool(column_title)) if tokens_across else 50},
        xaxis={"title": column_title, "side": "top" if tokens_across else "bottom", "tickangle": -60 if tokens_across else 0,
               "automargin": True, **(every_label(len(x), 48) if tokens_across else _dimension_ticks(len(x))),
               # tokens are categories even when they look like numbers (an ISO date's digits), else plotly plots them
               # on a numeric axis at the digits' values
               "type": "category" if tokens_across else "linear"},
        yaxis={"title": row_title, "autorange": "reversed", "automargin": True,
               **(every_label(len(y), 48) if rows is not None else _dimension_ticks(len(y))),
               "type": "category" if rows is not None else "linear"},
    )
    return fig


def matrices_grid(matrices: list[np.ndarray], titles: list[str], rows: list[list[str]], columns: list[list[str]], *,
                  per_row: int = 4, signed: bool = False, numbers: bool = False, height_each: int = 300,
                  shared: bool = True, row_title: str = "query", column_title: str = "key",
                  scale_title: str = "", label_up_to: int = 24) -> go.Figure:
    """Several matrices as small multiples. `shared`: one colour scale for all (their strengths compare directly);
    else each panel is coloured relative to its own largest value (weak patterns stay visible) and hover gives the
    exact numbers. Axis titles on the left column and the bottom row."""
    count = len(matrices)
    grid_rows = -(-count // per_row)
    cols = min(per_row, count)
    same_rows, same_columns = all(r == rows[0] for r in rows), all(c == columns[0] for c in columns)
    fig = make_subplots(rows=grid_rows, cols=cols, subplot_titles=[safe_text(t) for t in titles],
                        horizontal_spacing=0.06 if same_rows else 0.12, vertical_spacing=0.12 if grid_rows > 1 else 0.0)
    finite = [_finite(m) for m in matrices]
    high = max(float(np.nanmax(np.abs(m))) if np.isfinite(m).any() else 0.0 for m in finite) or 1.0
    for index, matrix in enumerate(matrices):
        own = float(np.nanmax(np.abs(finite[index]))) if np.isfinite(finite[index]).any() else 0.0
        shown = matrix if shared else np.asarray(matrix, dtype=np.float32) / (own or 1.0)
        trace = _heatmap(shown, token_labels(columns[index]), token_labels(rows[index]), signed=signed, numbers=numbers,
                         coloraxis="coloraxis", name=f"{safe_text(titles[index])}<br>")
        if not shared:   # colour: the share of this panel's maximum; hover: the real value
            trace.update(customdata=_finite(matrix), hovertemplate=f"{safe_text(titles[index])}<br>row: %{{y}}<br>"
                         "column: %{x}<br>value: %{customdata:.3f}<extra></extra>")
        row, col = divmod(index, per_row)
        fig.add_trace(trace, row=row + 1, col=col + 1)
        # labels once per row and column of the grid when the matrices share their tokens, else on each
        fig.update_yaxes(autorange="reversed", tickfont={"size": 9}, showticklabels=col == 0 or not same_rows, type="category",
                         title={"text": row_title if col == 0 else "", "font": {"size": 11}},
                         row=row + 1, col=col + 1, **every_label(len(rows[index]), 24))
        bottom = index + per_row >= count
        fig.update_xaxes(tickfont={"size": 9}, tickangle=-60, showticklabels=bottom or not same_columns, type="category",
                         title={"text": column_title if bottom else "", "font": {"size": 11}},
                         row=row + 1, col=col + 1, **every_label(len(columns[index]), label_up_to))
    if shared:
        scale = ({"colorscale": SIGNED, "cmin": -high, "cmax": high, "cmid": 0.0} if signed
                 else {"colorscale": COLORSCALE, "cmin": 0.0, "cmax": high})
        title = scale_title or ("value" if signed else "weight")
    else:
        scale = ({"colorscale": SIGNED, "cmin": -1.0, "cmax": 1.0, "cmid": 0.0} if signed
                 else {"colorscale": COLORSCALE, "cmin": 0.0, "cmax": 1.0})
        title = scale_title or "share of the panel's<br>largest value"
    fig.update_layout(template=_BARE, height=height_each * grid_rows + 60,
                      coloraxis={**scale, "colorbar": {"thickness": 10, "title": {"text": title, "side": "right"}}})
    return fig


def softmax_row_figure(steps: Steps, focus: int) -> go.Figure:
    """One query's row in two panels sharing the key axis: the scaled scores (top, any sign, zero line drawn) and the
    softmax weights they become (bottom, 0 to the largest weight; the row sums to 1). Two panels, not two y-axes on
    one: with twin axes a score of 0 sat beside a weight of about 0.07, so weights looked negative."""
    keys = token_labels(steps.tokens)
    scaled = _finite(steps.masked[focus])
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.5, 0.5],
                        subplot_titles=["Scaled scores (score ÷ √d_k; masked keys: −∞, not drawn)",
                                        "Softmax weights (each between 0 and 1; the row sums to 1)"])
    colours = np.where(np.nan_to_num(scaled) >= 0, "#d6604d", "#4393c3")
    fig.add_trace(go.Bar(x=keys, y=scaled, name="score ÷ √d_k", marker_color=colours, showlegend=False,
                         hovertemplate="key %{x}<br>scaled score %{y:.3f}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Bar(x=keys, y=steps.weights[focus], name="softmax weight", marker_color="#1f6fb4", showlegend=False,
                         hovertemplate="key %{x}<br>weight %{y:.3f}<extra></extra>"), row=2, col=1)
    fig.update_layout(template=_BARE, height=460, margin={"t": 70},
                      title={"text": f"Query: {token_labels(steps.tokens)[focus]}", "x": 0.0, "y": 0.99, "yref": "container",
                             "yanchor": "top"})
    fig.update_yaxes(title_text="scaled score", zeroline=True, zerolinecolor="#444", zerolinewidth=1.5, row=1, col=1)
    top = max(float(np.max(steps.weights[focus])) * 1.15, 0.05)
    fig.update_yaxes(title_text="weight", range=[0, top], tickformat=".2f", dtick=_nice_step(top), row=2, col=1)
    fig.update_xaxes(tickangle=-60, automargin=True, type="category", **every_label(len(keys), 48))
    fig.update_xaxes(title_text="key", row=2, col=1)
    return fig


def scaling_figure(d_k: int, keys: int = 10, rows: int = 2000, seed: int = 0) -> go.Figure:
    """Why ÷ √d_k (Vaswani et al., 2017, §3.2.1): random queries and keys with parts of mean 0 and variance 1 give
    q·k of variance d_k. Left: one query's softmax over `keys` random keys at this d_k, without and with the scaling.
    Right: the largest weight of a row, averaged over `rows` random rows, as d_k grows (1 = all weight on one key)."""
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((1, d_k)), rng.standard_normal((keys, d_k))
    scores = (q @ k.T)[0]

    def softmax(x: np.ndarray) -> np.ndarray:
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    sizes = np.array([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
    peak_raw, peak_scaled = [], []
    for size in sizes:   # q·k of unit-variance parts is a sum of `size` products: draw it directly, variance `size`
        s = np.random.default_rng(seed + int(size)).standard_normal((rows, keys)) * np.sqrt(size)
        peak_raw.append(float(softmax(s).max(axis=-1).mean()))
        peak_scaled.append(float(softmax(s / np.sqrt(size)).max(axis=-1).mean()))
    fig = make_subplots(rows=1, cols=2, column_widths=[0.5, 0.5], horizontal_spacing=0.12,
                        subplot_titles=[f"One query, {keys} random keys, d_k = {d_k}",
                                        "Largest weight of a row (mean of 2,000 random rows)"])
    names = [f"k{i}" for i in range(keys)]
    fig.add_trace(go.Bar(x=names, y=softmax(scores), name="softmax(q·k): no scaling", marker_color="#d62728",
                         legendgroup="raw", hovertemplate="%{x}: %{y:.3f}<extra>no scaling</extra>"), row=1, col=1)
    fig.add_trace(go.Bar(x=names, y=softmax(scores / np.sqrt(d_k)), name="softmax(q·k ÷ √d_k)", marker_color="#1f6fb4",
                         legendgroup="scaled", hovertemplate="%{x}: %{y:.3f}<extra>÷ √d_k</extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(x=sizes, y=peak_raw, mode="lines+markers", line={"color": "#d62728"}, legendgroup="raw",
                             showlegend=False, hovertemplate="d_k %{x}: %{y:.2f}<extra>no scaling</extra>"), row=1, col=2)
    fig.add_trace(go.Scatter(x=sizes, y=peak_scaled, mode="lines+markers", line={"color": "#1f6fb4"}, legendgroup="scaled",
                             showlegend=False, hovertemplate="d_k %{x}: %{y:.2f}<extra>÷ √d_k</extra>"), row=1, col=2)
    fig.add_vline(x=d_k, line={"color": "#444", "dash": "dot"}, row=1, col=2)
    fig.update_yaxes(title_text="weight", range=[0, 1.02], row=1, col=1)
    fig.update_yaxes(title_text="largest weight in the row", range=[0, 1.02], row=1, col=2)
    fig.update_xaxes(title_text="key", row=1, col=1)
    fig.update_xaxes(title_text="d_k (log scale)", type="log", tickvals=sizes.tolist(), row=1, col=2)
    fig.update_layout(template=_BARE, height=380, barmode="group", margin={"t": 60},
                      legend={"orientation": "h", "y": -0.25})
    return fig


def weighted_sum_figure(steps: Steps, focus: int) -> go.Figure:
    """How one token's output is built: each key's value scaled by its weight, and the sum (the head's output)."""
    contributions = steps.weights[focus][:, None] * steps.values                   # [key, d_head]
    labels = [f"{w:.2f} × {t}" for w, t in zip(steps.weights[focus], token_labels(steps.tokens))]
    matrix = np.vstack([contributions, steps.output[focus][None]])
    rows = [*labels, "= output"]
    return matrix_figure(matrix, rows, None, f"Weighted sum of values for {steps.tokens[focus]}", numbers=steps.d_k <= 8,
                         row_title="weight × value of each key", column_title="dimension of the head")


def concat_figure(heads: LayerHeads, focus: int) -> go.Figure:
    """For one token: every head's output side by side (the concatenation), then after the output projection."""
    d_head = heads.head_outputs.shape[2]
    matrix = np.vstack([heads.concatenated[focus], heads.projected[focus]])
    fig = matrix_figure(matrix, ["heads concatenated", "after output projection"], None,
                        f"{heads.tokens[focus]}: {len(heads.weights)} heads × {d_head} numbers → one vector",
                        column_title="dimension (head boundaries marked)", row_title="vector", height=260, scale_title="value")
    for boundary in range(d_head, heads.concatenated.shape[1], d_head):
        fig.add_vline(x=boundary - 0.5, line={"color": "black", "width": 1})
    return fig


def ablation_figure(ablation: Ablation) -> go.Figure:
    """Per head: how much the layer's output moves when that head alone is removed; removed heads highlighted."""
    heads = list(range(len(ablation.single_head)))
    colours = ["#d62728" if head in ablation.removed else "#1f6fb4" for head in heads]
    fig = go.Figure(go.Bar(x=heads, y=ablation.single_head, marker_color=colours,
                           hovertemplate="head %{x}<br>layer output changes by %{y:.1%}<extra></extra>"))
    fig.update_layout(template=_BARE, height=300, title={"text": "Effect of removing each head alone (red: removed now)", "x": 0.0},
                      xaxis={"title": "head", "dtick": 1}, yaxis={"title": "relative change of the layer output", "tickformat": ".0%"})
    return fig


def distance_figure(distances: np.ndarray) -> go.Figure:
    """Head × head diversity: 0 = the two heads attend identically, 1 = they never look at the same tokens."""
    labels = [f"H{head}" for head in range(len(distances))]
    fig = matrix_figure(distances, labels, labels, "How differently heads attend (Jensen–Shannon distance)",
                        signed=False, numbers=len(distances) <= 12, height=420, row_title="head", column_title="head",
                        scale_title="JS distance")
    fig.data[0].update(zmin=0.0, zmax=1.0)
    return fig


def permutation_figure(experiment: Permutation) -> go.Figure:
    """2 × 2: the shuffled input's pattern beside the original pattern moved along with its tokens, without and with positions."""
    shuffled = experiment.shuffled_tokens
    matrices = [experiment.without_shuffled, experiment.permuted(experiment.without),
                experiment.with_shuffled, experiment.permuted(experiment.with_positions)]
    titles = ["No positions: shuffled sentence", "No positions: original pattern, shuffled along",
              "With positions: shuffled sentence", "With positions: original pattern, shuffled along"]
    return matrices_grid(matrices, titles, [shuffled] * 4, [shuffled] * 4, per_row=2, height_each=380)


def cross_figure(result: Attention, layer: int, head: int) -> go.Figure:
    """Cross-attention of one decoder head: target tokens (rows) look at source tokens (columns)."""
    return matrix_figure(result.cross[layer, head], result.target_tokens, result.tokens,
                         f"Cross-attention · decoder layer {layer} · head {head}", signed=False, scale_title="weight",
                         row_title="target token (decoder, asks)", column_title="source token (encoder, answers)")


def recurrence_figure(n: int = 8, longest: int = 512) -> go.Figure:
    """Self-attention vs a recurrent network: the path between the first and last token, and the steps that must wait."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.58, 0.42], horizontal_spacing=0.1,
                        subplot_titles=[f"Path from token 1 to token {n}", "Steps that must wait for the previous one"])
    xs = list(range(1, n + 1))
    fig.add_trace(go.Scatter(x=xs, y=[1] * n, mode="markers+lines", marker={"size": 16, "color": "#ff7f0e"},
                             line={"color": "#ff7f0e"}, name=f"recurrent: {n - 1} hops, one after another"), row=1, col=1)
    for x in xs[:-1]:   # self-attention: the last token reaches every earlier one in a single hop
        fig.add_trace(go.Scatter(x=[x, (x + n) / 2, n], y=[0, -0.15 - 0.08 * (n - x), 0], mode="lines", line={"shape": "spline",
                      "color": "#1f6fb4", "width": 1.5}, showlegend=False, hoverinfo="skip"), row=1, col=1)
    fig.add_trace(go.Scatter(x=xs, y=[0] * n, mode="markers", marker={"size": 16, "color": "#1f6fb4"},
                             name="self-attention: 1 hop, all pairs at once"), row=1, col=1)
    lengths = np.unique(np.geomspace(2, longest, 24).round().astype(int))
    fig.add_trace(go.Scatter(x=lengths, y=lengths, name="recurrent: n steps", line={"color": "#ff7f0e"}), row=1, col=2)
    fig.add_trace(go.Scatter(x=lengths, y=np.ones_like(lengths), name="self-attention: 1 step per layer",
                             line={"color": "#1f6fb4"}), row=1, col=2)
    for y, label in ((1, "recurrent network"), (0, "self-attention")):
        fig.add_annotation(x=0.5, y=y + 0.18, text=label, showarrow=False, xanchor="left", row=1, col=1)
    fig.update_yaxes(visible=False, range=[-0.15 - 0.08 * n, 1.35], row=1, col=1)
    fig.update_xaxes(title_text="token position", dtick=1, row=1, col=1)
    fig.update_xaxes(title_text="sequence length n", type="log", dtick=1, row=1, col=2)
    fig.update_yaxes(title_text="sequential steps", type="log", dtick=1, row=1, col=2)
    fig.update_layout(template=_BARE, height=360, legend={"orientation": "h", "y": -0.25})
    return fig


def cross_peaks_figure(cross: np.ndarray, target_tokens: list[str], source_tokens: list[str], title: str) -> go.Figure:
    """Cross-attention [target, source] (e.g. the mean over a layer's heads) with each row's peak marked: the source
    token that target row reads most (the alignment score counts how often it lies in the right source span)."""
    cross = np.asarray(cross, dtype=np.float32)
    fig = matrix_figure(cross, target_tokens, source_tokens, title, signed=False, scale_title="weight",
                        row_title="target token (decoder, asks)", column_title="source token (encoder, answers)")
    heat = fig.data[0]
    peaks = cross.argmax(axis=-1)
    fig.add_trace(go.Scatter(x=[heat.x[p] for p in peaks], y=list(heat.y), mode="markers", name="row's peak",
                             marker={"symbol": "circle-open", "size": 14, "color": "#d62728", "line": {"width": 2.5}},
                             hovertemplate="%{y} reads %{x} most<extra>peak</extra>"))
    fig.update_layout(showlegend=True, legend={"orientation": "h", "y": -0.02, "yanchor": "top", "x": 0.0})
    return fig
