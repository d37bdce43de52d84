"""The offline HTML file and the notebook views (views/standalone.py + standalone.js): the weights it carries equal
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
from views import standalone

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
    scales = np.asarray(spec["weights"]["scales"])[:, None, None]                    # [layer·head]
    levels = levels_from(spec["weights"], bits).reshape(minilm.n_layers * minilm.n_heads, minilm.n_tokens, minilm.n_tokens)
    true = minilm.weights.reshape(levels.shape).astype(np.float64)
    if bits == 16:   # linear: half a level of each head's maximum
        curve = lambda level: level / top * scales                                      # noqa: E731
    else:            # μ-law: level = round(255·ln(1 + μ·w/max) / ln(1 + μ)), so a level is a step relative to the weight
        assert spec["weights"]["code"] == "mu" and spec["weights"]["mu"] == 255
        curve = lambda level: np.expm1(np.clip(level, 0, top) / top * np.log1p(255)) / 255 * scales   # noqa: E731
    recovered = curve(levels.astype(np.float64))
    half_step = np.maximum(curve(levels + 0.5) - recovered, recovered - curve(levels - 0.5))   # the wider side of the level
    assert (np.abs(recovered - true) <= half_step * 1.0001 + 1e-9).all()
    assert np.abs(recovered - true).max() > 0.25 * half_step.max()   # the bound is what quantising costs
    np.testing.assert_allclose(scales.ravel(), minilm.weights.max(axis=(2, 3)).ravel(), rtol=1e-6)
    # the caption shown above the views states the same precision
    assert "8-bit μ-law levels" in spec["caption"] if bits == 8 else "within max/131070" in spec["caption"]
    # and the builder's own decoder (for Python readers) agrees with this independent one
    np.testing.assert_allclose(standalone.decode_weights(spec["weights"], minilm.weights.shape),
                               recovered.reshape(minilm.weights.shape), atol=1e-7)


def test_levels_of_a_hand_built_head():
    # 8 bits, μ-law: its maximum 0.8 becomes level 255; 0.4 (half) 255·ln(128.5)/ln(256) = 223.3 → 223;
    # 0.2 (a quarter) 255·ln(64.75)/ln(256) = 191.8 → 192; 0 stays 0. A weight of max/1000 still gets level 8.
    weights = np.array([[[[0.8, 0.2, 0.0], [0.4, 0.4, 0.2], [0.0, 0.2, 0.8]]]], dtype=np.float32)
    encoded = standalone.encode_weights(weights, bits=8)
    assert encoded["scales"] == [pytest.approx(0.8)]
    assert levels_from(encoded, 8).tolist() == [255, 192, 0, 223, 223, 192, 0, 192, 255]
    small = np.array([[[[0.8, 0.0008, 0.1992]]]], dtype=np.float32)   # 255·ln(1.255)/ln(256) = 10.4 → 10; 191.6 → 192
    assert levels_from(standalone.encode_weights(small, bits=8), 8).tolist() == [255, 10, 192]
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
        # the number shown is the model's weight within the bound printed beside it (a step of the μ-law curve)
        assert abs(shown - float(minilm.weights[3, 7, query, key])) <= plus_minus
        assert plus_minus <= 0.025 * scale
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



# ---------------------------------------------------------------- issue 27: bounds that hold, pairs, encoder–decoders

LONG = ("The committee, which had met every week since the spring, finally agreed that the new library would open in "
        "the old station on the corner of the market square, although several members still worried about the cost of "
        "the roof, the heating and the long list of repairs that the surveyors had found in their report last month.")


def hover_texts(page, encoded: dict, shape: tuple[int, int], slot: int) -> list[str]:
    """What heatmap.js prints on hover for every cell of one head: common.js's levelBounds and hoverValue, run in
    Chromium on the levels as the file stores them."""
    common = (standalone._HERE / "heatmap" / "common.js").read_text(encoding="utf-8")
    levels = np.frombuffer(zlib.decompress(base64.b64decode(encoded["data"])),
                           dtype=np.uint8 if encoded["bits"] == 8 else "<u2").reshape(-1, *shape)[slot]
    page.set_content("<!doctype html><meta charset='utf-8'><body></body>")
    return page.evaluate(f"""([levels, bits, code, scale, mu]) => {{
        {common}
        return levels.map((level) => hoverValue(...levelBounds(level, bits, code, scale, mu)));
    }}""", [levels.ravel().tolist(), encoded["bits"], encoded.get("code", "linear"), encoded["scales"][slot], encoded.get("mu", 255)])


@pytest.mark.parametrize("bits", [8, 16])
def test_the_hover_value_and_bound_hold_for_every_cell_of_real_heads(page, bits):
    result = attend(LONG, "minilm")
    assert result.n_tokens > 60
    encoded = standalone.encode_weights(result.weights, bits)
    n = result.n_tokens
    for layer, head in ((0, 0), (2, 5), (5, 11)):
        slot = layer * result.n_heads + head
        texts = hover_texts(page, encoded, (n, n), slot)
        printed = np.array([[float(part) for part in text.split(" ± ")] for text in texts])       # [cell, (value, bound)]
        true = result.weights[layer, head].astype(np.float64).ravel()
        assert (np.abs(printed[:, 0] - true) <= printed[:, 1]).all()                              # every cell, no exception
        assert np.median(printed[:, 1]) < (0.004 if bits == 8 else 2e-5)                           # and a useful bound
    if bits == 8:   # μ-law: small weights keep levels of their own (linear 8-bit levels put most of them at 0)
        levels = np.frombuffer(zlib.decompress(base64.b64decode(encoded["data"])), np.uint8)
        top = result.weights.max(axis=(2, 3), keepdims=True)
        linear = np.round(result.weights / top * 255)
        assert (levels == 0).mean() < (linear == 0).mean() / 4          # MiniLM here: 8% instead of 34%
        weights = result.weights.ravel()
        assert (weights[levels == 0] < (top.ravel().repeat(n * n) / 23_000)[levels == 0]).all()
        # the numbers the caption states: a level is a step of 2.2% of the weight; level 0 only under max/23,000
        assert np.expm1(np.log1p(255) / 255) == pytest.approx(0.022, abs=5e-4)
        assert 1 / (np.expm1(0.5 / 255 * np.log1p(255)) / 255) > 23_000
        assert "steps of about 2.2% of the weight" in standalone.precision(8) and "max/23,000" in standalone.precision(8)


def pair_file(tmp_path):
    result = attend("The cat sat on the mat.", "minilm", text_b="It was warm there.")
    return result, export.view_file(result, tmp_path / "pair.html", text="The cat sat on the mat. / It was warm there.")


def test_a_pair_carries_where_b_begins_and_tokens_are_prettified_with_the_raw_on_hover():
    result = attend("The cat sat on the mat.", "minilm", text_b="It was warm there.")
    [spec] = specs_in(result._repr_html_())
    assert spec["pair"] == {"b": 9} and "raw" not in spec                     # WordPiece tokens need no prettifying
    gpt = Attention(tokens=["Hello", "Ġworld", "Ċ", "ĠcafÃ©"], weights=np.full((1, 1, 4, 4), 0.25), model="g")
    [spec] = specs_in(gpt.show("all")._repr_html_())
    assert spec["tokens"] == ["Hello", " world", "↵", " café"] and spec["raw"] == gpt.tokens
    assert spec["links"]["0"]["tokens"] == spec["tokens"]
    long = standalone.spec(gpt, text="x" * 10_000)
    assert len(long["share"]["text"]) == standalone.TEXT_CAP and "first 6,000 characters" in long["notices"][0]
    from ui.state import URL_TEXT_CAP
    assert standalone.TEXT_CAP == URL_TEXT_CAP                                 # the app's share-link cap


def test_pair_filters_in_chromium_offline(offline_page, tmp_path, artifacts):
    result, path = pair_file(tmp_path)
    b, n = result.meta["sentence_b_start"], result.n_tokens
    page = offline_page
    page.goto(path.as_uri())
    host = page.evaluate("document.querySelector('.attention-lens').id")
    wait_drawn(page, host, "Layer 0 · Head 0")
    weights = result.weights[0]
    expected = {"all": (slice(0, n), slice(0, n)), "aa": (slice(0, b), slice(0, b)), "ab": (slice(0, b), slice(b, n)),
                "ba": (slice(b, n), slice(0, b)), "bb": (slice(b, n), slice(b, n))}
    for name, (rows, cols) in expected.items():
        page.locator(f"#{host} select.sa-filter").select_option(name)
        page.wait_for_function(f"document.getElementById('{host}').dataset.filter === '{name}'")
        wait_drawn(page, host, "Layer 0 · Head 0")
        label = page.evaluate(f"document.getElementById('{host}').shadowRoot.querySelector('.hm-root').getAttribute('aria-label')")
        assert f"of {rows.stop - rows.start} query tokens over {cols.stop - cols.start} key tokens" in label
        assert page.evaluate(IN_SHADOWS, [host, ".hm-tokens li"]) == result.tokens[rows]
        page.wait_for_function(f"document.getElementById('{host}').shadowRoot.querySelector('.tl-root').dataset.drawn"
                               f" === '{int((weights[:, rows, cols] >= 0.1).sum())}'")
        if name == "ab":
            page.screenshot(path=str(artifacts / "offline_file_pair_a_to_b.png"))
            query, key, shown, bound = hover_weight(page, host, (0.5, 0.5))
            assert query < b <= key and abs(shown - float(result.weights[0, 0, query, key])) <= bound
    assert page.requested == [] and page.errors == []


def test_an_encoder_decoder_file_offline_shows_encoder_decoder_and_cross(offline_page, tmp_path, artifacts):
    from attention import view

    rng = np.random.default_rng(5)
    soft = lambda *shape: (lambda x: x / x.sum(-1, keepdims=True))(rng.random(shape) ** 4)   # noqa: E731
    source, target = ["▁The", "▁cat", "▁sat", "</s>"], ["<s>", "▁Le", "▁chat", "▁était", "▁assis", "</s>"]
    result = view(encoder=soft(2, 3, 4, 4), decoder=soft(2, 3, 6, 6), cross=soft(2, 3, 6, 4), encoder_tokens=source,
                  decoder_tokens=target, model="tiny-bart")
    path = export.view_file(result, tmp_path / "encdec.html")
    page = offline_page
    page.goto(path.as_uri())
    host = page.evaluate("document.querySelector('.attention-lens').id")
    wait_drawn(page, host, "Encoder · Layer 0 · Head 0")
    assert page.evaluate(IN_SHADOWS, [host, ".hm-tokens li"]) == [" The", " cat", " sat", "</s>"]
    for part, title, queries, keys in (("decoder", "Decoder · Layer 0 · Head 0", target, target),
                                       ("cross", "Cross-attention · Layer 0 · Head 0", target, source)):
        page.locator(f"#{host} select.sa-part").select_option(part)
        wait_drawn(page, host, title)
        label = page.evaluate(f"document.getElementById('{host}').shadowRoot.querySelector('.hm-root').getAttribute('aria-label')")
        assert f"of {len(queries)} query tokens over {len(keys)} key tokens" in label
        assert page.evaluate(IN_SHADOWS, [host, ".tl-keys .tl-token"]) == [t.replace("▁", " ") for t in keys]
    query, key, shown, bound = hover_weight(page, host, (0.5, 0.5))
    assert abs(shown - float(result.cross[0, 0, query, key])) <= bound
    tip = page.evaluate(f"document.getElementById('{host}').shadowRoot.querySelector('.hm-root .hm-tip').textContent")
    assert "«▁" in tip                                                          # the raw token beside the shown one
    page.mouse.click(*grid_point(page, host, 1, 2, heads=3))
    wait_drawn(page, host, "Cross-attention · Layer 1 · Head 2")
    page.screenshot(path=str(artifacts / "offline_file_encoder_decoder_cross.png"))
    assert page.requested == [] and page.errors == []


def test_an_untrusted_notebook_shows_a_one_line_hint_not_an_empty_box(browser, tmp_path):
    result = toy(["a", "b", "c"])
    path = tmp_path / "cell.html"
    path.write_text(f"<!doctype html><meta charset='utf-8'><body>{result._repr_html_()}</body>", encoding="utf-8")
    for scripts in (False, True):
        context = browser.new_context(java_script_enabled=scripts)
        page = context.new_page()
        page.goto(path.as_uri())
        if scripts:
            page.wait_for_function("document.querySelector('.attention-lens').dataset.ready === 'true'")
        shown = page.evaluate("document.querySelector('.attention-lens > p').getClientRects().length > 0") if scripts \
            else page.locator(".attention-lens > p").is_visible()
        assert shown is (not scripts)                     # the hint where no script ran; hidden by the view otherwise
        assert "not trusted" in page.locator(".attention-lens > p").text_content()
        context.close()


def test_the_apps_payloads_prettify_tokens_too_and_keep_the_raw_for_the_hover():
    from attention.analyses.links import layer_links
    from views.payloads import head_payload, head_view_payload, payload

    gpt = Attention(tokens=["Hello", "Ġworld", "Ċ"], weights=np.full((1, 1, 3, 3), 1 / 3), model="g")
    assert payload(layer_links(gpt, 0, 0.1))["tokens"] == ["Hello", " world", "↵"]
    assert head_payload(gpt, 0, 0)["raw"] == gpt.tokens and head_payload(gpt, 0, 0)["tokens"][1] == " world"
    data = head_view_payload(gpt, 0, 0, held=set(), has_tokens=False)
    assert data["tokens"] == ["Hello", " world", "↵"] and data["raw"] == gpt.tokens
    plain = Attention(tokens=["[CLS]", "the", "##re", " ", "[SEP]"], weights=np.full((1, 1, 5, 5), 0.2), model="m")
    assert "raw" not in head_view_payload(plain, 0, 0, held=set(), has_tokens=False)   # nothing to decode: as written


def test_results_and_views_have_a_short_text_form():
    result = toy(["a", "b", "c"] * 40, layers=6, heads=12)
    assert len(repr(result)) < 200 and "120 tokens" in repr(result) and "6 layers × 12 heads" in repr(result)
    shown = repr(result.show("all"))
    assert shown.startswith("View(grid + head + links of Attention('toy'") and len(shown) < 300
