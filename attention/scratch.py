"""The project's own transformer encoder, built from attention/maths.py.

Two ways to fill it: seeded random weights (`ScratchTransformer.random`, the model
called "scratch") or a real BERT-family checkpoint's weights (`from_bert`, the models
called "scratch:<name>"). With real weights its attention equals transformers'
`output_attentions` (tested to 1e-5), which is the proof that what the app teaches is
what the real model does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .maths import MultiHeadAttention

ACTIVATIONS = {
    "gelu": lambda x: nn.functional.gelu(x),
    "gelu_new": lambda x: nn.functional.gelu(x, approximate="tanh"),
    "relu": nn.functional.relu,
}


@dataclass(frozen=True)
class ScratchConfig:
    """Sizes and choices of a from-scratch encoder."""

    vocab_size: int = 30522
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 256
    max_positions: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    activation: str = "gelu"
    positional: str = "sinusoidal"  # "sinusoidal" (fixed, as in "Attention is all you need") or "learned" (BERT)


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


class EncoderLayer(nn.Module):
    """Self-attention, residual + layer norm, feed-forward, residual + layer norm (BERT's post-norm order)."""

    def __init__(self, config: ScratchConfig):
        super().__init__()
        self.attention = MultiHeadAttention(config.d_model, config.n_heads)
        self.attention_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.feed_forward = FeedForward(config.d_model, config.d_ff, config.activation)
        self.output_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x [batch, seq, d_model] -> (x [batch, seq, d_model], weights [batch, head, query, key])."""
        attended, weights = self.attention(x, mask=mask)
        x = self.attention_norm(x + attended)
        x = self.output_norm(x + self.feed_forward(x))
        return x, weights


class ScratchTransformer(nn.Module):
    """Token + position embeddings, then a stack of encoder layers."""

    def __init__(self, config: ScratchConfig):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)
        if config.positional == "learned":
            self.position_embedding = nn.Embedding(config.max_positions, config.d_model)
        else:
            self.register_buffer("position_codes", sinusoidal_positions(config.max_positions, config.d_model), persistent=False)
        self.type_embedding = nn.Embedding(config.type_vocab_size, config.d_model) if config.type_vocab_size else None
        self.embedding_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.n_layers))

    @classmethod
    def random(cls, config: ScratchConfig = ScratchConfig(), seed: int = 0) -> "ScratchTransformer":
        """Seeded random weights, scaled so that heads show distinct patterns rather than near-uniform ones."""
        generator = torch.Generator().manual_seed(seed)
        model = cls(config)
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if "norm" in name:
                    continue  # LayerNorm starts as identity
                if name.endswith("bias"):
                    parameter.zero_()
                else:
                    fan_in = parameter.shape[-1]
                    std = 1.0 if "embedding" in name else 2.0 / math.sqrt(fan_in)
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)
        return model.eval()

    def positions(self, seq: int) -> torch.Tensor:
        """Position information added to token embeddings: [seq, d_model]."""
        if self.config.positional == "learned":
            return self.position_embedding.weight[:seq]
        return self.position_codes[:seq]

    def embed(self, input_ids: torch.Tensor, use_positions: bool = True) -> torch.Tensor:
        """input_ids [batch, seq] -> embeddings [batch, seq, d_model] (token + position + segment 0, normalised)."""
        x = self.token_embedding(input_ids)
        if use_positions:
            x = x + self.positions(input_ids.shape[1])
        if self.type_embedding is not None:
            x = x + self.type_embedding.weight[0]
        return self.embedding_norm(x)

    def forward(
        self, input_ids: torch.Tensor, mask: torch.Tensor | None = None, use_positions: bool = True
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """input_ids [batch, seq] -> (hidden [batch, seq, d_model], per-layer weights [batch, head, query, key])."""
        x = self.embed(input_ids, use_positions)
        all_weights = []
        for layer in self.layers:
            x, weights = layer(x, mask)
            all_weights.append(weights)
        return x, all_weights


def from_bert(hf_model: nn.Module) -> ScratchTransformer:
    """Copy a transformers BertModel's weights into the from-scratch engine (same maths, our code)."""
    hf_config = hf_model.config
    if getattr(hf_config, "model_type", "") not in ("bert",):
        raise ValueError(
            f"The from-scratch engine takes BERT-family weights; this checkpoint is a '{hf_config.model_type}' model. "
            "Pick it without the 'scratch:' prefix to see its attention through transformers."
        )
    if getattr(hf_config, "position_embedding_type", "absolute") != "absolute":
        raise ValueError("The from-scratch engine supports absolute position embeddings only.")
    if hf_config.hidden_act not in ACTIVATIONS:
        raise ValueError(f"Activation '{hf_config.hidden_act}' is not supported by the from-scratch engine.")
    config = ScratchConfig(
        vocab_size=hf_config.vocab_size,
        d_model=hf_config.hidden_size,
        n_heads=hf_config.num_attention_heads,
        n_layers=hf_config.num_hidden_layers,
        d_ff=hf_config.intermediate_size,
        max_positions=hf_config.max_position_embeddings,
        type_vocab_size=hf_config.type_vocab_size,
        layer_norm_eps=hf_config.layer_norm_eps,
        activation=hf_config.hidden_act,
        positional="learned",
    )
    source = hf_model.state_dict()
    names = {
        "token_embedding.weight": "embeddings.word_embeddings.weight",
        "position_embedding.weight": "embeddings.position_embeddings.weight",
        "type_embedding.weight": "embeddings.token_type_embeddings.weight",
        "embedding_norm.weight": "embeddings.LayerNorm.weight",
        "embedding_norm.bias": "embeddings.LayerNorm.bias",
    }
    per_layer = {
        "attention.query": "attention.self.query",
        "attention.key": "attention.self.key",
        "attention.value": "attention.self.value",
        "attention.output": "attention.output.dense",
        "attention_norm": "attention.output.LayerNorm",
        "feed_forward.up": "intermediate.dense",
        "feed_forward.down": "output.dense",
        "output_norm": "output.LayerNorm",
    }
    for index in range(config.n_layers):
        for ours, theirs in per_layer.items():
            for part in ("weight", "bias"):
                names[f"layers.{index}.{ours}.{part}"] = f"encoder.layer.{index}.{theirs}.{part}"
    prefix = "" if "embeddings.word_embeddings.weight" in source else "bert."
    model = ScratchTransformer(config)
    model.load_state_dict({ours: source[prefix + theirs] for ours, theirs in names.items()}, strict=True)
    return model.eval()
