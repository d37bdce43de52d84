"""Exact attention weights from a record, one block at a time: scores, each row's log-sum-exp, tiles.

For one head, a query's weights are softmax over its visible keys of

    score(query, key) = softcap · tanh(query · key × scaling / softcap)   (or query · key × scaling without softcap)
                        + the model's own float bias, if any

so with each row's log-sum-exp L(query) = log Σ_key exp(score), any block of the map is exp(score − L): computed
from the recorded queries and keys alone, with L found once per row. Every function here works on a block whose
size the caller chooses (CHUNK_ELEMENTS floats at a time), so no [query, key] buffer of the whole input exists.
Rows whose query sees no key (padding) have L = −inf and weights 0.
"""
from __future__ import annotations

import torch

from attention.engine.record import CHUNK_ELEMENTS, LayerRecord


def scores(layer: LayerRecord, batch: int, head: int, queries: slice, keys: slice) -> torch.Tensor:
    """float32 [query, key] scores of one head over a block, −inf where the mask hides a key."""
    q = layer.queries[batch, head, queries].float()                          # [query, d_head]
    k = layer.keys[batch, head // layer.groups, keys].float()                # [key, d_head]
    s = (q @ k.T).mul_(layer.scaling)                                        # [query, key] (in place: no second copy)
    if layer.softcap is not None:
        s = s.div_(layer.softcap).tanh_().mul_(layer.softcap)
    if layer.bias is not None:
        bias = layer.bias[batch if layer.bias.shape[0] > 1 else 0]
        s = s + bias[head if bias.shape[0] > 1 else 0, queries, keys].float()
    visible = layer.mask.allowed(batch, queries, keys)
    if visible is not None:
        s = s.masked_fill_(~visible.to(s.device), float("-inf"))
    return s


def _key_step(n_rows: int) -> int:
    return max(256, CHUNK_ELEMENTS // max(1, n_rows))


def log_sum_exp(layer: LayerRecord, batch: int, head: int, queries: slice) -> torch.Tensor:
    """float32 [query]: log Σ_key exp(score) over each row's visible keys (−inf where a query sees none)."""
    first, stop = layer.mask.key_bounds(batch, queries)
    total = torch.full((queries.stop - queries.start,), float("-inf"), device=layer.queries.device)
    step = _key_step(queries.stop - queries.start)
    for start in range(first, stop, step):
        block = scores(layer, batch, head, queries, slice(start, min(stop, start + step)))
        total = torch.logaddexp(total, torch.logsumexp(block, dim=-1))      # running over key blocks
    return total


def weights(layer: LayerRecord, batch: int, head: int, queries: slice, keys: slice,
            lse: torch.Tensor) -> torch.Tensor:
    """float32 [query, key]: the exact softmax weights of a block, given its rows' log-sum-exp [query]."""
    return normalise(scores(layer, batch, head, queries, keys), lse)


def normalise(block_scores: torch.Tensor, lse: torch.Tensor) -> torch.Tensor:
    """exp(score − log-sum-exp) in place over a block of scores [query, key]; rows that see no key are 0."""
    lse = lse.to(block_scores.device)
    out = block_scores.sub_(lse[:, None]).exp_()
    return out.masked_fill_(~torch.isfinite(lse)[:, None], 0.0)


def n_keys(layer: LayerRecord) -> int:
    """Keys of the layer (= the map's width)."""
    return layer.keys.shape[2]


def dense(layers: list[LayerRecord], batch: int = 0) -> torch.Tensor:
    """float32 [layer, head, query, key]: every weight of one sequence (only for inputs whose full map fits)."""
    out = []
    for layer in layers:
        n_q, n_k = layer.queries.shape[2], n_keys(layer)
        heads = [weights(layer, batch, head, slice(0, n_q), slice(0, n_k), log_sum_exp(layer, batch, head, slice(0, n_q)))
                 for head in range(layer.n_heads)]
        out.append(torch.stack(heads).cpu())
    return torch.stack(out)
