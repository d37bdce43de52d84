"""Weights on demand: rows, tiles, overviews, per-head summaries and groupings of one attention map, answered
block by block from either the full weights (short inputs) or a record of queries and keys (long inputs).

Both sources answer one question, `band(layer, head, queries)`: the exact weights of some query rows over the keys
they can see, (first key, float32 [query, key]). Everything else here streams over row blocks, so no
[query, key] array of a whole head is built when the source is a record (CHUNK_ELEMENTS floats at a time).

Names (see docs/long-context.md):
  row(layer, head, query)                      float32 [key]
  tile(layer, head, queries=slice, keys=slice) float32 [query, key]
  overview(layer, head, size, pool)            float32 [≤ size, ≤ size]; "mean": a cell is the block's queries'
                                               average of their weight summed over the block's keys (rows still sum
                                               to 1); "max": the largest single weight in the block (lone spikes stay)
  summary(layer, head, band) -> HeadSummary    entropy, distance, sink, band (means over queries)
  grouped(layer, head, starts, labels)         float32 [group, group]: a query group's average weight summed over each
                                               key group (rows still sum to 1)
"""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from attention.engine import tiles
from attention.engine.record import CHUNK_ELEMENTS, LayerRecord

POOLS = ("mean", "max")
ROWS_PER_BLOCK = 256      # query rows per block of an overview pass (its scores stay in cache)
KNOWN_ROWS_PER_BLOCK = 1024   # ... when the rows' log-sum-exp is known (blocks of 1,024 queries × 256 keys)


class WeightsNotKept(ValueError, AttributeError):
    """A long result keeps queries and keys, not a [layer, head, query, key] array (an AttributeError too, so
    hasattr(result, "weights") is simply False)."""


@dataclass(frozen=True)
class HeadSummary:
    """One head in four numbers, each a mean over its queries (queries that see no key left out).

    entropy  -- nats; 0 = every query looks at one key, log(keys seen) = uniform
    distance -- tokens between a query and the keys it looks at, weighted by the weights
    sink     -- share of attention on the first token (the 'attention sink')
    band     -- share on keys within `band_width` tokens of the query (the diagonal band)
    """

    entropy: float
    distance: float
    sink: float
    band: float
    band_width: int


class DenseWeights:
    """A source over full weights [layer, head, query, key] (what attend() keeps for short inputs)."""

    def __init__(self, weights: np.ndarray) -> None:
        self.weights = weights

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return tuple(self.weights.shape)

    def band(self, layer: int, head: int, queries: slice) -> tuple[int, torch.Tensor]:
        """(0, float32 [query, key]): the rows as they are."""
        return 0, torch.from_numpy(np.array(self.weights[layer, head, queries]))   # a copy: the result's is read-only

    def tile(self, layer: int, head: int, queries: slice, keys: slice) -> np.ndarray:
        return np.array(self.weights[layer, head, queries, keys], dtype=np.float32)

    @property
    def nbytes(self) -> int:
        return 0   # the weights are counted by the result itself


