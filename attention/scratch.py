"""The project's own transformer, built from attention/maths.py: encoder, decoder, or both.

Ways to fill it: seeded random weights (`ScratchTransformer.random`, the model called "scratch",
which also has a small random decoder for cross-attention) or a real checkpoint's weights copied
in by `from_transformers`: BERT-family encoders (post-norm), GPT-2 decoders (pre-norm, causal,
Conv1D layouts) and BART encoder–decoders (cross-attention). With real weights its attention equals
transformers' `output_attentions` (tested to 1e-5): what the app teaches is what the real model does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch
from torch import nn

from .maths import MultiHeadAttention, causal_mask
from .patterns import Pattern, with_causal

ACTIVATIONS = {
    "gelu": lambda x: nn.functional.gelu(x),
    "gelu_new": lambda x: nn.functional.gelu(x, approximate="tanh"),
    "relu": nn.functional.relu,
}


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
    positional: str = "sinusoidal"  # "sinusoidal" (fixed, as in "Attention is all you need") or "learned" (BERT, GPT-2, BART)
    norm_first: bool = False        # GPT-2: layer norm before each sub-layer and once at the end (pre-norm); BERT/BART after
    embedding_norm: bool = True     # BERT and BART normalise the embeddings; GPT-2 does not
    position_offset: int = 0        # BART's learned position table starts at row 2
    embed_scale: float = 1.0        # BART with scale_embedding multiplies token embeddings by √d_model
    causal: bool = False            # decoders: each token sees only itself and earlier tokens
    cross_attention: bool = False   # decoder of an encoder–decoder: each layer also attends to the encoder's output
    decoder: "ScratchConfig | None" = None  # an encoder–decoder's second stack


class Pass(NamedTuple):
    """One stack's forward pass: hidden [batch, seq, d_model], per-layer self weights and cross weights [batch, head, query, key]."""

    hidden: torch.Tensor
    weights: list[torch.Tensor]
    cross: list[torch.Tensor]


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
        self.attention = MultiHeadAttention(config.d_model, config.n_heads)
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
        head_gate: torch.Tensor | None = None, pattern: Callable | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """x [batch, seq, d_model] -> (x, self weights [batch, head, query, key], cross weights [batch, head, query, source] or None)."""
        x, weights = self.residual(x, self.attention_norm, lambda h: self.attention(h, mask=mask, head_gate=head_gate, pattern=pattern))
        cross = None
        if memory is not None:
            x, cross = self.residual(x, self.cross_norm, lambda h: self.cross_attention(h, context=memory))
        x, _ = self.residual(x, self.output_norm, lambda h: (self.feed_forward(h), None))
        return x, weights, cross


