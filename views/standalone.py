"""The app's views outside Streamlit: a notebook cell's output, and one interactive HTML file that works offline.

No second implementation of any view: the very JavaScript files the app's components load (views/dom.js,
heatmap/common.js, heatmap/heatmap.js, heatmap/grid.js, token_links/token_links.js) are inlined here at build time, each
in its own function scope, and views/standalone.js mounts them outside Streamlit (it plays Streamlit's part: hands a
view its data and answers the grid's "open" click). Imports neither streamlit nor plotly, so a notebook pays for neither.

Weights: every head of every layer travels as integer levels of that head's maximum — 16 bits linear (within
max/131070), or 8 bits on a μ-law curve (μ = 255, telephony's companding: a level is a step of about 2.2% of the weight,
so small weights keep levels of their own instead of all being 0; only weights under max/23,000 can be level 0) — in one
deflate stream, base64 in the page, inflated by the browser's own DecompressionStream. The hover prints each weight with
a bound that holds for it (views/heatmap/common.js: levelBounds, hoverValue; tested over every cell).
Encoder–decoders carry three parts (encoder, decoder, cross) and sentence pairs a filter (A→A, A→B, B→A, B→B); tokens
are shown prettified (views.payloads.pretty_tokens), the raw token on hover. Nothing is fetched: no CDN, no network, and the
file's Content-Security-Policy forbids any request. Tokens are user text: they travel as JSON (with "<", ">" and "&"
escaped so no token can close the script element) and the views write them with textContent / fillText only.
"""
from __future__ import annotations

import base64
import html
import json
import os
import re
import uuid
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from attention.analyses.links import layer_links
from attention.run.export import write_whole
from attention.run.result import Attention
from views import DOM_JS
from views.payloads import grid_payload, payload, pretty_tokens
from views.zoom import embed

_HERE = Path(__file__).resolve().parent
# view name -> the files the app's component for it loads, in the same order (components/heatmap/__init__.py, ...)
SOURCES = {
    "heatmap": ("heatmap/common.js", "heatmap/heatmap.js"),
    "grid": ("heatmap/common.js", "heatmap/grid.js"),
    "links": ("token_links/token_links.js",),
    "zoom": ("heatmap/common.js", "zoom/zoom.js"),
}
STYLES = ("heatmap/heatmap.css", "token_links/token_links.css", "zoom/zoom.css", "standalone.css")
VIEWS = ("grid", "head", "links")
MU = 255.0                     # the 8-bit levels' μ-law curve
TEXT_CAP = 6000                # characters of the text a file shows and puts in its share parameters (ui.state.URL_TEXT_CAP)
HINT = ("If this box stays empty, the notebook is not trusted, so its scripts do not run: trust it (Jupyter: File → "
        "Trust Notebook) or run the cell again.")
SIXTEEN_BITS_UP_TO = 2 ** 19   # weights (layers·heads·tokens²) written with 16 bits at most (MiniLM: 85 tokens); 8 above
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; "
       "connect-src blob: data:")   # the file may run its own inline code and nothing else: no request leaves it


def _read(name: str) -> str:
    return (_HERE / name).read_text(encoding="utf-8")


def _scoped(files: tuple[str, ...]) -> str:
    """One component's script as an expression giving its mount function: the module's text in a function scope, its
    `export default function name` turned into a plain function that the scope returns (top-level names such as
    `colour` or `PALETTE` would clash between views otherwise)."""
    source = DOM_JS + "".join(_read(name) for name in files)
    names = re.findall(r"^export default function (\w+)", source, flags=re.MULTILINE)
    if len(names) != 1 or re.search(r"^\s*(import|export)\b", source.replace(f"export default function {names[0]}", ""), re.M):
        raise RuntimeError(f"{files[-1]} is no longer one ES module with a single default export; update SOURCES")
    body = source.replace(f"export default function {names[0]}", f"function {names[0]}")
    return f'(function () {{\n"use strict";\n{body}\nreturn {names[0]};\n}})()'


