"""The four Learn pages through Streamlit's AppTest: default and shared views, URL state, the engine's real numbers."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from apptest_pages import open_page

import ui
from attention import attend
from attention.analyses.steps import toy_steps

SENTENCE = "Birds sing at dawn."
HOSTILE = "<img src=x onerror=alert(1)> <b>bold</b>"


def figures(app: AppTest) -> dict[str, dict]:
    """Every plotly figure on the page, by its title (subplot grids by their first subplot title)."""
    found = {}
    for chart in app.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        layout = spec["layout"]
        title = (layout.get("title") or {}).get("text") or next((a["text"] for a in layout.get("annotations", [])), "")
        found[title] = spec
    return found


def array(value) -> np.ndarray:
    """A plotly array from the figure JSON (typed arrays arrive base64-encoded)."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        return flat.reshape([int(x) for x in str(shape).split(",")]) if shape else flat
    return np.array(value, dtype=float)


def words(app: AppTest) -> str:
    parts = [*app.title, *app.header, *app.subheader, *app.markdown, *app.caption, *app.success, *app.info]
    return " ".join(str(part.value) for part in parts)


def messages(app: AppTest) -> str:
    return " ".join(str(m.value) for m in [*app.warning, *app.error]).replace("\\", "")


def metric(app: AppTest, label: str) -> str:
    return next(m.value for m in app.metric if m.label == label)


@pytest.fixture
def trained_for_masks(trained_masks_models):
    """The Masks page runs gpt-mini (its decoder) and translate-mini (its cross-attention) by default: trained first."""
    return trained_masks_models


@pytest.mark.parametrize("page", ["step_by_step", "multi_head", "positions", "masks"])
def test_bare_url_opens_a_view_of_the_default_sentence(page, request):
    if page == "masks":
        request.getfixturevalue("trained_for_masks")
    app = open_page(page)
    assert app.text_area[0].value == ui.DEFAULT_TEXT
    assert len(app.get("plotly_chart")) >= 4
    assert not app.error
    params = dict(app.query_params)
    assert params["text"] == ui.DEFAULT_TEXT and params["model"] == "scratch:minilm"


def test_step_by_step_shows_the_weights_attend_returns():
    app = open_page("step_by_step", text=SENTENCE, model="scratch:minilm", layer="3", head="7", query="2")
    assert [box.value for box in app.selectbox][1:4] == [3, 7, 2]
    shown = array(figures(app)["Attention weights · layer 3 · head 7"]["data"][0]["z"])
    np.testing.assert_allclose(shown, attend(SENTENCE, "scratch:minilm").weights[3, 7], rtol=0, atol=1e-6)
    text = words(app)
    assert "softmax" in text.lower() and "query" in text and "key" in text and "value" in text
    assert "Divide by √d_k = √32" in text
    assert dict(app.query_params)["query"] == "2"


def test_step_by_step_causal_mode_opens_the_trained_decoder(trained_gpt_mini):
    app = open_page("step_by_step", text=SENTENCE, model="scratch", layer="1", head="2", causal="1")
    found = figures(app)
    masked = next(spec for title, spec in found.items() if title == "Masked scores")
    masked = array(masked["data"][0]["z"])
    n = masked.shape[0]
    assert np.isnan(masked[np.triu_indices(n, 1)]).all() and not np.isnan(masked[np.tril_indices(n)]).any()
    weights = array(found["Attention weights · layer 1 · head 2"]["data"][0]["z"])
    decoder = attend(SENTENCE, "gpt-mini")                         # the trained decoder, not scratch with a mask
    assert decoder.meta.get("causal")
    np.testing.assert_allclose(weights, decoder.weights[1, 2], atol=1e-6)
    assert "gpt-mini" in words(app)
    params = dict(app.query_params)
    assert params["causal"] == "1" and params["model"] == "scratch"      # the picker keeps its encoder for mask off


