"""How induction-mini's heads are measured: the induction and previous-token scores of every head, what removing a
head changes (the composition of a previous-token head with an induction head), and the K-composition of every pair
of heads in consecutive layers (Elhage et al., 2021).

Scores (TransformerLens's definitions, on the probe "[BOS], L random tokens, the same L again", position 0 = [BOS]):
    induction score       mean attention from each token of the second copy (query q = L + 1 … 2L) to the token
                          just after its earlier copy (key q − L + 1)
    previous-token score  mean attention from each token (q = 1 … 2L) to the token before it (key q − 1)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from attention.domains.induction_mini.data import parts, probe, repeated_rows
from attention.engine.transformer import ScratchTransformer

KINDS = ("induction", "previous")
HELD_OUT_ROWS = 256   # rows the losses after training (and after removing a head) are measured on


def score_weights(weights: np.ndarray, length: int, kind: str) -> np.ndarray:
    """Head scores from weights [..., layer, head, query, key] over [BOS, copy 1, copy 2] of `length` tokens each:
    mean over the queries (and any leading axes) -> float32 [layer, head]."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got '{str(kind)[:40]}'.")
    if weights.shape[-1] != 2 * length + 1 or weights.shape[-2] != 2 * length + 1:
        raise ValueError(f"Weights over {weights.shape[-1]} tokens do not hold a [BOS] and two copies of {length}.")
    if kind == "previous":
        query = np.arange(1, 2 * length + 1)
        values = weights[..., query, query - 1]                         # [..., layer, head, query]
    else:
        query = np.arange(length + 1, 2 * length + 1)
        values = weights[..., query, query - length + 1]
    return values.mean(axis=(*range(values.ndim - 3), -1)).astype(np.float32)


def probe_scores(network: ScratchTransformer, ids: np.ndarray | None = None,
                 gates: dict[int, torch.Tensor] | None = None) -> dict[str, np.ndarray]:
    """Both scores of every head on the probe (data.probe(), or `ids` [sequence, 1 + 2·L]), with heads gated as
    `gates` {layer: [head] factors}: {"induction", "previous"} float32 [layer, head]."""
    ids = probe() if ids is None else ids
    with torch.inference_mode():
        weights = torch.stack(network.run(torch.as_tensor(ids), head_gates=gates).weights, dim=1).numpy()   # [seq, layer, head, q, k]
    length = (ids.shape[1] - 1) // 2
    return {kind: score_weights(weights, length, kind) for kind in KINDS}


