"""Token links: word pieces merged into words, and the query→key links of one layer above a threshold.

The link view draws a line from a query token (left) to a key token (right) for every pair whose weight
clears a threshold. Only those pairs travel to the browser, packed as small binary arrays, so a 512-token
text stays light however many heads are shown.
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .result import Attention

MERGE_RULE = (
    "Word pieces are merged back into words: a word's attention *to* another word is the **sum** over that "
    "word's key pieces (attention paid to any piece counts), and *from* a word it is the **mean** over its "
    "query pieces (each piece asks once). Rows still sum to 1."
)
LINK_BUDGET = 40_000  # links sent to the browser at most; the weakest go first beyond it
_PIECE_MARKS = ("##",)          # WordPiece: a continuation piece starts with ##
_SPACE_MARKS = ("Ġ", "▁")       # byte-level BPE / SentencePiece: a word-initial piece starts with these


@dataclass(frozen=True)
class WordGroups:
    """Consecutive token positions merged into one word each: `starts[i]` is word i's first token."""

    labels: list[str]
    starts: np.ndarray          # [word] int, increasing, starts[0] == 0
    word_ids: list[int | None]  # per word: its index among real words, None for special tokens
    n_tokens: int

    @property
    def sizes(self) -> np.ndarray:
        """Tokens per word: [word]."""
        return np.diff(np.append(self.starts, self.n_tokens))


def _piece_text(token: str, first: bool) -> str:
    if not first:
        for mark in _PIECE_MARKS:
            if token.startswith(mark) and len(token) > len(mark):
                return token[len(mark):]
    for mark in _SPACE_MARKS:
        if token.startswith(mark) and len(token) > len(mark):
            return token[len(mark):]
    return token


def word_groups(tokens: list[str], word_ids: list[int | None]) -> WordGroups:
    """Group tokens into words from the tokenizer's word ids (None = special token, a word of its own)."""
    if len(tokens) != len(word_ids):
        raise ValueError(f"{len(tokens)} tokens but {len(word_ids)} word ids.")
    labels: list[str] = []
    starts: list[int] = []
    ids: list[int | None] = []
    previous: object = object()  # matches nothing, so the first token opens a word
    for position, (token, word) in enumerate(zip(tokens, word_ids)):
        if word is None or word != previous:
            starts.append(position)
            labels.append(_piece_text(token, first=True))
            ids.append(word)
        else:
            labels[-1] += _piece_text(token, first=False)
        previous = word
    return WordGroups(labels=labels, starts=np.array(starts, dtype=np.int64), word_ids=ids, n_tokens=len(tokens))


def merge_pieces(weights: np.ndarray, groups: WordGroups) -> np.ndarray:
    """Token weights [..., query, key] -> word weights [..., query word, key word]:
    sum over a word's key pieces, mean over its query pieces."""
    if weights.shape[-1] != groups.n_tokens or weights.shape[-2] != groups.n_tokens:
        raise ValueError(f"weights {weights.shape} do not cover {groups.n_tokens} tokens.")
    to_words = np.add.reduceat(weights, groups.starts, axis=-1)               # [..., query, key word]
    summed = np.add.reduceat(to_words, groups.starts, axis=-2)                # [..., query word, key word]
    return (summed / groups.sizes[:, None]).astype(np.float32)


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


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def payload(links: Links, shown: list[int] | None = None, pin: str | None = None) -> dict[str, Any]:
    """What the browser component receives: tokens as JSON strings, and per head three little-endian arrays
    in base64 — query (uint16), key (uint16), weight (uint8, 0–255). `shown` = head indices switched on."""
    heads = []
    order = np.argsort(links.head, kind="stable")
    head, query, key, weight = links.head[order], links.query[order], links.key[order], links.weight[order]
    bounds = np.searchsorted(head, np.arange(len(links.heads) + 1))
    for index, name in enumerate(links.heads):
        part = slice(bounds[index], bounds[index + 1])
        heads.append({
            "name": name,
            "n": int(bounds[index + 1] - bounds[index]),
            "q": _b64(query[part].astype("<u2")),
            "k": _b64(key[part].astype("<u2")),
            "w": _b64(np.clip(np.round(weight[part] * 255), 1, 255).astype(np.uint8)),
        })
    every = list(range(len(links.heads)))
    return {
        "tokens": links.tokens,
        "heads": heads,
        "shown": every if shown is None else [h for h in shown if 0 <= h < len(links.heads)],
        "pin": pin,
        "threshold": links.threshold,
    }


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
