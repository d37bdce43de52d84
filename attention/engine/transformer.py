"""The project's own transformer, built from attention/engine/maths.py: embeddings, then one stack of layers
(attention/engine/layers.py); an encoder–decoder holds a second stack as `decoder`.

Ways to fill it: seeded random weights (`ScratchTransformer.random`, the model called "scratch", which also has a
small random decoder for cross-attention), weights copied from a transformers checkpoint (attention/engine/loaders.py:
BERT-family, GPT-2, BART), or weights trained here (attention/domains/). With real weights its attention equals
transformers' `output_attentions` (tested to 1e-5): what the app teaches is what the real model does.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from attention.engine.config import ScratchConfig
from attention.engine.layers import Stacked, TransformerLayer, run_layers, sinusoidal_positions
from attention.engine.maths import Swap, causal_mask, rotary_angles
from attention.engine.patterns import Pattern, with_causal


class Pass(NamedTuple):
    """One stack's forward pass: hidden [batch, seq, d_model], per-layer self and cross weights [batch, head, query, key],
    the embeddings that entered the first layer, and per-layer records (when asked for)."""

    hidden: torch.Tensor
    weights: list[torch.Tensor]
    cross: list[torch.Tensor]
    embeddings: torch.Tensor | None = None
    records: list[dict] = []

    def cache(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The key/value cache after this pass (run with record=True): per layer (key, value) [batch, head, key, d_head]."""
        if not self.records:
            raise ValueError("The key/value cache is read from a recorded pass: run with record=True.")
        return [(entry["self"]["key"], entry["self"]["value"]) for entry in self.records]