@lru_cache(maxsize=1)
def script() -> str:
    """The JavaScript every view needs, defined once per page (later copies see window.AttentionLens and stop)."""
    views = ",\n".join(f"{name}: {_scoped(files)}" for name, files in SOURCES.items())
    styles = json.dumps("\n".join(_read(name) for name in STYLES))
    code = (f"(function () {{\n\"use strict\";\nif (window.AttentionLens) return;\n{_read('standalone.js')}\n"
            f"window.AttentionLens = standaloneViews({{\n{views}\n}}, {styles});\n}})();")
    if re.search(r"</script|<!--", code, re.IGNORECASE):
        raise RuntimeError("a component's script contains '</script' or '<!--', which would end the inline script")
    return code


def bits_for(result: Attention) -> int:
    """The precision a view uses unless told: 16 bits while the weights are few (see SIXTEEN_BITS_UP_TO), else 8."""
    return 16 if result.weights.size <= SIXTEEN_BITS_UP_TO else 8


def encode_weights(weights: np.ndarray, bits: int = 8, level: int = 6) -> dict[str, Any]:
    """Weights [head·…, query, key] (any leading axes, flattened in C order) as levels of each head's maximum, deflated:
    {"bits", "code" ("linear" at 16 bits, "mu" at 8: level = round(255·ln(1 + μ·w/max) / ln(1 + μ))), "mu", "scales"
    (one per head), "data" (base64 of the zlib stream of uint8 / little-endian uint16 levels)}."""
    if bits not in (8, 16):
        raise ValueError("The weights can be written with 8 or 16 bits.")
    heads = weights.reshape(-1, *weights.shape[-2:])                       # [head, query, key]
    scales = np.maximum(heads.max(axis=(1, 2)), 1e-12).astype(np.float32)  # [head]
    top = (1 << bits) - 1
    kind = np.uint8 if bits == 8 else np.dtype("<u2")
    levels = np.empty(heads.shape, dtype=kind)
    for index, head in enumerate(heads):   # in float64, a head at a time: float32 products would add up to 0.004 level
        share = head.astype(np.float64) / float(scales[index])
        levels[index] = np.round((np.log1p(MU * share) / np.log1p(MU) if bits == 8 else share) * top)
    return {
        "bits": bits, "code": "mu" if bits == 8 else "linear", "mu": MU,
        "scales": [float(s) for s in scales],
        "data": base64.b64encode(zlib.compress(levels.tobytes(), level)).decode("ascii"),
    }


def decode_weights(encoded: dict[str, Any], shape: tuple[int, ...]) -> np.ndarray:
    """What the browser recovers from `encode_weights`: float32 weights of `shape` (for tests and readers in Python)."""
    kind = np.uint8 if encoded["bits"] == 8 else np.dtype("<u2")
    levels = np.frombuffer(zlib.decompress(base64.b64decode(encoded["data"])), dtype=kind).astype(np.float64)
    share = levels.reshape(len(encoded["scales"]), *shape[-2:]) / ((1 << encoded["bits"]) - 1)
    if encoded.get("code") == "mu":
        share = np.expm1(share * np.log1p(encoded["mu"])) / encoded["mu"]
    scales = np.asarray(encoded["scales"], dtype=np.float64)[:, None, None]
    return (share * scales).reshape(shape).astype(np.float32)


def precision(bits: int) -> str:
    """How close a weight shown on hover is to the model's, in words."""
    if bits == 16:
        return "16-bit levels of each head's maximum (within max/131070); hover: each weight ± a bound that holds"
    return ("8-bit μ-law levels of each head's maximum (steps of about 2.2% of the weight; only weights under max/23,000 "
            "can be level 0); hover: each weight ± a bound that holds")


