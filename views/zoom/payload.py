"""What the zoomable view receives (no Streamlit here: the app's component and tests use it alike).

A long head is a map the browser cannot hold (32,768² weights are 4 GB), so it travels like a map server's:
  overview   the whole head downsampled to ≤ 1024 × 1024 cells (Attention.overview; "max" or "mean" pooling, named on
             the view), as 8-bit levels of the square root of weight / the overview's largest, deflated
  window     the part on screen: exact weights (cell = one weight) when it spans ≤ EXACT_SPAN tokens a side, else the
             window's weights pooled `factor` × `factor` the same way; float16, so a hovered cell reads the weight
  row        one query over every key (float16) and its strongest keys with the text around them
  grouped    the head over sentences or fixed blocks (Attention.grouped: rows still sum to 1), for very long inputs
Tokens are JSON strings, written by the browser with textContent / fillText only.
"""
from __future__ import annotations

import base64
import zlib
from typing import Any

import numpy as np
import torch

from attention import Attention
from views.payloads import view_id

OVERVIEW_SIZE = 1024    # cells a side of the overview
EXACT_SPAN = 256        # a window this many tokens a side (or fewer) is sent exact: one cell per weight
WINDOW_CELLS = 256      # a wider window is pooled to at most this many cells a side
POOLED_SPAN = 1024       # wider than this, the view draws the overview (a window would cost more than a zoom step may)
PEAKS = 6               # strongest keys listed for a row, with CONTEXT tokens either side
CONTEXT = 8
RECORD_BYTES = 8_000_000  # one head's queries and keys go to the browser up to this many bytes (then it computes tiles)
SATURATE = 0.995        # the overview's colour reaches its darkest at this quantile of its non-zero cells


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def kv_groups(result: Attention) -> int:
    """Query heads per key/value head (1 without grouped-query attention), from the record or the model's meta."""
    record = getattr(result, "record", None)
    if record is not None:
        return int(record.groups)
    return max(1, int(result.meta.get("kv_groups", 1) or 1))


def _f16(array: np.ndarray) -> str:
    return _b64(np.ascontiguousarray(array, dtype="<f2").tobytes())


def overview_payload(result: Attention, layer: int, head: int, pool: str = "max",
                     size: int = OVERVIEW_SIZE) -> dict[str, Any]:
    """One head's overview: {layer, head, pool, rows, cols, scale, top, data}: data = deflated uint8 levels
    round(255 · sqrt(min(cell / scale, 1))) [row, col]; scale = the 99.5th percentile of the non-zero cells (a few
    cells, such as the first query's weight of 1, would otherwise wash the rest out), top = the largest cell."""
    cells = result.overview(layer, head, size=size, pool=pool)                       # [rows, cols]
    live = cells[cells > 0]
    top = float(max(cells.max(), 1e-12))
    scale = float(max(np.quantile(live, SATURATE), 1e-12)) if live.size else top
    levels = np.round(255.0 * np.sqrt(np.clip(cells / scale, 0.0, 1.0))).astype(np.uint8)
    return {"layer": int(layer), "head": int(head), "pool": pool, "rows": int(cells.shape[0]), "cols": int(cells.shape[1]),
            "scale": scale, "top": top, "data": _b64(zlib.compress(levels.tobytes(), 1))}


