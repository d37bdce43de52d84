"""What the page reads besides explain(): one head's view, the tokens of a text, the targets a model takes."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from attention.analyses.contributions.heads import head_layer_names
from attention.analyses.contributions.setups import _setup
from attention.analyses.contributions.targets import TARGETS, _check_int
from attention.analyses.contributions.trace_methods import value_norms
from attention.analyses.contributions.transformers_path import _transformers_only
from attention.run.models import load_model
from attention.run.api import prepare
from attention.run.trace import engine_model, trace


class HeadView(NamedTuple):
    """One head of one run, for the page: where it looks and what it moves."""

    query_tokens: list[str]
    key_tokens: list[str]
    weights: np.ndarray            # [query, key]
    norms: np.ndarray | None       # ‖α·f(x)‖ [query, key]; None where the engine's value vectors are not available
    title: str                     # e.g. "L1 H2", "decoder cross 0 · H3"


def head_views(text: str, model: str, layer: int, head: int, max_tokens: int | None = None,
               text_b: str | None = None) -> HeadView:
    """One head: its attention weights [query, key] and value-weighted norms ‖α·f(x)‖ [query, key]. `layer` is a row of
    the head maps (head_layer_names: for an encoder–decoder, encoder rows, then decoder self, then decoder cross;
    `text_b` is then the output so far)."""
    layer, head = _check_int(layer, "layer"), _check_int(head, "head")
    limit = {} if max_tokens is None else {"max_tokens": max_tokens}
    if not isinstance(model, str) or not model.strip():
        raise ValueError("Pick a model: minilm, scratch, scratch:minilm, or a Hugging Face id / local folder.")
    name = model.strip()
    if _transformers_only(name):
        from attention.run.api import attend

        result = attend(text, name, **limit)
        if not (0 <= layer < result.n_layers and 0 <= head < result.n_heads):
            raise ValueError(f"{name[:80]} has layers 0–{result.n_layers - 1} and heads 0–{result.n_heads - 1}.")
        return HeadView(result.tokens, result.tokens, result.weights[layer, head], None, f"L{layer} H{head}")
    engine, _ = engine_model(name)
    if load_model(engine).family != "encoder-decoder":
        run = trace(text, engine, **limit)
        run.check_layer(layer, head)
        return HeadView(run.tokens, run.tokens, run.weights[layer, head], value_norms(run, layer)[head], f"L{layer} H{head}")
    setup, _, _ = _setup(text, engine, "next_token", text_b, None, max_tokens)
    rows = head_layer_names(setup)
    if not 0 <= layer < len(rows):
        raise ValueError(f"{engine[:80]} has head-map rows 0–{len(rows) - 1} ({rows[0]} … {rows[-1]}); row {layer} does not exist.")
    n_encoder, n_decoder = len(setup.network.layers), len(setup.network.decoder.layers)
    side = "encoder" if layer < n_encoder else "decoder" if layer < n_encoder + n_decoder else "cross"
    stack = setup.stacks[side]
    index = layer - {"encoder": 0, "decoder": n_encoder, "cross": n_encoder + n_decoder}[side]
    if not 0 <= head < stack.n_heads:
        raise ValueError(f"{rows[layer]} has heads 0–{stack.n_heads - 1}; head {head} does not exist.")
    tokenizer = setup.prepared[0].backend.tokenizer
    source, target = (tokenizer.convert_ids_to_tokens(ids) for ids in setup.segment_ids)
    queries, keys = {"encoder": (source, source), "decoder": (target, target), "cross": (target, source)}[side]
    return HeadView(queries, keys, stack.weights[index, head], value_norms(stack, index)[head], f"{rows[layer]} · H{head}")


def target_tokens(text: str, model: str, max_tokens: int | None = None) -> list[str]:
    """The tokens of `text` as the model reads them (for picking the token target)."""
    limit = {} if max_tokens is None else {"max_tokens": max_tokens}
    if _transformers_only(model):
        return prepare(text, model.strip(), **limit).tokens
    engine, _ = engine_model(model)
    return trace(text, engine, **limit).tokens


def targets_for(model: str) -> tuple[str, ...]:
    """The targets a model takes: an encoder–decoder only next_token (its next output token's logit), others all."""
    if _transformers_only(model):
        return TARGETS
    engine, _ = engine_model(model)
    return ("next_token",) if load_model(engine).family == "encoder-decoder" else TARGETS
