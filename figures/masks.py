"""The Masks page's figures: the two masks, one head with and without the causal mask, a decoder's head, an
encoder–decoder's three kinds of attention, and a padded batch. Pure functions of results: (result, choice) -> figure."""
from __future__ import annotations

import plotly.graph_objects as go

from attention.analyses.batch import PaddedBatch
from attention.analyses.masks import mask_kinds
from attention.run.result import Attention
from figures.learn import cross_figure, cross_peaks_figure, matrices_grid, matrix_figure


def mask_pair_figure(tokens: list[str]) -> go.Figure:
    """The bidirectional and the causal mask over these tokens, side by side (1 allowed, 0 hidden)."""
    return matrices_grid(list(mask_kinds(len(tokens)).values()),
                         ["Bidirectional mask: all allowed", "Causal mask: only earlier tokens"], [tokens] * 2, [tokens] * 2,
                         per_row=2, height_each=360, scale_title="allowed (1)<br>or hidden (0)")


def causal_pair_figure(result: Attention, causal: Attention, layer: int, head: int) -> go.Figure:
    """One head of `result` beside the same head run with the causal mask (`causal`: the same text and weights)."""
    titles = [f"{'Causal' if result.meta.get('causal') else 'Bidirectional'}: layer {layer} · head {head}", "Causal mask applied"]
    return matrices_grid([result.head(layer, head), causal.head(layer, head)], titles, [result.tokens] * 2,
                         [result.tokens] * 2, per_row=2, height_each=380)


def decoder_figure(decoded: Attention, layer: int, head: int) -> go.Figure:
    """A decoder's head (the nearest one the model has to `layer`, `head`): its own causal self-attention."""
    layer, head = decoded.clamp(layer, head)
    return matrix_figure(decoded.head(layer, head), decoded.tokens, decoded.tokens, f"Layer {layer} · Head {head}",
                         signed=False, row_title="query", column_title="key", scale_title="weight")


def cross_mean_figure(pair: Attention, model: str) -> go.Figure:
    """An encoder–decoder's last decoder layer: cross-attention averaged over its heads, each row's peak marked."""
    last, mean = pair.last_cross_mean()
    return cross_peaks_figure(mean, pair.target_tokens, pair.tokens,
                              f"Cross-attention · {model} · last decoder layer ({last}), mean over its heads")


def seq2seq_figures(pair: Attention, layer: int, head: int) -> tuple[go.Figure, go.Figure, go.Figure]:
    """An encoder–decoder's encoder self-attention, decoder self-attention (causal) and cross-attention, each at the
    nearest head its stack has to (`layer`, `head`)."""
    e_layer, e_head = pair.clamp(layer, head)
    x_layer, x_head = pair.clamp_target(layer, head)
    encoder = matrix_figure(pair.head(e_layer, e_head), pair.tokens, pair.tokens,
                            f"Encoder self-attention · layer {e_layer} · head {e_head}", signed=False,
                            row_title="source token", column_title="source token", scale_title="weight")
    decoder = matrix_figure(pair.target_head(x_layer, x_head), pair.target_tokens, pair.target_tokens,
                            f"Decoder self-attention (causal) · layer {x_layer} · head {x_head}", signed=False,
                            row_title="target token", column_title="target token", scale_title="weight")
    return encoder, decoder, cross_figure(pair, x_layer, x_head)


def padding_figure(batch: PaddedBatch, layer: int, head: int) -> go.Figure:
    """Each sentence's padding mask (top) and its head as the padded batch ran it (bottom), at the nearest head."""
    layer, head = batch.clamp(layer, head)
    count = len(batch.lengths)
    names = [f"Sentence {i + 1} ({batch.lengths[i]} tokens{', padded' if batch.is_padded(i) else ''})" for i in range(count)]
    matrices = [*(batch.key_mask(i) for i in range(count)), *(batch.head(i, layer, head) for i in range(count))]
    titles = [f"Padding mask · {name}" for name in names] + [f"Attention · {name}" for name in names]
    return matrices_grid(matrices, titles, batch.tokens * 2, batch.tokens * 2, per_row=count, height_each=340,
                         scale_title="weight (masks:<br>1 allowed, 0 hidden)")