def part_losses(network: ScratchTransformer, ids: torch.Tensor, period: torch.Tensor,
                gates: dict[int, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean next-token cross-entropy (nats) of rows `ids` [row, 1 + length] with periods `period` [row], heads gated as
    `gates`: (every target, the first part, the repeated part; data.parts), scalar tensors."""
    hidden = network.run(ids[:, :-1], head_gates=gates).hidden                               # [row, length, d_model]
    logits = network.next_token_logits(hidden)                                               # [row, length, vocab]
    losses = nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")  # [row, length]
    first, repeated = parts(period, ids.shape[1] - 1)
    return losses.mean(), losses[first].mean(), losses[repeated].mean()


def held_out_rows(config: Any, count: int = HELD_OUT_ROWS) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows the losses after training are measured on: drawn like the training rows from a seed training never uses."""
    generator = torch.Generator().manual_seed(10_000 + config.seed)
    return repeated_rows(count, config.context - 1, (config.min_period, config.max_period), generator)


def composition(network: ScratchTransformer, layer: int = 0) -> np.ndarray:
    """K-composition of every head h1 of `layer` with every head h2 of `layer` + 1: float32 [h1, h2] in [0, 1].

    Row-vector convention (TransformerLens): W_OV^h1 = W_V^h1 W_O^h1 (what h1 writes: x ↦ x W_OV) and
    W_QK^h2 = W_Q^h2 W_K^h2ᵀ (h2's score: x_q W_QK x_kᵀ); K-composition = ‖W_OV^h1 W_QK^h2ᵀ‖_F /
    (‖W_OV^h1‖_F ‖W_QK^h2‖_F), how much of h2's key side reads what h1 writes (TransformerLens's
    all_composition_scores("K")). Before the products, h1's writes are centred (h2's LayerNorm removes their mean) and
    the gain of that LayerNorm is folded into W_Q and W_K, as TransformerLens does when it loads a model (fold_ln,
    center_writing_weights): the maps the heads really apply, up to LayerNorm's one scale per token."""
    first, second = network.layers[layer], network.layers[layer + 1]
    n_heads, d_model = first.self_attention.n_heads, network.config.d_model
    d_head = d_model // n_heads
    with torch.no_grad():
        centre = torch.eye(d_model) - 1.0 / d_model                                       # [d_model, d_model]
        gain = second.attention_norm.weight[:, None]                                      # [d_model, 1]
        value = first.self_attention.value.weight.T.reshape(d_model, n_heads, d_head)     # W_V by heads [d_model, head, d_head]
        output = first.self_attention.output.weight.T.reshape(n_heads, d_head, d_model)   # W_O by heads [head, d_head, d_model]
        ov = torch.einsum("mhd,hdn->hmn", value, output) @ centre                         # [head, d_model, d_model]
        query = (gain * second.self_attention.query.weight.T).reshape(d_model, n_heads, d_head)
        key = (gain * second.self_attention.key.weight.T).reshape(d_model, n_heads, d_head)
        qk = torch.einsum("mhd,nhd->hmn", query, key)                                     # [head, d_model, d_model]
        product = torch.einsum("amn,bkn->abmk", ov, qk)                                   # W_OV^a W_QK^bᵀ [h1, h2, d, d]
        norms = ov.flatten(1).norm(dim=1)[:, None] * qk.flatten(1).norm(dim=1)[None, :]   # [h1, h2]
        return (product.flatten(2).norm(dim=2) / norms).float().numpy()


def phase_change(history: dict[str, np.ndarray]) -> int:
    """The step of the phase change in a training history (train.train): the first recorded step at which the loss on
    the repeated part is below the midpoint of its first and last recorded values."""
    loss = np.asarray(history["loss_repeated"])
    midpoint = (loss[0] + loss[-1]) / 2
    return int(np.asarray(history["step"])[int(np.argmax(loss < midpoint))])


@dataclass(frozen=True)
class Removal:
    """What removing heads changed (`gates`: {(layer, head): factor}, 0 removes a head): every head's induction and
    previous-token scores on the probe, float32 [layer, head], and the losses (nats) on held-out rows, before and
    after."""

    gates: dict[tuple[int, int], float]
    induction_before: np.ndarray
    induction_after: np.ndarray
    previous_before: np.ndarray
    previous_after: np.ndarray
    loss_first_before: float
    loss_first_after: float
    loss_repeated_before: float
    loss_repeated_after: float


def removal(network: ScratchTransformer, config: Any, gates: dict[tuple[int, int], float]) -> Removal:
    """Run the probe and held-out rows with and without `gates` {(layer, head): factor} (the engine's head gates, the
    same as trace(gate=)): the scores and losses before and after (Removal)."""
    n_heads = network.config.n_heads
    per_layer: dict[int, torch.Tensor] = {}
    for (layer, head), factor in gates.items():
        per_layer.setdefault(layer, torch.ones(n_heads))[head] = float(factor)
    ids, period = held_out_rows(config)
    with torch.inference_mode():
        before, after = probe_scores(network), probe_scores(network, gates=per_layer)
        _, first, repeated = part_losses(network, ids, period)
        _, first_gated, repeated_gated = part_losses(network, ids, period, per_layer)
    return Removal(dict(gates), before["induction"], after["induction"], before["previous"], after["previous"],
                   float(first), float(first_gated), float(repeated), float(repeated_gated))


def best_head(scores: np.ndarray, layers: range | None = None) -> tuple[int, int]:
    """(layer, head) of the highest score in `scores` [layer, head], among `layers` (default: all)."""
    layers = range(scores.shape[0]) if layers is None else layers
    chosen = scores[list(layers)]
    layer, head = np.unravel_index(int(np.argmax(chosen)), chosen.shape)
    return int(list(layers)[layer]), int(head)


@dataclass(frozen=True)
class Findings:
    """What the trained induction-mini shows: its final head scores float32 [layer, head], the strongest previous-token
    head of layer 0 and induction head above it (layer, head), the phase change's step, what removing each layer-0 head
    in turn changed (`removals`, one Removal per head), and the K-composition [layer-0 head, layer-1 head] of the
    trained and of the untrained network."""

    induction: np.ndarray
    previous: np.ndarray
    previous_head: tuple[int, int]
    induction_head: tuple[int, int]
    phase_step: int
    removals: tuple[Removal, ...]
    composition: np.ndarray
    composition_untrained: np.ndarray

    @property
    def best_induction(self) -> float:
        """The strongest induction score (of induction_head)."""
        return float(self.induction[self.induction_head])

    @property
    def best_previous(self) -> float:
        """The strongest previous-token score in layer 0 (of previous_head)."""
        return float(self.previous[self.previous_head])

    def removal_of(self, head: int | None) -> Removal:
        """What removing layer-0 head `head` changed (None: the previous-token head); ValueError for people."""
        head = self.previous_head[1] if head is None else head
        if not 0 <= head < len(self.removals):
            raise ValueError(f"Layer 0 has heads 0–{len(self.removals) - 1}; head {head} does not exist.")
        return self.removals[head]

    def composition_range(self, trained: bool = True) -> tuple[float, float]:
        """(lowest, highest) K-composition: of the previous-token head's row (trained), or of every pair (untrained)."""
        values = self.composition[self.previous_head[1]] if trained else self.composition_untrained
        return float(values.min()), float(values.max())

    def removal_table(self) -> dict[str, list]:
        """Each layer-0 head removed in turn, as table columns: its previous-token score, then the best induction
        head's score and the loss on the repeated part once it is removed."""
        best = self.induction_head
        return {"layer-0 head removed": list(range(len(self.removals))),
                "its previous-token score": [round(float(v), 2) for v in self.previous[0]],
                f"induction score, L{best[0]} H{best[1]}": [round(float(r.induction_after[best]), 2) for r in self.removals],
                "loss on the repeated part (nats)": [round(r.loss_repeated_after, 2) for r in self.removals]}


def findings(network: ScratchTransformer, config: Any, history: dict[str, np.ndarray]) -> Findings:
    """Findings of a trained network (cache.Trained's network, config and history): scores, best heads, the phase
    change, every layer-0 head removed in turn (measured now), K-composition trained and untrained."""
    from attention.domains.induction_mini.model import InductionMini

    scores = probe_scores(network)
    removals = tuple(removal(network, config, {(0, head): 0.0}) for head in range(network.config.n_heads))
    return Findings(scores["induction"], scores["previous"], best_head(scores["previous"], range(0, 1)),
                    best_head(scores["induction"], range(1, network.config.n_layers)), phase_change(history), removals,
                    composition(network), composition(InductionMini.initial(config)))
