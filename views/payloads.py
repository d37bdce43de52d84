"""What the browser components receive: compact, typed payloads (never plotly). Tokens travel as JSON strings and
are written with textContent / fillText by the components; weights travel as small integer arrays in base64."""
from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Any

import numpy as np

from attention import Attention
from attention.analyses.links import Links

def _byte_decoder() -> dict[str, int]:
    """Byte-level BPE (GPT-2, RoBERTa, Llama 3 …) writes each byte as a printable character: Ġ a space, Ċ a newline."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = printable[:], 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(char): byte for byte, char in zip(printable, chars)}


_BYTES = _byte_decoder()
_SHOWN = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}   # whitespace a label would hide


def pretty_tokens(tokens: list[str]) -> list[str]:
    """Tokens as a reader wants them: byte-level BPE's characters decoded to text (Ġ → space, Ċ → ↵, Ã© → é) and
    SentencePiece's ▁ as a space and <0x0A> as ↵; a leading space stays as ' ' (a word start), other whitespace shown.
    Anything else (WordPiece's ##, special tokens) as it was; a token that does not decode stays raw."""
    byte_level = any(ch in token for token in tokens for ch in "ĠĊĉ")
    shown = []
    for token in tokens:
        text = token
        if byte_level and all(ch in _BYTES for ch in token):
            try:
                text = bytes(_BYTES[ch] for ch in token).decode("utf-8")
            except UnicodeDecodeError:
                text = token   # half of a character: keep the raw form
        elif "▁" in token or token.startswith("<0x"):
            text = token.replace("▁", " ")
            if len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
                text = {"<0x0A>": "\n", "<0x09>": "\t", "<0x0D>": "\r", "<0x20>": " "}.get(token, token)
        if text == token:
            shown.append(token)   # nothing decoded (WordPiece, characters, special tokens): as the model wrote it
            continue
        lead = " " if text.startswith(" ") and text.strip() else ""
        body = text[1:] if lead else text
        shown.append(lead + "".join(_SHOWN.get(ch, ch) if ch in "\n\t\r" or (ch == " " and not body.strip()) else ch
                                    for ch in body))
    return shown


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
        "tokens": pretty_tokens(links.tokens),
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
        "tokens": pretty_tokens([str(token) for token in result.tokens]),
        "raw": [str(token) for token in result.tokens],
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


# ---- the views that keep what they received (issue 19): ids, references and prefetched heads -------------------------

PREFETCH_BYTES = 800_000   # base64 bytes of prefetched heads per round: at 512 tokens (≈125 KB a head at 8 bits,
                           # deflated) 6 heads; with the first view's 0.82 MB the visit stays under 1/500 of BertViz's
                           # 870 MB (1.74 MB). At 128 tokens (≈10 KB a head) a whole layer and its neighbours fit.
PREFETCH_BITS = 8          # a prefetched head is shown within ± max/510 (the hover says so), as in the offline file


def view_id(result: Attention) -> str:
    """A short id of a result's weights (model, options, tokens, layers × heads; the same for a long result and a short
    one of the same text): the browser keeps heads, and the zoomable view its overviews, under it."""
    digest = hashlib.blake2b(digest_size=8)
    for part in (result.model, repr(sorted(result.options.items())), "\x1f".join(map(str, result.tokens)),
                 f"{result.n_layers}x{result.n_heads}"):
        digest.update(part.encode("utf-8", "replace") + b"\x1e")
    return digest.hexdigest()


def neighbours(result: Attention, layer: int, head: int) -> list[tuple[int, int]]:
    """The heads a reader opens next, nearest first: the heads beside this one in its layer, then the same head one
    layer up and down, then the rest of the layer. [(layer, head)], the open head left out."""
    near: list[tuple[int, int]] = []
    for step in range(1, result.n_heads):
        near += [(layer, head + step), (layer, head - step)]
        if step == 1:
            near += [(layer + 1, head), (layer - 1, head)]
    inside = [(lay, hd) for lay, hd in near if 0 <= lay < result.n_layers and 0 <= hd < result.n_heads]
    return list(dict.fromkeys(inside))


def packed_head(result: Attention, layer: int, head: int, bits: int = PREFETCH_BITS) -> dict[str, Any]:
    """One head as deflated levels of its maximum (8 bits: ± max/510): {"layer", "head", "scale", "bits", "data"}."""
    weights = result.head(layer, head).astype(np.float64)
    scale = float(max(weights.max(), 1e-12))
    top = (1 << bits) - 1
    levels = np.round(weights * (top / scale)).astype(np.uint8 if bits == 8 else "<u2")
    return {"layer": layer, "head": head, "scale": scale, "bits": bits,
            "data": base64.b64encode(zlib.compress(levels.tobytes(), 1)).decode("ascii")}


def prefetch(result: Attention, candidates: list[tuple[int, int]], budget: int = PREFETCH_BYTES) -> list[dict[str, Any]]:
    """Packed heads of `candidates`, in order, while their base64 fits in `budget` bytes (at least one)."""
    chosen, spent = [], 0
    for layer, head in candidates:
        packed = packed_head(result, layer, head)
        if chosen and spent + len(packed["data"]) > budget:
            break
        chosen.append(packed)
        spent += len(packed["data"])
    return chosen


def head_view_payload(result: Attention, layer: int, head: int, held: set, has_tokens: bool, fixed: bool = False,
                      prefetched: list[dict[str, Any]] | None = None, more: bool = False) -> dict[str, Any]:
    """The heatmap's data in the app: the head's weights only when the browser does not hold them (`held`: the
    (layer, head) it holds for this result), the tokens only when it lacks them, plus `prefetched` heads; `more`
    asks the browser to request the next heads once this one is drawn. `fixed`: colour 0–1 instead of the head's max."""
    layer, head = result.clamp(layer, head)
    data = {"view": view_id(result), "layer": layer, "head": head, "title": f"Layer {layer} · Head {head}",
            "fixed": bool(fixed), "more": bool(more)}
    if (layer, head) not in held:
        data.update({key: value for key, value in head_payload(result, layer, head).items() if key in ("scale", "weights")})
    if not has_tokens:
        data["tokens"] = pretty_tokens([str(token) for token in result.tokens])
        if data["tokens"] != result.tokens:
            data["raw"] = [str(token) for token in result.tokens]   # shown on hover
    if prefetched:
        data["prefetch"] = prefetched
    return data
