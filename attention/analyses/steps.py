"""One attention head opened up, step by step, with the engine's own modules and numbers.

    inputs ──► queries, keys, values ──► scores ──► ÷ √d_k ──► mask ──► softmax ──► weights ──► weights · values

`trace_steps` opens one head of a traced run of `scratch` or `scratch:<weights>` (the same pass attend() runs,
so the weights shown equal attend()'s); `toy_steps` does the same on four tokens of dimension 4 with
small whole-number weights, so every number can be checked with a calculator.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from attention.run.models import load_model
from attention.engine.maths import MultiHeadAttention, attention_weights, causal_mask
from attention.run.api import prepare_scratch_name
from attention.run.trace import Trace, trace

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

    def strongest_keys(self, query: int, count: int = 3) -> list[tuple[int, float]]:
        """The `count` keys `query` gives most weight: (key position, weight), strongest first."""
        row = self.weights[query]                          # [key]
        return [(int(key), float(row[key])) for key in np.argsort(row)[::-1][:count]]

    def largest_difference(self, weights: np.ndarray) -> float:
        """Largest |these weights − `weights`| over [query, key] (0: the very same numbers), e.g. against attend()'s."""
        return float(np.abs(self.weights - weights).max())


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


def run_options(causal: bool = False, max_tokens: int | None = None) -> dict:
    """attend() options for a view: the causal mask only when asked, a token cap only when given."""
    return {**({"causal": True} if causal else {}), **({"max_tokens": max_tokens} if max_tokens else {})}


def scratch_trace(text: str, model: str, causal: bool = False, max_tokens: int | None = None) -> Trace:
    """The trace a Learn view reads: the project's engine only (`scratch` or `scratch:<weights>`), else ValueError."""
    prepare_scratch_name(model)
    return trace(text, model.strip(), **run_options(causal, max_tokens))


def trace_steps(run: Trace, layer: int, head: int) -> Steps:
    """One head of a traced run, from what its layer's attention read to the head's output (no engine re-run: the
    queries and keys come from the trace, and the intermediate matrices from the engine's one weights function)."""
    run.check_layer(layer, head)
    n = run.n_tokens
    mask = causal_mask(n) if run.meta.get("causal") else None
    query, key = (torch.from_numpy(np.array(part[layer, head]))[None, None] for part in (run.query, run.key))
    record: dict = {}
    attention_weights(query, key, mask, steps=record)                                   # [1, 1, query, key]
    attention = load_model(run.model).network.layers[layer].self_attention
    d_head = run.query.shape[-1]
    rows = slice(head * d_head, (head + 1) * d_head)
    with torch.no_grad():
        projections = {name: getattr(attention, name).weight[rows].T.float().numpy().copy() for name in ("query", "key", "value")}
    arrays = {name: array[0, 0].float().numpy() for name, array in record.items()}
    allowed = np.ones((n, n), dtype=bool) if mask is None else mask[0, 0].numpy()
    return Steps(tokens=run.tokens, layer=layer, head=head, inputs=run.attention_input[layer], projections=projections,
                 queries=run.query[layer, head], keys=run.key[layer, head], values=run.value[layer, head],
                 output=run.head_outputs[layer, head], mask=allowed, notices=list(run.notices), **arrays)


def sentence_steps(text: str, model: str = "scratch:minilm", layer: int = 0, head: int = 0, causal: bool = False,
                   max_tokens: int | None = None) -> Steps:
    """One head of a scratch engine on `text`, from the layer's input to the head's output (reads the trace)."""
    return trace_steps(scratch_trace(text, model, causal, max_tokens), layer, head)


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
