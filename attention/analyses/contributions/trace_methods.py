"""attention, rollout, value_norm and alti: the methods read from the trace (weights, value writes, residual)."""
from __future__ import annotations

import numpy as np
from torch import nn

from attention.analyses.contributions.heads import _head_grid
from attention.analyses.contributions.targets import ENCODER_DECODER, TRANSFORMERS, _Setup
from attention.analyses.stats import rollout
from attention.engine.transformer import ScratchTransformer
from attention.run.trace import StackTrace

def value_norms(run: StackTrace, layer: int) -> np.ndarray:
    """‖α·f(x)‖ per head (Kobayashi et al., 2020): float32 [head, query, key] for one layer of a trace (or a decoder's
    self- or cross-attention side)."""
    writes = run.value_writes(layer)                                        # [head, key, d_model] f(x_key)
    return (run.weights[layer] * np.linalg.norm(writes, axis=-1)[:, None, :]).astype(np.float32)


def layer_value_norms(run: StackTrace, layer: int) -> np.ndarray:
    """‖Σ_head α·f(x)‖, the whole layer's write from each key to each query: float32 [query, key]."""
    parts = np.einsum("hqk,hkd->qkd", run.weights[layer], run.value_writes(layer), optimize=True)   # [query, key, d_model]
    return np.linalg.norm(parts, axis=-1).astype(np.float32)


def _layer_norm(module: nn.Module) -> tuple[np.ndarray, np.ndarray, float] | None:
    if not isinstance(module, nn.LayerNorm):
        return None
    beta = module.bias.detach().double().numpy() if module.bias is not None else np.zeros(module.normalized_shape[0])
    return module.weight.detach().double().numpy(), beta, float(module.eps)


def _alti_rows(parts: np.ndarray, total: np.ndarray | None, norm: tuple[np.ndarray, np.ndarray, float] | None,
               output_bias: np.ndarray | None = None) -> np.ndarray:
    """ALTI's scores of one block: parts [query, part, d_model] summing, with the block's biases, to its output y; with
    `total` [query, d_model] and a post-norm layer norm, each part goes through the norm's linear map at this input.
    y = Σ parts + the output projection's bias (through the norm's linear map) + the norm's β, as the authors' code
    has it; with `output_bias` None the biases are left out of y (the bias-free variant).
    contribution = max(0, ‖y‖₁ − ‖y − part‖₁), rows normalised to 1: [query, part]."""
    bias = np.zeros(parts.shape[-1]) if output_bias is None else np.asarray(output_bias, dtype=np.float64)
    if total is not None and norm is not None:
        gain, beta, eps = norm
        scale = np.sqrt(total.var(-1) + eps)                                # [query]: the norm's divisor on the real sum
        parts = gain * (parts - parts.mean(-1, keepdims=True)) / scale[:, None, None]
        if output_bias is not None:
            bias = gain * (bias - bias.mean()) / scale[:, None] + beta     # [query, d_model]
    whole = parts.sum(1) + bias                                             # [query, d_model] y
    distance = np.abs(whole[:, None, :] - parts).sum(-1)                    # [query, part] Manhattan
    contribution = np.maximum(0.0, np.abs(whole).sum(-1)[:, None] - distance)
    totals = contribution.sum(-1, keepdims=True)
    fallback = np.zeros_like(contribution)
    fallback[:, :min(contribution.shape)] = np.eye(contribution.shape[0], min(contribution.shape))
    return np.where(totals > 0, contribution / np.where(totals > 0, totals, 1), fallback)