class RecordedWeights:
    """A source over a record (one sequence of a batch): exact weights from queries, keys and each row's
    log-sum-exp, found once per row and kept (float32 [query] per head)."""

    def __init__(self, layers: list[LayerRecord], batch: int = 0) -> None:
        if not layers:
            raise ValueError("The record holds no layers.")
        self.layers, self.batch = layers, batch
        self._lse: dict[tuple[int, int], torch.Tensor] = {}
        self._lock = threading.Lock()

    @property
    def shape(self) -> tuple[int, int, int, int]:
        first = self.layers[0]
        return len(self.layers), first.n_heads, first.queries.shape[2], tiles.n_keys(first)

    @property
    def groups(self) -> int:
        """Query heads per key/value head (grouped-query attention when > 1)."""
        return self.layers[0].groups

    @property
    def nbytes(self) -> int:
        return sum(layer.nbytes for layer in self.layers) + sum(t.numel() * 4 for t in self._lse.values())

    def _known_lse(self, layer: int, head: int) -> torch.Tensor:
        """The head's kept log-sum-exp per row, float32 [query] (NaN where no row has been asked for yet): the run's
        own, when its kernel gave them (LayerRecord.lse), else found row by row and kept here."""
        given = self.layers[layer].lse
        if given is not None:
            return given[self.batch, head]
        with self._lock:
            known = self._lse.get((layer, head))
            if known is None:
                known = self._lse[(layer, head)] = torch.full((self.shape[2],), float("nan"))
            return known

    def log_sum_exp(self, layer: int, head: int, queries: slice) -> torch.Tensor:
        """float32 [query]: each row's log-sum-exp, computed the first time a row is asked for, then kept."""
        known = self._known_lse(layer, head)
        part = known[queries]
        if torch.isnan(part).any():
            part = tiles.log_sum_exp(self.layers[layer], self.batch, head, queries).cpu()
            known[queries] = part
        return part

    def band(self, layer: int, head: int, queries: slice) -> tuple[int, torch.Tensor]:
        """(first key, float32 [query, key]) over the keys these queries can see."""
        record = self.layers[layer]
        first, stop = record.mask.key_bounds(self.batch, queries)
        block = tiles.scores(record, self.batch, head, queries, slice(first, stop))   # every key these rows see
        known = self._known_lse(layer, head)
        lse = known[queries]
        if torch.isnan(lse).any():   # the band holds whole rows, so their log-sum-exp comes from the same scores
            lse = torch.logsumexp(block, dim=-1).cpu()
            known[queries] = lse
        return first, tiles.normalise(block, lse).cpu()

    def lse_known(self, layer: int, head: int) -> bool:
        """True when every row's log-sum-exp of the head is known (given by the run, or found by an earlier pass)."""
        return not bool(torch.isnan(self._known_lse(layer, head)).any())

    def pooled_rows(self, layer: int, head: int, queries: slice, cells: tiles.Cells,
                    pools: tuple[str, ...] = POOLS) -> dict[str, torch.Tensor]:
        """{pool: float32 [query, key cell]}: "mean" the sum, "max" the largest, of these rows' weights over each key
        cell. With the rows' log-sum-exp known, only the asked pools are computed (and "max" needs no exponential);
        otherwise one online-softmax pass gives both and keeps the log-sum-exp it finds."""
        known = self._known_lse(layer, head)[queries]
        if not bool(torch.isnan(known).any()):
            return tiles.pooled_rows_known(self.layers[layer], self.batch, head, queries, cells, known, pools)
        sums, peaks, lse = tiles.pooled_rows(self.layers[layer], self.batch, head, queries, cells)
        self._known_lse(layer, head)[queries] = lse
        return {"mean": sums, "max": peaks}

    def tile(self, layer: int, head: int, queries: slice, keys: slice) -> np.ndarray:
        lse = self.log_sum_exp(layer, head, queries)
        return tiles.weights(self.layers[layer], self.batch, head, queries, keys, lse).cpu().numpy()


Source = DenseWeights | RecordedWeights


def _index(value: object, size: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"The {what} must be a whole number; got {value!r}.")
    if not 0 <= int(value) < size:
        raise ValueError(f"There is no {what} {value}: this result has {size} (0 to {size - 1}).")
    return int(value)


def _span(value: slice | None, size: int, what: str) -> slice:
    """A slice checked to lie inside 0..size (no negative or open-ended surprises)."""
    if value is None:
        return slice(0, size)
    if not isinstance(value, slice) or value.step not in (None, 1):
        raise ValueError(f"{what} must be a slice with no step, e.g. slice(0, 128).")
    start = 0 if value.start is None else value.start
    stop = size if value.stop is None else value.stop
    for end in (start, stop):
        if isinstance(end, bool) or not isinstance(end, (int, np.integer)):
            raise ValueError(f"{what} must have whole-number ends; got {value!r}.")
    if not 0 <= start < stop <= size:
        raise ValueError(f"The tile's {what} {start}:{stop} lie outside the map, which has {size} {what} (0:{size}).")
    return slice(int(start), int(stop))


def _check_head(source: Source, layer: int, head: int) -> tuple[int, int]:
    n_layers, n_heads, _, _ = source.shape
    return _index(layer, n_layers, "layer"), _index(head, n_heads, "head")


