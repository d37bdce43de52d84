"""Where each head looks, in numbers (not what it does): per-head statistics, Kovaleva et al.'s pattern types, attention rollout and
flow across layers (Abnar & Zuidema, 2020), and how alike heads are (Jensen–Shannon distance, clustered).

Everything takes the weights of one input, [layer, head, query, key] with rows summing to 1, and its tokens;
the per-head numbers come back as [layer, head] arrays, averaged over the query tokens.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

from attention.analyses.multihead import head_distances
from attention.run.result import Attention

CLS_TOKENS = frozenset({"[CLS]", "<s>", "<cls>", "<bos>"})
SEP_TOKENS = frozenset({"[SEP]", "</s>", "<sep>", "<eos>"})
_PIECE_MARKS = "#Ġ▁"  # word-piece prefixes (BERT ##, GPT-2 Ġ, SentencePiece ▁) are not punctuation

# name -> (what it means, shown as a percentage?)
STATS = {
    "entropy": ("entropy of each query's row, in bits (0: one key takes all; log2(tokens): uniform)", False),
    "distance": ("mean attention distance: how many positions away the attended keys are", False),
    "cls": ("share of attention on [CLS] (or <s>)", True),
    "sep": ("share of attention on [SEP] (or </s>)", True),
    "self": ("share of attention on the token itself", True),
    "previous": ("share of attention on the previous token", True),
    "next": ("share of attention on the next token", True),
    "punctuation": ("share of attention on punctuation", True),
}
PATTERNS = ("vertical", "diagonal", "vertical + diagonal", "block", "heterogeneous")
PATTERN_RULE = (
    "Pattern types after Kovaleva et al. (2019), decided by this rule on each head's mean row: "
    "V = share of attention on [CLS], [SEP] and punctuation (the keys that draw vertical stripes); "
    "D = share on the diagonal band (the token itself, the previous and the next one), other keys only. "
    "**vertical** if V ≥ 0.6; else **diagonal** if D ≥ 0.6; else **vertical + diagonal** if V ≥ 0.25, D ≥ 0.25 and "
    "V + D ≥ 0.6; else **block** if the text has two or more sentences and ≥ 0.8 of attention stays inside the "
    "query's own sentence; else **heterogeneous**."
)
FLOW_MAX_TOKENS = 64  # attention flow solves one max-flow problem per (output token, input token): n² of them
_FLOW_SCALE = 1_000_000_000  # capacities are whole numbers for the max-flow solver: weights (≤ 1) in billionths, within int32


@dataclass(frozen=True)
class HeadStats:
    """Per-head numbers of one input: each value of `values` and `pattern` is [layer, head]."""

    values: dict[str, np.ndarray]   # name in STATS -> float32 [layer, head]
    pattern: np.ndarray             # [layer, head] one of PATTERNS
    scores: dict[str, np.ndarray]   # "V", "D", "B" (own-sentence share; nan for one sentence) -> [layer, head]

    @property
    def shape(self) -> tuple[int, int]:
        return self.pattern.shape

    def rows(self) -> list[dict]:
        """One dict per head: layer, head, every statistic and the pattern type (for tables and files)."""
        layers, heads = self.shape
        return [{"layer": layer, "head": head, **{name: float(value[layer, head]) for name, value in self.values.items()},
                 "pattern": str(self.pattern[layer, head])} for layer in range(layers) for head in range(heads)]


def _bare(token: str) -> str:
    return token.lstrip(_PIECE_MARKS) if token.strip(_PIECE_MARKS) else token


def is_punctuation(token: str) -> bool:
    """A token made only of punctuation characters (after any word-piece mark)."""
    text = _bare(token)
    return bool(text) and all(unicodedata.category(ch).startswith("P") for ch in text)


def _mask(tokens: list[str], wanted) -> np.ndarray:
    return np.array([wanted(token) for token in tokens], dtype=bool)


def _segments(tokens: list[str]) -> np.ndarray:
    """Sentence number of each token: a new sentence starts after . ! ? or [SEP] when words follow (so a closing
    [SEP] stays with the last sentence)."""
    ends = _mask(tokens, lambda t: _bare(t) in (".", "!", "?", "。") or t in SEP_TOKENS)
    words = ~_mask(tokens, lambda t: t in CLS_TOKENS or t in SEP_TOKENS or is_punctuation(t))
    words_after = np.cumsum(words[::-1])[::-1] - words               # words strictly after each position
    starts = ends & (words_after > 0)
    return np.concatenate([[0], np.cumsum(starts[:-1])]).astype(int) if len(tokens) else np.zeros(0, int)


def _row_entropy(weights: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(weights > 0, weights * np.log2(weights), 0.0).sum(-1)


def head_stats(weights: np.ndarray, tokens: list[str]) -> HeadStats:
    """Every statistic of STATS and the pattern type for each head: weights [layer, head, query, key] -> [layer, head]."""
    weights = np.asarray(weights, dtype=np.float64)
    n = weights.shape[-1]
    if weights.ndim != 4 or weights.shape[2] != n or len(tokens) != n:
        raise ValueError(f"weights {weights.shape} do not match [layer, head, {len(tokens)}, {len(tokens)}]")
    position = np.arange(n)
    on = lambda keys: weights[..., keys].sum(-1).mean(-1) if keys.any() else np.zeros(weights.shape[:2])  # noqa: E731
    diagonal = np.einsum("lhqq->lhq", weights)
    before = weights[..., position[1:], position[:-1]].mean(-1) if n > 1 else np.zeros(weights.shape[:2])
    after = weights[..., position[:-1], position[1:]].mean(-1) if n > 1 else np.zeros(weights.shape[:2])
    cls, sep = _mask(tokens, CLS_TOKENS.__contains__), _mask(tokens, SEP_TOKENS.__contains__)
    punctuation = _mask(tokens, is_punctuation)
    values = {
        "entropy": _row_entropy(weights).mean(-1),
        "distance": (weights * np.abs(position[:, None] - position[None, :])).sum(-1).mean(-1),
        "cls": on(cls), "sep": on(sep), "self": diagonal.mean(-1), "previous": before, "next": after,
        "punctuation": on(punctuation),
    }
    vertical_keys = cls | sep | punctuation
    band = (np.abs(position[:, None] - position[None, :]) <= 1) & ~vertical_keys[None, :]        # [query, key]
    segment = _segments(tokens)
    v, d = on(vertical_keys), (weights * band).sum(-1).mean(-1)
    own = (weights * (segment[:, None] == segment[None, :])).sum(-1).mean(-1)
    b = own if segment.max(initial=0) >= 1 else np.full(v.shape, np.nan)
    return HeadStats({k: v_.astype(np.float32) for k, v_ in values.items()}, classify(v, d, b),
                     {"V": v.astype(np.float32), "D": d.astype(np.float32), "B": b.astype(np.float32)})


def classify(vertical: np.ndarray, diagonal: np.ndarray, block: np.ndarray) -> np.ndarray:
    """PATTERN_RULE applied to the scores V, D and B (B is nan for a single sentence): [...] -> pattern names."""
    vertical, diagonal, block = (np.asarray(x, dtype=np.float64) for x in (vertical, diagonal, block))
    with np.errstate(invalid="ignore"):
        return np.select(
            [vertical >= 0.6, diagonal >= 0.6, (vertical >= 0.25) & (diagonal >= 0.25) & (vertical + diagonal >= 0.6),
             block >= 0.8],
            list(PATTERNS[:4]), PATTERNS[4]).astype(object)


def result_stats(result: Attention) -> HeadStats:
    """head_stats() of an attend() result."""
    return head_stats(result.weights, result.tokens)


def _with_residual(weights: np.ndarray) -> np.ndarray:
    """Each layer's heads averaged, with the residual connection as identity: 0.5·A + 0.5·I, rows renormalised."""
    mean = np.asarray(weights, dtype=np.float64).mean(1)                                    # [layer, query, key]
    mixed = 0.5 * mean + 0.5 * np.eye(mean.shape[-1])
    return mixed / mixed.sum(-1, keepdims=True)