def alti_layers(run: StackTrace, network: ScratchTransformer, biases: bool = True) -> np.ndarray:
    """ALTI's per-layer contributions (Ferrando et al., 2022): float32 [layer, query, key], non-negative, rows summing to 1.

    Each layer's attention-block output y_query (residual and, for post-norm models, layer norm included) is split
    into one part per key token, T(x_key) = Σ_head α·f(x_key) (+ x_query for the query itself), passed through the
    layer norm's linear map at this input, plus the biases, which belong to no token (the output projection's, through
    the norm, and the norm's β); contribution = max(0, ‖y‖₁ − ‖y − T(x_key)‖₁), normalised per row. With the biases in
    y this is the authors' definition (mt-upc/transformer-contributions; tests/test_alti_reference.py); biases=False
    leaves them out of y (the bias-free variant, a named option). `network` is the stack that ran (a model, or an
    encoder–decoder's `.decoder`: its self-attention blocks)."""
    layers = []
    n_tokens = run.weights.shape[-1]
    for layer in range(run.n_layers):
        parts = np.einsum("hqk,hkd->qkd", run.weights[layer], run.value_writes(layer), optimize=True).astype(np.float64)
        stream = run.residual[layer].astype(np.float64)                     # [token, d_model] what enters the layer
        index = np.arange(n_tokens)
        parts[index, index] += stream                                       # the residual: the query's own vector
        block = network.layers[layer]
        post = not block.norm_first
        total = stream + run.attention_output[layer].astype(np.float64) if post else None
        bias = run.output_bias[layer] if biases else None
        layers.append(_alti_rows(parts, total, _layer_norm(block.attention_norm) if post else None, bias))
    return np.asarray(layers, dtype=np.float32)


def alti(run: StackTrace, network: ScratchTransformer, biases: bool = True) -> np.ndarray:
    """ALTI aggregated through the layers by matrix products: float32 [layer, query, input token], rows summing to 1
    (biases=False: the bias-free variant, see alti_layers)."""
    per_layer = alti_layers(run, network, biases).astype(np.float64)
    out = np.empty_like(per_layer)
    out[0] = per_layer[0]
    for layer in range(1, len(per_layer)):
        out[layer] = per_layer[layer] @ out[layer - 1]
    return out.astype(np.float32)


def _cross_block(decoder: StackTrace, cross: StackTrace, network: ScratchTransformer, layer: int,
                 biases: bool = True) -> np.ndarray:
    """ALTI of one decoder layer's cross-attention block: [target token, 1 + source token], part 0 the residual (the
    stream after self-attention), then each source token's write Σ_head α·f(encoder output); rows sum to 1."""
    block = network.decoder.layers[layer]
    writes = np.einsum("hqk,hkd->qkd", cross.weights[layer], cross.value_writes(layer), optimize=True).astype(np.float64)
    if block.norm_first:                                                    # x after self-attention = stream + its output
        stream = decoder.residual[layer].astype(np.float64) + decoder.attention_output[layer].astype(np.float64)
    else:                                                                   # post-norm: the cross block reads that stream
        stream = cross.attention_input[layer].astype(np.float64)
    parts = np.concatenate([stream[:, None], writes], axis=1)               # [target, 1 + source, d_model]
    post = not block.norm_first
    total = stream + cross.attention_output[layer].astype(np.float64) if post else None
    return _alti_rows(parts, total, _layer_norm(block.cross_norm) if post else None,
                      cross.output_bias[layer] if biases else None)


def alti_encoder_decoder(stacks: dict[str, StackTrace], network: ScratchTransformer, biases: bool = True) -> np.ndarray:
    """ALTI through an encoder–decoder (the structure of ALTI+, Ferrando et al., 2022, "Towards opening the black box of
    neural machine translation"): each decoder position's output split over [source tokens, decoder tokens], float32
    [target, source + target], non-negative, rows summing to 1. Per decoder layer: the self-attention block mixes
    decoder rows (ALTI); the cross-attention block keeps its residual's share of the row and hands each source token's
    share to that token's aggregated encoder row."""
    encoder = alti(stacks["encoder"], network, biases)[-1].astype(np.float64)   # [source, source]
    decoder, cross = stacks["decoder"], stacks["cross"]
    n_source, n_target = encoder.shape[0], decoder.weights.shape[-1]
    rows = np.concatenate([np.zeros((n_target, n_source)), np.eye(n_target)], axis=1)   # [target, source + target]
    self_blocks = alti_layers(decoder, network.decoder, biases).astype(np.float64)
    from_source = np.concatenate([encoder, np.zeros((n_source, n_target))], axis=1)     # source rows, over all tokens
    for layer in range(decoder.n_layers):
        rows = self_blocks[layer] @ rows                                    # self-attention: among decoder positions
        shares = _cross_block(decoder, cross, network, layer, biases)       # [target, 1 + source]
        rows = shares[:, :1] * rows + shares[:, 1:] @ from_source
    return rows.astype(np.float32)


