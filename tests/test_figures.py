"""attention/figures.py: pure plotly figures, checked without a browser (their data and their JSON)."""
from __future__ import annotations

import base64
import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from attention import attend
from figures import _INVISIBLE, head_heatmap, heads_side_by_side, safe_text, token_labels
from figures.payloads import grid_payload, head_payload
from figures.inspect import Panel, layer_head_map, panel_grid
from attention.run.result import Attention

LONG = " ".join(f"Token {i} of a long passage about attention heads, layers and weights." for i in range(300))


def hand_result(tokens: list[str], layers: int = 4, heads: int = 8, seed: int = 0) -> Attention:
    n = len(tokens)
    raw = np.random.default_rng(seed).random((layers, heads, n, n)) + 0.01
    return Attention(tokens=tokens, weights=raw / raw.sum(-1, keepdims=True), model="hand")


@pytest.fixture(scope="module")
def minilm_512():
    result = attend(LONG, "minilm")
    assert result.n_tokens == 512
    return result


def heatmaps(fig: go.Figure) -> list:
    return [trace for trace in fig.data if trace.type == "heatmap"]


# --- token labels -------------------------------------------------------------------------------------------

def test_token_labels_escape_html():
    labels = token_labels(["<b>", "a&b", "</script>", "plain"])
    assert labels == ["&lt;b&gt;", "a&amp;b", "&lt;/script&gt;", "plain"]


def test_token_labels_are_unique_for_600_repeats_with_short_suffixes():
    labels = token_labels(["the"] * 600)
    assert len(set(labels)) == 600
    assert labels[0] == "the"
    for label in labels:
        assert label.startswith("the")
        suffix = label[3:]
        assert set(suffix) <= set(_INVISIBLE)   # invisible: the axis still reads "the"
        assert len(suffix) <= 5                 # base 4: 600 repeats need at most 5 characters


def test_token_labels_stay_unique_when_tokens_already_end_in_zero_width_characters():
    tokens = ["a", "a\u200c", "a", "a\u200c", "a\u200b\u200c", "a", "a" + _INVISIBLE[1] * 2, "a"] * 20
    labels = token_labels(tokens)
    assert len(labels) == len(tokens)
    assert len(set(labels)) == len(tokens)
    assert all(len(label) <= len(token) + 6 for label, token in zip(labels, tokens))


def test_token_labels_for_mixed_repeats_keep_order_and_first_occurrence():
    tokens = ["[CLS]", "the", "cat", "the", "mat", "[SEP]", "the"]
    labels = token_labels(tokens)
    assert len(set(labels)) == len(tokens)
    assert [label.rstrip(_INVISIBLE) for label in labels] == tokens
    assert labels[:3] == ["[CLS]", "the", "cat"]


def test_empty_token_gets_a_visible_label_and_stays_distinct():
    labels = token_labels(["", "∅", ""])
    assert labels[0] == "∅"
    assert len(set(labels)) == 3


def test_safe_text_shows_markup_literally():
    assert safe_text("<b>x</b> & <br>") == "&lt;b&gt;x&lt;/b&gt; &amp; &lt;br&gt;"


# --- one head -----------------------------------------------------------------------------------------------

def test_head_heatmap_title_data_and_hover():
    result = hand_result(["[CLS]", "the", "cat", "the", "<b>", "[SEP]"])
    fig = head_heatmap(result, 3, 7)
    assert fig.layout.title.text == "Layer 3 · Head 7"
    (trace,) = heatmaps(fig)
    np.testing.assert_array_equal(trace.z, result.head(3, 7))
    assert list(trace.x) == list(trace.y) == token_labels(result.tokens)
    assert "&lt;b&gt;" in trace.x and "<b>" not in trace.x
    assert trace.zmin == 0.0
    assert trace.zmax == pytest.approx(float(result.head(3, 7).max()))
    for word in ("query", "key", "weight"):
        assert word in trace.hovertemplate
    assert fig.layout.yaxis.autorange == "reversed"   # queries read top to bottom