def _row_blocks(source: Source, layer: int, head: int) -> Iterator[tuple[slice, int, torch.Tensor]]:
    """(query rows, first key, weights [rows, keys from first]) over the whole head, a bounded block at a time."""
    _, _, n_q, n_k = source.shape
    step = max(1, CHUNK_ELEMENTS // (4 * max(1, n_k)))
    for start in range(0, n_q, step):
        rows = slice(start, min(n_q, start + step))
        first, block = source.band(layer, head, rows)
        yield rows, first, block


def row(source: Source, layer: int, head: int, query: int) -> np.ndarray:
    """float32 [key]: where one query looks."""
    layer, head = _check_head(source, layer, head)
    query = _index(query, source.shape[2], "query")
    return source.tile(layer, head, slice(query, query + 1), slice(0, source.shape[3]))[0]


def tile(source: Source, layer: int, head: int, queries: slice | None = None, keys: slice | None = None) -> np.ndarray:
    """float32 [query, key]: the exact weights of a rectangle of the map."""
    layer, head = _check_head(source, layer, head)
    return source.tile(layer, head, _span(queries, source.shape[2], "queries"), _span(keys, source.shape[3], "keys"))


_OVERVIEWS_KEPT = 16          # overviews kept per source (both pools of a head come from one pass)
_WARMING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="overviews")   # OnDemand.warm: one head at a time
QUIET_S = 1.0                 # warming starts its next head only after this long without a reader's request
_READER = {"last": 0.0}       # when a reader (not the warming thread) last asked for an overview
_WARMER = threading.local()   # .active is True in the warming thread while it computes


def _reading() -> None:
    """Note a reader's request (the warming thread's own are not readers): warming then stands back, so it does not
    take the cores from the answer being computed, sent and drawn."""
    if not getattr(_WARMER, "active", False):
        _READER["last"] = time.monotonic()


def _wait_for_quiet() -> None:
    while time.monotonic() - _READER["last"] < QUIET_S:
        time.sleep(0.05)


_HEAD_LOCKS_LOCK = threading.Lock()
PASS_THREADS = min(2, os.cpu_count() or 1)   # threads sharing the row blocks of an overview pass
_PASS_POOL = ThreadPoolExecutor(max_workers=PASS_THREADS, thread_name_prefix="overview-pass",
                                initializer=torch.set_num_threads, initargs=(1,))   # one intra-op thread each