class ScratchTransformer(nn.Module):
    """Token + position embeddings, then a stack of layers; an encoder–decoder also holds `decoder`, a second stack."""

    def __init__(self, config: ScratchConfig):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)
        if config.positional == "learned":
            self.position_embedding = nn.Embedding(config.max_positions + config.position_offset, config.d_model)
        elif config.positional == "rotary":
            pass                                             # positions rotate queries and keys in every layer (run)
        else:
            self.register_buffer("position_codes", sinusoidal_positions(config.max_positions, config.d_model), persistent=False)
        self.type_embedding = nn.Embedding(config.type_vocab_size, config.d_model) if config.type_vocab_size else None
        self.embedding_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps) if config.embedding_norm else None
        self.layers = nn.ModuleList(TransformerLayer(config) for _ in range(config.n_layers))
        self.final_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps) if config.norm_first else None
        self.decoder = ScratchTransformer(config.decoder) if config.decoder else None

    @classmethod
    def random(cls, config: ScratchConfig = ScratchConfig(), seed: int = 0) -> "ScratchTransformer":
        """Seeded random weights, scaled so that heads show distinct patterns rather than near-uniform ones."""
        generator = torch.Generator().manual_seed(seed)
        network = cls(config)
        with torch.no_grad():
            for name, parameter in network.named_parameters():  # the decoder's come last: an encoder's draws never change
                if "norm" in name:
                    continue  # LayerNorm starts as identity
                if name.endswith("bias"):
                    parameter.zero_()
                else:
                    fan_in = parameter.shape[-1]
                    std = 1.0 if "embedding" in name else 2.0 / math.sqrt(fan_in)
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)
        return network.eval()

    def positions(self, seq: int, start: int = 0) -> torch.Tensor:
        """Position information added to token embeddings for positions start … start + seq − 1: [seq, d_model]."""
        if self.config.positional == "learned":
            offset = self.config.position_offset + start
            return self.position_embedding.weight[offset:offset + seq]
        if self.config.positional == "rotary":
            return self.token_embedding.weight.new_zeros(seq, self.config.d_model)   # nothing is added: see run()
        return self.position_codes[start:start + seq]

    def embed(self, input_ids: torch.Tensor, use_positions: bool = True, token_vectors: torch.Tensor | None = None,
              start: int = 0) -> torch.Tensor:
        """input_ids [batch, seq] -> embeddings [batch, seq, d_model]: LayerNorm(token + position + segment 0) for BERT-family
        models, token + position for GPT-2. `token_vectors` [batch, seq, d_model] replaces the token embeddings (gradient
        attributions interpolate them); `start` is the first position (generation with a key/value cache)."""
        x = self.token_embedding(input_ids) if token_vectors is None else token_vectors
        if self.config.embed_scale != 1.0:
            x = x * self.config.embed_scale
        if use_positions:
            x = x + self.positions(x.shape[1], start)
        if self.type_embedding is not None:
            x = x + self.type_embedding.weight[0]
        return x if self.embedding_norm is None else self.embedding_norm(x)

    def run(
        self, input_ids: torch.Tensor, mask: torch.Tensor | None = None, use_positions: bool = True,
        memory: torch.Tensor | None = None, head_gates: dict[int, torch.Tensor] | None = None, stop_before: int | None = None,
        pattern: Pattern | None = None, record: bool = False, token_vectors: torch.Tensor | None = None,
        past: list[tuple[torch.Tensor, torch.Tensor]] | None = None, swaps: dict[int, dict[str, Swap]] | None = None,
        positions: torch.Tensor | None = None,
    ) -> Pass:
        """The stack's forward pass; `memory` is the encoder's output (decoders), `head_gates` {layer: [head]} scales heads
        (0 switches one off), `stop_before` stops at a layer's input (hidden is then that layer's input), `pattern` makes
        self-attention sparse, `record` keeps every layer's intermediates (the trace), `token_vectors` replaces the
        token embeddings. `past` is a key/value cache (Pass.cache() of the pass over the earlier tokens): input_ids are
        then only the new tokens, at positions after the cached ones (generation, one token at a time). `swaps`
        {layer: {name: Swap}} patches activations with another run's (run_layers); {n_layers: {"input": ...}} the output.
        `positions` (int64 [batch, seq]) gives rotary models any position ids, e.g. with gaps (training: a head that
        looks a fixed distance back then fails, so copying must go by content)."""
        if positions is not None and (self.config.positional != "rotary" or past is not None):
            raise ValueError("Position ids are for rotary models without a key/value cache.")
        if past is not None and (pattern is not None or mask is not None or memory is not None):
            raise ValueError("A key/value cache is used for plain causal generation: no pattern, mask or encoder memory.")
        if pattern is not None and mask is not None:
            raise ValueError("An attention pattern carries its own mask (make it causal with causal=True), so pass no mask with it.")
        pattern = with_causal(pattern, self.config.causal)                     # decoders: the pattern is causal too
        start = 0 if past is None else past[0][0].shape[2]                  # tokens already in the cache
        if start + input_ids.shape[1] > self.config.max_positions:
            raise ValueError(f"This model reads at most {self.config.max_positions} tokens; "
                             f"{start + input_ids.shape[1]} were asked for.")
        x = self.embed(input_ids, use_positions, token_vectors, start)
        if self.config.causal:
            causal = causal_mask(input_ids.shape[1], start + input_ids.shape[1])   # new queries see the cache and earlier new keys
            mask = causal if mask is None else mask & causal                  # e.g. padding and causal together
        elif past is not None:
            raise ValueError("A key/value cache needs a causal model: a bidirectional encoder's earlier tokens see later ones.")
        rotary = None
        if self.config.positional == "rotary" and use_positions:
            rotary = rotary_angles(start, input_ids.shape[1], self.config.d_model // self.config.n_heads, self.config.rope_base,
                                   positions)
        stacked: Stacked = run_layers(self.layers, x, mask, memory, head_gates, pattern, record, stop_before, past, swaps,
                                      rotary)
        hidden = stacked.hidden
        if self.final_norm is not None and stop_before is None:
            hidden = self.final_norm(hidden)
        output_swap = (swaps or {}).get(len(self.layers), {}).get("input")
        if output_swap is not None and stop_before is None:
            hidden = output_swap.apply(hidden)                        # the output (the last residual row), from the other run
        return Pass(hidden, stacked.weights, stacked.cross, x, stacked.records)

    def next_token_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden [batch, seq, d_model] (after the final norm) -> next-token scores [batch, seq, vocab]: the token
        embeddings reused as the output layer (tied weights, as in GPT-2)."""
        return hidden @ self.token_embedding.weight.T

    def forward(
        self, input_ids: torch.Tensor, mask: torch.Tensor | None = None, use_positions: bool = True
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """input_ids [batch, seq] -> (hidden [batch, seq, d_model], per-layer weights [batch, head, query, key])."""
        passed = self.run(input_ids, mask, use_positions)
        return passed.hidden, passed.weights

    def encode_decode(self, source_ids: torch.Tensor, target_ids: torch.Tensor, mask: torch.Tensor | None = None,
                      record: bool = False, head_gates: dict[int, torch.Tensor] | None = None) -> tuple[Pass, Pass]:
        """Encoder over the source, then the decoder over the target, its cross-attention reading the encoder's output."""
        if self.decoder is None:
            raise ValueError("This model has no decoder, so it cannot attend from a target text to a source text.")
        encoded = self.run(source_ids, mask, record=record, head_gates=head_gates)
        return encoded, self.decoder.run(target_ids, memory=encoded.hidden, record=record)