def _json_for_script(value: Any) -> str:
    """JSON that is safe inside <script type="application/json">: no "<", ">" or "&" survives unescaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class _Part:
    """One attention stack a view draws (self, encoder, decoder or cross): what layer_links and grid_payload read."""

    def __init__(self, tokens: list[str], weights: np.ndarray, keys: list[str] | None = None):
        self.tokens, self.weights, self.keys = tokens, weights, keys if keys is not None else tokens
        self.n_layers, self.n_heads = weights.shape[:2]

    def clamp(self, layer: int, head: int) -> tuple[int, int]:
        return min(max(int(layer), 0), self.n_layers - 1), min(max(int(head), 0), self.n_heads - 1)

    def thumbnails(self, size: int = 24) -> np.ndarray:
        """[layer, head, s, s]: square parts as Attention.thumbnails; a cross part (target × source) resampled to one
        square of side min(size, its longer side): block means where longer, repeated rows or columns where shorter."""
        queries, keys = self.weights.shape[2:]
        side = min(size, max(queries, keys))
        if queries == keys and queries <= size:
            return self.weights
        out = self.weights
        for axis, length in ((2, queries), (3, keys)):
            if length >= side:
                starts = np.linspace(0, length, side + 1).round().astype(int)[:-1]
                counts = np.diff(np.append(starts, length)).reshape([-1 if a == axis else 1 for a in range(4)])
                out = np.add.reduceat(out, starts, axis=axis) / counts
            else:
                out = np.take(out, (np.arange(side) * length) // side, axis=axis)
        return out.astype(np.float32)


def parts_of(result: Attention) -> dict[str, _Part]:
    """The stacks a result holds: {"self"} or, for an encoder–decoder, {"encoder", "decoder", "cross"}."""
    tokens = [str(t) for t in result.tokens]
    if result.cross is None or result.target_weights is None:
        return {"self": _Part(tokens, result.weights)}
    target = [str(t) for t in result.target_tokens or []]
    return {"encoder": _Part(tokens, result.weights), "decoder": _Part(target, result.target_weights),
            "cross": _Part(target, result.cross, tokens)}


PART_TITLES = {"self": "", "encoder": "Encoder self-attention", "decoder": "Decoder self-attention",
               "cross": "Cross-attention (decoder → encoder)"}


def _part_spec(part: _Part, views: tuple[str, ...], layer: int, head: int, threshold: float, bits: int,
               links_layers: Iterable[int] | None) -> dict[str, Any]:
    layer, head = part.clamp(layer, head)
    shown, keys = pretty_tokens(part.tokens), pretty_tokens(part.keys)
    data: dict[str, Any] = {"tokens": shown, "layers": part.n_layers, "heads": part.n_heads, "layer": layer, "head": head}
    if part.keys is not part.tokens:
        data["keys"] = keys
    if shown != part.tokens:
        data["raw"] = part.tokens
    if part.keys is not part.tokens and keys != part.keys:
        data["raw_keys"] = part.keys
    if "grid" in views:
        data["grid"] = grid_payload(part, (layer, head))
    if "head" in views:
        lone = "grid" not in views
        data["weights"] = encode_weights(part.weights[layer, head] if lone else part.weights, bits)
        data["weights"]["only"] = [layer, head] if lone else None
    if "links" in views:
        chosen = range(part.n_layers) if links_layers is None else sorted({part.clamp(l, 0)[0] for l in links_layers})
        data["links"] = {str(l): {**payload(layer_links(part, l, threshold)), "layer": l, "tokens": shown,
                                  **({"key_tokens": keys} if part.keys is not part.tokens else {})} for l in chosen}
    return data


def spec(result: Attention, views: Iterable[str] = VIEWS, layer: int = 0, head: int = 0, threshold: float = 0.1,
         bits: int | None = None, text: str | None = None, share: dict[str, Any] | None = None,
         links_layers: Iterable[int] | None = None, zoom_bytes: int = embed.NOTEBOOK_BYTES) -> dict[str, Any]:
    """Everything one standalone view needs, as JSON-ready data (a long result, which keeps no weights, gets the
    zoomable view instead, with as many heads as fit in `zoom_bytes`: views/zoom/embed.py): tokens (prettified; "raw" beside them when that
    changed them), the grid's thumbnails, the weights of every head (or of the one head a lone "head" view shows), the
    links of `links_layers` (default: every layer) above `threshold`, and the share-link parameters the view came from.
    An encoder–decoder's first part is its encoder, with "parts" {"decoder", "cross"} of the same shape; a sentence
    pair carries "pair" {"b": where B begins}."""
    views = tuple(views)
    unknown = [view for view in views if view not in VIEWS]
    if unknown or not views:
        raise ValueError(f"Unknown view {unknown[0] if unknown else '(none)'!r}: choose from {', '.join(VIEWS)}.")
    layer, head = result.clamp(layer, head)
    if not result.has_weights:
        return _zoom_spec(result, layer, head, text, share, zoom_bytes)
    bits = bits_for(result) if bits is None else bits
    parts = parts_of(result)
    names = list(parts)
    data: dict[str, Any] = {"views": list(views), "model": result.model, "precision": precision(bits),
                            **_part_spec(parts[names[0]], views, layer, head, threshold, bits, links_layers)}
    if len(names) > 1:
        data["part_names"] = {name: PART_TITLES[name] for name in names}
        data["parts"] = {name: _part_spec(parts[name], views, layer, head, threshold, bits, links_layers) for name in names[1:]}
    if "sentence_b_start" in result.meta:
        data["pair"] = {"b": int(result.meta["sentence_b_start"])}
    if "layers" in result.meta and result.meta.get("source") == "view":   # include_layers / include_heads: their numbers
        data["layer_names"], data["head_names"] = list(result.meta["layers"]), list(result.meta["heads"])
    sizes = f"{result.n_tokens} tokens" if len(names) == 1 else \
        f"{result.n_tokens} encoder and {len(result.target_tokens or [])} decoder tokens"
    parts_text = [f"{result.model} · {sizes} · {result.n_layers} layers × {result.n_heads} heads"]
    if "head" in views:
        parts_text.append(f"weights as {precision(bits)}")
    if "links" in views:
        parts_text.append(f"links: weight ≥ {threshold:g}")
    data["caption"] = " · ".join(parts_text)
    _add_notices_and_share(data, result, list(result.notices), text, share, layer, head, ".")
    return data


def _add_notices_and_share(data: dict[str, Any], result: Attention, notices: list[str], text: str | None,
                           share: dict[str, Any] | None, layer: int, head: int, cut_tail: str) -> None:
    """data["notices"] (when there are any; a text over TEXT_CAP characters is cut, and `cut_tail` ends the notice
    that says so) and data["share"]: the share-link parameters given, else text, model, layer and head."""
    if text is not None and len(text) > TEXT_CAP:
        notices.append(f"The file keeps the first {TEXT_CAP:,} characters of the text ({len(text):,} in all){cut_tail}")
        text = text[:TEXT_CAP]
    if notices:
        data["notices"] = notices
    data["share"] = share if share is not None else {**({"text": text} if text is not None else {}),
                                                     "model": result.model, "layer": layer, "head": head}


def _zoom_spec(result: Attention, layer: int, head: int, text: str | None, share: dict[str, Any] | None,
               zoom_bytes: int) -> dict[str, Any]:
    """A long result's standalone spec: the zoomable view of the heads that fit (views/zoom/embed.py)."""
    zoom = embed.embedded(result, layer, head, zoom_bytes)
    data: dict[str, Any] = {"views": ["zoom"], "model": result.model, "zoom": zoom,
                            "caption": f"{result.model} · {result.n_tokens:,} tokens · {result.n_layers} layers × "
                                       f"{result.n_heads} heads · weights computed from the record, not stored"}
    _add_notices_and_share(data, result, [*result.notices, zoom["note"]], text, share, layer, head,
                           " in its share parameters; the view holds every token.")
    return data