class ScratchTransformer(nn.Module):
    """Token + position embeddings, then a stack of layers; an encoder–decoder also holds `decoder`, a second stack."""

    def __init__(self, config: ScratchConfig):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)
        if config.positional == "learned":
            self.position_embedding = nn.Embedding(config.max_positions + config.position_offset, config.d_model)
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
        model = cls(config)
        with torch.no_grad():
            for name, parameter in model.named_parameters():  # the decoder's come last: an encoder's draws never change
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
            offset = self.config.position_offset
            return self.position_embedding.weight[offset:offset + seq]
        return self.position_codes[:seq]

    def embed(self, input_ids: torch.Tensor, use_positions: bool = True) -> torch.Tensor:
        """input_ids [batch, seq] -> embeddings [batch, seq, d_model] (token + position + segment 0, normalised)."""
        x = self.token_embedding(input_ids)
        if self.config.embed_scale != 1.0:
            x = x * self.config.embed_scale
        if use_positions:
            x = x + self.positions(input_ids.shape[1])
        if self.type_embedding is not None:
            x = x + self.type_embedding.weight[0]
        return x if self.embedding_norm is None else self.embedding_norm(x)

    def run(
        self, input_ids: torch.Tensor, mask: torch.Tensor | None = None, use_positions: bool = True,
        memory: torch.Tensor | None = None, head_gates: dict[int, torch.Tensor] | None = None, stop_before: int | None = None,
        pattern: Pattern | None = None,
    ) -> Pass:
        """The stack's forward pass; `memory` is the encoder's output (decoders), `head_gates` {layer: [head]} switches heads
        off, `stop_before` stops at a layer's input (for the step-by-step view), `pattern` makes self-attention sparse."""
        if pattern is not None and mask is not None:
            raise ValueError("An attention pattern carries its own mask (make it causal with causal=True), so pass no mask with it.")
        pattern = with_causal(pattern, self.config.causal)                     # decoders: the pattern is causal too
        x = self.embed(input_ids, use_positions)
        if self.config.causal:
            causal = causal_mask(input_ids.shape[1])
            mask = causal if mask is None else mask & causal                  # e.g. padding and causal together
        passed = Pass(x, [], [])
        for index, layer in enumerate(self.layers[:stop_before]):
            x, weights, cross = layer(x, mask, memory, (head_gates or {}).get(index), pattern)
            passed.weights.append(weights)
            if cross is not None:
                passed.cross.append(cross)
        if self.final_norm is not None and stop_before is None:
            x = self.final_norm(x)
        return passed._replace(hidden=x)

    def forward(
        self, input_ids: torch.Tensor, mask: torch.Tensor | None = None, use_positions: bool = True
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """input_ids [batch, seq] -> (hidden [batch, seq, d_model], per-layer weights [batch, head, query, key])."""
        passed = self.run(input_ids, mask, use_positions)
        return passed.hidden, passed.weights

    def encode_decode(self, source_ids: torch.Tensor, target_ids: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[Pass, Pass]:
        """Encoder over the source, then the decoder over the target, its cross-attention reading the encoder's output."""
        if self.decoder is None:
            raise ValueError("This model has no decoder, so it cannot attend from a target text to a source text.")
        encoded = self.run(source_ids, mask)
        return encoded, self.decoder.run(target_ids, memory=encoded.hidden)


# --- real weights in: transformers checkpoints copied into the engine --------------------------------------------

def _activation(name: str) -> str:
    if name not in ACTIVATIONS:
        raise ValueError(f"Activation '{name}' is not supported by the from-scratch engine.")
    return name


def _prefixed(source: dict[str, torch.Tensor], marker: str, prefixes: tuple[str, ...]) -> Callable[[str], torch.Tensor]:
    """Read a transformers state dict with or without a task head's prefix (e.g. 'bert.', 'transformer.', 'model.')."""
    prefix = next((p for p in ("", *prefixes) if p + marker in source), "")
    return lambda name: source[prefix + name]


def _load(config: ScratchConfig, tensors: dict[str, torch.Tensor]) -> ScratchTransformer:
    model = ScratchTransformer(config)
    model.load_state_dict(tensors, strict=True)  # strict: every weight of ours is filled, nothing of theirs is guessed
    return model.eval()


def _linear(tensors: dict, ours: str, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
    tensors[f"{ours}.weight"] = weight
    if bias is not None:
        tensors[f"{ours}.bias"] = bias


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
    config = ScratchConfig(
        vocab_size=hf_config.vocab_size, d_model=hf_config.hidden_size, n_heads=hf_config.num_attention_heads,
        n_layers=hf_config.num_hidden_layers, d_ff=hf_config.intermediate_size, max_positions=hf_config.max_position_embeddings,
        type_vocab_size=hf_config.type_vocab_size, layer_norm_eps=hf_config.layer_norm_eps,
        activation=_activation(hf_config.hidden_act), positional="learned",
    )
    read = _prefixed(hf_model.state_dict(), "embeddings.word_embeddings.weight", ("bert.",))
    names = {
        "token_embedding": "embeddings.word_embeddings", "position_embedding": "embeddings.position_embeddings",
        "type_embedding": "embeddings.token_type_embeddings", "embedding_norm": "embeddings.LayerNorm",
    }
    per_layer = {
        "attention.query": "attention.self.query", "attention.key": "attention.self.key", "attention.value": "attention.self.value",
        "attention.output": "attention.output.dense", "attention_norm": "attention.output.LayerNorm",
        "feed_forward.up": "intermediate.dense", "feed_forward.down": "output.dense", "output_norm": "output.LayerNorm",
    }
    for index in range(config.n_layers):
        names.update({f"layers.{index}.{ours}": f"encoder.layer.{index}.{theirs}" for ours, theirs in per_layer.items()})
    tensors: dict[str, torch.Tensor] = {}
    for ours, theirs in names.items():
        _linear(tensors, ours, read(f"{theirs}.weight"), None if ours.endswith("_embedding") else read(f"{theirs}.bias"))
    return _load(config, tensors)


def from_gpt2(hf_model: nn.Module) -> ScratchTransformer:
    """Copy a transformers GPT2Model's weights in: pre-norm, causal, and Conv1D weights stored [in, out] (transposed here)."""
    c = hf_model.config
    if not c.scale_attn_weights or c.scale_attn_by_inverse_layer_idx or c.add_cross_attention:
        raise ValueError("The from-scratch engine takes GPT-2 weights with the standard attention scaling and no cross-attention.")
    d_model = c.n_embd
    config = ScratchConfig(
        vocab_size=c.vocab_size, d_model=d_model, n_heads=c.n_head, n_layers=c.n_layer, d_ff=c.n_inner or 4 * d_model,
        max_positions=c.n_positions, type_vocab_size=0, layer_norm_eps=c.layer_norm_epsilon,
        activation=_activation(c.activation_function), positional="learned", norm_first=True, embedding_norm=False, causal=True,
    )
    read = _prefixed(hf_model.state_dict(), "wte.weight", ("transformer.",))
    tensors = {"token_embedding.weight": read("wte.weight"), "position_embedding.weight": read("wpe.weight")}
    _linear(tensors, "final_norm", read("ln_f.weight"), read("ln_f.bias"))
    for index in range(config.n_layers):
        theirs, ours = f"h.{index}.", f"layers.{index}."
        weights = read(theirs + "attn.c_attn.weight").split(d_model, dim=1)   # [d_model, 3·d_model] -> query | key | value
        biases = read(theirs + "attn.c_attn.bias").split(d_model)
        for part, weight, bias in zip(("query", "key", "value"), weights, biases):
            _linear(tensors, ours + "attention." + part, weight.T, bias)
        conv1d = {"attention.output": "attn.c_proj", "feed_forward.up": "mlp.c_fc", "feed_forward.down": "mlp.c_proj"}
        for mine, their in conv1d.items():
            _linear(tensors, ours + mine, read(theirs + their + ".weight").T, read(theirs + their + ".bias"))
        for mine, their in {"attention_norm": "ln_1", "output_norm": "ln_2"}.items():
            _linear(tensors, ours + mine, read(theirs + their + ".weight"), read(theirs + their + ".bias"))
    return _load(config, tensors)


def from_bart(hf_model: nn.Module) -> ScratchTransformer:
    """Copy a transformers BartModel's weights in: a post-norm encoder and a causal decoder with cross-attention."""
    c = hf_model.config
    shared = dict(
        vocab_size=c.vocab_size, d_model=c.d_model, max_positions=c.max_position_embeddings, type_vocab_size=0,
        layer_norm_eps=1e-5, activation=_activation(c.activation_function), positional="learned", position_offset=2,
        embed_scale=math.sqrt(c.d_model) if c.scale_embedding else 1.0,
    )
    decoder = ScratchConfig(n_heads=c.decoder_attention_heads, n_layers=c.decoder_layers, d_ff=c.decoder_ffn_dim,
                            causal=True, cross_attention=True, **shared)
    config = ScratchConfig(n_heads=c.encoder_attention_heads, n_layers=c.encoder_layers, d_ff=c.encoder_ffn_dim,
                           decoder=decoder, **shared)
    read = _prefixed(hf_model.state_dict(), "shared.weight", ("model.",))
    per_layer = {
        "attention.query": "self_attn.q_proj", "attention.key": "self_attn.k_proj", "attention.value": "self_attn.v_proj",
        "attention.output": "self_attn.out_proj", "attention_norm": "self_attn_layer_norm",
        "cross_attention.query": "encoder_attn.q_proj", "cross_attention.key": "encoder_attn.k_proj",
        "cross_attention.value": "encoder_attn.v_proj", "cross_attention.output": "encoder_attn.out_proj",
        "cross_norm": "encoder_attn_layer_norm", "feed_forward.up": "fc1", "feed_forward.down": "fc2", "output_norm": "final_layer_norm",
    }
    tensors: dict[str, torch.Tensor] = {}
    for ours, theirs, stack in (("", "encoder.", config), ("decoder.", "decoder.", decoder)):
        tensors[ours + "token_embedding.weight"] = read("shared.weight")
        tensors[ours + "position_embedding.weight"] = read(theirs + "embed_positions.weight")
        _linear(tensors, ours + "embedding_norm", read(theirs + "layernorm_embedding.weight"), read(theirs + "layernorm_embedding.bias"))
        for index in range(stack.n_layers):
            for mine, their in per_layer.items():
                if stack.cross_attention or "cross" not in mine:
                    name = f"{theirs}layers.{index}.{their}"
                    _linear(tensors, f"{ours}layers.{index}.{mine}", read(name + ".weight"), read(name + ".bias"))
    return _load(config, tensors)


FAMILIES = {"bert": from_bert, "gpt2": from_gpt2, "bart": from_bart}


def from_transformers(hf_model: nn.Module) -> ScratchTransformer:
    """Copy a BERT-family, GPT-2 or BART checkpoint into the from-scratch engine."""
    model_type = getattr(hf_model.config, "model_type", "")
    if model_type not in FAMILIES:
        raise ValueError(
            f"The from-scratch engine takes BERT-family, GPT-2 or BART weights; this checkpoint is a '{model_type}' model. "
            "Pick it without the 'scratch:' prefix to see its attention through transformers."
        )
    return FAMILIES[model_type](hf_model)

