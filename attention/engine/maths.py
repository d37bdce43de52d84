"""Attention, step by step: the one place where attention weights are computed.

Read it top to bottom like the flowchart:

    tokens ──► query, key, value ──► scores = query · keyᵀ ──► ÷ √d_k ──► mask ──► softmax
           ──► weights ──► weighted sum of values ──► heads concatenated ──► output projection

A *query* is the question a token asks, a *key* is what every token offers to be matched against, and a *value*
is what it contributes. Attention is soft: every value contributes to the weighted sum in proportion to its weight
(what reaches the output is weight · value, so a large value can matter more than its weight alone suggests;
Kobayashi et al., 2020). Weights lie in [0, 1], each row sums to 1, and masked keys get exactly 0.
Axis order everywhere: [batch, head, query, key]. Masks are boolean, True where a query may look.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch
from torch import nn


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Cut the model dimension into heads: [batch, seq, d_model] -> [batch, head, seq, d_head]."""
    batch, seq, d_model = x.shape
    return x.view(batch, seq, n_heads, d_model // n_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """Concatenate the heads again: [batch, head, seq, d_head] -> [batch, seq, d_model]."""
    batch, n_heads, seq, d_head = x.shape
    return x.transpose(1, 2).reshape(batch, seq, n_heads * d_head)


def causal_mask(n_query: int, n_key: int | None = None) -> torch.Tensor:
    """Each query sees itself and earlier keys only (GPT-style decoders): [1, 1, query, key]. With more keys than
    queries (generation with a key/value cache) the queries are the last n_query positions of the n_key."""
    n_key = n_key or n_query
    return torch.ones(n_query, n_key, dtype=torch.bool).tril(n_key - n_query)[None, None]


def padding_mask(lengths: list[int], n_key: int) -> torch.Tensor:
    """In a padded batch, keys past each sentence's real length are hidden: [batch, 1, 1, key]."""
    return (torch.arange(n_key)[None, :] < torch.tensor(lengths)[:, None])[:, None, None, :]


def rotary_angles(start: int, n: int, d_head: int, base: float = 10000.0,
                  positions: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotary angles of positions start … start + n − 1 (Su et al., 2021, as Llama lays them out:
    frequency i on dimensions i and i + d_head/2): each [n, d_head]. With `positions` (int [batch, n], any position
    ids, e.g. with gaps) instead: each [batch, 1, n, d_head], broadcasting over heads."""
    frequencies = base ** (-torch.arange(0, d_head, 2, dtype=torch.float32) / d_head)         # [d_head / 2]
    at = torch.arange(start, start + n, dtype=torch.float32) if positions is None else positions.float()
    angles = at[..., None] * frequencies                                                      # [(batch,) n, d_head / 2]
    angles = torch.cat([angles, angles], dim=-1)                                              # [(batch,) n, d_head]
    if positions is not None:
        angles = angles[:, None]                                                              # [batch, 1, n, d_head]
    return angles.cos(), angles.sin()


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Queries or keys [..., seq, d_head] rotated by their positions' angles (cos, sin [seq, d_head]): each pair of
    dimensions (i, i + d_head/2) turns by its angle, so a query–key score depends on their distance, not where they are."""
    half = x.shape[-1] // 2
    turned = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos.to(x.dtype) + turned * sin.to(x.dtype)


def attention_weights(
    query: torch.Tensor, key: torch.Tensor, mask: torch.Tensor | None = None, steps: dict | None = None
) -> torch.Tensor:
    """softmax(query · keyᵀ / √d_k) with masked keys at exactly 0: -> [batch, head, query, key].

    `mask` is boolean, True where a query may look at a key, broadcastable to
    [batch, head, query, key] (e.g. [1, 1, query, key] for causal, [batch, 1, 1, key] for padding).
    Pass a dict as `steps` to keep the intermediate matrices (for the step-by-step view).
    """
    d_k = query.size(-1)
    scores = query @ key.transpose(-2, -1)                  # [batch, head, query, key]: how well each key answers each query
    scaled = scores * d_k**-0.5                              # q·k of unit-variance parts has variance d_k: unscaled, the
    #                                                          softmax saturates and its gradients vanish (Vaswani et al., 2017, §3.2.1)
    masked = scaled if mask is None else scaled.masked_fill(~mask, float("-inf"))  # forbidden keys: weight exactly 0
    weights = torch.softmax(masked, dim=-1)                  # [batch, head, query, key]; every row sums to 1
    if steps is not None:
        steps.update(scores=scores, scaled=scaled, masked=masked, weights=weights)
    return weights


class Swap(NamedTuple):
    """An activation taken from another run (activation patching): rows of the batch where `where` ([batch], or
    [batch, head] / [batch, token]) is True get `value` (broadcast over the batch); the others keep their own."""

    value: torch.Tensor
    where: torch.Tensor

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        where = self.where.reshape(*self.where.shape, *(1,) * (x.dim() - self.where.dim()))   # broadcast over the rest
        return torch.where(where, self.value.to(x.dtype), x)


class MultiHeadAttention(nn.Module):
    """Per-head query/key/value projections, scaled dot product, weighted sum, heads merged and projected."""

    def __init__(self, d_model: int, n_heads: int, bias: bool = True):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.query = nn.Linear(d_model, d_model, bias=bias)
        self.key = nn.Linear(d_model, d_model, bias=bias)
        self.value = nn.Linear(d_model, d_model, bias=bias)
        self.output = nn.Linear(d_model, d_model, bias=bias)

    def project(self, x: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries from x, keys and values from context (x itself for self-attention): each [batch, head, seq, d_head]."""
        context = x if context is None else context               # self-attention: keys come from the same tokens; cross: from the encoder
        query = split_heads(self.query(x), self.n_heads)          # [batch, head, query, d_head]
        key = split_heads(self.key(context), self.n_heads)        # [batch, head, key, d_head]
        value = split_heads(self.value(context), self.n_heads)    # [batch, head, key, d_head]
        return query, key, value

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None, mask: torch.Tensor | None = None,
        head_gate: torch.Tensor | None = None, pattern: Callable | None = None, record: dict | None = None,
        past: tuple[torch.Tensor, torch.Tensor] | None = None, head_swap: Swap | None = None,
        rotary: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x [batch, query, d_model], context [batch, key, d_model] -> output [batch, query, d_model], weights [batch, head, query, key].

        `past` (key, value), each [batch, head, earlier, d_head], is a key/value cache: the keys and values of earlier
        tokens, kept so that a decoder writing one token at a time projects only the new token. The record's "key" and
        "value" then hold all keys and values (earlier + new): the cache for the next step.

        `head_gate` [head] scales each head's result before the concatenation (0 removes a head: ablation);
        `head_swap` replaces chosen heads' results (where [batch, head]) by another run's (activation patching).
        `rotary` (cos, sin) [query, d_head] rotates the queries and the new keys by position (rotary_angles); the cache
        and the record hold rotated keys, as transformers' Llama does.
        `pattern` (attention/patterns.py) replaces the two lines of full attention by a sparse one that scores
        only the pairs it allows; it carries its own causality, so `mask` is not used with it.
        Pass a dict as `record` to keep query, key, value, weights, head_outputs (after the gate) [batch, head, ...] and
        output [batch, query, d_model]: the trace reads them (they stay in the autograd graph when gradients are on).
        """
        query, key, value = self.project(x, context)
        if rotary is not None:                                    # rotary positions: the new tokens' queries and keys
            query, key = rotate(query, *rotary), rotate(key, *rotary)
        if past is not None:
            key = torch.cat([past[0], key], dim=2)                # [batch, head, earlier + new, d_head]
            value = torch.cat([past[1], value], dim=2)
        if pattern is not None:
            heads, weights = pattern(query, key, value)           # [batch, head, query, d_head], weights [batch, head, query, key]
        else:
            weights = attention_weights(query, key, mask)         # [batch, head, query, key]
            heads = weights @ value                               # [batch, head, query, d_head]: weighted sum of values
        if head_gate is not None:
            heads = heads * head_gate[:, None, None]              # a removed head hands nothing to the concatenation
        if head_swap is not None:
            heads = head_swap.apply(heads)                        # [batch, head, query, d_head]: patched heads from the other run
        output = self.output(merge_heads(heads))                  # [batch, query, d_model]: heads concatenated, then projected
        if record is not None:
            record.update(query=query, key=key, value=value, weights=weights, head_outputs=heads, output=output)
        return output, weights

    def head_writes(self, head_outputs: torch.Tensor) -> torch.Tensor:
        """Each head's part of the output: head_outputs [..., head, token, d_head] through its slice of the output
        projection, without the bias -> [..., head, token, d_model]. Summed over heads, plus the bias, it is the output."""
        d_model = self.output.weight.shape[0]
        per_head = self.output.weight.T.reshape(self.n_heads, -1, d_model)   # [head, d_head, d_model]: W_O cut by rows
        return torch.einsum("...htd,hdm->...htm", head_outputs, per_head)
