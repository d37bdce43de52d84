"""view(): attention your own model already computed, as the result attend() returns, so every view draws it.

    out = model(**inputs, output_attentions=True)
    view(out.attentions, tokenizer.convert_ids_to_tokens(inputs["input_ids"][0]))       # BertViz's head_view(...)
    view(encoder=out.encoder_attentions, decoder=out.decoder_attentions, cross=out.cross_attentions,
         encoder_tokens=source, decoder_tokens=target)                                    # an encoder–decoder
    view(out.attentions, tokens, sentence_b_start=7)                                      # a sentence pair

Takes what transformers returns (a tuple of per-layer [batch, head, query, key] tensors), or one array [layer, head,
query, key] / [layer, batch, head, query, key]; numpy or torch, any float dtype. Checks it (shapes against the tokens,
finite, each row in [0, 1] summing to 1 within `tolerance`) and says what is wrong otherwise.
Also here: attend_pair(), the run behind attend(text, model, text_b=...) for encoders that read two texts.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from attention.run.result import Attention

TOLERANCE = 1e-3   # a row of softmax weights sums to 1 within this (bf16 / fp16 outputs are coarser than float32)


def _array(value: Any, what: str) -> np.ndarray:
    """A torch tensor or numpy array (any float dtype, bf16 included) as float64 numpy."""
    if hasattr(value, "detach"):                                   # torch: bf16 has no numpy dtype, so go through float
        value = value.detach().float().cpu().numpy()
    array = np.asarray(value)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{what} must be numbers (a tensor or array of weights), not {array.dtype}.")
    return array.astype(np.float64)


def _stack(attentions: Any, batch: int, what: str) -> np.ndarray:
    """transformers' tuple of [batch, head, query, key] (or [head, query, key]) per layer, or one array of 4 or 5 axes,
    as [layer, head, query, key] for batch item `batch`."""
    if attentions is None:
        raise ValueError(f"Give {what}: the attentions your model returned (output_attentions=True).")
    if isinstance(attentions, (list, tuple)):
        if not attentions:
            raise ValueError(f"{what} is empty: no layers.")
        layers = [_array(layer, f"{what}[{index}]") for index, layer in enumerate(attentions)]
        shapes = {layer.shape for layer in layers}
        if len(shapes) != 1:
            raise ValueError(f"The layers of {what} differ in shape: {sorted(shapes)}.")
        stacked = np.stack(layers)                                 # [layer, (batch,) head, query, key]
    else:
        stacked = _array(attentions, what)
    if stacked.ndim == 5:
        if not -stacked.shape[1] <= batch < stacked.shape[1]:
            raise ValueError(f"batch={batch} is outside {what}'s batch of {stacked.shape[1]}.")
        stacked = stacked[:, batch]
    if stacked.ndim != 4:
        raise ValueError(f"{what} has shape {tuple(stacked.shape)}; expected per-layer [batch, head, query, key] tensors "
                         "(transformers' outputs.attentions) or one array [layer, head, query, key].")
    return stacked


def _check_weights(weights: np.ndarray, what: str, tolerance: float) -> None:
    """Finite, in [0, 1], every row summing to 1: ValueError naming the first layer, head and query that is not."""
    bad = ~np.isfinite(weights)
    if bad.any():
        layer, head, query, key = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{what} holds NaN or infinite weights (first at layer {layer}, head {head}, query {query}, "
                         f"key {key}).")
    low, high = weights.min(), weights.max()
    if low < -tolerance or high > 1 + tolerance:
        where = np.argwhere((weights < -tolerance) | (weights > 1 + tolerance))[0]
        raise ValueError(f"{what} holds weights outside [0, 1] (from {low:.4g} to {high:.4g}; first at layer {where[0]}, "
                         f"head {where[1]}, query {where[2]}): pass the attention probabilities, not scores or logits.")
    sums = weights.sum(axis=-1)
    off = np.abs(sums - 1) > tolerance
    if off.any():
        layer, head, query = (int(i) for i in np.argwhere(off)[0])
        raise ValueError(f"{what}'s rows must each sum to 1 (softmax over the keys); layer {layer}, head {head}, query "
                         f"{query} sums to {sums[layer, head, query]:.4g}.")


def _tokens(tokens: Any, what: str) -> list[str]:
    if tokens is None or isinstance(tokens, (str, bytes)) or not isinstance(tokens, Sequence) and not hasattr(tokens, "__iter__"):
        raise ValueError(f"Give {what} as a list of strings, one per position (tokenizer.convert_ids_to_tokens(ids)).")
    return [str(token) for token in tokens]


def _chosen(values: Sequence[int] | None, count: int, what: str) -> list[int]:
    if values is None:
        return list(range(count))
    chosen = [int(v) for v in values]
    if not chosen:
        raise ValueError(f"{what} is empty: name at least one.")
    outside = [v for v in chosen if not 0 <= v < count]
    if outside:
        raise ValueError(f"{what} {outside[:5]} are outside 0–{count - 1}.")
    return sorted(set(chosen))


def view(attentions: Any = None, tokens: Sequence[str] | None = None, *, batch: int = 0,
         sentence_b_start: int | None = None, encoder: Any = None, decoder: Any = None, cross: Any = None,
         encoder_tokens: Sequence[str] | None = None, decoder_tokens: Sequence[str] | None = None,
         include_layers: Sequence[int] | None = None, include_heads: Sequence[int] | None = None,
         model: str = "your model", tolerance: float = TOLERANCE) -> Attention:
    """Your model's attention as an Attention result (weights [layer, head, query, key]) that displays itself in a
    notebook, and has show() and the offline file: `attentions` with `tokens`, or `encoder`/`decoder`/`cross` with
    `encoder_tokens`/`decoder_tokens` (cross: [layer, head, decoder token, encoder token]). `sentence_b_start`: where
    the second text of a pair begins (views filter A→A, A→B, B→A, B→B). include_layers / include_heads: keep those."""
    pair = encoder is not None or decoder is not None or cross is not None
    if pair and attentions is not None:
        raise ValueError("Give either attentions (one stack) or encoder=/decoder=/cross= (an encoder–decoder), not both.")
    if pair:
        if encoder is None or decoder is None or cross is None:
            raise ValueError("An encoder–decoder needs encoder=, decoder= and cross= (outputs.encoder_attentions, "
                             "decoder_attentions, cross_attentions), with encoder_tokens= and decoder_tokens=.")
        source, target = _tokens(encoder_tokens, "encoder_tokens"), _tokens(decoder_tokens, "decoder_tokens")
        weights = _stack(encoder, batch, "encoder")
        target_weights, cross_weights = _stack(decoder, batch, "decoder"), _stack(cross, batch, "cross")
        _fits(weights, len(source), len(source), "encoder", "encoder_tokens", "encoder_tokens")
        _fits(target_weights, len(target), len(target), "decoder", "decoder_tokens", "decoder_tokens")
        _fits(cross_weights, len(target), len(source), "cross", "decoder_tokens", "encoder_tokens")
        if target_weights.shape[:2] != cross_weights.shape[:2]:
            raise ValueError(f"decoder has {target_weights.shape[0]} layers × {target_weights.shape[1]} heads but cross "
                             f"has {cross_weights.shape[0]} × {cross_weights.shape[1]}.")
        parts = {"encoder": weights, "decoder": target_weights, "cross": cross_weights}
    else:
        if encoder_tokens is not None or decoder_tokens is not None:
            raise ValueError("encoder_tokens / decoder_tokens go with encoder=, decoder= and cross=.")
        source, target = _tokens(tokens, "tokens"), None
        weights = _stack(attentions, batch, "attentions")
        _fits(weights, len(source), len(source), "attentions", "tokens", "tokens")
        parts = {"attentions": weights}
    if sentence_b_start is not None:
        if pair:
            raise ValueError("sentence_b_start marks a sentence pair in one stack; an encoder–decoder has its two sides.")
        if isinstance(sentence_b_start, bool) or not isinstance(sentence_b_start, (int, np.integer)) \
                or not 0 < sentence_b_start < len(source):
            raise ValueError(f"sentence_b_start must be a position inside the tokens (1–{len(source) - 1}): where the "
                             "second text begins.")
    for what, part in parts.items():
        _check_weights(part, what, tolerance)
    layers = _chosen(include_layers, weights.shape[0], "include_layers")
    heads = _chosen(include_heads, weights.shape[1], "include_heads")
    if pair:
        decoder_layers = _chosen(include_layers, target_weights.shape[0], "include_layers")
        decoder_heads = _chosen(include_heads, target_weights.shape[1], "include_heads")
        target_weights = target_weights[np.ix_(decoder_layers, decoder_heads)]
        cross_weights = cross_weights[np.ix_(decoder_layers, decoder_heads)]
    weights = weights[np.ix_(layers, heads)]
    meta: dict[str, Any] = {"source": "view", "family": "encoder-decoder" if pair else "", "layers": layers, "heads": heads,
                            "causal": bool(len(source) > 1 and not np.triu(weights[0, 0], 1).any())}
    if sentence_b_start is not None:
        meta["sentence_b_start"] = int(sentence_b_start)
    return Attention(tokens=source, weights=weights.astype(np.float32), model=str(model), meta=meta,
                     target_tokens=target, target_weights=target_weights.astype(np.float32) if pair else None,
                     cross=cross_weights.astype(np.float32) if pair else None)


def _fits(weights: np.ndarray, queries: int, keys: int, what: str, query_names: str, key_names: str) -> None:
    if weights.shape[2:] != (queries, keys):
        raise ValueError(f"{what} has {weights.shape[2]} query × {weights.shape[3]} key positions, but there are "
                         f"{queries} {query_names}" + ("" if query_names == key_names else f" and {keys} {key_names}")
                         + ": pass the tokens of the same input (special tokens included), and pick the batch item "
                         "with batch=.")


# ---------------------------------------------------------------- attend(text, model, text_b=...)

def attend_pair(text: str, model: str, text_b: Any, **options: Any) -> Attention:
    """Two texts through an encoder that reads pairs (BERT-like: [CLS] A [SEP] B [SEP], with segment ids), the second
    beginning at meta["sentence_b_start"]; both truncated together to the model's limit (or max_tokens), with a notice."""
    import torch

    from attention.engine.backends import COMPUTE_LOCK
    from attention.run.api import clean_text
    from attention.run.models import load_model

    if not isinstance(text_b, str):
        raise ValueError("text_b must be text: the second sentence of the pair.")
    unknown = set(options) - {"max_tokens"}
    if unknown:
        raise ValueError(f"With text_b, attend() takes only max_tokens, not {sorted(unknown)}.")
    text, notices = clean_text(text)
    text_b, notices_b = clean_text(text_b)
    notices += [f"Second text: {notice}" for notice in notices_b]
    backend = load_model(model)
    tokenizer = backend.tokenizer
    takes_pairs = getattr(backend.network.config, "type_vocab_size", 0) >= 2
    if backend.kind != "transformers" or backend.family != "encoder" or not takes_pairs:
        raise ValueError(f"Sentence pairs run on encoders trained on two texts (BERT-like models such as minilm); "
                         f"'{model[:80]}' is not one. Leave out text_b, or pick such a model.")
    limit = min(backend.max_tokens, options.get("max_tokens", backend.max_tokens))
    full = len(tokenizer(text, text_b)["input_ids"])
    encoding = tokenizer(text, text_b, truncation="longest_first", max_length=limit) if full > limit else tokenizer(text, text_b)
    if full > limit:
        notices.append(f"The two texts have {full:,} tokens; {model} reads at most {limit}, so the longer was cut first.")
    ids, segments = list(encoding["input_ids"]), list(encoding.get("token_type_ids") or [])
    if 1 not in segments:
        raise ValueError(f"'{model[:80]}''s tokenizer does not mark a second text; leave out text_b.")
    with COMPUTE_LOCK, torch.inference_mode():
        out = backend.network(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([segments]), output_attentions=True)
    weights = torch.cat(list(out.attentions)).float().numpy()                          # [layer, head, query, key]
    return Attention(tokens=tokenizer.convert_ids_to_tokens(ids), weights=weights, model=model,
                     options={**options, "text_b": text_b}, notices=notices,   # (word ids restart in B: no word view)
                     meta={**backend.meta, "causal": False, "max_tokens": backend.max_tokens,
                           "sentence_b_start": segments.index(1)})
