"""Efficient attention: sparse patterns that compute only the query/key pairs they allow.

Full attention scores every query against every key: n² pairs, so time and memory grow with the
square of the length. The patterns here keep a fixed number of keys per query instead:

    sliding     query i looks at keys j with |i − j| ≤ window (a band around the diagonal)
    dilated     the same band, keeping only every `dilation`-th key in it: the same reach (window) as sliding with about
                1/dilation of its keys. Longformer's dilated window instead keeps `window` keys and reaches dilation ·
                window (Beltagy et al., 2020); this code scores the whole band and masks the dropped keys, so it is
                not faster than sliding
    longformer  the band plus a few global positions that look at everything and that everything looks at
    bigbird     the band, the global positions, and `random_blocks` random key blocks per block of queries
    probsparse  Informer (Zhou et al., 2021): only the u queries whose scores stand out most attend; the rest take the
                mean value (uniform weights). Informer's sparsity measure is M(q, K) = log-sum-exp − mean of a query's
                scores; this code uses the approximation the paper proposes and runs, max − mean

The band is computed block by block: queries in blocks of b, each against the b + 2·window keys
around it (a strided view, no copy), so cost is about n · (b + 2·window), linear in n. ProbSparse
ranks queries on a sample of ~5·ln n keys each and attends fully for u = ⌈5·ln n⌉ queries: about n log n
pairs. At short lengths that is nearly every query: n = 20 keeps u = 15 of 20, and up to n = 12 (where
5·ln n ≥ n) every query and every key. At n = 282 it keeps 29 of 282 queries, yet the other queries' weights
are uniform, not 0, so every pair still has a weight. Its extra steps (sampling, ranking, gathering) make it
slower than full attention at short lengths (the Time series page measures both).
Weights outside a pattern are exactly 0 and every row sums to 1. Works on any query/key/value
tensors [batch, head, seq, d_head] (text tokens, time steps, patches), not only on text.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from attention.engine.maths import attention_weights, causal_mask

PATTERNS = ("full", "causal", "sliding", "dilated", "longformer", "bigbird", "probsparse")
PATTERN_OPTIONS = {  # which options each pattern reads
    "full": (), "causal": (), "sliding": ("window",), "dilated": ("window", "dilation"),
    "longformer": ("window", "global_tokens"), "bigbird": ("window", "global_tokens", "block", "random_blocks", "seed"),
    "probsparse": ("u", "seed"),
}
OPTION_NAMES = ("window", "dilation", "global_tokens", "block", "random_blocks", "seed", "u")
SAMPLE_FACTOR = 5  # Informer's c: u = ⌈c·ln n⌉ queries kept by default, ⌈c·ln n⌉ keys sampled per query for the measure


@dataclass(frozen=True)
class Pattern:
    """Which query/key pairs attention may score; call it on query, key, value [batch, head, seq, d_head]."""

    name: str = "full"
    window: int = 4
    dilation: int = 2
    global_tokens: tuple[int, ...] = (0,)
    block: int = 4
    random_blocks: int = 1
    seed: int = 0
    u: int | None = None            # probsparse: active queries (default ⌈5·ln n⌉, at most n)
    causal: bool = False            # also hide keys after each query (decoders, or causal=True)
    keep_weights: bool = True       # False: do not build the dense [query, key] weights (benchmarks at long lengths)

    @property
    def local(self) -> bool:
        return self.name in ("sliding", "dilated", "longformer", "bigbird")

    def globals_for(self, n: int) -> list[int]:
        """Global positions as 0-based indices (negative ones count from the end); ValueError when outside the text."""
        if self.name not in ("longformer", "bigbird"):
            return []
        found = []
        for position in self.global_tokens:
            if not -n <= position < n:
                raise ValueError(f"Global token {position} is outside the text's {n} tokens (positions 0–{n - 1}, or -1 for the last).")
            found.append(position % n)
        return sorted(set(found))

    def active_queries(self, n: int) -> int:
        """ProbSparse's u for n tokens."""
        return min(n, self.u if self.u is not None else math.ceil(SAMPLE_FACTOR * math.log(max(n, 2))))

    def mask(self, n: int) -> torch.Tensor:
        """The static pattern as a boolean [query, key] matrix, True where a query may look (for display and tests;
        ProbSparse's choice of queries depends on the data, so its mask is every pair, causal if causal)."""
        query, key = torch.arange(n)[:, None], torch.arange(n)[None, :]
        allowed = torch.ones(n, n, dtype=torch.bool)
        if self.local:
            allowed = (query - key).abs() <= self.window
            if self.name == "dilated":
                allowed &= (query - key) % self.dilation == 0
            if self.name == "bigbird":
                picks = _random_blocks(self, math.ceil(n / self.block), math.ceil(n / self.block))
                for query_block, key_blocks in enumerate(picks):
                    for key_block in key_blocks:
                        allowed[query_block * self.block:(query_block + 1) * self.block, key_block * self.block:(key_block + 1) * self.block] = True
            for position in self.globals_for(n):
                allowed[position, :] = allowed[:, position] = True
        if self.causal or self.name == "causal":
            allowed &= causal_mask(n)[0, 0]
        return allowed

    def __call__(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """-> heads [batch, head, query, d_head] and weights [batch, head, query, key] (None unless keep_weights)."""
        if self.local:
            return _blocked(self, query, key, value)
        if self.name == "probsparse":
            return _probsparse(self, query, key, value)
        mask = causal_mask(query.shape[2]) if self.causal or self.name == "causal" else None
        weights = attention_weights(query, key, mask)       # full and causal: the dense n × n computation of maths.py
        return weights @ value, weights if self.keep_weights else None


def _whole(name: str, value: Any, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be a whole number of at least {low} (got {str(value)[:30]}).")
    return value


def make_pattern(name: str = "full", causal: bool = False, **options: Any) -> Pattern:
    """A checked Pattern from user options; ValueError (written for the user) on unknown names or bad values."""
    if name not in PATTERNS:
        raise ValueError(f"Unknown attention pattern '{str(name)[:40]}'; choose one of {', '.join(PATTERNS)}.")
    unknown = set(options) - set(OPTION_NAMES)
    if unknown:
        raise ValueError(f"Unknown pattern option(s) {sorted(unknown)}; patterns take {', '.join(OPTION_NAMES)}.")
    unused = set(options) - set(PATTERN_OPTIONS[name])
    if unused:
        takes = ", ".join(PATTERN_OPTIONS[name]) or "no options"
        raise ValueError(f"The '{name}' pattern does not use {', '.join(sorted(unused))}; it takes {takes}.")
    checked: dict[str, Any] = {}
    for option, low in (("window", 1), ("dilation", 1), ("block", 1), ("random_blocks", 0), ("seed", 0), ("u", 1)):
        if option in options:
            checked[option] = _whole(option, options[option], low)
    if "global_tokens" in options:
        tokens = options["global_tokens"]
        tokens = [tokens] if isinstance(tokens, int) else tokens
        if not isinstance(tokens, (list, tuple)) or not all(isinstance(t, int) and not isinstance(t, bool) for t in tokens):
            raise ValueError("global_tokens must be a list of token positions, e.g. [0] for the first token.")
        checked["global_tokens"] = tuple(tokens)
    return Pattern(name=name, causal=bool(causal), **checked)


def _random_blocks(pattern: Pattern, n_query_blocks: int, n_key_blocks: int) -> list[list[int]]:
    """BigBird's random key blocks: for each query block, `random_blocks` distinct key blocks (seeded)."""
    rng = random.Random(pattern.seed)
    count = min(pattern.random_blocks, n_key_blocks)
    return [rng.sample(range(n_key_blocks), count) for _ in range(n_query_blocks)]


def _blocked(p: Pattern, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Band (+ global + random blocks) attention, one block of queries at a time against the keys near it."""
    batch, heads, n, d_head = query.shape
    w = p.window
    size = p.block if p.name == "bigbird" else min(max(w, 16), 256)    # queries per block
    blocks = math.ceil(n / size)
    pad = blocks * size - n
    span = size + 2 * w                                                  # keys a query block can reach in its band
    glob = torch.tensor(p.globals_for(n), dtype=torch.long)
    query_pos = torch.arange(blocks * size).view(blocks, size)           # [block, query]
    queries = F.pad(query, (0, 0, 0, pad)).view(batch, heads, blocks, size, d_head)

    def near(x: torch.Tensor) -> torch.Tensor:   # [batch, head, seq, d] -> [batch, head, block, span, d]: a view, no copy
        return F.pad(x, (0, 0, w, pad + w)).unfold(2, span, size).transpose(-1, -2)

    band_pos = query_pos[:, :1] - w + torch.arange(span)                 # [block, span]: key position of each band slot
    offset = query_pos[:, :, None] - band_pos[:, None, :]                # [block, query, span]: query − key
    band_ok = (offset.abs() <= w) & (band_pos[:, None, :] >= 0) & (band_pos[:, None, :] < n)
    if p.name == "dilated":
        band_ok &= offset % p.dilation == 0
    parts = [(band_pos[:, None, :].expand(-1, size, -1), band_ok, near(key), near(value))]   # (key positions, allowed, keys, values)
    if len(glob):   # every query also looks at the global keys (taken out of the band, so none is counted twice)
        parts[0] = (parts[0][0], band_ok & ~torch.isin(band_pos, glob)[:, None, :], *parts[0][2:])
        glob_pos = glob[None, None, :].expand(blocks, size, -1)
        parts.append((glob_pos, torch.ones_like(glob_pos, dtype=torch.bool), key[:, :, glob, None].transpose(2, 3), value[:, :, glob, None].transpose(2, 3)))
    if p.name == "bigbird" and p.random_blocks:
        picks = torch.tensor(_random_blocks(p, blocks, blocks))          # [block, random]
        rand_pos = (picks[:, :, None] * size + torch.arange(size)).view(blocks, -1)   # [block, random·size]
        padded_keys = F.pad(key, (0, 0, 0, pad)).view(batch, heads, blocks, size, d_head)
        padded_values = F.pad(value, (0, 0, 0, pad)).view(batch, heads, blocks, size, d_head)
        rand_off = query_pos[:, :, None] - rand_pos[:, None, :]
        rand_ok = (rand_pos[:, None, :] < n) & (rand_off.abs() > w) & ~torch.isin(rand_pos, glob)[:, None, :]   # not already in band/global
        parts.append((rand_pos[:, None, :].expand(-1, size, -1), rand_ok,
                      padded_keys[:, :, picks].flatten(3, 4), padded_values[:, :, picks].flatten(3, 4)))
    positions = torch.cat([pos for pos, *_ in parts], dim=-1)           # [block, query, slot]
    allowed = torch.cat([ok for _, ok, *_ in parts], dim=-1)
    if p.causal:
        allowed &= positions <= query_pos[:, :, None]
    allowed |= (query_pos >= n)[:, :, None]                              # padding rows: anything, they are cut off below
    scores = torch.cat([queries @ keys.transpose(-1, -2) for _, _, keys, _ in parts], dim=-1) * d_head**-0.5  # [b, h, block, query, slot]
    weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
    widths = [pos.shape[-1] for pos, *_ in parts]
    out = sum(part @ values for part, (*_, values) in zip(weights.split(widths, dim=-1), parts))
    out = out.reshape(batch, heads, blocks * size, d_head)[:, :, :n]     # [batch, head, query, d_head]
    dense = None
    if p.keep_weights:   # for display: scatter the slots into [query, key]; disallowed slots hold exactly 0
        index = torch.where(allowed & (positions >= 0) & (positions < n), positions, n).reshape(blocks * size, -1)
        dense = query.new_zeros(batch, heads, blocks * size, n + 1)
        dense.scatter_add_(-1, index.expand(batch, heads, -1, -1), weights.reshape(batch, heads, blocks * size, -1))
        dense = dense[:, :, :n, :n]
    if len(glob):   # global queries look at every key (earlier ones only, when causal)
        mask = causal_mask(n)[:, :, glob] if p.causal else None
        rows = attention_weights(query[:, :, glob], key, mask)           # [batch, head, global, key]
        out = out.clone()
        out[:, :, glob] = rows @ value
        if dense is not None:
            dense[:, :, glob] = rows
    return out, dense


def _probsparse(p: Pattern, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Informer's ProbSparse self-attention: the u queries whose sampled scores have the largest max − mean (the
    approximation of M(q, K) = log-sum-exp − mean) attend to every key; each other query takes the mean value."""
    batch, heads, n, d_head = query.shape
    u = p.active_queries(n)
    sample = min(n, math.ceil(SAMPLE_FACTOR * math.log(max(n, 2))))    # keys per query for the measure: ~5·ln n
    if sample >= n:
        sampled = query @ key.transpose(-1, -2)                          # short inputs: the exact measure over every key
    else:
        generator = torch.Generator().manual_seed(p.seed)
        picks = torch.randint(n, (n, sample), generator=generator)      # [query, sample]: random keys for each query
        sampled = torch.einsum("bhqd,bhqsd->bhqs", query, key[:, :, picks])   # [batch, head, query, sample]
    measure = sampled.amax(-1) - sampled.mean(-1)                        # max − mean ≈ M(q, K): a peaked query scores far above its mean
    top = measure.topk(u, dim=-1).indices                                # [batch, head, u]
    chosen = query.gather(2, top[..., None].expand(-1, -1, -1, d_head))  # [batch, head, u, d_head]
    mask = torch.arange(n) <= top[..., None] if p.causal else None    # [batch, head, u, key]: earlier keys only
    rows = attention_weights(chosen, key, mask)                          # [batch, head, u, key]: full attention for the u
    if p.causal:   # a lazy query takes the mean of the values it may see: itself and earlier
        counts = torch.arange(1, n + 1, dtype=value.dtype)[:, None]
        out = value.cumsum(2) / counts
    else:
        out = value.mean(2, keepdim=True).expand(-1, -1, n, -1)
    out = out.clone()
    out.scatter_(2, top[..., None].expand(-1, -1, -1, d_head), rows @ value)
    dense = None
    if p.keep_weights:
        uniform = causal_mask(n)[0, 0] / torch.arange(1, n + 1)[:, None] if p.causal else torch.full((n, n), 1.0 / n)
        dense = uniform.to(query.dtype).expand(batch, heads, n, n).clone()
        dense.scatter_(2, top[..., None].expand(-1, -1, -1, n), rows)
    return out, dense


def with_causal(pattern: Pattern | None, causal: bool) -> Pattern | None:
    """The same pattern, also causal when `causal` (decoders and causal=True)."""
    return replace(pattern, causal=True) if pattern is not None and causal and not pattern.causal else pattern


ATTEND_OPTIONS = ("pattern", *OPTION_NAMES)  # the attend() options that choose a pattern


def from_options(options: dict[str, Any]) -> Pattern | None:
    """The Pattern that attend() options name (pattern=…, window=…, …), checked; None when they name none."""
    chosen = {name: options[name] for name in OPTION_NAMES if name in options}
    if "pattern" not in options and not chosen:
        return None
    return make_pattern(options.get("pattern", "full"), causal=bool(options.get("causal")), **chosen)
