"""Comparing attention: two sentences or two models, aligned token by token, and their difference A − B."""
from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from attention.run.result import Attention


@dataclass(frozen=True)
class Alignment:
    """Positions of A and B that stand for the same token: `a[i]` in A pairs with `b[i]` in B."""

    a: np.ndarray          # [pair] positions in A
    b: np.ndarray          # [pair] positions in B
    labels: list[str]      # [pair] "cat", or "he/she" where a token was swapped for another
    swapped: list[bool]    # [pair] True where the two tokens differ

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def shared(self) -> int:
        """Pairs whose tokens are identical."""
        return len(self.labels) - sum(self.swapped)


def align(tokens_a: list[str], tokens_b: list[str], pair_swaps: bool = True) -> Alignment:
    """Match the tokens two inputs share, in order (a longest-common-subsequence diff).

    With `pair_swaps`, a run of tokens replaced by a run of the same length (a swapped word) is paired
    position by position and labelled "a/b", so the difference shows what the swap changed."""
    a: list[int] = []
    b: list[int] = []
    labels: list[str] = []
    swapped: list[bool] = []
    matcher = SequenceMatcher(a=tokens_a, b=tokens_b, autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and pair_swaps and a1 - a0 == b1 - b0):
            for i, j in zip(range(a0, a1), range(b0, b1)):
                a.append(i)
                b.append(j)
                same = tokens_a[i] == tokens_b[j]
                labels.append(tokens_a[i] if same else f"{tokens_a[i]}/{tokens_b[j]}")
                swapped.append(not same)
    return Alignment(np.array(a, dtype=np.int64), np.array(b, dtype=np.int64), labels, swapped)


@dataclass(frozen=True)
class Difference:
    """One head of A and one of B restricted to aligned tokens, and A − B: each [pair query, pair key]."""

    a: np.ndarray
    b: np.ndarray
    diff: np.ndarray
    labels: list[str]

    @property
    def largest(self) -> tuple[str, str, float]:
        """(query label, key label, A − B) where the two differ most."""
        if not self.diff.size:
            return "", "", 0.0
        query, key = np.unravel_index(np.argmax(np.abs(self.diff)), self.diff.shape)
        return self.labels[query], self.labels[key], float(self.diff[query, key])

    @property
    def mean_abs(self) -> float:
        """Mean |A − B| over aligned pairs."""
        return float(np.abs(self.diff).mean()) if self.diff.size else 0.0


def difference(result_a: Attention, result_b: Attention, alignment: Alignment, layer: int, head: int,
               layer_b: int | None = None, head_b: int | None = None) -> Difference:
    """Head (layer, head) of A against (layer_b, head_b) of B (the same by default), on aligned tokens."""
    layer_b = layer if layer_b is None else layer_b
    head_b = head if head_b is None else head_b
    a = result_a.head(*result_a.clamp(layer, head))[np.ix_(alignment.a, alignment.a)]   # [pair query, pair key]
    b = result_b.head(*result_b.clamp(layer_b, head_b))[np.ix_(alignment.b, alignment.b)]
    return Difference(a=a, b=b, diff=(a - b).astype(np.float32), labels=list(alignment.labels))


def common_shape(result_a: Attention, result_b: Attention) -> tuple[int, int]:
    """(layers, heads) both results have."""
    return min(result_a.n_layers, result_b.n_layers), min(result_a.n_heads, result_b.n_heads)


def head_differences(result_a: Attention, result_b: Attention, alignment: Alignment) -> np.ndarray:
    """Mean |A − B| over aligned tokens for every head both have: [layer, head]."""
    layers, heads = common_shape(result_a, result_b)
    a = result_a.weights[:layers, :heads][:, :, alignment.a][:, :, :, alignment.a]   # [layer, head, pair, pair]
    b = result_b.weights[:layers, :heads][:, :, alignment.b][:, :, :, alignment.b]
    if not len(alignment):
        return np.zeros((layers, heads), dtype=np.float32)
    return np.abs(a - b).mean(axis=(2, 3)).astype(np.float32)


def notices(result_a: Attention, result_b: Attention, alignment: Alignment) -> list[str]:
    """What a reader should know before comparing A and B: models of different shapes (only the layers × heads both
    have are compared), or no shared tokens (nothing to align)."""
    found = []
    layers, heads = common_shape(result_a, result_b)
    if (result_a.n_layers, result_a.n_heads) != (result_b.n_layers, result_b.n_heads):
        found.append(f"Model A has {result_a.n_layers} layers × {result_a.n_heads} heads and model B {result_b.n_layers} × "
                     f"{result_b.n_heads}; only the {layers} × {heads} both have are compared.")
    if not len(alignment):
        found.append("A and B share no tokens, so there is nothing to align and no difference to show.")
    return found


def head_names(layers: int, heads: int) -> dict[str, tuple[int, int]]:
    """Every (layer, head) by its short name, "L1·H2", layer by layer."""
    return {f"L{layer}·H{head}": (layer, head) for layer in range(layers) for head in range(heads)}