def test_head_heatmap_on_minilm_and_clamping(minilm_512):
    assert head_heatmap(minilm_512, 3, 7).layout.title.text == "Layer 3 · Head 7"
    clamped = head_heatmap(minilm_512, 99, -4)
    assert clamped.layout.title.text == "Layer 5 · Head 0"
    np.testing.assert_array_equal(heatmaps(clamped)[0].z, minilm_512.head(5, 0))


def test_head_heatmap_sends_float32_typed_arrays():
    fig = head_heatmap(hand_result(["a", "b", "c", "d"]), 0, 0)
    text = pio.to_json(fig)
    z = json.loads(text)["data"][0]["z"]
    assert isinstance(z, dict) and z["dtype"] == "f4"   # a base64 typed array, not nested lists of numbers
    assert '"dtype":"f4"' in text


def test_head_heatmap_json_at_512_tokens_is_small(minilm_512):
    text = pio.to_json(head_heatmap(minilm_512, 2, 5))
    assert '"dtype":"f4"' in text
    assert len(text.encode()) < 1.7e6


def test_head_heatmap_height_grows_with_tokens_but_is_bounded():
    short = head_heatmap(hand_result(["a", "b"], layers=1, heads=1), 0, 0).layout.height
    long = head_heatmap(hand_result([f"t{i}" for i in range(200)], layers=1, heads=1), 0, 0).layout.height
    assert 380 <= short < long <= 900
    assert head_heatmap(hand_result(["a", "b"], layers=1, heads=1), 0, 0, height=555).layout.height == 555


@pytest.mark.parametrize("tokens", [["[CLS]", "the", "[SEP]"], ["a", "internationalization", "supercalifragilistic" * 2]])
def test_head_heatmap_top_margin_holds_the_slanted_key_labels_and_a_title_band_above_them(tokens):
    fig = head_heatmap(hand_result(tokens, layers=1, heads=1), 0, 0)
    assert fig.layout.xaxis.side == "top" and fig.layout.xaxis.tickangle == -60
    font = fig.layout.xaxis.tickfont.size
    # the longest label, at ~0.55 em a character, rotated 60°: how far it reaches above the plot
    reach = 0.55 * font * max(map(len, tokens)) * np.sin(np.radians(60)) + font * np.cos(np.radians(60))
    title = fig.layout.title
    assert (title.yref, title.y, title.yanchor) == ("container", 0.995, "top")   # the title hangs from the top edge
    assert fig.layout.margin.t >= reach + 30                                      # ... over a band the labels leave free


def test_head_heatmap_top_margin_grows_with_the_longest_token():
    short = head_heatmap(hand_result(["a", "b"], layers=1, heads=1), 0, 0).layout.margin.t
    long = head_heatmap(hand_result(["a", "x" * 30], layers=1, heads=1), 0, 0).layout.margin.t
    assert short < long


# --- Compare and Bias probe figures (attention/figures_inspect.py) ------------------------------------------

def test_panel_grid_gives_row_and_key_labels_room_and_keeps_panels_apart():
    tokens = ["[CLS]", "animal", "street", "because", "[SEP]"]
    matrix = np.full((5, 5), 0.2)
    fig = panel_grid([Panel("A", matrix, tokens, tokens), Panel("B", matrix, tokens, tokens)], title="t")
    axes = [fig.layout.xaxis, fig.layout.xaxis2, fig.layout.yaxis, fig.layout.yaxis2]
    assert all(axis.automargin for axis in axes)                  # A's row labels are not cut off at the left edge
    assert fig.layout.xaxis2.domain[0] - fig.layout.xaxis.domain[1] >= 0.15 - 1e-9   # B's row labels clear A's heatmap
    single = panel_grid([Panel("A", matrix, tokens, tokens)])
    assert tuple(single.layout.xaxis.domain) == (0.0, 1.0)