def _pooled_pass(source: Source, layer: int, head: int, size_q: int, size_k: int,
                 pools: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The asked pools of one head (or both, when one pass gives both anyway), row blocks of whole query cells at a
    time: "mean" is a cell's queries' average of their weight summed over the key cell, "max" the largest single
    weight in it; float32 [size_q, size_k] each. The row blocks (each independent) are shared by PASS_THREADS threads,
    each running torch on one thread: at 32,768 tokens the online pass of a head of 64 dimensions (fp16 record) took
    0.74 s against 1.6 s on one thread, and 0.5 s either way for 16 dimensions (fp32)."""
    _, _, n_q, n_k = source.shape
    q_cells, k_cells = tiles.Cells(n_q, size_q), tiles.Cells(n_k, size_k)
    known = isinstance(source, RecordedWeights) and source.lse_known(layer, head)
    if not known:
        pools = POOLS                                           # the pass that finds the log-sum-exp gives both anyway
    per = max(1, (KNOWN_ROWS_PER_BLOCK if known else ROWS_PER_BLOCK) // q_cells.longest)
    blocks = [(c0, min(size_q, c0 + per)) for c0 in range(0, size_q, per)]

    def pooled_block(block: tuple[int, int]) -> dict[str, torch.Tensor]:
        rows = slice(int(q_cells.starts[block[0]]), int(q_cells.starts[block[1]]))
        if isinstance(source, RecordedWeights):
            return source.pooled_rows(layer, head, rows, k_cells, pools)
        first, values = source.band(layer, head, rows)
        return dict(zip(("mean", "max"), k_cells.pool(values, first, slice(0, k_cells.size))))

    if PASS_THREADS > 1 and len(blocks) > 1:
        pooled_blocks = list(_PASS_POOL.map(pooled_block, blocks))
    else:
        pooled_blocks = [pooled_block(block) for block in blocks]
    found: dict[str, list[torch.Tensor]] = {}
    for (c0, c1), pooled in zip(blocks, pooled_blocks):
        start = int(q_cells.starts[c0])
        if "mean" in pooled:
            part_sum = q_cells.sums(pooled["mean"].T.contiguous(), start, slice(c0, c1))        # [key cell, cell]
            counts = (q_cells.starts[c0 + 1:c1 + 1] - q_cells.starts[c0:c1]).float()
            found.setdefault("mean", []).append((part_sum / counts).T)
        if "max" in pooled:
            found.setdefault("max", []).append(q_cells.peaks(pooled["max"].T.contiguous(), start, slice(c0, c1)).T)
    return {pool: torch.cat(parts).numpy() for pool, parts in found.items()}


def _pooled(source: Source, layer: int, head: int, size_q: int, size_k: int, pool: str) -> np.ndarray:
    """One overview of one head (float32 [size_q, size_k]), kept on the source with the head's other pool when the
    same pass gave it (the last _OVERVIEWS_KEPT heads asked for)."""
    key = (layer, head, size_q, size_k)
    with _HEAD_LOCKS_LOCK:                                      # one pass per head: a second caller waits for the first
        kept = source.__dict__.setdefault("_overviews", {})
        lock = source.__dict__.setdefault("_overview_locks", {}).setdefault(key, threading.Lock())
    with lock:
        pools = kept.pop(key, {})
        kept[key] = pools                                                           # most recently used last
        if pool not in pools:
            pools.update(_pooled_pass(source, layer, head, size_q, size_k, (pool,)))
        while len(kept) > _OVERVIEWS_KEPT:
            kept.pop(next(iter(kept)))
        return pools[pool]


def overview(source: Source, layer: int, head: int, size: int = 1024, pool: str = "mean") -> np.ndarray:
    """float32 [≤ size, ≤ size]: the whole map downsampled (exact when it already fits in size × size). Cell (i, j)
    covers the queries q with q · rows // n = i and the keys k with k · cols // n = j. Overviews are kept, so the same
    head again costs nothing; when the run gave each row's log-sum-exp, a pool costs one pass of its own ("max" the
    cheaper: no exponential over the map), else one pass gives both."""
    layer, head = _check_head(source, layer, head)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"The overview's size must be a whole number of at least 1; got {size!r}.")
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}; got {pool!r}.")
    _, _, n_q, n_k = source.shape
    if n_q <= size and n_k <= size:
        return source.tile(layer, head, slice(0, n_q), slice(0, n_k))
    _reading()
    try:
        return _pooled(source, layer, head, min(size, n_q), min(size, n_k), pool).copy()
    finally:
        _reading()


def summary(source: Source, layer: int, head: int, band_width: int = 1) -> HeadSummary:
    """HeadSummary of one head (entropy, distance, sink, band), computed over its whole map block by block."""
    layer, head = _check_head(source, layer, head)
    if isinstance(band_width, bool) or not isinstance(band_width, (int, np.integer)) or band_width < 0:
        raise ValueError(f"band_width must be a whole number of at least 0; got {band_width!r}.")
    totals = torch.zeros(4, dtype=torch.float64)
    seen = 0
    for rows, first, block in _row_blocks(source, layer, head):
        q = torch.arange(rows.start, rows.stop)[:, None]
        k = torch.arange(first, first + block.shape[1])[None, :]
        distance = (q - k).abs().float()                                   # [rows, keys]
        live = block.sum(-1) > 0                                           # queries that see some key
        entropy = -(block * torch.log(block.clamp_min(1e-30))).sum(-1)
        sink = block[:, 0] if first == 0 else torch.zeros(block.shape[0])
        near = (block * (distance <= band_width)).sum(-1)
        parts = torch.stack([entropy, (block * distance).sum(-1), sink, near])[:, live]
        totals += parts.double().sum(-1)
        seen += int(live.sum())
    means = (totals / max(1, seen)).tolist()
    return HeadSummary(means[0], means[1], means[2], means[3], int(band_width))


def summaries(source: Source, band_width: int = 1) -> dict[str, np.ndarray]:
    """Every head's summary as float32 arrays [layer, head]: {"entropy", "distance", "sink", "band"}."""
    n_layers, n_heads, _, _ = source.shape
    out = {name: np.zeros((n_layers, n_heads), dtype=np.float32) for name in ("entropy", "distance", "sink", "band")}
    for layer in range(n_layers):
        for head in range(n_heads):
            found = summary(source, layer, head, band_width)
            for name in out:
                out[name][layer, head] = getattr(found, name)
    return out


