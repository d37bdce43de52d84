"""Heads removed or mean-ablated: target − target without each head, [layer, head] (rows named by head_layer_names).

Each layer's heads run as one batch (copy b without head b) from the traced stream entering that layer, through the
layers above; an encoder–decoder's rows are its encoder layers, then the decoder's self-, then its cross-attention.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from attention.analyses.contributions.targets import ENCODER_DECODER, TRANSFORMERS, _Setup
from attention.analyses.contributions.transformers_path import _hf_head_effects
from attention.engine.layers import run_layers
from attention.engine.maths import causal_mask, split_heads
from attention.engine.transformer import ScratchTransformer

def _head_grid(blocks: list[np.ndarray]) -> np.ndarray:
    """Stack [layer, head] blocks with possibly different head counts into one float32 map, NaN where a head is absent."""
    width = max(b.shape[1] for b in blocks)
    rows = [np.pad(b.astype(np.float64), ((0, 0), (0, width - b.shape[1])), constant_values=np.nan) for b in blocks]
    return np.concatenate(rows).astype(np.float32)


def head_layer_names(setup: _Setup) -> list[str]:
    """What each row of the setup's [layer, head] maps is."""
    if setup.mode == ENCODER_DECODER:
        encoder, decoder = len(setup.network.layers), len(setup.network.decoder.layers)
        return ([f"encoder {l}" for l in range(encoder)] + [f"decoder self {l}" for l in range(decoder)]
                + [f"decoder cross {l}" for l in range(decoder)])
    layers = len(setup.attentions[0]) if setup.mode == TRANSFORMERS else setup.runs[0].n_layers
    return [f"layer {l}" for l in range(layers)]


def _ablation_hook(mode: str) -> Callable:
    """A forward hook (with kwargs) on one self- or cross-attention over a batch of `head` copies: copy b has head b's
    output set to 0 ("remove", what a gate of 0 does) or to its mean over tokens ("mean"), the change written through
    W_O."""
    def hook(module: nn.Module, args: tuple, kwargs: dict, output: tuple) -> tuple:
        x, weights = args[0], output[1]                                      # [batch, token, d_model], [batch, head, q, k]
        context = kwargs.get("context")
        n_heads = module.n_heads
        heads = weights @ split_heads(module.value(x if context is None else context), n_heads)   # [batch, head, query, d_head]
        own = heads[torch.arange(n_heads), torch.arange(n_heads)]           # [head, query, d_head]: copy b's head b
        wanted = torch.zeros_like(own) if mode == "remove" else own.mean(1, keepdim=True).expand_as(own)
        change = module.head_writes(wanted - own)                           # [head, query, d_model]: each through its W_O slice
        return output[0] + change, weights
    return hook


def head_effects(setup: _Setup, mode: str = "remove") -> np.ndarray:
    """Target − target with each head removed (mode "remove") or mean-ablated ("mean"): float64 [layer, head] (rows as
    head_layer_names). Each layer's heads run as one batch from the traced stream entering that layer, through the
    layers above (an encoder–decoder's encoder layers then through its decoder)."""
    if setup.mode == TRANSFORMERS:
        return _hf_head_effects(setup, mode)
    if setup.mode == ENCODER_DECODER:
        return _encoder_decoder_head_effects(setup, mode)
    network = setup.network
    n_layers, n_heads = len(network.layers), network.config.n_heads
    full = setup.value(setup.outputs())[0]
    out = np.zeros((n_layers, n_heads))
    mask = causal_mask(setup.runs[0].n_tokens) if network.config.causal else None   # run_layers takes the mask the model adds
    for layer in range(n_layers):
        handle = network.layers[layer].self_attention.register_forward_hook(_ablation_hook(mode), with_kwargs=True)
        try:
            hiddens = []
            for run in setup.runs:
                stream = torch.from_numpy(run.residual[layer].copy()).to(setup.dtype)[None].expand(n_heads, -1, -1)
                hidden = run_layers(network.layers[layer:], stream, mask).hidden
                hiddens.append(hidden if network.final_norm is None else network.final_norm(hidden))
        finally:
            handle.remove()
        out[layer] = (full - setup.value(hiddens)).double().numpy()
    return out


def _finish(stack: ScratchTransformer, hidden: torch.Tensor) -> torch.Tensor:
    return hidden if stack.final_norm is None else stack.final_norm(hidden)


def _encoder_decoder_head_effects(setup: _Setup, mode: str) -> np.ndarray:
    """head_effects for an encoder–decoder: rows encoder layers, decoder self-attention layers, decoder cross-attention
    layers (head_layer_names); NaN where a stack has fewer heads than the widest."""
    network = setup.network
    decoder = network.decoder
    encoder_run, decoder_run = setup.stacks["encoder"], setup.stacks["decoder"]
    full = setup.value(setup.outputs())[0]
    memory = setup.outputs()[0]                                             # [1, source, d_model] the encoder's output
    n_target = len(setup.segment_ids[1])
    target_mask = causal_mask(n_target)
    blocks = []
    n_heads = network.config.n_heads
    rows = np.zeros((len(network.layers), n_heads))
    for layer in range(len(network.layers)):
        handle = network.layers[layer].self_attention.register_forward_hook(_ablation_hook(mode), with_kwargs=True)
        try:
            stream = torch.from_numpy(encoder_run.residual[layer].copy()).to(setup.dtype)[None].expand(n_heads, -1, -1)
            encoded = _finish(network, run_layers(network.layers[layer:], stream).hidden)
        finally:
            handle.remove()
        decoded = decoder.run(setup.ids(1).expand(n_heads, -1), memory=encoded).hidden
        rows[layer] = (full - setup.value([encoded, decoded])).double().numpy()
    blocks.append(rows)
    n_heads = decoder.config.n_heads
    for side in ("self_attention", "cross_attention"):
        rows = np.zeros((len(decoder.layers), n_heads))
        for layer in range(len(decoder.layers)):
            module = getattr(decoder.layers[layer], side)
            handle = module.register_forward_hook(_ablation_hook(mode), with_kwargs=True)
            try:
                stream = torch.from_numpy(decoder_run.residual[layer].copy()).to(setup.dtype)[None].expand(n_heads, -1, -1)
                hidden = run_layers(decoder.layers[layer:], stream, target_mask, memory.expand(n_heads, -1, -1)).hidden
            finally:
                handle.remove()
            rows[layer] = (full - setup.value([memory, _finish(decoder, hidden)])).double().numpy()
        blocks.append(rows)
    return _head_grid(blocks).astype(np.float64)