def fragment(result: Attention, views: Iterable[str] = VIEWS, **options: Any) -> str:
    """HTML for one independent view (a notebook cell's output): a host element with a unique id, its data as JSON and
    the inlined script that mounts it. Options as in `spec`."""
    ident = f"al-{uuid.uuid4().hex[:12]}"   # the hint inside the host shows only where no script ran (the shadow root hides it)
    return (f'<div class="attention-lens" id="{ident}"><p style="color:#6b6f80;font-size:13px">{html.escape(HINT)}</p></div>\n'
            f'<script type="application/json" id="{ident}-data">{_json_for_script(spec(result, views, **options))}</script>\n'
            f"<script>\n{script()}\nwindow.AttentionLens.mount({json.dumps(ident)}, document.currentScript);\n</script>")


def page(result: Attention, title: str | None = None, **options: Any) -> str:
    """One self-contained HTML document: the grid, any head on click, token links with hover, share-link parameters."""
    heading = title or f"Attention Lens · {result.model}"
    text = options.get("text")
    cut = text is not None and len(text) > TEXT_CAP   # the views show the notice; the page keeps the same first part
    said = f'<p class="text">{html.escape(text[:TEXT_CAP])}{"…" if cut else ""}</p>' if text else ""
    return (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(heading)}</title>\n"
        "<style>body { margin: 24px; font-family: 'Source Sans Pro', -apple-system, 'Segoe UI', sans-serif; color: #31333f; }"
        " h1 { font-size: 22px; margin: 0 0 4px 0; } .text { margin: 0 0 12px 0; white-space: pre-wrap; overflow-wrap: anywhere; }"
        " .made { font-size: 12px; color: #6b6f80; margin-top: 16px; }</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(heading)}</h1>\n{said}\n{fragment(result, VIEWS, **{'zoom_bytes': embed.FILE_BYTES, **options})}\n"
        '<p class="made">Made with Attention Lens. Works offline: everything it shows is in this file.</p>\n'
        "</body>\n</html>\n"
    )


