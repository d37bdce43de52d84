"""The offline HTML file and the notebook views (components/standalone.py + standalone.js): the weights it carries equal
the result's within the stated precision, user text stays text, files are written whole or not at all, and in Chromium
with the network cut the file draws the grid, opens any head on click and shows a weight on hover."""
from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import zlib

import numpy as np
import pytest

from attention import Attention, attend
from attention.run import export
from components import standalone

HOSTILE = ["[CLS]", "</script><script>window.__pwned = 1</script>", "<img src=x onerror=\"window.__pwned = 2\">",
           "&lt;b&gt;", "<!--", "[SEP]"]
DATA = re.compile(r'<script type="application/json" id="(al-[0-9a-f]+)-data">(.*?)</script>', re.DOTALL)


def toy(tokens: list[str], layers: int = 2, heads: int = 3, seed: int = 0) -> Attention:
    """Random row-stochastic weights [layer, head, query, key] over `tokens`."""
    rng = np.random.default_rng(seed)
    raw = rng.random((layers, heads, len(tokens), len(tokens))) ** 4
    return Attention(tokens=tokens, weights=raw / raw.sum(axis=-1, keepdims=True), model="toy")


def specs_in(document: str) -> list[dict]:
    """The JSON each view of a page carries, read as a browser would (the \\u003c escapes come back as '<')."""
    return [json.loads(body) for _, body in DATA.findall(document)]


def levels_from(encoded: dict, bits: int) -> np.ndarray:
    """Inflate the file's weights independently of the builder: base64 → zlib → uint8 / little-endian uint16."""
    assert encoded["bits"] == bits
    return np.frombuffer(zlib.decompress(base64.b64decode(encoded["data"])), dtype=np.uint8 if bits == 8 else "<u2")


@pytest.fixture(scope="module")
def minilm():
    return attend("The doctor told the nurse that she would be late because the meeting ran long.", "minilm")


# ---------------------------------------------------------------- the weights in the file

@pytest.mark.parametrize("bits", [8, 16])
def test_weights_in_the_file_equal_the_results_within_the_stated_precision(minilm, tmp_path, bits):
    path = export.view_file(minilm, tmp_path / "view.html", text="x", bits=bits)
    [spec] = specs_in(path.read_text(encoding="utf-8"))
    top = (1 << bits) - 1
    scales = np.asarray(spec["weights"]["scales"])                                   # [layer·head]
    levels = levels_from(spec["weights"], bits).reshape(minilm.n_layers * minilm.n_heads, minilm.n_tokens, minilm.n_tokens)
    recovered = levels / top * scales[:, None, None]
    error = np.abs(recovered - minilm.weights.reshape(levels.shape).astype(np.float64))
    bound = scales / (2 * top)                                                        # half a level of each head's maximum
    assert (error.max(axis=(1, 2)) <= bound * (1 + 1e-6) + 1e-9).all()
    assert error.max() > 0.25 * bound.max()          # the bound is what quantising costs, not a loose promise
    np.testing.assert_allclose(scales, minilm.weights.max(axis=(2, 3)).ravel(), rtol=1e-6)
    # the caption shown above the views states the same precision
    assert f"± max/{2 * top}" in spec["caption"] if bits == 8 else "exact (within max/131070)" in spec["caption"]
    # and the builder's own decoder (for Python readers) agrees with this independent one
    np.testing.assert_allclose(standalone.decode_weights(spec["weights"], minilm.weights.shape),
                               recovered.reshape(minilm.weights.shape), atol=1e-7)


def test_levels_of_a_hand_built_head():
    # one head: its maximum 0.8 becomes level 255; 0.4 is exactly half of it (127.5 → 128, rounded half to even);
    # 0.2 a quarter (63.75 → 64); 0 stays 0
    weights = np.array([[[[0.8, 0.2, 0.0], [0.4, 0.4, 0.2], [0.0, 0.2, 0.8]]]], dtype=np.float32)
    encoded = standalone.encode_weights(weights, bits=8)
    assert encoded["scales"] == [pytest.approx(0.8)]
    assert levels_from(encoded, 8).tolist() == [255, 64, 0, 128, 128, 64, 0, 64, 255]
    assert levels_from(standalone.encode_weights(weights, bits=16), 16).tolist() == \
        [65535, 16384, 0, 32768, 32768, 16384, 0, 16384, 65535]   # 0.25·65535 = 16383.75, 0.5·65535 = 32767.5


