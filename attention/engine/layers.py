"""One transformer layer and the one loop that runs a stack of them (text encoders and decoders, the ViT, the
time-series model: they differ in embeddings and read-outs, never in this loop).

    x ──► [norm] ──► self-attention ──► + x ──► [norm] ──► (cross-attention ──► + ──►) feed-forward ──► + ──► [norm]

Pre-norm layers (GPT-2, the ViT) normalise what goes into each sub-layer; post-norm layers (BERT, BART) normalise the sum.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch
from torch import nn

from attention.engine.config import ScratchConfig
from attention.engine.maths import MultiHeadAttention, Swap

ACTIVATIONS = {
    "gelu": lambda x: nn.functional.gelu(x),
    "gelu_new": lambda x: nn.functional.gelu(x, approximate="tanh"),
    "relu": nn.functional.relu,
}


def sinusoidal_positions(n_positions: int, d_model: int) -> torch.Tensor:
    """Fixed sine/cosine position codes: [position, d_model]; even dims sine, odd dims cosine."""
    position = torch.arange(n_positions, dtype=torch.float32)[:, None]                          # [position, 1]
    frequency = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))  # [d_model/2]
    codes = torch.zeros(n_positions, d_model)
    codes[:, 0::2] = torch.sin(position * frequency)
    codes[:, 1::2] = torch.cos(position * frequency[: d_model // 2])
    return codes


class FeedForward(nn.Module):
    """Position-wise two-layer network: [batch, seq, d_model] -> [batch, seq, d_model]."""

    def __init__(self, d_model: int, d_ff: int, activation: str):
        super().__init__()
        self.up = nn.Linear(d_model, d_ff)
        self.down = nn.Linear(d_ff, d_model)
        self.activation = ACTIVATIONS[activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.activation(self.up(x)))


class TransformerLayer(nn.Module):
    """Self-attention, (cross-attention to the encoder,) feed-forward; each in a residual with a layer norm."""

    def __init__(self, config: ScratchConfig):
        super().__init__()
        self.norm_first = config.norm_first
        self.self_attention = MultiHeadAttention(config.d_model, config.n_heads)
        self.attention_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        if config.cross_attention:
            self.cross_attention = MultiHeadAttention(config.d_model, config.n_heads)
            self.cross_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.feed_forward = FeedForward(config.d_model, config.d_ff, config.activation)
        self.output_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)

    def residual(self, x: torch.Tensor, norm: nn.Module, sublayer: Callable) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Pre-norm (GPT-2) normalises what goes in; post-norm (BERT, BART) normalises the sum."""
        if self.norm_first:
            out, weights = sublayer(norm(x))
            return x + out, weights
        out, weights = sublayer(x)
        return norm(x + out), weights

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, memory: torch.Tensor | None = None,
        head_gate: torch.Tensor | None = None, pattern: Callable | None = None, record: dict | None = None,
        past: tuple[torch.Tensor, torch.Tensor] | None = None, swaps: dict[str, Swap] | None = None,
        rotary: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """x [batch, seq, d_model] -> (x, self weights [batch, head, query, key], cross weights [batch, head, query, source] or None).

        Pass a dict as `record` to keep what the trace reads: "self" and "cross" (each MultiHeadAttention's record, plus
        "input", what that attention read), "after_attention" (the stream after the self-attention block) and "feed_forward"
        (the feed-forward block's output). `past` is the self-attention's key/value cache (MultiHeadAttention.forward).
        `swaps` patches activations with another run's (Swap): "heads", "attention" (the block's output before the
        residual), "cross_heads", "cross_attention", "feed_forward"."""
        swaps = swaps or {}

        def swapped(out: torch.Tensor, name: str, side: dict | None) -> torch.Tensor:
            if name in swaps:
                out = swaps[name].apply(out)
                if side is not None:
                    side["output"] = out                      # the record holds what the layer went on with
            return out

        def attend_self(h: torch.Tensor):
            if record is not None:
                record["self"] = {"input": h}
            out, weights = self.self_attention(h, mask=mask, head_gate=head_gate, pattern=pattern, head_swap=swaps.get("heads"),
                                               record=None if record is None else record["self"], past=past,
                                               rotary=rotary)
            return swapped(out, "attention", None if record is None else record["self"]), weights

        x, weights = self.residual(x, self.attention_norm, attend_self)
        if record is not None:
            record["after_attention"] = x
        cross = None
        if memory is not None:
            def attend_source(h: torch.Tensor):
                if record is not None:
                    record["cross"] = {"input": h}
                out, weights = self.cross_attention(h, context=memory, head_swap=swaps.get("cross_heads"),
                                                    record=None if record is None else record["cross"])
                return swapped(out, "cross_attention", None if record is None else record["cross"]), weights

            x, cross = self.residual(x, self.cross_norm, attend_source)
        def feed_forward(h: torch.Tensor):
            out = swapped(self.feed_forward(h), "feed_forward", None)
            if record is not None:
                record["feed_forward"] = out
            return out, None

        x, _ = self.residual(x, self.output_norm, feed_forward)
        return x, weights, cross


class Stacked(NamedTuple):
    """A stack's pass: hidden [batch, seq, d_model] after the last layer run, per-layer self and cross weights
    [batch, head, query, key], and per-layer records (empty unless asked for)."""

    hidden: torch.Tensor
    weights: list[torch.Tensor]
    cross: list[torch.Tensor]
    records: list[dict]


def run_layers(
    layers: nn.ModuleList | list[TransformerLayer], x: torch.Tensor, mask: torch.Tensor | None = None,
    memory: torch.Tensor | None = None, gates: dict[int, torch.Tensor] | None = None, pattern: Callable | None = None,
    record: bool = False, stop_before: int | None = None, past: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    swaps: dict[int, dict[str, Swap]] | None = None, rotary: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> Stacked:
    """The one layer loop: x [batch, seq, d_model] through `layers` (up to `stop_before`); `gates` {layer: [head]} scales
    heads (0 removes one), `memory` is the encoder's output (decoders), `record` keeps every layer's intermediates,
    `past` holds each layer's key/value cache (key, value) [batch, head, earlier, d_head]. `swaps` {layer: {name: Swap}}
    patches activations with another run's: "input" (the stream entering the layer, where [batch, token]) and the
    layer's own (TransformerLayer.forward). `rotary` (cos, sin) [seq, d_head] rotates every self-attention's queries and
    keys (rotary positions)."""
    weights, cross, records = [], [], []
    for index, layer in enumerate(layers[:stop_before]):
        swap = (swaps or {}).get(index, {})
        if "input" in swap:
            x = swap["input"].apply(x)                       # the residual stream at chosen positions, from the other run
        entry: dict | None = {"input": x} if record else None
        x, layer_weights, layer_cross = layer(x, mask, memory, (gates or {}).get(index), pattern, entry,
                                              None if past is None else past[index], swap, rotary)
        weights.append(layer_weights)
        if layer_cross is not None:
            cross.append(layer_cross)
        if entry is not None:
            records.append(entry)
    return Stacked(x, weights, cross, records)