def grouped(source: Source, layer: int, head: int, starts: list[int]) -> np.ndarray:
    """float32 [group, group]: tokens merged into groups that begin at `starts` (sorted, starting at 0); a query
    group's weight on a key group is its queries' average of the weight summed over the key group's tokens."""
    layer, head = _check_head(source, layer, head)
    _, _, n_q, n_k = source.shape
    if n_q != n_k:
        raise ValueError("Grouping needs the same tokens on both axes (a self-attention map).")
    if not starts or starts[0] != 0 or any(b <= a for a, b in zip(starts, starts[1:])) or starts[-1] >= n_k:
        raise ValueError("Group starts must begin at 0, increase, and lie inside the text.")
    group = torch.zeros(n_k, dtype=torch.long)
    group[torch.tensor(starts[1:], dtype=torch.long)] = 1
    group = group.cumsum(0)                                                 # [token] -> its group
    n_groups = len(starts)
    out = torch.zeros(n_groups, n_groups)
    for rows, first, block in _row_blocks(source, layer, head):
        pooled = torch.zeros(block.shape[0], n_groups).index_add_(1, group[first:first + block.shape[1]], block)
        out.index_add_(0, group[rows], pooled)
    out /= torch.bincount(group, minlength=n_groups).float()[:, None]
    return out.numpy()


def fixed_blocks(n_tokens: int, block: int) -> list[int]:
    """Starts of fixed blocks of `block` tokens."""
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
        raise ValueError(f"The block size must be a whole number of at least 1; got {block!r}.")
    return list(range(0, n_tokens, int(block)))


_SENTENCE_END = (".", "!", "?", "。", "！", "？")


def sentence_starts(tokens: list[str]) -> list[int]:
    """Starts of sentences: a token after one that ends with . ! ? or holds a line break begins a new one."""
    starts = [0]
    for position, token in enumerate(tokens[:-1]):
        text = token.replace("Ġ", " ").replace("▁", " ").replace("Ċ", "\n").replace("##", "")
        if text.strip().endswith(_SENTENCE_END) or "\n" in text:
            starts.append(position + 1)
    return starts


def word_starts(tokens: list[str], word_ids: list[int | None] | None) -> list[int]:
    """Starts of words: from the tokenizer's word ids (a special token is a word of its own)."""
    if word_ids is None:
        raise ValueError("This model's tokenizer does not say where words begin, so pieces cannot be merged into "
                         "words; group by sentence or by block instead.")
    starts = [0]
    for position in range(1, len(tokens)):
        if word_ids[position] is None or word_ids[position] != word_ids[position - 1]:
            starts.append(position)
    return starts


def full_weights_bytes(n_layers: int, n_heads: int, n_queries: int, n_keys: int) -> int:
    """Bytes a float32 [layer, head, query, key] array would take."""
    return 4 * n_layers * n_heads * n_queries * n_keys


def head_bytes(n_queries: int, n_keys: int) -> int:
    """Bytes of one head's full map in float32."""
    return 4 * n_queries * n_keys



@dataclass(frozen=True)
class Grouped:
    """One head with its tokens merged into groups: labels [group], starts [group] (first token of each),
    weights float32 [query group, key group], rows summing to 1."""

    labels: list[str]
    starts: list[int]
    weights: np.ndarray
    level: str


