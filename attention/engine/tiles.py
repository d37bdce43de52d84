"""Exact attention weights from a record, one block at a time: scores, each row's log-sum-exp, tiles.

For one head, a query's weights are softmax over its visible keys of

    score(query, key) = softcap · tanh(query · key × scaling / softcap)   (or query · key × scaling without softcap)
                        + the model's own float bias, if any

so with each row's log-sum-exp L(query) = log Σ_key exp(score), any block of the map is exp(score − L): computed
from the recorded queries and keys alone, with L found once per row. Every function here works on a block whose
size the caller chooses (CHUNK_ELEMENTS floats at a time), so no [query, key] buffer of the whole input exists.
Rows whose query sees no key (padding) have L = −inf and weights 0.
"""
from __future__ import annotations

from typing import Iterator

import torch

from attention.engine.record import CHUNK_ELEMENTS, LayerRecord


def scores(layer: LayerRecord, batch: int, head: int, queries: slice, keys: slice) -> torch.Tensor:
    """float32 [query, key] scores of one head over a block, −inf where the mask hides a key."""
    q = layer.queries[batch, head, queries].float()                          # [query, d_head]
    k = layer.keys[batch, head // layer.groups, keys].float()                # [key, d_head]
    s = (q @ k.T).mul_(layer.scaling)                                        # [query, key] (in place: no second copy)
    if layer.softcap is not None:
        s = s.div_(layer.softcap).tanh_().mul_(layer.softcap)
    if layer.bias is not None:
        bias = layer.bias[batch if layer.bias.shape[0] > 1 else 0]
        s = s + bias[head if bias.shape[0] > 1 else 0, queries, keys].float()
    visible = layer.mask.allowed(batch, queries, keys)
    if visible is not None:
        s = s.masked_fill_(~visible.to(s.device), float("-inf"))
    return s


def _key_step(n_rows: int) -> int:
    return max(256, CHUNK_ELEMENTS // max(1, n_rows))


def log_sum_exp(layer: LayerRecord, batch: int, head: int, queries: slice) -> torch.Tensor:
    """float32 [query]: log Σ_key exp(score) over each row's visible keys (−inf where a query sees none)."""
    first, stop = layer.mask.key_bounds(batch, queries)
    total = torch.full((queries.stop - queries.start,), float("-inf"), device=layer.queries.device)
    step = _key_step(queries.stop - queries.start)
    for start in range(first, stop, step):
        block = scores(layer, batch, head, queries, slice(start, min(stop, start + step)))
        total = torch.logaddexp(total, torch.logsumexp(block, dim=-1))      # running over key blocks
    return total


def weights(layer: LayerRecord, batch: int, head: int, queries: slice, keys: slice,
            lse: torch.Tensor) -> torch.Tensor:
    """float32 [query, key]: the exact softmax weights of a block, given its rows' log-sum-exp [query]."""
    return normalise(scores(layer, batch, head, queries, keys), lse)


def normalise(block_scores: torch.Tensor, lse: torch.Tensor) -> torch.Tensor:
    """exp(score − log-sum-exp) in place over a block of scores [query, key]; rows that see no key are 0."""
    lse = lse.to(block_scores.device)
    out = block_scores.sub_(lse[:, None]).exp_()
    return out.masked_fill_(~torch.isfinite(lse)[:, None], 0.0)


def n_keys(layer: LayerRecord) -> int:
    """Keys of the layer (= the map's width)."""
    return layer.keys.shape[2]


def dense(layers: list[LayerRecord], batch: int = 0) -> torch.Tensor:
    """float32 [layer, head, query, key]: every weight of one sequence (only for inputs whose full map fits)."""
    out = []
    for layer in layers:
        n_q, n_k = layer.queries.shape[2], n_keys(layer)
        heads = [weights(layer, batch, head, slice(0, n_q), slice(0, n_k), log_sum_exp(layer, batch, head, slice(0, n_q)))
                 for head in range(layer.n_heads)]
        out.append(torch.stack(heads).cpu())
    return torch.stack(out)


class Cells:
    """n positions split into `size` near-equal cells, cell(position) = position · size // n (what the overview and the
    zoomable view both use): starts [cell], and a gather index [cell, longest] that lists each cell's positions,
    its last position repeated where the cell is shorter (`repeats` [cell] times), so cells pool with one reshape."""

    def __init__(self, n: int, size: int) -> None:
        self.n, self.size = n, size
        self.starts = (torch.arange(size + 1) * n + size - 1) // size               # first position of each cell, and n
        lengths = self.starts[1:] - self.starts[:-1]
        self.longest = int(lengths.max())
        offsets = torch.arange(self.longest)[None, :]
        self.index = torch.minimum(self.starts[:-1, None] + offsets, self.starts[1:, None] - 1)   # [cell, longest]
        self.repeats = (self.longest - lengths).float()                              # [cell]

    def of(self, positions: torch.Tensor) -> torch.Tensor:
        """The cell of each position: int64 [...]."""
        return positions * self.size // self.n

    def _gathered(self, values: torch.Tensor, first: int, cells: slice, axis: int = 1) -> torch.Tensor:
        """values with positions (from `first`) along `axis` — 1: [row, position], 0: [position, row] — gathered per
        cell: [row, cell, longest] or [cell, longest, row] over `cells` (each cell's last position repeated where it
        is shorter; along axis 0 a gather of whole memory rows)."""
        index = (self.index[cells] - first).reshape(-1)                             # [cell × longest]
        picked = values.index_select(axis, index)
        if axis == 1:
            return picked.view(values.shape[0], -1, self.longest)
        return picked.view(-1, self.longest, values.shape[1])

    def _summed(self, gathered: torch.Tensor, cells: slice, axis: int) -> torch.Tensor:
        """Each cell's sum from _gathered's output, less its repeated last position."""
        along = 2 if axis == 1 else 1
        repeats = self.repeats[cells].to(gathered.device)
        return gathered.sum(along).sub_(gathered.select(along, -1) * (repeats if axis == 1 else repeats[:, None]))

    def pool(self, values: torch.Tensor, first: int, cells: slice) -> tuple[torch.Tensor, torch.Tensor]:
        """(sum, max) over each of `cells` of values [row, position from `first`] that cover those cells whole:
        float32 [row, cell] each (one gather for both)."""
        gathered = self._gathered(values, first, cells)
        return self._summed(gathered, cells, 1), gathered.amax(-1)

    def sums(self, values: torch.Tensor, first: int, cells: slice, axis: int = 1) -> torch.Tensor:
        """The sum half of pool(); with axis=0, of values [position from `first`, row] -> [cell, row]."""
        return self._summed(self._gathered(values, first, cells, axis), cells, axis)

    def peaks(self, values: torch.Tensor, first: int, cells: slice, axis: int = 1) -> torch.Tensor:
        """The max half of pool(); with axis=0, of values [position from `first`, row] -> [cell, row]."""
        return self._gathered(values, first, cells, axis).amax(2 if axis == 1 else 1)


def _key_blocks(layer: LayerRecord, batch: int, queries: slice, cells: Cells,
                key_step: int) -> Iterator[tuple[int, int, int, int]]:
    """(first cell, stop cell, first key, stop key) of each block of whole key cells (about `key_step` keys) that
    these queries can see."""
    first, stop = layer.mask.key_bounds(batch, queries)
    if stop <= first:
        return
    c_first, c_stop = int(cells.of(torch.tensor(first))), int(cells.of(torch.tensor(stop - 1))) + 1
    per = max(1, key_step // cells.longest)                                          # cells per key block
    for c0 in range(c_first, c_stop, per):
        c1 = min(c_stop, c0 + per)
        yield c0, c1, int(cells.starts[c0]), int(cells.starts[c1])


def pooled_rows(layer: LayerRecord, batch: int, head: int, queries: slice, cells: Cells,
                key_step: int = 2048) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One pass over the keys these queries can see, a small block at a time (scores, exp and pooling stay in cache):
    (sum, max) of each row's exact weights over every key cell, float32 [query, cell] each, and each row's
    log-sum-exp float32 [query]. Softmax runs online: each block is exp(score − the row's largest score so far), and
    what was pooled before is rescaled when that largest score grows."""
    rows = queries.stop - queries.start
    sums = torch.zeros(rows, cells.size)
    peaks = torch.zeros(rows, cells.size)
    top = torch.full((rows,), float("-inf"))
    for c0, c1, k0, k1 in _key_blocks(layer, batch, queries, cells, key_step):
        block = scores(layer, batch, head, queries, slice(k0, k1)).cpu()            # [query, key]
        grown = torch.maximum(top, block.amax(-1))
        safe = torch.where(torch.isfinite(grown), grown, torch.zeros_like(grown))
        shrink = torch.exp(torch.where(torch.isfinite(top), top - safe, torch.full_like(top, float("-inf"))))
        sums.mul_(shrink[:, None])
        peaks.mul_(shrink[:, None])
        top = grown
        part_sum, part_max = cells.pool(block.sub_(safe[:, None]).exp_(), k0, slice(c0, c1))
        sums[:, c0:c1] += part_sum
        peaks[:, c0:c1] = torch.maximum(peaks[:, c0:c1], part_max)
    total = sums.sum(-1)                                                             # Σ exp(score − top) per row
    seen = total > 0
    scale = torch.where(seen, 1.0 / total.clamp_min(1e-38), torch.zeros_like(total))
    lse = torch.where(seen, top + torch.log(total.clamp_min(1e-38)), torch.full_like(total, float("-inf")))
    return sums.mul_(scale[:, None]), peaks.mul_(scale[:, None]), lse


def scores_by_key(layer: LayerRecord, batch: int, head: int, queries: slice, keys: slice) -> torch.Tensor:
    """scores() transposed, computed as such: float32 [key, query]. Keys run along the slow axis, so a cell of keys is
    a run of whole rows of memory and pools with a fast row gather (pooled_rows_known)."""
    q = layer.queries[batch, head, queries].float()                          # [query, d_head]
    k = layer.keys[batch, head // layer.groups, keys].float()                # [key, d_head]
    s = (k @ q.T).mul_(layer.scaling)                                        # [key, query]
    if layer.softcap is not None:
        s = s.div_(layer.softcap).tanh_().mul_(layer.softcap)
    if layer.bias is not None:
        bias = layer.bias[batch if layer.bias.shape[0] > 1 else 0]
        s = s + bias[head if bias.shape[0] > 1 else 0, queries, keys].float().T
    visible = layer.mask.allowed(batch, queries, keys)
    if visible is not None:
        s = s.masked_fill_(~visible.to(s.device).T, float("-inf"))
    return s


def pooled_rows_known(layer: LayerRecord, batch: int, head: int, queries: slice, cells: Cells, lse: torch.Tensor,
                      pools: tuple[str, ...] = ("mean", "max"), key_step: int = 256) -> dict[str, torch.Tensor]:
    """pooled_rows for rows whose log-sum-exp [query] is already known (the run's kernel gave it): each asked pool
    float32 [query, cell], in one pass with no online softmax. "max" needs no exponential over the block at all (the
    largest weight of a cell is exp(its largest score − the row's log-sum-exp)); "mean" (sent as the row sums) does.
    Blocks are [key, query] (scores_by_key) of about `key_step` keys: small enough to stay in cache."""
    rows = queries.stop - queries.start
    lse = lse.to(layer.queries.device)
    sums = torch.zeros(cells.size, rows) if "mean" in pools else None
    tops = torch.full((cells.size, rows), float("-inf")) if "max" in pools else None
    for c0, c1, k0, k1 in _key_blocks(layer, batch, queries, cells, key_step):
        block = scores_by_key(layer, batch, head, queries, slice(k0, k1))            # [key, query]
        if tops is not None:
            tops[c0:c1] = cells.peaks(block, k0, slice(c0, c1), axis=0).cpu()
        if sums is not None:
            sums[c0:c1] = cells.sums(block.sub_(lse[None, :]).exp_(), k0, slice(c0, c1), axis=0).cpu()
    out = {}
    seen = torch.isfinite(lse.cpu())[None, :]
    if sums is not None:
        out["mean"] = sums.masked_fill_(~seen, 0.0).T
    if tops is not None:
        out["max"] = tops.sub_(lse.cpu()[None, :]).exp_().masked_fill_(~seen, 0.0).T
    return out
