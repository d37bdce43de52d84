"""How far a sparse pattern is from full attention, layer by layer, and the measured cost of each pattern.

`pattern_quality` runs the project's engine twice over one text, once with full attention and once with a
pattern in every layer, and compares them per layer:
  KL       Σ p·log(p / f) of each query's pattern row p against its full row f, averaged over heads and queries
           (this direction is finite: full attention gives every key a positive weight; float32 underflow is floored at 1e-12)
  error    ‖pattern output − full output‖ / ‖full output‖ of the layer's hidden states (errors compound upwards)
  overlap  of each row's k strongest keys under full attention, the share the pattern also ranks in its top k
`load_costs` reads the timing and memory table that bench/bench_patterns.py saves.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .api import prepare_scratch
from .maths import causal_mask
from .models import COMPUTE_LOCK
from .patterns import Pattern, from_options, with_causal

FLOOR = 1e-12  # smallest full-attention weight KL reads
COSTS = Path(__file__).resolve().parent.parent / "bench" / "results" / "bench_patterns.json"


@dataclass(frozen=True)
class Quality:
    """Per-layer distance of a pattern from full attention (each a float array [layer])."""

    kl: np.ndarray
    error: np.ndarray
    overlap: np.ndarray
    top_k: int
    n_tokens: int


def layer_passes(model, ids: torch.Tensor, pattern: Pattern | None, causal: bool) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Hidden states after each layer [batch, seq, d_model] and weights [batch, head, query, key], with or without a pattern."""
    causal = causal or model.config.causal
    mask = None if pattern is not None or not causal else causal_mask(ids.shape[1])
    pattern = with_causal(pattern, causal)
    x, hidden, weights = model.embed(ids), [], []
    for layer in model.layers:
        x, layer_weights, _ = layer(x, mask, None, None, pattern)
        hidden.append(x)
        weights.append(layer_weights)
    return hidden, weights


def compare(full: tuple[list, list], sparse: tuple[list, list], top_k: int = 5) -> Quality:
    """KL, relative output error and top-k overlap per layer between two layer_passes results."""
    kl, error, overlap = [], [], []
    for full_x, sparse_x, f, p in zip(full[0], sparse[0], full[1], sparse[1]):
        # 0·log 0 counts as 0; a full weight that underflowed to 0 (scores ~100 apart) counts as FLOOR, so KL stays finite
        kl.append(float((torch.special.xlogy(p, p) - torch.special.xlogy(p, f.clamp_min(FLOOR))).sum(-1).mean()))
        error.append(float((sparse_x - full_x).norm() / full_x.norm().clamp_min(1e-12)))
        k = min(top_k, f.shape[-1])
        top_full, top_sparse = f.topk(k, dim=-1).indices, p.topk(k, dim=-1).indices          # [batch, head, query, k]
        shared = (top_full[..., :, None] == top_sparse[..., None, :]).any(-1).float().mean()
        overlap.append(float(shared))
    return Quality(np.array(kl), np.array(error), np.array(overlap), min(top_k, full[1][0].shape[-1]), full[1][0].shape[-1])


def pattern_quality(text: str, model: str, max_tokens: int | None = None, top_k: int = 5, **options) -> Quality:
    """How far `pattern=…` (attend() options) is from full attention on this text, per layer of a scratch engine."""
    prepared = prepare_scratch(text, model, **({"max_tokens": max_tokens} if max_tokens else {}), **options)
    pattern = from_options(prepared.options) or Pattern("full")
    causal = bool(prepared.options.get("causal"))
    ids = torch.tensor([prepared.ids])
    with COMPUTE_LOCK, torch.inference_mode():
        engine = prepared.backend.model
        return compare(layer_passes(engine, ids, None, causal), layer_passes(engine, ids, pattern, causal), top_k)


def growth_exponent(lengths: list[int], values: list[float]) -> float:
    """The slope of log(value) against log(length): 1 for linear growth, 2 for quadratic."""
    return float(np.polyfit(np.log(lengths), np.log(values), 1)[0])


def load_costs(path: Path = COSTS) -> dict | None:
    """The saved bench table {"rows": [{pattern, length, ms, mb}], "meta": {...}}, or None when the bench has not been run."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None


def active_queries(weights: np.ndarray) -> np.ndarray:
    """ProbSparse's chosen queries in one head's weights [query, key]: rows that are not spread evenly over their keys."""
    shown = np.where(weights > 0, weights, np.nan)
    return (np.nanmax(shown, axis=-1) - np.nanmin(shown, axis=-1)) > 1e-7
