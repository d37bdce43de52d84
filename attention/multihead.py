"""Many heads in one layer: each head's pattern and output, the concatenation and output projection,
what removing heads does to the layer (ablation, measured), and how different the heads are (diversity).

Runs the scratch engines' own modules (`scratch`, `scratch:<weights>`), so the numbers are the model's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .maths import attention_weights, merge_heads
from .models import COMPUTE_LOCK
from .steps import LayerInput, layer_input


@dataclass(frozen=True)
class LayerHeads:
    """All heads of one layer for one sentence (float32 numpy)."""

    tokens: list[str]
    layer: int
    weights: np.ndarray        # [head, query, key] each head's pattern
    head_outputs: np.ndarray   # [head, token, d_head] weights · values, per head
    concatenated: np.ndarray   # [token, d_model] the heads side by side
    projected: np.ndarray      # [token, d_model] after the output projection: what the layer adds back
    distances: np.ndarray      # [head, head] how differently heads attend (0 same, 1 disjoint)
    notices: list[str]


@dataclass(frozen=True)
class Ablation:
    """The measured effect of removing heads: relative change ‖with − without‖ / ‖with‖ (0 = no change)."""

    removed: tuple[int, ...]
    attention_change: float    # the attention block's output (after the output projection)
    layer_change: float        # the layer's output (after residual, norm and feed-forward)
    final_change: float        # the model's last hidden state
    per_token: np.ndarray      # [token] layer-output change for each token
    single_head: np.ndarray    # [head] layer-output change when that head alone is removed


def head_distances(weights: np.ndarray) -> np.ndarray:
    """Jensen–Shannon distance between heads' rows, averaged over queries: [head, query, key] -> [head, head] in [0, 1]."""
    weights = np.asarray(weights, dtype=np.float64)
    distances = np.zeros((len(weights), len(weights)))
    for index, one in enumerate(weights):                        # one head against all: memory stays [head, query, key]
        middle = (one[None] + weights) / 2
        divergence = 0.5 * (_kl(one[None], middle) + _kl(weights, middle))   # [head, query], bits
        distances[index] = np.sqrt(np.clip(divergence, 0.0, 1.0)).mean(-1)
    return ((distances + distances.T) / 2).astype(np.float32)


def _kl(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * np.log2(p / q), 0.0).sum(-1)


def layer_heads(text: str, model: str = "scratch:minilm", layer: int = 0, causal: bool = False,
                max_tokens: int | None = None) -> LayerHeads:
    """Every head of `layer` on `text`: patterns, per-head outputs, concatenation, projection, diversity."""
    entry = layer_input(text, model, layer, causal, max_tokens)
    attention = entry.block.attention
    with COMPUTE_LOCK, torch.inference_mode():
        queries, keys, values = attention.project(entry.normed)             # [1, head, seq, d_head]
        weights = attention_weights(queries, keys, entry.mask)              # [1, head, query, key]
        heads = weights @ values                                            # [1, head, seq, d_head]
        concatenated = merge_heads(heads)                                   # [1, seq, d_model]
        projected = attention.output(concatenated)                          # [1, seq, d_model]
    weights = weights[0].numpy()
    return LayerHeads(entry.prepared.tokens, layer, weights, heads[0].numpy(), concatenated[0].numpy(), projected[0].numpy(),
                      head_distances(weights), entry.prepared.notices)


def ablate(text: str, model: str = "scratch:minilm", layer: int = 0, removed: list[int] | tuple[int, ...] = (),
           causal: bool = False, max_tokens: int | None = None) -> Ablation:
    """Remove heads of `layer` (their share of the concatenation set to 0) and measure what changes downstream."""
    entry = layer_input(text, model, layer, causal, max_tokens)
    n_heads = entry.engine.config.n_heads
    removed = tuple(sorted(set(int(head) for head in removed)))
    if any(not 0 <= head < n_heads for head in removed):
        raise ValueError(f"{model} has heads 0–{n_heads - 1} in each layer.")
    gate = _gate(n_heads, removed)
    ids = torch.tensor([entry.prepared.ids])
    with COMPUTE_LOCK, torch.inference_mode():
        attention_full = entry.block.attention(entry.normed, mask=entry.mask)[0]
        attention_cut = entry.block.attention(entry.normed, mask=entry.mask, head_gate=gate)[0]
        layer_full, layer_cut = _layer_out(entry, None), _layer_out(entry, gate)
        final_full = entry.engine.run(ids, entry.user_mask).hidden
        final_cut = entry.engine.run(ids, entry.user_mask, head_gates={layer: gate}).hidden
        single = [_change(_layer_out(entry, _gate(n_heads, (head,))), layer_full) for head in range(n_heads)]
    per_token = ((layer_cut - layer_full).norm(dim=-1) / layer_full.norm(dim=-1).clamp_min(1e-12))[0]
    return Ablation(removed, _change(attention_cut, attention_full), _change(layer_cut, layer_full),
                    _change(final_cut, final_full), per_token.numpy(), np.array(single, dtype=np.float32))


def _gate(n_heads: int, removed: tuple[int, ...]) -> torch.Tensor:
    gate = torch.ones(n_heads)
    gate[list(removed)] = 0.0
    return gate


def _layer_out(entry: LayerInput, gate: torch.Tensor | None) -> torch.Tensor:
    return entry.block(entry.hidden, entry.mask, head_gate=gate)[0]


def _change(changed: torch.Tensor, reference: torch.Tensor) -> float:
    return float((changed - reference).norm() / reference.norm().clamp_min(1e-12))
