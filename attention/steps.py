"""One attention head opened up, step by step, with the engine's own modules and numbers.

    inputs ──► queries, keys, values ──► scores ──► ÷ √d_k ──► mask ──► softmax ──► weights ──► weights · values

`sentence_steps` follows a real sentence through `scratch` or `scratch:<weights>` (the same modules attend()
runs, so the weights shown equal attend()'s); `toy_steps` does the same on four tokens of dimension 4 with
small whole-number weights, so every number can be checked with a calculator.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .api import Prepared, prepare_scratch
from .maths import MultiHeadAttention, attention_weights, causal_mask
from .models import COMPUTE_LOCK
from .scratch import ScratchTransformer, TransformerLayer

TOY_TOKENS = ["I", "like", "green", "tea"]
TOY_INPUTS = [[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0], [0, 0, 2, 1]]            # [token, d_model]
TOY_PROJECTIONS = {                                                                # each [d_model, d_head]: x · W
    "query": [[1, 0, 0, 1], [0, 1, 1, 0], [1, 0, 1, 0], [0, 1, 0, 0]],
    "key": [[0, 1, 0, 1], [1, 0, 0, 0], [0, 1, 1, 0], [1, 0, 0, 1]],
    "value": [[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 1, 1], [1, 0, 0, -1]],
}


@dataclass(frozen=True)
class Steps:
    """Every matrix of one head, in flowchart order (float32 numpy; rows are tokens)."""

    tokens: list[str]
    layer: int
    head: int
    inputs: np.ndarray        # [token, d_model] what this layer's attention reads (embeddings, for layer 0)
    projections: dict         # name -> [d_model, d_head] this head's slice of W_Q, W_K, W_V
    queries: np.ndarray       # [token, d_head] each token's question
    keys: np.ndarray          # [token, d_head] each token's answer
    values: np.ndarray        # [token, d_head] each token's content
    scores: np.ndarray        # [query, key] queries · keysᵀ
    scaled: np.ndarray        # [query, key] ÷ √d_k
    mask: np.ndarray          # [query, key] bool, True where the query may look
    masked: np.ndarray        # [query, key] -inf where the mask forbids
    weights: np.ndarray       # [query, key] softmax of each row; rows sum to 1
    output: np.ndarray        # [query, d_head] weights · values: what each token takes home from this head
    notices: list[str]

    @property
    def d_k(self) -> int:
        return self.queries.shape[1]


def head_steps(attention: MultiHeadAttention, x: torch.Tensor, head: int, mask: torch.Tensor | None) -> dict:
    """Run one head of `attention` on x [1, seq, d_model], keeping every intermediate (numpy, [seq, ...])."""
    queries, keys, values = (part[:, head:head + 1] for part in attention.project(x))   # each [1, 1, seq, d_head]
    record: dict = {}
    weights = attention_weights(queries, keys, mask, steps=record)                       # the engine's one function
    d_head = queries.shape[-1]
    rows = slice(head * d_head, (head + 1) * d_head)
    projections = {name: getattr(attention, name).weight[rows].T for name in ("query", "key", "value")}
    arrays = {"queries": queries, "keys": keys, "values": values, "output": weights @ values, **record, **projections}
    return {name: array.squeeze().reshape(array.shape[-2:]).float().numpy() for name, array in arrays.items()}


@dataclass(frozen=True)
class LayerInput:
    """What one layer of a scratch engine reads for a sentence: tokens, the hidden state entering it, its mask."""

    prepared: Prepared
    engine: ScratchTransformer
    block: TransformerLayer
    hidden: torch.Tensor          # [1, seq, d_model] the residual stream entering the layer
    normed: torch.Tensor          # [1, seq, d_model] what its attention reads (pre-norm models normalise first)
    mask: torch.Tensor | None     # [1, 1, query, key] causal, or None for bidirectional
    user_mask: torch.Tensor | None  # the causal mask the user asked for (decoders add theirs themselves)


def run_options(causal: bool = False, max_tokens: int | None = None) -> dict:
    """attend() options for a view: the causal mask only when asked, a token cap only when given."""
    return {**({"causal": True} if causal else {}), **({"max_tokens": max_tokens} if max_tokens else {})}


def layer_input(text: str, model: str, layer: int, causal: bool = False, max_tokens: int | None = None) -> LayerInput:
    """Run a scratch engine up to `layer` on `text` (ValueError for other engines or a layer it does not have)."""
    prepared = prepare_scratch(text, model, **run_options(causal, max_tokens))
    engine = prepared.backend.model
    if not 0 <= layer < len(engine.layers):
        raise ValueError(f"{model} has layers 0–{len(engine.layers) - 1}; layer {layer} does not exist.")
    n = len(prepared.ids)
    user_mask = causal_mask(n) if causal else None
    with COMPUTE_LOCK, torch.inference_mode():
        hidden = engine.run(torch.tensor([prepared.ids]), user_mask, stop_before=layer).hidden
        block = engine.layers[layer]
        normed = block.attention_norm(hidden) if block.norm_first else hidden
    mask = causal_mask(n) if causal or engine.config.causal else None
    return LayerInput(prepared, engine, block, hidden, normed, mask, user_mask)


def sentence_steps(text: str, model: str = "scratch:minilm", layer: int = 0, head: int = 0, causal: bool = False,
                   max_tokens: int | None = None) -> Steps:
    """One head of a scratch engine on `text`, from the layer's input to the head's output."""
    entry = layer_input(text, model, layer, causal, max_tokens)
    n_heads = entry.engine.config.n_heads
    if not 0 <= head < n_heads:
        raise ValueError(f"{model} has heads 0–{n_heads - 1}; head {head} does not exist.")
    with torch.inference_mode():
        arrays = head_steps(entry.block.attention, entry.normed, head, entry.mask)
    prepared = entry.prepared
    return _steps(prepared.tokens, layer, head, entry.normed[0].numpy(), arrays, entry.mask, len(prepared.ids), prepared.notices)


def toy_attention() -> MultiHeadAttention:
    """A one-head attention of dimension 4 whose weights are the toy's whole numbers (no biases)."""
    attention = MultiHeadAttention(d_model=4, n_heads=1, bias=False)
    with torch.no_grad():
        for name, matrix in TOY_PROJECTIONS.items():
            getattr(attention, name).weight.copy_(torch.tensor(matrix, dtype=torch.float32).T)  # Linear stores [out, in]
        attention.output.weight.copy_(torch.eye(4))
    return attention.eval()


def toy_steps(causal: bool = False) -> Steps:
    """The hand-sized example: 4 tokens, dimension 4, d_k = 4 so ÷ √d_k is ÷ 2."""
    x = torch.tensor([TOY_INPUTS], dtype=torch.float32)
    n = len(TOY_TOKENS)
    mask = causal_mask(n) if causal else None
    with torch.inference_mode():
        arrays = head_steps(toy_attention(), x, 0, mask)
    return _steps(TOY_TOKENS, 0, 0, x[0].numpy(), arrays, mask, n, [])


def _steps(tokens, layer, head, inputs, arrays, mask, n, notices) -> Steps:
    allowed = np.ones((n, n), dtype=bool) if mask is None else mask[0, 0].numpy()
    projections = {name: arrays.pop(name) for name in ("query", "key", "value")}
    return Steps(tokens=tokens, layer=layer, head=head, inputs=inputs, projections=projections, mask=allowed,
                 notices=list(notices), **arrays)
