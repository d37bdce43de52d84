"""The app's views outside Streamlit: a notebook cell's output, and one interactive HTML file that works offline.

No second implementation of any view: the very JavaScript files the app's components load (components/dom.js,
heatmap/common.js, heatmap/heatmap.js, heatmap/grid.js, token_links/token_links.js) are inlined here at build time, each
in its own function scope, and components/standalone.js mounts them outside Streamlit (it plays Streamlit's part: hands a
view its data and answers the grid's "open" click). Imports neither streamlit nor plotly, so a notebook pays for neither.

Weights: every head of every layer travels as integer levels of that head's maximum — 8 bits (a weight is shown within
± max/510, half a level) or 16 bits (within ± max/131070, so the 4 decimals shown are exact) — in one deflate stream,
base64 in the page, inflated by the browser's own DecompressionStream. Nothing is fetched: no CDN, no network, and the
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
from components import DOM_JS
from components.payloads import grid_payload, payload

_HERE = Path(__file__).resolve().parent
# view name -> the files the app's component for it loads, in the same order (components/heatmap/__init__.py, ...)
SOURCES = {
    "heatmap": ("heatmap/common.js", "heatmap/heatmap.js"),
    "grid": ("heatmap/common.js", "heatmap/grid.js"),
    "links": ("token_links/token_links.js",),
}
STYLES = ("heatmap/heatmap.css", "token_links/token_links.css", "standalone.css")
VIEWS = ("grid", "head", "links")
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
    {"bits", "scales" (one per head), "data" (base64 of the zlib stream of uint8 / little-endian uint16 levels)}."""
    if bits not in (8, 16):
        raise ValueError("The weights can be written with 8 or 16 bits.")
    heads = weights.reshape(-1, *weights.shape[-2:])                       # [head, query, key]
    scales = np.maximum(heads.max(axis=(1, 2)), 1e-12).astype(np.float32)  # [head]
    top = (1 << bits) - 1
    kind = np.uint8 if bits == 8 else np.dtype("<u2")
    levels = np.empty(heads.shape, dtype=kind)
    for index, head in enumerate(heads):   # in float64, a head at a time: float32 products would add up to 0.004 level
        levels[index] = np.round(head.astype(np.float64) * (top / float(scales[index])))
    return {
        "bits": bits,
        "scales": [float(s) for s in scales],
        "data": base64.b64encode(zlib.compress(levels.tobytes(), level)).decode("ascii"),
    }


def decode_weights(encoded: dict[str, Any], shape: tuple[int, ...]) -> np.ndarray:
    """What the browser recovers from `encode_weights`: float32 weights of `shape` (for tests and readers in Python)."""
    kind = np.uint8 if encoded["bits"] == 8 else np.dtype("<u2")
    levels = np.frombuffer(zlib.decompress(base64.b64decode(encoded["data"])), dtype=kind).astype(np.float64)
    heads = levels.reshape(len(encoded["scales"]), *shape[-2:])
    scales = np.asarray(encoded["scales"], dtype=np.float64)[:, None, None]
    return (heads / ((1 << encoded["bits"]) - 1) * scales).reshape(shape).astype(np.float32)


def precision(bits: int) -> str:
    """How close a weight shown on hover is to the model's, in words."""
    if bits == 16:
        return "16-bit levels of each head's maximum: the 4 decimals shown on hover are exact (within max/131070)"
    return "8-bit levels of each head's maximum: hover shows a weight within ± max/510 (half a level), at most ± 0.002"


def _json_for_script(value: Any) -> str:
    """JSON that is safe inside <script type="application/json">: no "<", ">" or "&" survives unescaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def spec(result: Attention, views: Iterable[str] = VIEWS, layer: int = 0, head: int = 0, threshold: float = 0.1,
         bits: int | None = None, text: str | None = None, share: dict[str, Any] | None = None,
         links_layers: Iterable[int] | None = None) -> dict[str, Any]:
    """Everything one standalone view needs, as JSON-ready data: tokens, the grid's thumbnails, the weights of every head
    (or of the one head a lone "head" view shows), the links of `links_layers` (default: every layer) above `threshold`,
    and the share-link parameters the view came from."""
    views = tuple(views)
    unknown = [view for view in views if view not in VIEWS]
    if unknown or not views:
        raise ValueError(f"Unknown view {unknown[0] if unknown else '(none)'!r}: choose from {', '.join(VIEWS)}.")
    layer, head = result.clamp(layer, head)
    bits = bits_for(result) if bits is None else bits
    data: dict[str, Any] = {
        "views": list(views), "tokens": [str(t) for t in result.tokens], "layers": result.n_layers,
        "heads": result.n_heads, "layer": layer, "head": head, "model": result.model, "precision": precision(bits),
    }
    if "grid" in views:
        data["grid"] = grid_payload(result, (layer, head))
    if "head" in views:
        lone = "grid" not in views
        data["weights"] = encode_weights(result.weights[layer, head] if lone else result.weights, bits)
        data["weights"]["only"] = [layer, head] if lone else None
    if "links" in views:
        chosen = range(result.n_layers) if links_layers is None else sorted({result.clamp(l, 0)[0] for l in links_layers})
        data["links"] = {str(l): {**payload(layer_links(result, l, threshold)), "layer": l} for l in chosen}
    parts = [f"{result.model} · {result.n_tokens} tokens · {result.n_layers} layers × {result.n_heads} heads"]
    if "head" in views:
        parts.append(f"weights as {precision(bits)}")
    if "links" in views:
        parts.append(f"links: weight ≥ {threshold:g}")
    data["caption"] = " · ".join(parts)
    if share is None:
        share = {"model": result.model}
        if text is not None:
            share = {"text": text, **share}
        share.update(layer=layer, head=head)
    data["share"] = share
    return data


def fragment(result: Attention, views: Iterable[str] = VIEWS, **options: Any) -> str:
    """HTML for one independent view (a notebook cell's output): a host element with a unique id, its data as JSON and
    the inlined script that mounts it. Options as in `spec`."""
    ident = f"al-{uuid.uuid4().hex[:12]}"
    return (f'<div class="attention-lens" id="{ident}"></div>\n'
            f'<script type="application/json" id="{ident}-data">{_json_for_script(spec(result, views, **options))}</script>\n'
            f"<script>\n{script()}\nwindow.AttentionLens.mount({json.dumps(ident)}, document.currentScript);\n</script>")


def page(result: Attention, title: str | None = None, **options: Any) -> str:
    """One self-contained HTML document: the grid, any head on click, token links with hover, share-link parameters."""
    heading = title or f"Attention Lens · {result.model}"
    text = options.get("text")
    said = f'<p class="text">{html.escape(text)}</p>' if text else ""
    return (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(heading)}</title>\n"
        "<style>body { margin: 24px; font-family: 'Source Sans Pro', -apple-system, 'Segoe UI', sans-serif; color: #31333f; }"
        " h1 { font-size: 22px; margin: 0 0 4px 0; } .text { margin: 0 0 12px 0; white-space: pre-wrap; }"
        " .made { font-size: 12px; color: #6b6f80; margin-top: 16px; }</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(heading)}</h1>\n{said}\n{fragment(result, VIEWS, **options)}\n"
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
