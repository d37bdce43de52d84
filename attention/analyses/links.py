"""Token links: the query→key links of one layer above a threshold.

The link view draws a line from a query token (left) to a key token (right) for every pair whose weight
clears a threshold. Only those pairs travel to the browser, packed as small binary arrays, so a 512-token
text stays light however many heads are shown.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from attention.analyses.words import MERGE_RULE, WordGroups, merge_pieces, word_groups  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    from attention.run.result import Attention

LINK_BUDGET = 40_000  # links sent to the browser at most; the weakest go first beyond it


@dataclass(frozen=True)
class Links:
    """The links of one layer that clear a threshold. Arrays are parallel: one entry per link."""

    tokens: list[str]
    heads: list[str]          # a name per drawn head ("0", "1", ... or "mean")
    head: np.ndarray          # [link] index into `heads`
    query: np.ndarray         # [link] query position
    key: np.ndarray           # [link] key position
    weight: np.ndarray        # [link] float32 attention weight
    threshold: float
    pairs: int                # query–key pairs considered (heads × tokens²)
    dropped: int = 0          # links above the threshold left out to stay within the budget

    def __len__(self) -> int:
        return len(self.weight)


def layer_links(result: Attention, layer: int, threshold: float, mean: bool = False, budget: int = LINK_BUDGET) -> Links:
    """Every (head, query, key) of `layer` with weight ≥ threshold; `mean` draws the heads' average as one head.

    Beyond `budget` links only the strongest are kept (`dropped` says how many were not)."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError("The threshold must be above 0 and at most 1.")
    layer, _ = result.clamp(layer, 0)
    weights = result.weights[layer]                                            # [head, query, key]
    if mean:
        weights = weights.mean(axis=0, keepdims=True)                         # [1, query, key]
    names = ["mean"] if mean else [str(h) for h in range(weights.shape[0])]
    head, query, key = np.nonzero(weights >= threshold)
    weight = weights[head, query, key]
    dropped = 0
    if len(weight) > budget:
        dropped = len(weight) - budget
        keep = np.sort(np.argpartition(weight, -budget)[-budget:])            # strongest, original order kept
        head, query, key, weight = head[keep], query[keep], key[keep], weight[keep]
    return Links(
        tokens=list(result.tokens), heads=names, head=head.astype(np.int32), query=query.astype(np.int32),
        key=key.astype(np.int32), weight=weight.astype(np.float32), threshold=float(threshold),
        pairs=int(weights.size), dropped=dropped,
    )


def parse_pin(raw: str | None, n_tokens: int) -> tuple[str | None, str | None]:
    """A pinned token from the URL, "q<position>" (a query) or "k<position>" (a key): (pin, notice)."""
    if not raw:
        return None, None
    match = re.fullmatch(r"([qk])(\d{1,6})", raw.strip().lower())
    if match:
        side, position = match[1], int(match[2])
        if position < n_tokens:
            return f"{side}{position}", None
        return None, f"The link pinned token {position}, but the text has {n_tokens}; nothing is pinned."
    return None, f"The link's pin '{raw[:20]}' is not like q3 or k5; nothing is pinned."


def parse_heads(raw: str | None, n_heads: int) -> tuple[list[int], str | None]:
    """Heads switched on, from the URL: "all" (or nothing), "none", or "0,3,5"; (heads, notice)."""
    if raw is None or raw.strip().lower() in ("", "all"):
        return list(range(n_heads)), None
    if raw.strip().lower() == "none":
        return [], None
    parts = [part.strip() for part in raw.split(",")[:64] if part.strip()]
    valid = [part for part in parts if re.fullmatch(r"\d{1,4}", part) and int(part) < n_heads]
    heads = sorted({int(part) for part in valid})
    if len(valid) != len(parts):
        return heads or list(range(n_heads)), f"The link's heads '{raw[:30]}' name heads this model lacks (it has 0–{n_heads - 1}); those were left out."
    return heads, None


def format_heads(heads: list[int], n_heads: int) -> str:
    """The URL form of a head selection (the inverse of parse_heads)."""
    if len(heads) == n_heads:
        return "all"
    return ",".join(map(str, heads)) or "none"