def test_step_by_step_toy_numbers_are_written_in_the_cells():
    app = open_page("step_by_step")
    toy = toy_steps()
    scores = next(spec for spec in (json.loads(c.proto.spec) for c in app.get("plotly_chart"))
                  if spec["layout"].get("title", {}).get("text") == "Scores = Q·Kᵀ" and spec["data"][0]["y"][0] == "I")
    assert scores["data"][0]["text"][0] == ["2", "5", "3", "5"]
    np.testing.assert_array_equal(array(scores["data"][0]["z"]), toy.scores)


def test_step_by_step_other_models_run_in_the_engine():
    app = open_page("step_by_step", text=SENTENCE, model="minilm")
    assert dict(app.query_params)["model"] == "scratch:minilm"     # the same weights, silently
    app = open_page("step_by_step", text=SENTENCE, model="bert-base-uncased")
    assert "runs as 'scratch:bert-base-uncased'" in messages(app)


def test_multi_head_ablation_from_a_link():
    app = open_page("multi_head", text=SENTENCE, model="scratch:minilm", layer="2", removed="1,4")
    assert metric(app, "Heads removed") == "2 of 12"
    assert float(metric(app, "Layer output moves").rstrip("%")) > 0
    app = open_page("multi_head", text=SENTENCE, model="scratch:minilm", layer="2", removed="4", keep="1")
    assert metric(app, "Heads removed") == "11 of 12"
    found = figures(app)
    assert len([t for t in found["head 0"]["data"]]) == 12                # every head of the layer, one grid
    distances = array(found["How differently heads attend (Jensen–Shannon distance)"]["data"][0]["z"])
    assert distances.shape == (12, 12) and np.allclose(np.diag(distances), 0)
    assert dict(app.query_params)["keep"] == "1" and dict(app.query_params)["removed"] == "4"


def test_multi_head_opens_with_one_head_removed_and_a_cleared_selection_is_kept():
    app = open_page("multi_head", text=SENTENCE, model="scratch")
    assert metric(app, "Heads removed") == "1 of 4"
    app.multiselect[0].set_value([]).run()
    assert metric(app, "Heads removed") == "0 of 4" and metric(app, "Layer output moves") == "0.0%"
    assert dict(app.query_params)["removed"] == ""


def test_positions_permutation_from_a_link():
    app = open_page("positions", text=SENTENCE, model="scratch", layer="1", head="3", seed="5", count="40")
    assert float(metric(app, "Without positions: largest difference")) < 1e-5
    assert float(metric(app, "With positions: largest difference")) > 1e-2
    found = figures(app)
    assert array(found["Position code (rows: positions, columns: dimensions)"]["data"][0]["z"]).shape == (40, 64)
    assert array(found["Learned position vectors"]["data"][0]["z"]).shape == (40, 384)
    params = dict(app.query_params)
    assert (params["seed"], params["count"], params["head"]) == ("5", "40", "3")


def test_masks_page_teaches_causal_cross_and_padding(trained_for_masks):
    app = open_page("masks", text=SENTENCE, model="scratch", seq2seq="scratch", source=SENTENCE, target="Vögel singen.",
                    second="Hi.")
    assert "causal" in words(app)
    found = figures(app)
    result = attend(SENTENCE, "scratch", target="Vögel singen.")
    cross = array(found["Cross-attention · decoder layer 0 · head 0"]["data"][0]["z"])
    np.testing.assert_allclose(cross, result.cross[0, 0], atol=1e-6)
    assert cross.shape == (len(result.target_tokens), result.n_tokens)
    padding = found["Padding mask · Sentence 1 (7 tokens)"]["data"]
    short = array(padding[3]["z"])                                      # sentence 2's attention, padded to 7 columns
    assert short.shape == (7, 7) and (short[:, 4:] == 0).all()
    assert dict(app.query_params)["target"] == "Vögel singen."
    assert "stripes, not alignments" in words(app)