def _label(tokens: list[str], limit: int = 40) -> str:
    """A group's text from its tokens: byte-level BPE and SentencePiece mark a word's start (Ġ, ▁), WordPiece a
    word's continuation (##)."""
    marked = any(t[:1] in ("Ġ", "▁") for t in tokens)
    parts = []
    for token in tokens:
        if token.startswith("##"):
            parts.append(token[2:])
        elif marked:
            parts.append(token.replace("Ġ", " ").replace("▁", " ").replace("Ċ", " "))
        else:
            parts.append(" " + token)
    text = "".join(parts).strip()
    return text if len(text) <= limit else text[:limit - 1] + "…"


class OnDemand:
    """The accessors every Attention result answers, short or long (the class that holds `tokens`, `weights` or
    `record`, and `word_ids` mixes this in)."""

    tokens: list[str]
    word_ids: list[int | None] | None
    record: RecordedWeights | None

    @property
    def weights_source(self) -> Source:
        """Where the weights come from: the full array (short inputs) or the record (long inputs)."""
        return self.record if self.record is not None else DenseWeights(self.weights)

    @property
    def has_weights(self) -> bool:
        """True when the full [layer, head, query, key] array is kept (short inputs)."""
        return self.record is None

    @property
    def n_layers(self) -> int:
        return self.weights_source.shape[0]

    @property
    def n_heads(self) -> int:
        return self.weights_source.shape[1]

    def row(self, layer: int, head: int, query: int) -> np.ndarray:
        """float32 [key]: where one query looks (exact)."""
        return row(self.weights_source, layer, head, query)

    def tile(self, layer: int, head: int, queries: slice | None = None, keys: slice | None = None) -> np.ndarray:
        """float32 [query, key]: an exact rectangle of one head's map, e.g. tile(0, 3, slice(0, 128), slice(0, 128))."""
        return tile(self.weights_source, layer, head, queries, keys)

    def overview(self, layer: int, head: int, size: int = 1024, pool: str = "mean") -> np.ndarray:
        """float32 [≤ size, ≤ size]: one head's whole map downsampled; pool "mean" keeps row sums, "max" lone spikes."""
        return overview(self.weights_source, layer, head, size, pool)

    def warm(self, layer: int, heads: list[int], size: int = 1024) -> Future:
        """Compute (and keep) the overviews of `heads` of `layer` in a background thread, one head at a time, so that
        opening one later costs nothing; a long result only (a short one keeps every weight). Each head starts only
        once no reader has asked for an overview for QUIET_S seconds. The Future gives the heads done."""
        record = self.record

        def work() -> list[int]:
            if record is None:
                return []
            _WARMER.active = True
            try:
                for head in heads:
                    _wait_for_quiet()                          # a reader's request first (QUIET_S)
                    overview(record, layer, head, size, "max")
            finally:
                _WARMER.active = False
            return list(heads)
        return _WARMING.submit(work)

    def summary(self, layer: int, head: int, band_width: int = 1) -> HeadSummary:
        """One head's entropy, distance, sink and band shares (means over queries)."""
        return summary(self.weights_source, layer, head, band_width)

    def summaries(self, band_width: int = 1) -> dict[str, np.ndarray]:
        """Every head's summary: {"entropy", "distance", "sink", "band"} -> float32 [layer, head]."""
        return summaries(self.weights_source, band_width)

    def grouped(self, layer: int, head: int, by: str = "sentence", size: int = 256) -> Grouped:
        """One head over words, sentences or fixed blocks of `size` tokens (by="word"|"sentence"|"block")."""
        if by == "word":
            starts = word_starts(self.tokens, self.word_ids)
        elif by == "sentence":
            starts = sentence_starts(self.tokens)
        elif by == "block":
            starts = fixed_blocks(len(self.tokens), size)
        else:
            raise ValueError(f"by must be 'word', 'sentence' or 'block'; got {by!r}.")
        if len(starts) > 8192:
            raise ValueError(f"{len(starts):,} {by}s are too many to show as one map; group by sentence or block.")
        ends = [*starts[1:], len(self.tokens)]
        labels = [_label(self.tokens[a:b]) for a, b in zip(starts, ends)]
        return Grouped(labels, starts, grouped(self.weights_source, layer, head, starts), by)