def rollout_encoder_decoder(stacks: dict[str, StackTrace]) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema, 2020) carried through cross-attention: float32 [target, source + target],
    rows summing to 1. Each sub-layer is 0.5·(heads' mean) + 0.5·I, as rollout does for self-attention; a
    cross-attention sub-layer keeps half of each row and hands the other half to the source tokens through the
    encoder's rolled-out rows."""
    encoder = rollout(stacks["encoder"].weights)[-1].astype(np.float64)   # [source, source]
    decoder, cross = stacks["decoder"], stacks["cross"]
    n_source, n_target = encoder.shape[0], decoder.weights.shape[-1]
    rows = np.concatenate([np.zeros((n_target, n_source)), np.eye(n_target)], axis=1)
    from_source = np.concatenate([encoder, np.zeros((n_source, n_target))], axis=1)
    for layer in range(decoder.n_layers):
        mixed = 0.5 * decoder.weights[layer].astype(np.float64).mean(0) + 0.5 * np.eye(n_target)
        rows = mixed @ rows
        rows = 0.5 * rows + 0.5 * cross.weights[layer].astype(np.float64).mean(0) @ from_source
    return rows.astype(np.float32)


def _attention_scores(setup: _Setup, methods: list[str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """attention, rollout, value_norm and alti: one score per token of every segment, and [layer, head] maps."""
    if setup.mode == ENCODER_DECODER:
        return _encoder_decoder_attention_scores(setup, methods)
    scores: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    if setup.mode == TRANSFORMERS:
        for index, weights in enumerate(setup.attentions):
            rows = setup.query_rows(index)
            if "attention" in methods:
                scores["attention"].append(weights[-1].mean(0)[rows].mean(0))
            if "rollout" in methods:
                scores["rollout"].append(rollout(weights)[-1][rows].mean(0))
        return {m: np.concatenate(v).astype(np.float32) for m, v in scores.items()}, {}
    head_value = np.zeros((setup.runs[0].n_layers, setup.runs[0].n_heads))
    for index, run in enumerate(setup.runs):
        rows = setup.query_rows(index)
        if "attention" in methods:
            scores["attention"].append(run.weights[-1].mean(0)[rows].mean(0))
        if "rollout" in methods:
            scores["rollout"].append(rollout(run.weights)[-1][rows].mean(0))
        if "value_norm" in methods:
            scores["value_norm"].append(layer_value_norms(run, run.n_layers - 1)[rows].mean(0))
            head_value += np.stack([value_norms(run, layer)[:, rows].sum(-1).mean(-1) for layer in range(run.n_layers)])
        if "alti" in methods:
            scores["alti"].append(alti(run, setup.network)[-1][rows].mean(0))
    maps = {"value_norm": (head_value / len(setup.runs)).astype(np.float32)} if "value_norm" in methods else {}
    return {m: np.concatenate(v).astype(np.float32) for m, v in scores.items()}, maps


def _encoder_decoder_attention_scores(setup: _Setup, methods: list[str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The last decoder layer from the target's query row: cross-attention over the source tokens, self-attention over
    the decoder's; rollout and ALTI carried through the encoder and the cross-attention."""
    encoder, decoder, cross = (setup.stacks[s] for s in ("encoder", "decoder", "cross"))
    row = setup.positions[0]
    last = decoder.n_layers - 1
    scores, maps = {}, {}
    if "attention" in methods:
        scores["attention"] = np.concatenate([cross.weights[last].mean(0)[row], decoder.weights[last].mean(0)[row]])
    if "rollout" in methods:
        scores["rollout"] = rollout_encoder_decoder(setup.stacks)[row]
    if "value_norm" in methods:
        scores["value_norm"] = np.concatenate([layer_value_norms(cross, last)[row], layer_value_norms(decoder, last)[row]])
        maps["value_norm"] = _head_grid([
            np.stack([value_norms(encoder, l).sum(-1).mean(-1) for l in range(encoder.n_layers)]),   # every source row
            np.stack([value_norms(decoder, l)[:, row].sum(-1) for l in range(decoder.n_layers)]),
            np.stack([value_norms(cross, l)[:, row].sum(-1) for l in range(cross.n_layers)])])
    if "alti" in methods:
        scores["alti"] = alti_encoder_decoder(setup.stacks, setup.network)[row]
    return {m: np.asarray(v, dtype=np.float32) for m, v in scores.items()}, maps
