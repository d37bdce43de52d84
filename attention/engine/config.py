"""The sizes and choices of one stack of layers: an encoder, a decoder, or an encoder with its decoder."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScratchConfig:
    """Sizes and choices of one stack of layers (an encoder, a decoder, or an encoder with its decoder)."""

    vocab_size: int = 30522
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 256
    max_positions: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    activation: str = "gelu"
    positional: str = "sinusoidal"  # "sinusoidal" (fixed, as in "Attention is all you need"), "learned" (BERT, GPT-2, BART)
    #                                 or "rotary" (RoFormer, Llama: queries and keys rotated by position, nothing added)
    rope_base: float = 10000.0      # rotary: the base of the rotation frequencies
    norm_first: bool = False        # GPT-2: layer norm before each sub-layer and once at the end (pre-norm); BERT/BART after
    embedding_norm: bool = True     # BERT and BART normalise the embeddings; GPT-2 does not
    position_offset: int = 0        # BART's learned position table starts at row 2
    embed_scale: float = 1.0        # BART with scale_embedding multiplies token embeddings by √d_model
    causal: bool = False            # decoders: each token sees only itself and earlier tokens
    cross_attention: bool = False   # decoder of an encoder–decoder: each layer also attends to the encoder's output
    decoder: "ScratchConfig | None" = None  # an encoder–decoder's second stack
