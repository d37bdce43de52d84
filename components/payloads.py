"""What the browser components receive: compact, typed payloads (never plotly). Tokens travel as JSON strings and
are written with textContent / fillText by the components; weights travel as small integer arrays in base64."""
from __future__ import annotations

import base64
from typing import Any

import numpy as np

from attention import Attention
from attention.analyses.links import Links

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


def head_payload(result: Attention, layer: int, head: int) -> dict:
    """One head for the canvas heatmap component: tokens as plain strings (drawn as text, never markup),
    weights as base64 uint16 levels of the head's maximum (precision 1/65535 of it), row-major [query, key]."""
    layer, head = result.clamp(layer, head)
    weights = result.head(layer, head)
    scale = float(max(weights.max(), 1e-12))
    levels = np.round(weights * (65535.0 / scale)).astype("<u2")
    return {
        "title": f"Layer {layer} · Head {head}",
        "layer": layer,
        "head": head,
        "tokens": [str(token) for token in result.tokens],
        "scale": scale,
        "weights": base64.b64encode(levels.tobytes()).decode("ascii"),
    }


def grid_payload(result: Attention, selected: tuple[int, int] | None = None, size: int = 24) -> dict:
    """Every layer × head for the grid component: uint8 thumbnails [layer, head, s, s], each head on its own scale."""
    thumbs = result.thumbnails(size)
    peak = thumbs.max(axis=(2, 3), keepdims=True)
    scaled = np.round(255 * thumbs / np.maximum(peak, 1e-9)).astype(np.uint8)
    return {
        "layers": result.n_layers,
        "heads": result.n_heads,
        "size": int(thumbs.shape[2]),
        "selected": list(result.clamp(*selected)) if selected else None,
        "thumbnails": base64.b64encode(scaled.tobytes()).decode("ascii"),
    }
