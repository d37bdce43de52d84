"""Page logic through Streamlit's AppTest: URL state in and out, bad input as messages, never a traceback."""
from __future__ import annotations

import base64
import json
import uuid

import numpy as np

import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT

import ui
from attention import attend


def run_app(**params: str) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for name, value in params.items():
        app.query_params[name] = value
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def charts(app: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]


def component(app: AppTest, name: str) -> dict:
    """The data a custom component (head_heatmap or head_grid) was given."""
    return next(json.loads(c.proto.json) for c in app.get("bidi_component") if c.proto.component_name == name)


def head_title(app: AppTest) -> str:
    return component(app, "head_heatmap")["title"]


def head_weights(app: AppTest) -> np.ndarray:
    data = component(app, "head_heatmap")
    levels = np.frombuffer(base64.b64decode(data["weights"]), dtype="<u2")
    n = len(data["tokens"])
    return levels.reshape(n, n) / 65535 * data["scale"]


def selected(app: AppTest, label: str):
    """A selectbox's value; Layer and Head are the heatmap component's own boxes (issue 19): the values it was given."""
    if label in ("Layer", "Head"):
        return component(app, "head_heatmap")[label.lower()]
    return next(box.value for box in app.selectbox if box.label == label)


def choose_head(app: AppTest, head: int) -> AppTest:
    """What the heatmap's Head box does on the server: the chosen head in the page state, then a rerun."""
    app.session_state["home_head"] = head
    return app.run()


def messages(app: AppTest) -> str:
    return " ".join(str(m.value) for m in [*app.warning, *app.error]).replace("\\", "")


def test_bare_url_shows_default_sentence_and_writes_the_view_into_the_url():
    app = run_app()
    assert app.text_area[0].value == ui.DEFAULT_TEXT
    assert head_title(app) == "Layer 0 · Head 0"
    heat = component(app, "head_heatmap")
    assert heat["tokens"][0] == "[CLS]" and "animal" in heat["tokens"]
    expected = attend(ui.DEFAULT_TEXT, "minilm").head(0, 0)
    np.testing.assert_allclose(head_weights(app), expected, atol=2e-5)  # what is drawn is the model's attention
    grid = component(app, "head_grid")
    assert (grid["layers"], grid["heads"], grid["selected"]) == (6, 12, [0, 0])
    params = dict(app.query_params)
    assert params["text"] == ui.DEFAULT_TEXT and params["model"] == "minilm"
    assert (params["layer"], params["head"]) == ("0", "0")


def test_share_url_reproduces_the_view():
    app = run_app(text="A bird sang at dawn.", model="scratch:minilm", layer="4", head="7")
    assert app.text_area[0].value == "A bird sang at dawn."
    assert (selected(app, "Layer"), selected(app, "Head")) == (4, 7)
    assert component(app, "head_heatmap")["pickers"] == {"layers": 6, "heads": 12}   # the boxes offer MiniLM's 6 × 12
    assert not [box for box in app.selectbox if box.label in ("Layer", "Head")]       # drawn by the component, not Streamlit
    assert head_title(app) == "Layer 4 · Head 7"
    assert "dawn" in component(app, "head_heatmap")["tokens"]
    assert component(app, "head_grid")["selected"] == [4, 7]
    assert dict(app.query_params)["model"] == "scratch:minilm"


def test_changing_the_head_updates_the_url():
    app = run_app(text="Cats chase mice.", model="scratch")
    choose_head(app, 3)
    assert dict(app.query_params)["head"] == "3"
    assert head_title(app) == "Layer 0 · Head 3"


def test_compare_heads_from_the_url_share_one_colour_scale():
    app = run_app(text="Cats chase mice.", model="scratch", compare="L0·H1,L1·H2,bogus")
    compare = charts(app)[0]
    assert [t["coloraxis"] for t in compare["data"]] == ["coloraxis", "coloraxis"]
    assert dict(app.query_params)["compare"] == "L0·H1,L1·H2"


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"layer": "abc"}, "is not a number"),
        ({"layer": "-3"}, "count from 0"),
        ({"head": "1e9"}, "is not a number"),
        ({"layer": "99", "head": "99"}, "does not exist"),
        ({"head": "\u202e1"}, "is not a number"),
    ],
)
def test_bad_layer_and_head_are_clamped_with_a_notice(params, expected):
    app = run_app(text="One two three.", model="scratch", **params)
    assert expected in messages(app)
    layer, head = selected(app, "Layer"), selected(app, "Head")
    assert 0 <= layer <= 1 and 0 <= head <= 3
    assert head_title(app) == f"Layer {layer} · Head {head}"


@pytest.mark.parametrize(
    "model, expected",
    [
        ("no-such-model-anywhere", "Could not load"),
        ("/etc", "not a model folder"),
        ("../../../etc/passwd", "not a model folder"),
        ("<script>alert(1)</script>", "not a valid model name"),
        ("scratch:", "Name the weights"),
        ("a" * 300, "too long"),
    ],
)
def test_unknown_or_hostile_models_give_a_message(model, expected):
    app = run_app(text="Hello world.", model=model)
    assert expected in messages(app)
    assert not [c for c in app.get("bidi_component") if c.proto.component_name == "head_heatmap"]


def test_empty_text_gives_a_message_not_a_traceback():
    app = run_app(text="Hello.", model="scratch")
    app.text_area[0].input("   \n\t ").run()
    assert not app.exception
    assert "empty" in messages(app)


