"""The Inspect pages through AppTest: Token links, Compare, Bias probe. URL state in and out, what each draws,
bad input as messages, user text as data."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from apptest_pages import open_page

import ui
from attention import attend
from attention.analyses.bias import DEFAULT_TEMPLATES

HOSTILE = '<img src=x onerror=alert(1)> <script>alert(2)</script>'


def messages(app: AppTest) -> str:
    return " ".join(str(m.value) for m in [*app.warning, *app.error, *app.info]).replace("\\", "")


def charts(app: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]


def links_data(app: AppTest) -> dict:
    return json.loads(next(e for e in app.get("bidi_component") if e.proto.component_name == "token_links").proto.json)


# ---------------------------------------------------------------- Token links

def test_links_open_with_the_default_sentence_and_write_the_url():
    app = open_page("token_links")
    data = links_data(app)
    assert data["tokens"] == attend(ui.DEFAULT_TEXT, "minilm").tokens
    # the readable default: the mean of the layer's heads, one set of lines (issue 18)
    assert [head["name"] for head in data["heads"]] == ["mean"] and data["shown"] == [0] and data["threshold"] == 0.1
    params = dict(app.query_params)
    assert params["text"] == ui.DEFAULT_TEXT and params["mode"] == "mean" and params["threshold"] == "0.1"
    every = links_data(open_page("token_links", mode="heads"))   # one choice away: every head in its colour
    assert len(every["heads"]) == 12 and every["shown"] == list(range(12))


def test_links_share_url_reproduces_layer_heads_threshold_and_pin():
    app = open_page("token_links", text="Cats chase mice.", model="minilm", layer="3", heads="2,7", threshold="0.3", pin="q2",
                    mode="heads")
    data = links_data(app)
    result = attend("Cats chase mice.", "minilm")
    assert data["shown"] == [2, 7] and data["pin"] == "q2" and data["threshold"] == 0.3
    for head in (2, 7):  # exactly the pairs at or above 0.3 travel, weights as bytes
        sent = data["heads"][head]
        expected = np.argwhere(result.weights[3, head] >= 0.3)
        assert sent["n"] == len(expected)
        queries = np.frombuffer(base64.b64decode(sent["q"]), "<u2")
        keys = np.frombuffer(base64.b64decode(sent["k"]), "<u2")
        assert sorted(zip(queries.tolist(), keys.tolist())) == sorted(map(tuple, expected.tolist()))
    assert (data["layer"], data["layers"], app.slider[0].value) == (3, 6, 0.3)   # the component's own Layer box
    assert data["slots"][3] == data["slot"] and len(set(data["slots"])) == 6
    assert dict(app.query_params)["pin"] == "q2"


def test_links_mean_mode_and_words_mode():
    app = open_page("token_links", text="The snowboarders wobbled.", model="scratch", mode="mean", words="1", threshold="0.05")
    data = links_data(app)
    assert [head["name"] for head in data["heads"]] == ["mean"] and data["shown"] == [0]
    assert "snowboarders" in data["tokens"] and "##board" not in data["tokens"]
    assert "words" in app.caption[-1].value and dict(app.query_params)["words"] == "1"


def test_links_threshold_change_sends_fewer_links_and_updates_the_url():
    app = open_page("token_links", text="Cats chase mice in the barn.", model="scratch")
    before = sum(head["n"] for head in links_data(app)["heads"])
    app.slider[0].set_value(0.5).run()
    after = sum(head["n"] for head in links_data(app)["heads"])
    assert after < before and dict(app.query_params)["threshold"] == "0.5"


@pytest.mark.parametrize("params, expected", [
    ({"threshold": "abc"}, "is not a number"),
    ({"threshold": "7"}, "outside 0.01–1.0"),
    ({"threshold": "nan"}, "outside"),
    ({"mode": "rainbow"}, "not one of mean, heads"),
    ({"heads": "1,99"}, "lacks"),
    ({"pin": "q999"}, "nothing is pinned"),
    ({"layer": "42"}, "does not exist"),
])
def test_links_bad_parameters_give_a_notice_and_a_view(params, expected):
    app = open_page("token_links", text="One two three.", model="scratch", **params)
    assert expected in messages(app)
    assert links_data(app)["tokens"]


def test_links_state_survives_a_visit_to_another_page():
    app = open_page("token_links", text="Birds sing.", model="scratch", layer="1", threshold="0.4")
    app.switch_page("pages/home.py").run()
    app.switch_page("pages/token_links.py").run()
    assert not app.exception
    assert app.slider[0].value == 0.4 and links_data(app)["layer"] == 1
    assert links_data(app)["tokens"][1] == "birds"


def test_links_hostile_text_travels_as_plain_strings():
    app = open_page("token_links", text=HOSTILE, model="scratch")
    tokens = links_data(app)["tokens"]
    assert "<" in tokens and "script" in tokens and ">" in tokens  # raw text, written with textContent
    assert app.text_area[0].value == HOSTILE


# ---------------------------------------------------------------- Compare

def compare_view(app: AppTest) -> dict:
    """The data of Compare's head view: A's head, with B's and the alignment in `pair` (A − B is drawn from them)."""
    return json.loads(next(e for e in app.get("bidi_component") if e.proto.component_name == "head_heatmap").proto.json)