def test_masks_cross_attention_opens_on_translate_mini_with_its_figures(trained_for_masks):
    from attention.domains import translate_mini

    app = open_page("masks", text=SENTENCE, model="scratch")
    source = translate_mini.example(3).source
    assert next(box for box in app.text_input if box.label.startswith("Source")).value == source
    written = translate_mini.translate(source)
    result = attend(source, "translate-mini", target=written)
    found = figures(app)
    mean = next(spec for title, spec in found.items() if title.startswith("Cross-attention · translate-mini"))
    np.testing.assert_allclose(array(mean["data"][0]["z"]), result.cross[-1].mean(axis=0), atol=1e-6)
    assert "".join(result.target_tokens[1:-1]) == written                      # the rows are what the model writes
    report = translate_mini.alignment_report()
    assert metric(app, "Held-out exact match") == f"{report['accuracy']:.1%}"
    assert metric(app, "Alignment score") == f"{report['trained']['score']:.0%}"
    assert metric(app, "Same network, random weights") == f"{report['random']['score']:.0%}"
    assert "uber" not in " ".join(result.tokens + result.target_tokens)
    decoder = figures(app)["Layer 0 · Head 0"]                                 # the decoder section: gpt-mini, causal
    head = array(decoder["data"][0]["z"])
    assert (head[np.triu_indices(len(head), 1)] == 0).all()
    assert "Causal: yes" in words(app) and "gpt-mini" in words(app)
    assert "source" not in dict(app.query_params)                             # the default stays out of the link


def test_masks_page_runs_a_decoder_folder_through_transformers(tmp_path):
    from transformers import AutoTokenizer, GPT2Config, GPT2Model

    from attention.run.models import _bundled_path

    GPT2Model(GPT2Config(n_layer=2, n_head=2, n_embd=16, vocab_size=30522, n_positions=64)).save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(_bundled_path()).save_pretrained(tmp_path)
    app = open_page("masks", text=SENTENCE, model="scratch", decoder=str(tmp_path), seq2seq="scratch")
    head = array(figures(app)["Layer 0 · Head 0"]["data"][0]["z"])
    assert (head[np.triu_indices(len(head), 1)] == 0).all()
    assert "Causal: yes" in words(app)


@pytest.mark.parametrize("page", ["step_by_step", "multi_head", "positions", "masks"])
def test_hostile_text_and_bad_parameters_give_messages_not_tracebacks(page, request):
    if page == "masks":
        request.getfixturevalue("trained_for_masks")
    app = open_page(page, text=HOSTILE, model="scratch", layer="banana", head="99")
    assert app.text_area[0].value == HOSTILE
    assert "not a number" in messages(app) and "does not exist" in messages(app)
    for spec in figures(app).values():
        for trace in spec["data"]:
            for axis in ("x", "y"):
                labels = trace.get(axis)
                assert not isinstance(labels, list) or all("<" not in str(label) for label in labels)


@pytest.mark.parametrize("page", ["step_by_step", "multi_head", "masks"])
def test_long_text_is_read_up_to_the_learn_cap_with_a_notice(page, request):
    if page == "masks":
        request.getfixturevalue("trained_for_masks")
    long = " ".join(f"Sentence {i} refers back to item {i // 3}." for i in range(200))
    app = open_page(page, text=long, model="scratch")
    assert "truncated" in messages(app) and str(ui.LEARN_TOKENS) in messages(app)
    sizes = [len(chart.proto.spec) for chart in app.get("plotly_chart")]
    assert sum(sizes) < 2_000_000                                      # the page stays light for the browser


@pytest.mark.parametrize(("page", "label"), [("step_by_step", "Query token"), ("multi_head", "Token to follow")])
def test_opening_view_follows_the_word_it(page, label):
    app = open_page(page)
    picked = next(box for box in app.selectbox if box.label == label).value
    assert attend(ui.DEFAULT_TEXT, "scratch:minilm").tokens[picked] == "it"
    assert dict(app.query_params)["query"] == str(picked)