@pytest.mark.parametrize(("layers", "heads"), [(6, 12), (2, 4), (1, 1)])
def test_layer_head_map_axes_span_exactly_the_heads_and_layers(layers, heads):
    scores = np.random.default_rng(0).random((layers, heads))
    fig = layer_head_map(scores, "", "moved")
    # fixed ranges: the invisible click markers must not widen the axes to phantom heads −1 and `heads`
    assert tuple(fig.layout.xaxis.range) == (-0.5, heads - 0.5)
    assert tuple(fig.layout.yaxis.range) == (layers - 0.5, -0.5)     # layer 0 on top
    markers = fig.data[1]
    assert min(markers.x) == 0 and max(markers.x) == heads - 1 and max(markers.y) == layers - 1


# --- every head ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("n", "layers", "heads"), [(6, 2, 3), (40, 4, 8)])
def test_grid_payload_holds_one_quantised_thumbnail_per_head(n, layers, heads):
    result = hand_result([f"t{i}" for i in range(n)], layers=layers, heads=heads)
    payload = grid_payload(result, selected=(99, 1), size=24)
    side = min(n, 24)
    assert (payload["layers"], payload["heads"], payload["size"]) == (layers, heads, side)
    assert payload["selected"] == [layers - 1, 1]  # clamped like every other (layer, head)
    tiles = np.frombuffer(base64.b64decode(payload["thumbnails"]), dtype=np.uint8).reshape(layers, heads, side, side)
    assert (tiles.max(axis=(2, 3)) == 255).all()  # each head on its own scale
    thumbs = result.thumbnails(24)
    expected = 255 * thumbs / thumbs.max(axis=(2, 3), keepdims=True)
    assert np.abs(tiles.astype(float) - expected).max() <= 0.5 + 1e-3   # the tile is the thumbnail, quantised


def test_grid_and_head_payloads_stay_small_at_512_tokens(minilm_512):
    grid = json.dumps(grid_payload(minilm_512, (0, 0)))
    head = json.dumps(head_payload(minilm_512, 3, 7))
    assert len(grid) < 80_000
    assert len(head) < 720_000  # 512 × 512 uint16 levels, base64: half of float32


def test_head_payload_levels_give_back_the_weights():
    result = hand_result(["[CLS]", "<b>x</b>", "a", "a"])
    payload = head_payload(result, 1, 2)
    assert payload["title"] == "Layer 1 · Head 2"
    assert payload["tokens"] == ["[CLS]", "<b>x</b>", "a", "a"]  # raw: the component draws them as text
    levels = np.frombuffer(base64.b64decode(payload["weights"]), dtype="<u2").reshape(4, 4)
    assert levels.max() == 65535
    np.testing.assert_allclose(levels / 65535 * payload["scale"], result.head(1, 2), atol=payload["scale"] / 65535)


def test_heads_side_by_side_share_one_colour_scale():
    result = hand_result(["a", "b", "<i>", "a"])
    chosen = [(0, 1), (2, 3), (3, 7)]
    fig = heads_side_by_side(result, chosen)
    traces = heatmaps(fig)
    assert len(traces) == 3
    assert {trace.coloraxis for trace in traces} == {"coloraxis"}
    assert fig.layout.coloraxis.cmin == 0.0
    assert fig.layout.coloraxis.cmax == pytest.approx(max(float(result.head(*pair).max()) for pair in chosen))
    for trace, pair in zip(traces, chosen):
        np.testing.assert_array_equal(trace.z, result.head(*pair))
        assert "&lt;i&gt;" in trace.x
        assert all(word in trace.hovertemplate for word in ("query", "key", "weight"))
    titles = [annotation.text for annotation in fig.layout.annotations]
    assert titles == ["Layer 0 · Head 1", "Layer 2 · Head 3", "Layer 3 · Head 7"]


def test_heads_side_by_side_clamps_and_defaults():
    result = hand_result(["a", "b", "c"], layers=2, heads=2)
    fig = heads_side_by_side(result, [(9, 9)])
    assert [annotation.text for annotation in fig.layout.annotations] == ["Layer 1 · Head 1"]
    empty = heads_side_by_side(result, [])
    assert len(heatmaps(empty)) == 1
    np.testing.assert_array_equal(heatmaps(empty)[0].z, result.head(0, 0))