def levels(data: dict) -> np.ndarray:
    n = len(data["tokens"])
    return np.frombuffer(base64.b64decode(data["weights"]), "<u2").reshape(n, n) / 65535 * data["scale"]


def test_compare_opens_with_two_default_sentences_and_their_difference():
    app = open_page("compare", model="scratch")
    data = compare_view(app)
    pair = data["pair"]
    assert "tired/wide" in pair["labels"]                       # the swapped word is paired, A − B shows what it changed
    a, b = levels(data), levels(pair)
    ia, ib = np.array(pair["a"]), np.array(pair["b"])
    for i, j, label in zip(ia, ib, pair["labels"]):             # aligned positions hold the labelled tokens
        assert label in (data["tokens"][i], f"{data['tokens'][i]}/{pair['tokens'][j]}")
    diff = a[np.ix_(ia, ia)] - b[np.ix_(ib, ib)]               # what the browser draws as A − B
    result = attend(ui.DEFAULT_TEXT, "scratch")
    np.testing.assert_allclose(a, result.head(0, 0), atol=2e-5)
    assert diff.shape == (len(pair["labels"]),) * 2 and np.abs(diff).max() > 0
    (overview,) = charts(app)
    assert z_values(overview["data"][0]).shape == (2, 4)  # mean |A − B| per layer × head
    params = dict(app.query_params)
    assert params["mode"] == "sentences" and params["text_b"].endswith("too wide.")


def test_compare_two_models_on_the_same_head():
    app = open_page("compare", mode="models", text="Cats chase mice.", model="minilm", model_b="scratch", layer="1", head="3")
    assert "only the 2 × 4 both have" in messages(app)
    data = compare_view(app)
    assert (data["layer"], data["head"], data["pickers"]) == (1, 3, {"layers": 2, "heads": 4})   # the common shape
    assert (data["pair"]["title_a"], data["pair"]["title_b"]) == ("A (minilm)", "B (scratch)")
    np.testing.assert_allclose(levels(data), attend("Cats chase mice.", "minilm").head(1, 3), atol=2e-5)
    np.testing.assert_allclose(levels(data["pair"]), attend("Cats chase mice.", "scratch").head(1, 3), atol=2e-5)
    assert dict(app.query_params)["model_b"] == "scratch"


def test_compare_equal_models_differ_by_rounding_only():
    app = open_page("compare", mode="models", text="Cats chase mice.", model="minilm", model_b="scratch:minilm")
    assert "mean |A − B| **0.0000**" in app.markdown[0].value


def test_compare_more_heads_from_the_url_share_one_scale_and_head_choice_updates_the_url():
    app = open_page("compare", model="scratch", heads="L0·H1,L1·H2,bogus")
    more = charts(app)[-1]
    assert len(more["data"]) == 4 and {t["coloraxis"] for t in more["data"]} == {"coloraxis"}
    app.session_state["compare_head"] = 3   # what the head view's own Head box sets (the browser drew it already)
    app.run()
    params = dict(app.query_params)
    assert params["head"] == "3" and params["heads"] == "L0·H1,L1·H2"
    assert compare_view(app)["head"] == 3


