"""The Head stats page through AppTest: URL state in and out, the grid's numbers against the core, corpus mode with the
hosted batch cap, export buttons for every view, bad links as notices, user text as data."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from apptest_pages import open_page

import ui
from attention import attend
from attention.analyses.stats import STATS, result_stats

HOSTILE = '<img src=x onerror=alert(1)> <script>alert(2)</script>'


def figures(app: AppTest) -> dict[str, dict]:
    """Plotly figures by their title text."""
    specs = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    return {spec["layout"].get("title", {}).get("text", ""): spec for spec in specs}


def grid(app: AppTest) -> dict:
    return next(spec for title, spec in figures(app).items() if title.startswith("Every head"))


def head_view(app: AppTest) -> dict:
    """The data of the canvas head view (its own Layer and Head boxes, issue 19)."""
    return json.loads(next(e for e in app.get("bidi_component") if e.proto.component_name == "head_heatmap").proto.json)


def messages(app: AppTest) -> str:
    return " ".join(str(m.value) for m in [*app.warning, *app.error, *app.info]).replace("\\", "")


def test_opens_on_the_default_sentence_with_every_statistic_and_writes_the_url():
    app = open_page("head_stats")
    assert app.title[0].value == "Head stats" and "entropy" in app.caption[0].value
    found = result_stats(attend(ui.DEFAULT_TEXT, "minilm"))
    spec = grid(app)
    heat, cells = spec["data"][0], spec["data"][1]
    z = np.frombuffer(base64.b64decode(heat["z"]["bdata"]), heat["z"]["dtype"]).reshape(6, 12)   # plotly's typed array
    assert np.allclose(z, found.values["entropy"], atol=1e-6)
    assert np.allclose([row[:8] for row in cells["customdata"]], np.stack(list(found.values.values()), -1).reshape(72, 8))
    assert [row[-1] for row in cells["customdata"]] == list(found.pattern.ravel())
    assert dict(app.query_params) == {"mode": "sentence", "text": ui.DEFAULT_TEXT, "model": "minilm", "stat": "entropy",
                                      "layer": "0", "head": "0"}
    titles = set(figures(app))
    assert "Rows: positions after the last layer · columns: input tokens" in titles
    view = head_view(app)
    assert (view["title"], view["pickers"]) == ("Layer 0 · Head 0", {"layers": 6, "heads": 12})
    n = len(view["tokens"])
    drawn = np.frombuffer(base64.b64decode(view["weights"]), "<u2").reshape(n, n) / 65535 * view["scale"]
    np.testing.assert_allclose(drawn, attend(ui.DEFAULT_TEXT, "minilm").head(0, 0), atol=2e-5)
    labels = [button.label for button in app.get("download_button")]
    assert labels.count("PNG") == labels.count("SVG") == labels.count("HTML") == 4          # grid, head, flow, similarity
    assert {"Attention NPZ", "Attention CSV", "Attention JSON", "Statistics CSV", "This view (HTML)"} <= set(labels)


def test_the_statistic_box_shows_short_names_and_explains_them_in_its_help():
    app = open_page("head_stats")
    box = next(box for box in app.selectbox if box.label == "Colour the heads by")
    assert box.options == [*STATS, "pattern"]                              # long descriptions were cut off in the box
    for meaning, _ in STATS.values():
        assert ui.md_escape(meaning) in box.help
    assert "pattern type" in box.help


def test_a_share_link_opens_the_statistic_and_head_and_changes_go_back_into_the_url():
    app = open_page("head_stats", text="Cats chase mice. Dogs chase cats.", model="minilm", stat="pattern", layer="3", head="5")
    assert head_view(app)["title"] == "Layer 3 · Head 5"
    assert next(box for box in app.selectbox if box.label == "Colour the heads by").value == "pattern"
    assert grid(app)["layout"]["shapes"][0]["x0"] == 4.5                     # the open head is outlined
    app.session_state["stats_head"] = 7   # what the head view's own Head box sets (the browser drew it already)
    app.run()
    assert head_view(app)["title"] == "Layer 3 · Head 7" and dict(app.query_params)["head"] == "7"
    next(box for box in app.selectbox if box.label == "Colour the heads by").set_value("previous").run()
    assert dict(app.query_params)["stat"] == "previous"
    assert "previous" in grid(app)["data"][0]["colorbar"]["title"]["text"]


@pytest.mark.parametrize("params, expected", [
    ({"stat": "rainbow"}, "not one of entropy"),
    ({"layer": "99"}, "layer 99 does not exist"),
    ({"head": "x"}, "is not a number"),
    ({"mode": "galaxy"}, "not one of sentence, corpus"),
])
def test_bad_links_give_notices_and_a_sensible_view(params, expected):
    app = open_page("head_stats", model="scratch", **params)
    assert expected in messages(app)
    assert grid(app)


def test_corpus_mode_reads_the_sample_corpus_capped_in_hosted_mode(monkeypatch):
    monkeypatch.setenv("ATTENTION_LENS_HOSTED", "1")
    monkeypatch.setenv("ATTENTION_LENS_MAX_BATCH", "12")
    app = open_page("head_stats", mode="corpus", model="scratch", sentence="3", stat="cls", layer="1", head="2")
    assert "reads the first 12" in messages(app)
    assert any("Means over **12** sentences" in caption.value for caption in app.caption)
    titles = set(figures(app))
    assert "Layer 1 · Head 2: cls over 12 sentences" in titles and "Every head over the corpus: cls" in titles
    assert dict(app.query_params)["sentence"] == "3" and dict(app.query_params)["mode"] == "corpus"
    assert "Statistics Parquet" in [button.label for button in app.get("download_button")]


def test_hostile_text_stays_data():
    app = open_page("head_stats", text=HOSTILE, model="scratch")
    tokens = head_view(app)["tokens"]   # plain strings, drawn with fillText / textContent by the component
    assert tokens == attend(HOSTILE, "scratch").tokens and "<" in tokens
    for spec in figures(app).values():   # plotly figures (flow, similarity) escape what they show
        labels = [label for trace in spec["data"] for label in (trace.get("x") or []) if isinstance(label, str)]
        assert not any("<script" in label or "<img" in label for label in labels)
    assert app.text_area[0].value == HOSTILE and dict(app.query_params)["text"] == HOSTILE


def test_home_offers_the_result_exports():
    app = open_page("home", text="Cats chase mice.", model="scratch")
    labels = [button.label for button in app.get("download_button")]
    assert labels == ["Attention NPZ", "Attention CSV", "Attention JSON"]
