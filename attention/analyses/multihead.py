"""Many heads in one layer: each head's pattern and output, the concatenation and output projection,
what removing heads does to the layer (ablation, measured), and how different the heads are (diversity).

Runs the scratch engines' own modules (`scratch`, `scratch:<weights>`), so the numbers are the model's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attention.analyses.steps import scratch_trace
from attention.run.trace import Trace, gated, rerun_layer


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

    @property
    def n_heads(self) -> int:
        return self.weights.shape[0]

    @property
    def d_head(self) -> int:
        """Numbers each head hands back per token."""
        return self.head_outputs.shape[2]

    def head(self, head: int) -> np.ndarray:
        """One head's pattern [query, key]."""
        return self.weights[head]

    def diversity(self) -> tuple[float, tuple[float, int, int], tuple[float, int, int]] | None:
        """(mean distance over pairs of heads, (distance, a, b) of the most alike pair, of the most different pair);
        None for a layer of one head."""
        pairs = [(float(self.distances[a, b]), a, b) for a in range(self.n_heads) for b in range(a + 1, self.n_heads)]
        if not pairs:
            return None
        return float(np.mean([pair[0] for pair in pairs])), min(pairs), max(pairs)


@dataclass(frozen=True)
class Ablation:
    """The measured effect of removing heads: relative change ‖with − without‖ / ‖with‖ (0 = no change)."""

    removed: tuple[int, ...]
    attention_change: float    # the attention block's output (after the output projection)
    layer_change: float        # the layer's output (after residual, norm and feed-forward)
    final_change: float        # the model's last hidden state
    per_token: np.ndarray      # [token] layer-output change for each token
    single_head: np.ndarray    # [head] layer-output change when that head alone is removed

    def most_and_least(self) -> tuple[tuple[int, float], tuple[int, float]]:
        """(head, change) of the head whose removal alone moves the layer output most, and of the one that moves it least."""
        most, least = int(np.argmax(self.single_head)), int(np.argmin(self.single_head))
        return (most, float(self.single_head[most])), (least, float(self.single_head[least]))


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


def trace_layer_heads(run: Trace, layer: int) -> LayerHeads:
    """Every head of `layer` in a traced run: patterns, per-head outputs, concatenation, projection, diversity."""
    run.check_layer(layer)
    heads = run.head_outputs[layer]                                          # [head, token, d_head]
    concatenated = heads.transpose(1, 0, 2).reshape(heads.shape[1], -1)      # [token, head·d_head]: heads side by side
    return LayerHeads(run.tokens, layer, run.weights[layer], heads, concatenated, run.attention_output[layer],
                      head_distances(run.weights[layer]), list(run.notices))


def layer_heads(text: str, model: str = "scratch:minilm", layer: int = 0, causal: bool = False,
                max_tokens: int | None = None) -> LayerHeads:
    """Every head of `layer` on `text`: patterns, per-head outputs, concatenation, projection, diversity."""
    return trace_layer_heads(scratch_trace(text, model, causal, max_tokens), layer)


def trace_ablation(run: Trace, layer: int, removed: list[int] | tuple[int, ...] = ()) -> Ablation:
    """Remove heads of `layer` (gate 0: their share of the concatenation is 0) and measure what changes downstream:
    the gated pass is a trace of the same call, and each head's effect alone reruns that one layer from the trace."""
    run.check_layer(layer)
    removed = tuple(sorted(set(int(head) for head in removed)))
    if any(not 0 <= head < run.n_heads for head in removed):
        raise ValueError(f"{run.model} has heads 0–{run.n_heads - 1} in each layer.")
    cut = gated(run, {(layer, head): 0.0 for head in removed})
    layer_full, layer_cut = run.residual[layer + 1], cut.residual[layer + 1]
    per_token = np.linalg.norm(layer_cut - layer_full, axis=-1) / np.maximum(np.linalg.norm(layer_full, axis=-1), 1e-12)
    single = [_change(rerun_layer(run, layer, {head: 0.0}), layer_full) for head in range(run.n_heads)]
    return Ablation(removed, _change(cut.attention_output[layer], run.attention_output[layer]), _change(layer_cut, layer_full),
                    _change(cut.residual[-1], run.residual[-1]), per_token.astype(np.float32), np.array(single, dtype=np.float32))


def ablate(text: str, model: str = "scratch:minilm", layer: int = 0, removed: list[int] | tuple[int, ...] = (),
           causal: bool = False, max_tokens: int | None = None) -> Ablation:
    """Remove heads of `layer` on `text` and measure what changes downstream (reads traces of the same call)."""
    return trace_ablation(scratch_trace(text, model, causal, max_tokens), layer, removed)


def _change(changed: np.ndarray, reference: np.ndarray) -> float:
    return float(np.linalg.norm(changed - reference) / max(float(np.linalg.norm(reference)), 1e-12))


def listed_heads(text: str, n_heads: int) -> list[int]:
    """Head numbers written as "0,3" (a link's list), keeping only those the model has (0..n_heads-1)."""
    return [int(part) for part in str(text or "").split(",") if part.isdigit() and int(part) < n_heads]


def heads_removed(picked: list[int], keep: bool, n_heads: int) -> list[int]:
    """The heads an ablation removes: the picked ones, or (`keep`) every head but the picked ones."""
    return [head for head in range(n_heads) if (head in picked) != keep]