def _pooled(block: np.ndarray, factor: int, pool: str) -> np.ndarray:
    """[rows, cols] pooled factor × factor (edge blocks padded: with 0 for max, left out of the mean)."""
    if factor == 1:
        return block
    rows, cols = -(-block.shape[0] // factor), -(-block.shape[1] // factor)
    padded = np.zeros((rows * factor, cols * factor), dtype=np.float32)
    padded[:block.shape[0], :block.shape[1]] = block
    blocks = padded.reshape(rows, factor, cols, factor)
    if pool == "max":
        return blocks.max(axis=(1, 3))
    counts = np.zeros_like(padded)
    counts[:block.shape[0], :block.shape[1]] = 1
    return blocks.sum(axis=(1, 3)) / np.maximum(counts.reshape(rows, factor, cols, factor).sum(axis=(1, 3)), 1)


def window_payload(result: Attention, layer: int, head: int, queries: tuple[int, int], keys: tuple[int, int],
                   pool: str = "max") -> dict[str, Any]:
    """The weights of a window [queries) × [keys) of one head: {layer, head, q0, q1, k0, k1, factor, rows, cols, data}
    with data float16 [row, col]; factor 1 = exact (cell = one weight), else each cell pools factor × factor weights.
    Windows wider than POOLED_SPAN are refused (ValueError): the overview covers them."""
    n = result.n_tokens
    q0, q1 = max(0, int(queries[0])), min(n, int(queries[1]))
    k0, k1 = max(0, int(keys[0])), min(n, int(keys[1]))
    if q1 <= q0 or k1 <= k0:
        raise ValueError(f"The window {queries[0]}:{queries[1]} × {keys[0]}:{keys[1]} lies outside the map of {n} tokens.")
    span = max(q1 - q0, k1 - k0)
    if span > POOLED_SPAN:
        raise ValueError(f"A window of {span:,} tokens a side is wider than {POOLED_SPAN:,}: the overview shows it.")
    factor = 1 if span <= EXACT_SPAN else -(-span // WINDOW_CELLS)
    if result.meta.get("causal") and k0 > q1 - 1:     # wholly above the diagonal: a causal model's weights there are 0
        block = np.zeros((q1 - q0, k1 - k0), dtype=np.float32)
    else:
        block = result.tile(layer, head, slice(q0, q1), slice(k0, k1))
    cells = _pooled(block, factor, pool)
    return {"layer": int(layer), "head": int(head), "q0": q0, "q1": q1, "k0": k0, "k1": k1, "factor": factor,
            "pool": pool, "rows": int(cells.shape[0]), "cols": int(cells.shape[1]), "data": _f16(cells)}


def record_payload(result: Attention, layer: int, head: int) -> dict[str, Any] | None:
    """One head's queries [query, d_head] and keys [key, d_head] as the record holds them (float16 or float32), each
    row's log-sum-exp (float32 [query]), scaling, soft-cap and whether the model is causal, so the browser computes any
    window itself, exactly as Attention.tile does: weight = exp(score − row's log-sum-exp). None when it cannot (a
    short result, a mask other than causal or full, padding, a bias the model adds, more than RECORD_BYTES)."""
    record = getattr(result, "record", None)
    if record is None:
        return None
    layer, head = result.clamp(layer, head)
    part = record.layers[layer]
    mask = part.mask
    if (mask.kind not in ("causal", "full") or mask.key_valid is not None or part.bias is not None
            or mask.q_offset or mask.kv_offset):
        return None
    queries = part.queries[record.batch, head]                                       # [query, d_head]
    keys = part.keys[record.batch, head // part.groups]                               # [key, d_head]
    wire = "<f2" if queries.dtype == torch.float16 and keys.dtype == torch.float16 else "<f4"
    if (queries.numel() + keys.numel()) * np.dtype(wire).itemsize > RECORD_BYTES:
        return None
    lse = record.log_sum_exp(layer, head, slice(0, queries.shape[0]))                 # [query]
    encode = lambda tensor: _b64(np.ascontiguousarray(tensor.float().numpy(), dtype=wire).tobytes())   # noqa: E731
    return {"layer": layer, "head": head, "d": int(queries.shape[1]), "bits": 16 if wire == "<f2" else 32,
            "scaling": float(part.scaling), "softcap": float(part.softcap or 0.0), "causal": mask.kind == "causal",
            "q": encode(queries), "k": encode(keys), "lse": _b64(np.ascontiguousarray(lse.numpy(), dtype="<f4").tobytes())}


def _context(tokens: list[str], position: int, width: int = CONTEXT) -> list[str]:
    """[text before, the token, text after] around a position (word pieces joined as the tokenizer spells them)."""
    def join(pieces: list[str]) -> str:
        text = ""
        for piece in pieces:
            piece = str(piece).replace("Ġ", " ").replace("▁", " ").replace("Ċ", " ")
            text += piece[2:] if piece.startswith("##") else (piece if piece.startswith(" ") or not text else " " + piece)
        return text
    before = join(tokens[max(0, position - width):position])
    after = join(tokens[position + 1:position + 1 + width])
    return [before, str(tokens[position]), after]


def row_payload(result: Attention, layer: int, head: int, query: int, peaks: int = PEAKS) -> dict[str, Any]:
    """One query over every key: {layer, head, query, data (float16 [key]), peaks: [{key, weight, context}]}, the
    strongest keys first, each with [text before, token, text after]."""
    weights = result.row(layer, head, query)                                          # [key]
    top = np.argsort(-weights, kind="stable")[:peaks]
    return {"layer": int(layer), "head": int(head), "query": int(query), "data": _f16(weights),
            "context": _context(result.tokens, int(query)),
            "peaks": [{"key": int(key), "weight": float(weights[key]), "context": _context(result.tokens, int(key))}
                      for key in top if weights[key] > 0]}


def grouped_payload(result: Attention, layer: int, head: int, by: str = "sentence", size: int = 256) -> dict[str, Any]:
    """The head over sentences or blocks: {layer, head, by, labels, starts, scale, data (float16 [group, group])}."""
    grouped = result.grouped(layer, head, by=by, size=size)
    if len(grouped.starts) > OVERVIEW_SIZE:
        raise ValueError(f"{len(grouped.starts):,} {by}s are more than the {OVERVIEW_SIZE} a map can show here; "
                         "group by blocks.")
    return {"layer": int(layer), "head": int(head), "by": by, "labels": list(grouped.labels),
            "starts": [int(s) for s in grouped.starts], "scale": float(max(grouped.weights.max(), 1e-12)),
            "data": _f16(grouped.weights)}


def zoom_payload(result: Attention, layer: int, head: int, pool: str = "max", *, overview: bool = True,
                 tokens: bool = True) -> dict[str, Any]:
    """What the view needs to open a head: {view, layer, head, pool, n, layers, heads, groups, causal, model}, plus
    the tokens and the head's overview unless the browser holds them already (`tokens`, `overview` False)."""
    layer, head = result.clamp(layer, head)
    data: dict[str, Any] = {"view": view_id(result), "layer": layer, "head": head, "pool": pool, "n": result.n_tokens,
                            "layers": result.n_layers, "heads": result.n_heads, "groups": kv_groups(result),
                            "causal": bool(result.meta.get("causal")), "model": str(result.model)}
    if tokens:
        data["tokens"] = [str(token) for token in result.tokens]
    if overview:
        data["overview"] = overview_payload(result, layer, head, pool)
    return data
