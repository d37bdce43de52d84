"""Loaded models behind one small interface: a Backend runs one sequence and returns attention arrays.

The engine knows no model names, caches or limits: attention/run/models.py maps a name to a Backend
(`load_model`) and keeps the loaded ones. Here: the Backend types (the project's engine, or any transformers
model), loading a transformers folder or id offline first, and the compute lock every forward pass takes.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from attention.engine.maths import causal_mask, padding_mask
from attention.engine.patterns import Pattern
from attention.engine.transformer import ScratchTransformer

DEFAULT_LIMIT = 512

# One forward pass at a time per process: concurrent sessions queue here instead of
# oversubscribing the cores (torch already uses every core for one pass).
COMPUTE_LOCK = threading.Lock()


def _quiet_transformers() -> None:
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


@dataclass
class Backend:
    """A loaded model: its tokenizer, limits and a forward pass that returns attention arrays.

    `network` is the torch module; `name` is the model's name (a model is always named by a string here).
    Subclasses: ScratchBackend (the project's engine: every intermediate can be traced) and TransformersBackend."""

    name: str
    tokenizer: Any
    network: torch.nn.Module
    family: str  # "encoder", "decoder" or "encoder-decoder"
    max_tokens: int
    options: frozenset = field(default_factory=frozenset)  # attend() options this model takes
    meta: dict[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = ""

    @property
    def nbytes(self) -> int:
        """Bytes of the network's parameters and buffers (what the models cache counts)."""
        tensors = [*self.network.parameters(), *self.network.buffers()]
        return sum(t.numel() * t.element_size() for t in tensors)

    def run(self, input_ids: list[int], options: dict[str, Any], pattern: Pattern | None = None) -> dict[str, np.ndarray]:
        """Forward one sequence; returns {"weights": [layer, head, query, key], ...} as fresh read-only float32 numpy."""
        with COMPUTE_LOCK, torch.inference_mode():
            arrays = self._forward(torch.tensor([input_ids]), options, pattern)
        for array in arrays.values():
            array.flags.writeable = False  # fresh and handed over: the result keeps them without a copy
        return arrays

    def run_padded(self, batch_ids: list[list[int]]) -> np.ndarray:
        """Several sequences in one padded batch, padding hidden by the mask: -> [batch, layer, head, query, key] float32."""
        if self.family == "encoder-decoder":
            raise ValueError("Padded batches are shown for encoders and decoders; pick a model that is not an encoder–decoder.")
        lengths = [len(ids) for ids in batch_ids]
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.tensor([list(ids) + [pad] * (max(lengths) - len(ids)) for ids in batch_ids])   # [batch, key]
        with COMPUTE_LOCK, torch.inference_mode():
            weights = self._padded(ids, padding_mask(lengths, ids.shape[1]))                # mask [batch, 1, 1, key]
            return torch.stack(list(weights), dim=1).float().numpy()                        # [batch, layer, head, q, k]

    def _forward(self, ids: torch.Tensor, options: dict[str, Any], pattern: Pattern | None) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _padded(self, ids: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError


def _numpy(weights: list[torch.Tensor] | tuple[torch.Tensor, ...]) -> np.ndarray:
    """Per-layer [1, head, query, key] tensors -> one float32 array [layer, head, query, key]."""
    return torch.cat(list(weights)).float().numpy()


@dataclass
class ScratchBackend(Backend):
    """The project's own engine (attention/engine/transformer.py), with random, copied or trained weights."""

    kind: ClassVar[str] = "scratch"

    def _forward(self, ids: torch.Tensor, options: dict[str, Any], pattern: Pattern | None) -> dict[str, np.ndarray]:
        if pattern is not None:                                             # sparse attention (attention/engine/patterns.py)
            return {"weights": _numpy(self.network.run(ids, pattern=pattern).weights)}
        mask = causal_mask(ids.shape[1]) if options.get("causal") else None
        if "target_ids" in options:
            encoded, decoded = self.network.encode_decode(ids, torch.tensor([options["target_ids"]]), mask)
            return {"weights": _numpy(encoded.weights), "target_weights": _numpy(decoded.weights), "cross": _numpy(decoded.cross)}
        return {"weights": _numpy(self.network(ids, mask=mask)[1])}

    def _padded(self, ids: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        return self.network(ids, mask=mask)[1]


@dataclass
class TransformersBackend(Backend):
    """Any transformers model that reports its attention weights (eager attention)."""

    kind: ClassVar[str] = "transformers"

    def _forward(self, ids: torch.Tensor, options: dict[str, Any], pattern: Pattern | None) -> dict[str, np.ndarray]:
        if self.family == "encoder-decoder":
            target_ids = torch.tensor([options["target_ids"]])
            out = self.network(input_ids=ids, decoder_input_ids=target_ids, output_attentions=True, use_cache=False)
            return {"weights": _numpy(out.encoder_attentions), "target_weights": _numpy(out.decoder_attentions),
                    "cross": _numpy(out.cross_attentions)}
        kwargs = {"use_cache": False} if self.family == "decoder" else {}
        return {"weights": _numpy(self.network(input_ids=ids, output_attentions=True, **kwargs).attentions)}

    def _padded(self, ids: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        attention_mask = mask[:, 0, 0].long()                                           # transformers: [batch, key]
        return self.network(input_ids=ids, attention_mask=attention_mask, output_attentions=True).attentions


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") or os.environ.get("ATTENTION_LENS_OFFLINE", "") not in ("", "0")


def _from_pretrained(loader: Any, source: str, name: str, **kwargs: Any) -> Any:
    """Load offline first (local folder or cache); go to the hub only when allowed. Never runs remote code."""
    kwargs["trust_remote_code"] = False
    try:
        return loader.from_pretrained(source, local_files_only=True, **kwargs)
    except (OSError, ValueError) as local_error:
        if _offline() or Path(source).is_dir():
            raise ValueError(_load_message(name, local_error)) from local_error
    try:
        return loader.from_pretrained(source, **kwargs)
    except Exception as error:  # the hub raises many kinds (network, HTTP, format)
        raise ValueError(_load_message(name, error)) from error


def _load_message(name: str, error: Exception) -> str:
    first_line = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
    return (
        f"Could not load the model '{name[:80]}': it is not on this machine and could not be fetched "
        f"from the Hugging Face Hub ({first_line}). Check the name, or pick minilm, scratch or scratch:minilm."
    )


def _family(config: Any) -> str:
    if getattr(config, "is_encoder_decoder", False):
        return "encoder-decoder"
    architectures = " ".join(getattr(config, "architectures", None) or [])
    if getattr(config, "is_decoder", False) or "CausalLM" in architectures:
        return "decoder"
    if config.model_type in {"gpt2", "gpt_neo", "gpt_neox", "gptj", "llama", "mistral", "opt", "bloom", "qwen2", "phi", "gemma"}:
        return "decoder"
    return "encoder"


def _limit(tokenizer: Any, config: Any) -> int:
    limits = [getattr(config, key, None) for key in ("max_position_embeddings", "n_positions")]
    model_max = getattr(tokenizer, "model_max_length", None)
    limits.append(model_max if model_max and model_max < 100_000 else None)
    found = [int(value) for value in limits if isinstance(value, int) and value > 0]
    return min(found) if found else DEFAULT_LIMIT


def load_transformers(source: str, name: str, dtype: Any = torch.float32) -> tuple[Any, torch.nn.Module, Any]:
    """(tokenizer, network, config) of a transformers model folder or hub id, eager attention in `dtype`
    (float32, or "auto": the checkpoint's own)."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    _quiet_transformers()
    config = _from_pretrained(AutoConfig, source, name)
    if getattr(config, "auto_map", None):
        raise ValueError(f"'{name[:80]}' needs custom code from its folder to run, which Attention Lens never executes.")
    tokenizer = _from_pretrained(AutoTokenizer, source, name)
    try:
        network = _from_pretrained(AutoModel, source, name, config=config, attn_implementation="eager", dtype=dtype)
    except TypeError as error:
        raise ValueError(f"'{name[:80]}' cannot report its attention weights: {error}") from error
    return tokenizer, network.eval(), config


def _scratch_backend(name: str, tokenizer: Any, network: ScratchTransformer, family: str, limit: int, options: set) -> Backend:
    c = network.config
    meta = {
        "engine": "scratch",
        "family": family,
        "d_model": c.d_model,
        "positional": c.positional,
        "norm": "pre-norm" if c.norm_first else "post-norm",
        "decoder": network.decoder is not None,
        "parameters": sum(p.numel() for p in network.parameters()),
    }
    return ScratchBackend(name, tokenizer, network, family, limit, frozenset(options), meta)