def test_compare_an_unloadable_model_b_gives_a_message_not_a_traceback():
    app = open_page("compare", mode="models", model="scratch", model_b="no-such-model-anywhere")
    assert "Could not load" in messages(app) and not app.get("plotly_chart")
    assert dict(app.query_params)["model_b"] == "no-such-model-anywhere"  # the link still says what was asked


def test_compare_hostile_text_is_escaped_in_every_figure():
    app = open_page("compare", model="scratch", text=HOSTILE, text_b=HOSTILE + " x")
    data = compare_view(app)   # tokens travel as plain strings (drawn with fillText), never as markup
    assert "<" in data["tokens"] and "<" in data["pair"]["tokens"] and "<" in data["pair"]["labels"]
    for chart in charts(app):
        for trace in chart["data"]:
            assert not any("<" in str(label) for label in trace.get("x", []) if isinstance(label, str))


# ---------------------------------------------------------------- Bias probe

def bias_page(**params: str) -> AppTest:
    return open_page("bias_probe", **{"model": "scratch", **params})


def bias_chart(app: AppTest, colour_bar: str) -> dict:
    """The layers × heads map whose colour bar starts with `colour_bar` ("excess shift", "moved", "moved (control)")."""
    def title(chart: dict) -> str:
        return ((chart["data"][0].get("colorbar") or {}).get("title") or {}).get("text", "")
    return next(chart for chart in charts(app) if title(chart).replace("<br>", " ").startswith(colour_bar)
                and (colour_bar != "moved" or title(chart) == "moved"))


def bars_chart(app: AppTest) -> dict:
    return next(chart for chart in charts(app) if chart["data"][0]["type"] == "bar")


def test_bias_opens_with_the_default_templates_summary_heatmap_and_table():
    app = bias_page()
    assert app.text_area[0].value == DEFAULT_TEMPLATES
    summary = app.markdown[0].value
    assert "Over 34 sentence pairs and 8 heads" in summary.replace("\\", "")
    assert "Control swaps that change the word but not to the other gender" in summary.replace("\\", "")
    heat = bias_chart(app, "moved")
    assert z_values(heat["data"][0]).shape == (2, 4) and bars_chart(app)["data"][0]["orientation"] == "h"
    excess = bias_chart(app, "excess shift")
    assert z_values(excess["data"][0]).shape == (2, 4) and excess["data"][0]["zmid"] == 0
    assert z_values(bias_chart(app, "moved (control)")["data"][0]).shape == (2, 4)
    assert "SEAT reads a sentence encoder" in messages(app)                  # scratch is not a sentence encoder
    assert "Carlini et al., 2021" in " ".join(m.value for m in app.markdown)    # the privacy note
    assert "Jain & Wallace" in messages(app) and "Wiegreffe & Pinter" in messages(app)
    assert len(app.dataframe[0].value) == 34 * 8
    table = app.dataframe[0].proto
    assert list(table.column_order[:3]) == ["layer", "head", "shift"]        # the key column is never cut off at the right
    assert set(table.column_order) == set(app.dataframe[0].value.columns)     # ... and no column is hidden
    assert json.loads(table.columns)["shift"]["type_config"]["format"] == "%.3f"
    params = dict(app.query_params)
    assert params["text"] == DEFAULT_TEMPLATES and params["model"] == "scratch"


def z_values(trace: dict) -> np.ndarray:
    """A heatmap's z as plotly sends it: a typed array (dtype, base64 bytes, shape) or nested lists."""
    z = trace["z"]
    if isinstance(z, dict):
        shape = [int(n) for n in str(z["shape"]).split(",")]
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape)
    return np.array(z, dtype=float)