def rollout(weights: np.ndarray) -> np.ndarray:
    """Attention rollout: how much each input token reaches each position after every layer, multiplying the
    residual-augmented layer averages: [layer, head, query, key] -> [layer, query, input token]; rows sum to 1."""
    layers = _with_residual(weights)
    out = np.empty_like(layers)
    out[0] = layers[0]
    for layer in range(1, len(layers)):
        out[layer] = layers[layer] @ out[layer - 1]
    return out.astype(np.float32)


def flow(weights: np.ndarray, layer: int = -1) -> np.ndarray:
    """Attention flow: the maximum flow from each position after `layer` to each input token through the graph of
    residual-augmented layer averages (edge capacities = weights): [layer, head, q, k] -> [query, input token].

    Capacities are counted in billionths, so each edge is off by at most 5e-10 and a flow by at most 5e-10 times the
    edges of its minimum cut (≤ n² of them: under 2.1e-6 at 64 tokens, in practice ~1e-9; tested against an exact
    floating-point max-flow). Each pair is its own max-flow problem, so texts are limited to FLOW_MAX_TOKENS tokens
    (64 tokens × 6 layers: a few seconds). Rows do not sum to 1."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_flow

    layers = _with_residual(weights)
    n = layers.shape[-1]
    if n > FLOW_MAX_TOKENS:
        raise ValueError(f"Attention flow is computed for texts of up to {FLOW_MAX_TOKENS} tokens; this one has {n}.")
    top = range(len(layers))[layer] + 1                    # node levels 0 (inputs) .. top
    # node (level, token) is level * n + token; an edge runs from a level's position to the level below it
    rows, cols, caps = [], [], []
    for level in range(1, top + 1):
        query, key = np.nonzero(np.ones((n, n)))
        rows.append(level * n + query)
        cols.append((level - 1) * n + key)
        caps.append(np.round(layers[level - 1][query, key] * _FLOW_SCALE))
    size = (top + 1) * n
    graph = csr_matrix((np.concatenate(caps).astype(np.int32), (np.concatenate(rows), np.concatenate(cols))), shape=(size, size))
    out = np.zeros((n, n), dtype=np.float32)
    for query in range(n):
        for key in range(n):
            out[query, key] = maximum_flow(graph, top * n + query, key).flow_value / _FLOW_SCALE
    return out


def similarity_order(weights: np.ndarray, max_queries: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """Jensen–Shannon distance between all heads (mean over queries of the distance between their rows, 0–1) and an
    order that puts alike heads together (average-linkage hierarchical clustering, optimal leaf order):
    [layer, head, query, key] -> ([layer·head, layer·head] distances, [layer·head] order). Head i is layer i // heads.
    Longer texts are compared on `max_queries` evenly spaced query rows (each row whole), which keeps 512 tokens fast."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    layers, heads, n, _ = weights.shape
    queries = np.unique(np.linspace(0, n - 1, min(n, max_queries)).round().astype(int))
    distances = head_distances(np.asarray(weights)[:, :, queries].reshape(layers * heads, len(queries), n))
    np.fill_diagonal(distances, 0.0)
    if layers * heads < 3:
        return distances, np.arange(layers * heads)
    tree = linkage(squareform(distances.astype(np.float64), checks=False), method="average", optimal_ordering=True)
    return distances, leaves_list(tree)


@dataclass(frozen=True)
class Overview:
    """What Head stats shows of one sentence: its statistics, rollout [layer, query, input token], flow [query, input
    token] (None above FLOW_MAX_TOKENS tokens), the heads' distances [layer·head, layer·head] and their clustered order."""

    stats: HeadStats
    rollout: np.ndarray
    flow: np.ndarray | None
    distances: np.ndarray
    order: np.ndarray


def overview(result: Attention) -> Overview:
    """Statistics, rollout, flow (up to FLOW_MAX_TOKENS tokens) and head similarity of one attend() result."""
    distances, order = similarity_order(result.weights)
    flows = flow(result.weights) if result.n_tokens <= FLOW_MAX_TOKENS else None
    return Overview(result_stats(result), rollout(result.weights), flows, distances, order)


def pattern_counts(pattern: np.ndarray) -> dict[str, int]:
    """How many heads ([layer, head] pattern names) have each pattern type, in PATTERNS' order (0 included)."""
    return {name: int((np.asarray(pattern) == name).sum()) for name in PATTERNS}
