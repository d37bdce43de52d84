"""long-mini's network: a transformers Llama (LlamaForCausalLM) small enough to train here in under a minute, with
what makes modern LLMs hard to read at length: grouped-query attention (4 query heads share 2 key/value heads),
rotary positions and room for 32,768 of them. It is saved as an ordinary transformers folder, so the app reads it as it
would any Llama checkpoint.

Rotary base 1e8 (Llama 3 uses 5e5, long-context models 1e6–1e8): its slowest frequencies turn less than 0.01 radian over
32,768 tokens, so a head can match content at any distance with them while the fastest ones mark the previous token.
Query/key biases (`attention_bias`) let a head attend by position alone, whatever the tokens.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MODEL_NAME = "long-mini"


@dataclass(frozen=True)
class LongMiniConfig:
    """Sizes and training recipe of long-mini (all part of the cache file's name)."""

    hidden: int = 64
    heads: int = 4                # query heads per layer
    kv_heads: int = 2             # key/value heads per layer: heads 0–1 share one, 2–3 the other
    head_dim: int = 16
    layers: int = 2
    intermediate: int = 128
    vocab_size: int = 30522       # MiniLM's WordPiece vocabulary
    max_positions: int = 32768
    rope_theta: float = 1e8
    length: int = 64              # tokens per training row
    periods: tuple[int, int] = (8, 24)
    max_gap: int = 30000          # position ids jump by up to this much in a row (data.rows)
    batch_size: int = 16
    steps: int = 800
    learning_rate: float = 3e-3
    seed: int = 0


def llama_config(config: LongMiniConfig) -> Any:
    """The transformers LlamaConfig of the network."""
    from transformers import LlamaConfig

    from attention.domains.long_mini.data import CLS, SEP

    return LlamaConfig(vocab_size=config.vocab_size, hidden_size=config.hidden, intermediate_size=config.intermediate,
                       num_hidden_layers=config.layers, num_attention_heads=config.heads,
                       num_key_value_heads=config.kv_heads, head_dim=config.head_dim,
                       max_position_embeddings=config.max_positions, rope_parameters={"rope_type": "default",
                       "rope_theta": config.rope_theta}, attention_bias=True, tie_word_embeddings=True,
                       bos_token_id=CLS, eos_token_id=SEP, pad_token_id=0)


def build(config: LongMiniConfig) -> Any:
    """A LlamaForCausalLM with seeded random weights (float32)."""
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(config.seed)
    return LlamaForCausalLM(llama_config(config)).float()