def test_bias_opens_on_the_head_with_the_largest_excess_and_the_url_can_choose_another():
    from attention.analyses.bias import expand, probe

    templates = "The {occupation} said that {he/she} was tired."
    app = bias_page(text=templates)
    report = probe(expand(templates)[0], "scratch")
    excess = z_values(bias_chart(app, "excess shift")["data"][0])
    np.testing.assert_allclose(excess, report.excess, atol=1e-6)
    surviving = report.surviving()
    top = surviving[0][:2] if surviving else np.unravel_index(np.argmax(np.abs(report.excess)), excess.shape)
    assert [box.value for box in app.selectbox if box.label in ("Layer", "Head")] == [int(top[0]), int(top[1])]
    hover = bias_chart(app, "excess shift")["data"][1]["customdata"]           # excess, p, adjusted p per head
    values = np.array(hover["_inputArray"] if isinstance(hover, dict) and "_inputArray" in hover else
                      z_values({"z": hover}), dtype=float).reshape(-1, 3)
    np.testing.assert_allclose(values[:, 1], report.p_values.ravel(), atol=1e-9)
    assert ((0 < values[:, 1]) & (values[:, 1] <= 1)).all()
    app = bias_page(text=templates, layer="1", head="2")
    assert [box.value for box in app.selectbox if box.label in ("Layer", "Head")] == [1, 2]
    assert bars_chart(app)["layout"]["title"]["text"].startswith("Layer 1 · Head 2")


def test_bias_offers_the_table_as_a_csv_download():
    app = bias_page(text="The {occupation} said that {he/she} was tired.", occupations="nurse, pilot")
    button = app.get("download_button")[0]
    assert button.proto.label == "Download CSV" and button.proto.url.endswith(".csv")
    assert len(app.dataframe[0].value) == 2 * 2 * 4  # pairs × layers × heads; the browser test reads the file itself


@pytest.mark.parametrize("templates, expected", [
    ("No pair here.", "exactly one swappable pair"),
    ("The {job} and {he/she}.", "unknown slot"),
    ("The cat saw {it/it}.", "No sentence pair differed"),
])
def test_bias_unusable_templates_give_a_message_not_a_traceback(templates, expected):
    app = bias_page(text=templates)
    assert expected in messages(app)
    assert not app.get("plotly_chart")


def test_bias_hosted_batch_cap_cuts_the_pairs(monkeypatch):
    monkeypatch.setenv("ATTENTION_LENS_HOSTED", "1")
    monkeypatch.setenv("ATTENTION_LENS_MAX_BATCH", "12")                    # 4 sentences per pair: 3 pairs
    app = bias_page()
    assert "the first 3 are probed" in messages(app)
    assert len(app.dataframe[0].value) == 3 * 8


def test_bias_hostile_template_is_data():
    app = bias_page(text=HOSTILE + " {he/she} ran.")
    assert app.text_area[0].value == HOSTILE + " {he/she} ran."
    assert "<img" not in app.markdown[0].value  # the summary's user words are escaped Markdown
    for chart in charts(app):
        assert not any("<" in str(label) for trace in chart["data"] for label in (trace.get("y") or [])
                       if isinstance(label, str))


def test_compare_minilm_beside_gpt_mini_shows_both_ways_against_only_the_past(trained_gpt_mini):
    """The one-click pair: MiniLM (bidirectional) as A, the trained gpt-mini (causal) as B, on the same sentence."""
    app = open_page("compare", mode="models", text="Cats chase mice in the barn.", model="scratch", layer="0", head="1")
    app.button(key="compare_bert_gpt").click().run()
    assert not app.exception
    params = dict(app.query_params)
    assert (params["model"], params["model_b"]) == ("minilm", "gpt-mini")
    data = compare_view(app)
    assert (data["pair"]["title_a"], data["pair"]["title_b"]) == ("A (minilm)", "B (gpt-mini)")
    a, b = levels(data), levels(data["pair"])
    above = np.triu_indices(len(data["pair"]["tokens"]), k=1)
    assert np.all(b[above] == 0)                      # causal: no token attends to a later one
    assert a[np.triu_indices(len(data["tokens"]), k=1)].max() > 0.01   # bidirectional: A does
    assert data["pair"]["a"] == data["pair"]["b"]     # same word pieces: the tokens align one to one
