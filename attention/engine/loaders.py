"""Real weights in: BERT-family, GPT-2 and BART checkpoints from transformers copied into the project's engine.

Each loader maps the checkpoint's tensor names onto the engine's and loads them strictly (every weight of ours is
filled, nothing of theirs is guessed). With these weights the engine's attention equals transformers' (tested to 1e-5).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from attention.engine.config import ScratchConfig
from attention.engine.layers import ACTIVATIONS
from attention.engine.transformer import ScratchTransformer

def _activation(name: str) -> str:
    if name not in ACTIVATIONS:
        raise ValueError(f"Activation '{name}' is not supported by the from-scratch engine.")
    return name


def _prefixed(source: dict[str, torch.Tensor], marker: str, prefixes: tuple[str, ...]) -> Callable[[str], torch.Tensor]:
    """Read a transformers state dict with or without a task head's prefix (e.g. 'bert.', 'transformer.', 'model.')."""
    prefix = next((p for p in ("", *prefixes) if p + marker in source), "")
    return lambda name: source[prefix + name]


def _load(config: ScratchConfig, tensors: dict[str, torch.Tensor]) -> ScratchTransformer:
    network = ScratchTransformer(config)
    network.load_state_dict(tensors, strict=True)  # strict: every weight of ours is filled, nothing of theirs is guessed
    return network.eval()


def _linear(tensors: dict, ours: str, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
    tensors[f"{ours}.weight"] = weight
    if bias is not None:
        tensors[f"{ours}.bias"] = bias


def from_bert(hf_network: nn.Module) -> ScratchTransformer:
    """Copy a transformers BertModel's weights into the from-scratch engine (same maths, our code)."""
    hf_config = hf_network.config
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
    read = _prefixed(hf_network.state_dict(), "embeddings.word_embeddings.weight", ("bert.",))
    names = {
        "token_embedding": "embeddings.word_embeddings", "position_embedding": "embeddings.position_embeddings",
        "type_embedding": "embeddings.token_type_embeddings", "embedding_norm": "embeddings.LayerNorm",
    }
    per_layer = {
        "self_attention.query": "attention.self.query", "self_attention.key": "attention.self.key", "self_attention.value": "attention.self.value",
        "self_attention.output": "attention.output.dense", "attention_norm": "attention.output.LayerNorm",
        "feed_forward.up": "intermediate.dense", "feed_forward.down": "output.dense", "output_norm": "output.LayerNorm",
    }
    for index in range(config.n_layers):
        names.update({f"layers.{index}.{ours}": f"encoder.layer.{index}.{theirs}" for ours, theirs in per_layer.items()})
    tensors: dict[str, torch.Tensor] = {}
    for ours, theirs in names.items():
        _linear(tensors, ours, read(f"{theirs}.weight"), None if ours.endswith("_embedding") else read(f"{theirs}.bias"))
    return _load(config, tensors)


def from_gpt2(hf_network: nn.Module) -> ScratchTransformer:
    """Copy a transformers GPT2Model's weights in: pre-norm, causal, and Conv1D weights stored [in, out] (transposed here)."""
    c = hf_network.config
    if not c.scale_attn_weights or c.scale_attn_by_inverse_layer_idx or c.add_cross_attention:
        raise ValueError("The from-scratch engine takes GPT-2 weights with the standard attention scaling and no cross-attention.")
    d_model = c.n_embd
    config = ScratchConfig(
        vocab_size=c.vocab_size, d_model=d_model, n_heads=c.n_head, n_layers=c.n_layer, d_ff=c.n_inner or 4 * d_model,
        max_positions=c.n_positions, type_vocab_size=0, layer_norm_eps=c.layer_norm_epsilon,
        activation=_activation(c.activation_function), positional="learned", norm_first=True, embedding_norm=False, causal=True,
    )
    read = _prefixed(hf_network.state_dict(), "wte.weight", ("transformer.",))
    tensors = {"token_embedding.weight": read("wte.weight"), "position_embedding.weight": read("wpe.weight")}
    _linear(tensors, "final_norm", read("ln_f.weight"), read("ln_f.bias"))
    for index in range(config.n_layers):
        theirs, ours = f"h.{index}.", f"layers.{index}."
        weights = read(theirs + "attn.c_attn.weight").split(d_model, dim=1)   # [d_model, 3·d_model] -> query | key | value
        biases = read(theirs + "attn.c_attn.bias").split(d_model)
        for part, weight, bias in zip(("query", "key", "value"), weights, biases):
            _linear(tensors, ours + "self_attention." + part, weight.T, bias)
        conv1d = {"self_attention.output": "attn.c_proj", "feed_forward.up": "mlp.c_fc", "feed_forward.down": "mlp.c_proj"}
        for mine, their in conv1d.items():
            _linear(tensors, ours + mine, read(theirs + their + ".weight").T, read(theirs + their + ".bias"))
        for mine, their in {"attention_norm": "ln_1", "output_norm": "ln_2"}.items():
            _linear(tensors, ours + mine, read(theirs + their + ".weight"), read(theirs + their + ".bias"))
    return _load(config, tensors)


def from_bart(hf_network: nn.Module) -> ScratchTransformer:
    """Copy a transformers BartModel's weights in: a post-norm encoder and a causal decoder with cross-attention."""
    c = hf_network.config
    shared = dict(
        vocab_size=c.vocab_size, d_model=c.d_model, max_positions=c.max_position_embeddings, type_vocab_size=0,
        layer_norm_eps=1e-5, activation=_activation(c.activation_function), positional="learned", position_offset=2,
        embed_scale=math.sqrt(c.d_model) if c.scale_embedding else 1.0,
    )
    decoder = ScratchConfig(n_heads=c.decoder_attention_heads, n_layers=c.decoder_layers, d_ff=c.decoder_ffn_dim,
                            causal=True, cross_attention=True, **shared)
    config = ScratchConfig(n_heads=c.encoder_attention_heads, n_layers=c.encoder_layers, d_ff=c.encoder_ffn_dim,
                           decoder=decoder, **shared)
    read = _prefixed(hf_network.state_dict(), "shared.weight", ("model.",))
    per_layer = {
        "self_attention.query": "self_attn.q_proj", "self_attention.key": "self_attn.k_proj", "self_attention.value": "self_attn.v_proj",
        "self_attention.output": "self_attn.out_proj", "attention_norm": "self_attn_layer_norm",
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


def from_transformers(hf_network: nn.Module) -> ScratchTransformer:
    """Copy a BERT-family, GPT-2 or BART checkpoint into the from-scratch engine."""
    model_type = getattr(hf_network.config, "model_type", "")
    if model_type not in FAMILIES:
        raise ValueError(
            f"The from-scratch engine takes BERT-family, GPT-2 or BART weights; this checkpoint is a '{model_type}' model. "
            "Pick it without the 'scratch:' prefix to see its attention through transformers."
        )
    return FAMILIES[model_type](hf_network)

