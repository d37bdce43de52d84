"""Models with no engine equivalent (e.g. a Llama folder), run through transformers itself.

attention and rollout come from output_attentions; grad_input, integrated_gradients (through inputs_embeds) and
attention_gradient (through the returned attention weights) from its forward; head removal and mean ablation from a
pre-hook on each layer's attention output projection. value_norm and alti need the engine's value vectors and W_O
per head, so they are named as not available.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from attention.analyses.contributions.targets import (TRANSFORMERS, _Setup, _single_target, _special_mask,
                                                      _target_texts)
from attention.engine.backends import COMPUTE_LOCK
from attention.run.models import load_model
from attention.run.api import prepare

_ENGINE_ONLY = ("value_norm", "alti")      # need the engine's value vectors and W_O (transformers-only models lack them)


def _transformers_only(model: Any) -> bool:
    """True when `model` names a transformers model whose weights the engine cannot hold (e.g. a Llama folder)."""
    from attention.engine.loaders import FAMILIES

    name = model.strip() if isinstance(model, str) else ""
    if name in ("", "minilm", "scratch") or name.startswith("scratch:"):
        return False
    backend = load_model(name)
    return backend.kind == "transformers" and backend.meta.get("model_type") not in FAMILIES


def _transformers_setup(text: str, name: str, target: str, text_b: str | None, token: Any,
                        limit: dict) -> tuple[_Setup, list[str], str]:
    """A model the engine cannot hold, run through transformers: outputs and attention weights of each text."""
    backend = load_model(name)
    if backend.family == "encoder-decoder":
        raise ValueError(f"'{name[:80]}' is an encoder–decoder the project's engine cannot hold; contributions for "
                         "encoder–decoders run on the engine (translate-mini, scratch:<BART id or folder>).")
    notices = []
    texts = _target_texts(text, target, text_b, notices)
    if target == "next_token" and backend.family != "decoder":
        raise ValueError(f"next_token needs a decoder (each token sees only earlier ones); '{name[:80]}' is an encoder: "
                         "use the similarity or token target.")
    prepared = [prepare(t, name, **limit) for t in texts]
    for p in prepared:
        notices += [n for n in p.notices if n not in notices]
    network = backend.network
    dtype = network.get_input_embeddings().weight.dtype
    setup = _Setup(network, prepared, [], target, [], None, [_special_mask(backend.tokenizer, p.ids) for p in prepared],
                   dtype, TRANSFORMERS, [list(p.ids) for p in prepared], model=name)
    with COMPUTE_LOCK, torch.inference_mode():
        for index in range(len(prepared)):
            out = _hf_run(setup, setup.ids(index), None, True)
            setup.inputs.append(out.last_hidden_state.detach().clone())
            setup.attentions.append(torch.cat(list(out.attentions)).double().numpy())
    label = _single_target(setup, token, backend.tokenizer)
    return setup, notices, label


def _hf_run(setup: _Setup, ids: torch.Tensor | None, vectors: torch.Tensor | None, attentions: bool) -> Any:
    """One transformers forward over token ids or token vectors (inputs_embeds): the model's output object."""
    kwargs = {"use_cache": False} if setup.prepared[0].backend.family == "decoder" else {}
    if vectors is not None:
        return setup.network(inputs_embeds=vectors, output_attentions=attentions, **kwargs)
    return setup.network(input_ids=ids, output_attentions=attentions, **kwargs)


_OUTPUT_PROJECTIONS = (".self_attn.o_proj", ".attn.c_proj", ".attention.output.dense", ".self_attn.out_proj",
                       ".attention.dense", ".attn.out_proj", ".self_attention.dense")


def _hf_output_projections(network: nn.Module) -> list[nn.Module]:
    """Each layer's attention output projection in a transformers model (its input is the heads concatenated), in
    layer order; [] when this architecture's names are not known here."""
    found = [module for name, module in network.named_modules() if name.endswith(_OUTPUT_PROJECTIONS)]
    layers = getattr(network.config, "num_hidden_layers", None)
    return found if layers and len(found) == layers else []


def _hf_head_effects(setup: _Setup, mode: str) -> np.ndarray:
    """head_effects through transformers: a pre-hook on one layer's output projection sets head b's slice of its input
    (the heads concatenated, [batch, token, heads × d_head]) to 0 or to its mean over tokens in batch copy b."""
    projections = _hf_output_projections(setup.network)
    n_heads = setup.network.config.num_attention_heads
    full = setup.value(setup.outputs())[0]
    out = np.full((len(projections), n_heads), np.nan)

    def hook(module: nn.Module, args: tuple) -> tuple:
        heads = args[0].unflatten(-1, (n_heads, -1)).clone()                 # [batch, token, head, d_head]
        index = torch.arange(n_heads)
        own = heads[index, :, index]                                        # [head, token, d_head]: copy b's head b
        heads[index, :, index] = torch.zeros_like(own) if mode == "remove" else own.mean(1, keepdim=True).expand_as(own)
        return (heads.flatten(-2), *args[1:])

    for layer, projection in enumerate(projections):
        handle = projection.register_forward_pre_hook(hook)
        try:
            hiddens = [_hf_run(setup, setup.ids(i).expand(n_heads, -1), None, False).last_hidden_state
                       for i in range(len(setup.segment_ids))]
        finally:
            handle.remove()
        out[layer] = (full - setup.value(hiddens)).double().numpy()
    return out
