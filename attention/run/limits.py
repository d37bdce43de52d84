"""Limits of a public deployment, switched on by one environment variable: ATTENTION_LENS_HOSTED=1.

In hosted mode only allow-listed models load (no arbitrary hub ids or folders), texts are capped at a
number of tokens, and batch jobs at a number of items per request. Each limit can be tuned:

    ATTENTION_LENS_HOSTED=1                         switch hosted mode on
    ATTENTION_LENS_MODELS=minilm,scratch,...        the allow-list (default: minilm, scratch, scratch:minilm and the
                                                    trained demo models gpt-mini and translate-mini)
    ATTENTION_LENS_MAX_TOKENS=256                   tokens read per text (default 256 hosted, the model's own limit otherwise)
    ATTENTION_LENS_MAX_BATCH=24                     items per batch job, e.g. bias-probe sentences (default 24 hosted, 500 otherwise)
    ATTENTION_LENS_WEIGHTS_MB=256                   above this size a result keeps queries and keys instead of every
                                                    weight, and answers rows, tiles and overviews on demand (any mode)

Outside hosted mode a text is read up to the model's own context length (model_limit: the positions its config
was built for), however long that is.

Read from the environment on every call, so a test (or an operator's restart) changes them without code.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

# The trained demo models (and their seeded untrained twins) are allowed too: their pages (Generation, Masks, Step by
# step, Contributions, Induction heads) name them, and the Docker image trains them at build time
# (python -m attention.domains.pretrain).
DEMO_MODELS = ("gpt-mini", "scratch:random-gpt-mini", "translate-mini", "scratch:random-translate-mini", "induction-mini")
HOSTED_MODELS = ("minilm", "scratch", "scratch:minilm", *DEMO_MODELS)


@dataclass(frozen=True)
class Limits:
    """What one request may ask for."""

    hosted: bool
    models: tuple[str, ...] | None  # None: any model name
    max_tokens: int | None  # None: the model's own limit
    max_batch: int
    weights_mb: int = 256   # full [layer, head, query, key] weights are kept up to this many MB, on demand beyond

    def check_model(self, name: str) -> None:
        """Raise ValueError when hosted mode does not allow this model."""
        if self.models is not None and name not in self.models:
            raise ValueError(
                f"This public demo runs only these models: {', '.join(self.models)}. "
                "To inspect any other model, run Attention Lens on your own machine (see the README)."
            )


def _int(name: str, default: int | None) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        return default
    return value if value >= 2 else default


def current() -> Limits:
    """The limits in force now."""
    hosted = os.environ.get("ATTENTION_LENS_HOSTED", "").strip().lower() in ("1", "true", "yes", "on")
    if not hosted:
        return Limits(False, None, _int("ATTENTION_LENS_MAX_TOKENS", None), _int("ATTENTION_LENS_MAX_BATCH", 500),
                      _int("ATTENTION_LENS_WEIGHTS_MB", WEIGHTS_MB))
    listed = os.environ.get("ATTENTION_LENS_MODELS", "")
    models = tuple(name.strip() for name in listed.split(",") if name.strip()) or HOSTED_MODELS
    return Limits(True, models, _int("ATTENTION_LENS_MAX_TOKENS", 256), _int("ATTENTION_LENS_MAX_BATCH", 24),
                  _int("ATTENTION_LENS_WEIGHTS_MB", WEIGHTS_MB))


WEIGHTS_MB = 256
FALLBACK_LIMIT = 512   # a model that states no context length at all


def model_limit(config: object, tokenizer: object = None) -> int:
    """The model's own context length: the positions its config was built for (max_position_embeddings, n_positions,
    ...). A rotary model reads that far whatever its tokenizer says (folders often carry a tokenizer's
    model_max_length from another model); a model with learned absolute positions also keeps a smaller tokenizer
    limit (RoBERTa's 514 positions hold 512 tokens); the tokenizer's alone when the config names none."""
    stated = None
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx"):
        value = getattr(config, key, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            stated = value
            break
    model_max = getattr(tokenizer, "model_max_length", None)
    model_max = int(model_max) if isinstance(model_max, int) and 0 < model_max < 10_000_000 else None
    rotary = getattr(config, "rope_theta", None) is not None or getattr(config, "rope_parameters", None) is not None
    if stated is not None and (rotary or model_max is None):
        return stated
    found = [value for value in (stated, model_max) if value is not None]
    return min(found) if found else FALLBACK_LIMIT