def test_huge_text_is_truncated_with_a_notice():
    app = run_app(model="scratch", text="word " * 20_000)
    assert "truncated" in messages(app)
    assert len(component(app, "head_heatmap")["tokens"]) == 512


@pytest.mark.parametrize(
    "text",
    ["👩‍🔬 studies 🧬 daily", "注意力机制很重要", "مرحبا بالعالم", "שלום עולם", "ze\u200bro wi\u200ddth", "cafe\u0301 nai\u0308ve", "bell\x07 and\x00null"],
)
def test_odd_unicode_gives_a_view(text):
    app = run_app(model="scratch", text=text)
    assert head_title(app) == "Layer 0 · Head 0"


def test_html_like_text_is_data_not_markup():
    app = run_app(model="scratch", text="<img src=x onerror=alert(1)> <b>bold</b>", compare="L0·H0,L0·H1")
    assert app.text_area[0].value == "<img src=x onerror=alert(1)> <b>bold</b>"
    assert "<" in component(app, "head_heatmap")["tokens"]  # raw tokens as JSON data, drawn as text by the component
    labels = charts(app)[0]["data"][0]["x"]
    assert all("<" not in label for label in labels)  # plotly reads a little HTML: tokens reach it escaped
    assert "&lt;" in labels


def test_hosted_mode_offers_only_its_allow_list(monkeypatch):
    monkeypatch.setenv("ATTENTION_LENS_HOSTED", "1")
    monkeypatch.delenv("ATTENTION_LENS_MODELS", raising=False)
    monkeypatch.setenv("ATTENTION_LENS_MAX_TOKENS", "64")
    app = run_app(text="word " * 200, model="bert-base-uncased")
    assert "does not run" in messages(app)
    assert selected(app, "Model") == "minilm"
    assert next(box for box in app.selectbox if box.label == "Model").options == ["minilm", "scratch", "scratch:minilm"]
    assert len(component(app, "head_heatmap")["tokens"]) == 64
    assert "at most 64 tokens" in messages(app)
    assert "Public demo" in " ".join(str(i.value) for i in app.sidebar.info)


def test_the_home_view_is_kept_across_a_visit_to_another_page():
    app = run_app(text="Keep this sentence.", model="scratch", layer="1", head="2", compare="L0·H1,L1·H3")
    app.switch_page("pages/token_links.py").run()
    assert not app.exception
    app.switch_page("pages/home.py").run()
    assert not app.exception
    assert app.text_area[0].value == "Keep this sentence."
    assert head_title(app) == "Layer 1 · Head 2"
    assert next(box for box in app.multiselect if box.label == "Heads to compare").value == ["L0·H1", "L1·H3"]


def views(app: AppTest) -> list[tuple[str, dict]]:
    """The head heatmap and grid components on the page (placeholders too): (name, data)."""
    found = [(c.proto.component_name, json.loads(c.proto.json)) for c in app.get("bidi_component")]
    return [(name, data) for name, data in found if name in ("head_heatmap", "head_grid")]


def test_a_new_text_draws_the_views_first_then_replaces_the_placeholders(monkeypatch):
    """A text the server has not seen: the heatmap and grid are sent before the widgets (placeholders first,
    so their script loads while the model runs); once drawn, no placeholder is left and nothing is twice."""
    from attention.run import models as backends

    backends.load_model("scratch")   # a loaded model: the early path (a model still to load sends its widgets first)
    calls = []
    real = ui.run_attend
    monkeypatch.setattr(ui, "run_attend", lambda text, model, **kw: calls.append((text, model)) or real(text, model, **kw))
    text = f"Fresh words nobody sent before {uuid.uuid4().hex[:8]}."
    app = run_app(text=text, model="scratch", layer="1", head="3")
    assert calls == [(text, "scratch")]                      # the model ran once, for what the link asked
    assert sorted(name for name, _ in views(app)) == ["head_grid", "head_heatmap"]
    assert not [data for _, data in views(app) if "pending" in data]
    assert head_title(app) == "Layer 1 · Head 3" and component(app, "head_grid")["selected"] == [1, 3]
    np.testing.assert_allclose(head_weights(app), attend(text, "scratch").head(1, 3), atol=2e-5)
    assert (selected(app, "Layer"), selected(app, "Head")) == (1, 3)
    choose_head(app, 0)   # a later change: the same views
    assert head_title(app) == "Layer 1 · Head 0" and calls == [(text, "scratch")] * 2


def test_a_new_text_that_fails_says_so_once_and_leaves_no_placeholder():
    app = run_app(text="Hello.", model="scratch")
    app.text_area[0].input(" \n\t  ").run()
    assert not app.exception
    assert len(app.error) == 1 and "empty" in messages(app)
    assert views(app) == []


def test_a_new_model_from_the_picker_is_drawn(monkeypatch):
    app = run_app(text=f"Switch the model {uuid.uuid4().hex[:8]}.", model="scratch")
    assert component(app, "head_grid")["layers"] == 2
    next(box for box in app.selectbox if box.label == "Model").select("scratch:minilm").run()
    assert not app.exception
    assert component(app, "head_grid")["layers"] == 6 and dict(app.query_params)["model"] == "scratch:minilm"
    assert not [data for _, data in views(app) if "pending" in data]