def test_precision_defaults_to_16_bits_for_small_results_and_8_above():
    small, large = toy(["a"] * 20, 2, 3), toy(["a"] * 300, 6, 12)
    assert standalone.bits_for(small) == 16 and standalone.bits_for(large) == 8
    assert large.weights.size > standalone.SIXTEEN_BITS_UP_TO >= small.weights.size
    with pytest.raises(ValueError, match="8 or 16"):
        standalone.encode_weights(small.weights, bits=12)


def test_a_lone_head_carries_only_its_own_weights():
    result = toy(["a", "b", "c", "d"], layers=2, heads=3)
    [spec] = specs_in(result.show("head", layer=1, head=2)._repr_html_())
    assert spec["weights"]["only"] == [1, 2] and len(spec["weights"]["scales"]) == 1
    recovered = levels_from(spec["weights"], 16).reshape(4, 4) / 65535 * spec["weights"]["scales"][0]
    np.testing.assert_allclose(recovered, result.weights[1, 2], atol=result.weights[1, 2].max() / 131070 + 1e-9)
    assert "grid" not in spec and "links" not in spec


def test_the_file_carries_share_parameters_links_of_every_layer_and_no_request(minilm, tmp_path):
    text = "The doctor told the nurse that she would be late because the meeting ran long."
    document = export.view_file(minilm, tmp_path / "v.html", text=text, layer=4, head=7).read_text(encoding="utf-8")
    [spec] = specs_in(document)
    assert spec["share"] == {"text": text, "model": "minilm", "layer": 4, "head": 7}
    assert sorted(spec["links"], key=int) == [str(layer) for layer in range(minilm.n_layers)]
    assert spec["links"]["2"]["threshold"] == 0.1 and spec["links"]["2"]["layer"] == 2
    assert spec["grid"]["selected"] == [4, 7]
    # nothing the page could fetch: no src/href to anywhere, and the CSP forbids any request
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "", document, flags=re.DOTALL)   # the page outside its scripts
    assert markup.count("<") > 10 and not re.search(r"\b(src|href)\s*=", markup, re.IGNORECASE)
    assert "default-src 'none'" in document and "http://" not in document and "https://" not in document


def test_the_views_scripts_are_the_apps_component_files_not_copies():
    code = standalone.script()
    for files in standalone.SOURCES.values():
        body = (standalone._HERE / files[-1]).read_text(encoding="utf-8")
        name = re.search(r"^export default function (\w+)", body, re.MULTILINE).group(1)
        assert body.replace(f"export default function {name}", f"function {name}") in code
    assert (standalone._HERE / "standalone.js").read_text(encoding="utf-8") in code


def test_bad_views_and_thresholds_are_refused_with_a_message():
    result = toy(["a", "b"])
    with pytest.raises(ValueError, match="Unknown view 'table'"):
        result.show("table")
    with pytest.raises(ValueError, match="threshold"):
        result.show("links", threshold=0)._repr_html_()


# ---------------------------------------------------------------- user text stays text

def test_hostile_tokens_travel_as_escaped_json_only():
    result = toy(HOSTILE)
    document = standalone.page(result, text="</script><b>bold</b>")
    # the only script elements are the builder's own two (data, code); the tokens never close one
    assert document.count("<script") == 2 and document.count("</script>") == 2
    assert "<b>bold</b>" not in document and "&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in document
    assert "<img" not in document
    [spec] = specs_in(document)
    assert spec["tokens"] == HOSTILE and spec["links"]["0"]["tokens"] == HOSTILE


# ---------------------------------------------------------------- written whole or not at all

def test_write_file_is_all_or_nothing(tmp_path, monkeypatch):
    result = toy(["a", "b", "c"])
    target = tmp_path / "view.html"
    target.write_text("the previous file")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(standalone, "page", broken)
    with pytest.raises(RuntimeError):
        standalone.write_file(result, target)
    assert target.read_text() == "the previous file" and sorted(p.name for p in tmp_path.iterdir()) == ["view.html"]
    monkeypatch.undo()
    with pytest.raises(ValueError, match="does not exist"):
        standalone.write_file(result, tmp_path / "missing" / "v.html")
    with pytest.raises(ValueError, match="is a folder"):
        standalone.write_file(result, tmp_path)
    assert standalone.write_file(result, target).read_text(encoding="utf-8").startswith("<!doctype html>")


