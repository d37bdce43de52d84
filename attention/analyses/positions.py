"""Where a token sits: position codes (fixed sinusoids, MiniLM's learned table) and the experiment that shows
why attention needs them — without positions it cannot tell word orders apart (it is permutation-equivariant).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from attention.run.api import prepare_scratch
from attention.engine.backends import COMPUTE_LOCK
from attention.engine import sinusoidal_positions


def sinusoidal(n_positions: int, d_model: int) -> np.ndarray:
    """The fixed sine/cosine codes of "Attention is all you need": [position, d_model]."""
    return sinusoidal_positions(n_positions, d_model).numpy()


def learned(model: str = "scratch:minilm", n_positions: int = 64) -> np.ndarray:
    """A scratch engine's learned position table (first rows): [position, d_model]. ValueError if it has none."""
    engine = prepare_scratch("positions", model).backend.network
    if engine.config.positional != "learned":
        raise ValueError(f"{model} uses fixed sinusoidal positions, not a learned table.")
    return engine.positions(min(n_positions, engine.config.max_positions)).detach().numpy().copy()


def similarity(codes: np.ndarray) -> np.ndarray:
    """Cosine similarity between every pair of positions: [position, d_model] -> [position, position]."""
    unit = codes / np.maximum(np.linalg.norm(codes, axis=1, keepdims=True), 1e-12)
    return (unit @ unit.T).astype(np.float32)


@dataclass(frozen=True)
class Permutation:
    """One head on a sentence and on its shuffled tokens, without and with position information."""

    tokens: list[str]
    order: list[int]              # shuffled position p holds original token order[p]
    layer: int
    head: int
    without: np.ndarray           # [query, key] original order, no positions
    without_shuffled: np.ndarray  # [query, key] shuffled input, no positions
    with_positions: np.ndarray    # [query, key] original order, positions added
    with_shuffled: np.ndarray     # [query, key] shuffled input, positions added
    notices: list[str]

    @property
    def shuffled_tokens(self) -> list[str]:
        return [self.tokens[p] for p in self.order]

    def permuted(self, weights: np.ndarray) -> np.ndarray:
        """The original pattern with rows and columns moved to where the shuffle put their tokens."""
        return weights[np.ix_(self.order, self.order)]

    @property
    def gap_without(self) -> float:
        """max |shuffled pattern − permuted original| without positions: 0 up to rounding (equivariance)."""
        return float(np.abs(self.without_shuffled - self.permuted(self.without)).max())

    @property
    def gap_with(self) -> float:
        """The same gap with positions: clearly above 0, because the order now matters."""
        return float(np.abs(self.with_shuffled - self.permuted(self.with_positions)).max())


def shuffle_order(n: int, seed: int) -> list[int]:
    """A seeded shuffle of the word tokens, keeping the first and last tokens (e.g. [CLS], [SEP]) in place."""
    inner = list(range(1, n - 1)) if n > 3 else list(range(n))
    rng = np.random.default_rng(seed)
    shuffled = list(inner)
    for _ in range(20):                       # a shuffle that leaves every token in place shows nothing
        shuffled = [inner[i] for i in rng.permutation(len(inner))]
        if shuffled != inner or len(inner) < 2:
            break
    return [0, *shuffled, n - 1] if n > 3 else shuffled


def permutation_experiment(text: str, model: str = "scratch:minilm", layer: int = 0, head: int = 0, seed: int = 0,
                           max_tokens: int | None = None) -> Permutation:
    """Run a bidirectional scratch engine on the tokens and on a shuffle of them, with and without positions."""
    prepared = prepare_scratch(text, model, **({"max_tokens": max_tokens} if max_tokens else {}))
    engine = prepared.backend.network
    if engine.config.causal:
        raise ValueError("The permutation experiment needs a bidirectional model; a causal decoder's mask already depends on order.")
    if not 0 <= layer < len(engine.layers) or not 0 <= head < engine.config.n_heads:
        raise ValueError(f"{model} has layers 0–{len(engine.layers) - 1} and heads 0–{engine.config.n_heads - 1}.")
    n = len(prepared.ids)
    if n < 2:
        raise ValueError("The text needs at least two tokens to shuffle.")
    order = shuffle_order(n, seed)
    ids = torch.tensor([prepared.ids])
    patterns = []
    with COMPUTE_LOCK, torch.inference_mode():
        for use_positions in (False, True):
            for tokens in (ids, ids[:, order]):
                weights = engine.run(tokens, use_positions=use_positions, stop_before=layer + 1).weights[layer]
                patterns.append(weights[0, head].numpy())
    return Permutation(prepared.tokens, order, layer, head, *patterns, notices=prepared.notices)