def write_file(result: Attention, path: str | os.PathLike, **options: Any) -> Path:
    """Write `page(result, **options)` to `path` whole or not at all (a temporary file beside it, then renamed)."""
    target = Path(path).expanduser()
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise ValueError(f"{target} is a folder; give a file name such as {target / 'view.html'}.")
    if not folder.is_dir():
        raise ValueError(f"Cannot write {target}: the folder {folder} does not exist.")
    write_whole(target, page(result, **options).encode("utf-8"))
    return target


class View:
    """One view of a result for a notebook: displays itself (`_repr_html_`), each instance independent of the others."""

    def __init__(self, result: Attention, views: Iterable[str], **options: Any):
        self.result, self.views, self.options = result, tuple(views), options
        unknown = [view for view in self.views if view not in VIEWS]
        if unknown or not self.views:
            raise ValueError(f"Unknown view {unknown[0] if unknown else '(none)'!r}: choose from {', '.join(VIEWS)}.")

    def _repr_html_(self) -> str:
        return fragment(self.result, self.views, **self.options)

    def __repr__(self) -> str:
        """A short text where HTML is not shown (a terminal, a notebook's plain-text fallback)."""
        return f"View({' + '.join(self.views)} of {self.result!r}; display it in a notebook, or .save('view.html'))"

    def save(self, path: str | os.PathLike) -> Path:
        """The whole offline file (grid, heads, links) of this result."""
        options = {name: value for name, value in self.options.items() if name != "links_layers"}
        return write_file(self.result, path, **options)


def show(result: Attention, view: str = "grid", layer: int = 0, head: int = 0, threshold: float = 0.1,
         bits: int | None = None, text: str | None = None) -> View:
    """A notebook view: "grid" (layers × heads, click to open a head), "head" (one head), "links" (one layer's token
    links), or "all"."""
    views = {"grid": ("grid", "head"), "head": ("head",), "links": ("links",), "all": VIEWS}.get(view)
    if views is None:
        raise ValueError(f"Unknown view {view!r}: choose 'grid', 'head', 'links' or 'all'.")
    links_layers = [layer] if view == "links" else None
    return View(result, views, layer=layer, head=head, threshold=threshold, bits=bits, text=text, links_layers=links_layers)


def register() -> None:
    """Hand the core the notebook view and the file export (attention/run/display.py)."""
    from attention.run import display

    display.register(show=show, write_file=write_file)