def test_notebook_views_import_neither_streamlit_nor_plotly():
    code = ("import sys, numpy as np; from attention import Attention\n"
            "r = Attention(tokens=['a', 'b'], weights=np.full((1, 1, 2, 2), 0.5), model='toy')\n"
            "assert r._repr_html_().startswith('<div class=\"attention-lens\"')\n"
            "print(sorted(m for m in ('streamlit', 'plotly') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# ---------------------------------------------------------------- in Chromium, offline

OTHER_HOSTS = ("file:", "data:", "blob:", "about:")


IN_SHADOWS = """([host, selector]) => {
    const root = document.getElementById(host).shadowRoot;
    return root ? [...root.querySelectorAll(selector)].map(e => e.textContent) : null;
}"""


def wait_drawn(page, host: str, title: str) -> None:
    page.wait_for_function("""([host, title]) => {
        const root = document.getElementById(host)?.shadowRoot;
        const view = root && root.querySelector('.hm-root[data-ready="true"]');
        return Boolean(view) && view.querySelector('.hm-title').textContent === title;
    }""", arg=[host, title], timeout=30_000)


def inked(page, host: str, selector: str) -> int:
    """Pixels of a canvas in the view's shadow root that are not white (0: nothing drawn)."""
    return page.evaluate("""([host, selector]) => {
        const canvas = document.getElementById(host).shadowRoot.querySelector(selector);
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let count = 0;
        for (let i = 0; i < data.length; i += 4) if (data[i + 3] && (data[i] < 240 || data[i + 1] < 240 || data[i + 2] < 240)) count++;
        return count;
    }""", [host, selector])


def grid_point(page, host: str, layer: int, head: int, heads: int = 12) -> tuple[float, float]:
    """Where the grid draws (layer, head), in page pixels (grid.js: tiles after a 30 px left and 22 px top margin)."""
    return tuple(page.evaluate("""([host, layer, head, heads]) => {
        const root = document.getElementById(host).shadowRoot;
        const canvas = root.querySelector('.hg-canvas'), box = canvas.getBoundingClientRect();
        const tile = Math.max(18, Math.min(64, Math.floor((root.querySelector('.hg-root').clientWidth - 38) / heads) - 4));
        return [box.left + 30 + head * (tile + 4) + tile / 2, box.top + 22 + layer * (tile + 4) + tile / 2];
    }""", [host, layer, head, heads]))


def hover_weight(page, host: str, fraction: tuple[float, float]) -> tuple[int, int, float, float | None]:
    """Hover the open head's canvas at a fraction of its size; the tooltip's query, key, weight and ± (None: exact)."""
    box = page.evaluate("""(host) => {
        const b = document.getElementById(host).shadowRoot.querySelector('.hm-canvas').getBoundingClientRect();
        return [b.left, b.top, b.width, b.height];
    }""", host)
    page.mouse.move(box[0] + fraction[0] * box[2], box[1] + fraction[1] * box[3])
    tip = page.wait_for_function("""(host) => {
        const tip = document.getElementById(host).shadowRoot.querySelector('.hm-root .hm-tip');
        return tip && !tip.hidden && tip.textContent;
    }""", arg=host, timeout=5_000).json_value()
    found = re.search(r"#(\d+)\)\nkey: .* \(#(\d+)\)\nweight: ([0-9.]+)(?: ± ([0-9.]+))?", tip)
    assert found, tip
    return int(found[1]), int(found[2]), float(found[3]), float(found[4]) if found[4] else None


def test_the_file_offline_draws_opens_any_head_and_hovers_weights(offline_page, minilm, tmp_path, artifacts):
    path = export.view_file(minilm, tmp_path / "view.html", text="The doctor told the nurse…", bits=8)
    page = offline_page
    page.goto(path.as_uri())
    host = page.evaluate("document.querySelector('.attention-lens').id")
    wait_drawn(page, host, "Layer 0 · Head 0")
    assert inked(page, host, ".hg-canvas") > 5000 and inked(page, host, ".hm-canvas") > 5000
    assert "nurse" in page.evaluate(IN_SHADOWS, [host, ".hm-tokens li"])

    page.mouse.click(*grid_point(page, host, 3, 7))
    wait_drawn(page, host, "Layer 3 · Head 7")
    assert page.evaluate(f"document.getElementById('{host}').dataset.layer + '/' + document.getElementById('{host}').dataset.head") == "3/7"
    assert page.evaluate(IN_SHADOWS, [host, ".sa-share-code"])[0].endswith("layer=3&head=7")
    assert page.evaluate(IN_SHADOWS, [host, ".sa-links .sa-view-title"]) == ["Token links · layer 3"]

    scale = float(minilm.weights[3, 7].max())
    for fraction in ((0.35, 0.3), (0.5, 0.55), (0.7, 0.8)):
        query, key, shown, plus_minus = hover_weight(page, host, fraction)
        assert plus_minus == pytest.approx(float(f"{scale / 510:.1g}"))
        # the number shown is the model's weight within half a level (and the 3–4 decimals it is written with)
        assert abs(shown - float(minilm.weights[3, 7, query, key])) <= scale / 510 + 5e-4
    page.screenshot(path=str(artifacts / "offline_file_head_hover.png"))   # the viewport: the tooltip stays up

    # token links: hovering a query token isolates its links
    token = page.locator(f"#{host} .tl-queries .tl-token").nth(3)
    token.hover()
    page.wait_for_function(f"document.getElementById('{host}').shadowRoot.querySelector('.tl-root').dataset.focus === 'q3'")
    page.screenshot(path=str(artifacts / "offline_file_links_hover.png"), full_page=True)
    assert page.requested == [] and page.errors == []


def test_hostile_text_is_shown_as_text_in_the_file(offline_page, tmp_path, artifacts):
    result = toy(HOSTILE, layers=2, heads=3)
    path = standalone.write_file(result, tmp_path / "hostile.html", text="</script><script>window.__pwned = 3</script>")
    page = offline_page
    page.goto(path.as_uri())
    host = page.evaluate("document.querySelector('.attention-lens').id")
    wait_drawn(page, host, "Layer 0 · Head 0")
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate(IN_SHADOWS, [host, ".hm-tokens li"]) == HOSTILE
    assert page.evaluate(IN_SHADOWS, [host, ".tl-queries .tl-token"]) == HOSTILE
    assert page.evaluate("document.querySelector('.text').textContent") == "</script><script>window.__pwned = 3</script>"
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    page.screenshot(path=str(artifacts / "offline_file_hostile.png"), full_page=True)
    assert page.requested == [] and page.errors == []


def test_several_views_on_one_page_are_independent(offline_page, tmp_path):
    a, b = toy(["x", "y", "z"], seed=1), toy(["p", "q", "r", "s"], seed=2)
    body = "\n".join([a._repr_html_(), b._repr_html_(), a.show("links", layer=1)._repr_html_()])
    path = tmp_path / "cells.html"
    path.write_text(f"<!doctype html><meta charset='utf-8'><body>{body}</body>", encoding="utf-8")
    page = offline_page
    page.goto(path.as_uri())
    hosts = page.evaluate("[...document.querySelectorAll('.attention-lens')].map(e => e.id)")
    assert len(set(hosts)) == 3
    for host in hosts[:2]:
        wait_drawn(page, host, "Layer 0 · Head 0")
    page.mouse.click(*grid_point(page, hosts[1], 1, 2, heads=3))
    wait_drawn(page, hosts[1], "Layer 1 · Head 2")
    assert page.evaluate(IN_SHADOWS, [hosts[0], ".hm-title"]) == ["Layer 0 · Head 0"]   # the other view did not move
    assert page.evaluate(IN_SHADOWS, [hosts[1], ".hm-tokens li"]) == ["p", "q", "r", "s"]
    page.wait_for_function(f"document.getElementById('{hosts[2]}').dataset.ready === 'true'")
    assert page.evaluate(IN_SHADOWS, [hosts[2], ".sa-view-title"]) == ["Token links · layer 1"]
    assert page.requested == [] and page.errors == []

