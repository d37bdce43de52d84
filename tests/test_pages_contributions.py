"""The Contributions page through Streamlit's AppTest: the default pair, URL state, bad links, the token target, hostile text."""
from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from apptest_pages import open_page

import ui
from attention import explain
from attention.analyses import contributions as C
from attention.analyses.contributions import METHOD_NOTES, METHODS, target_tokens
from test_pages_learn import figures

TEXT_B = "The animal didn't cross the street because it was too wide."

HOSTILE = "<img src=x onerror=alert(1)> <b>bold</b>"


def messages(app: AppTest) -> str:
    return " ".join(str(m.value) for m in [*app.warning, *app.error]).replace("\\", "")


def test_default_view_shows_every_method_on_the_default_pair():
    app = open_page("contributions")
    assert not app.error
    drawn = figures(app)
    rows = drawn["Each method's score per token"]["data"][0]
    assert rows["y"] == list(METHODS)
    expected = explain(ui.DEFAULT_TEXT, "minilm", text_b=app.text_area[1].value)
    metric = next(m for m in app.metric if m.label == "Target")
    assert metric.value == f"{expected.target_value:.4f}"
    assert {"Head removed", "Head mean-ablated", "Spearman rank correlation", "Kendall τ"} <= set(drawn)
    assert "scratch:minilm" in messages(app)        # says the engine ran MiniLM's weights
    params = dict(app.query_params)
    assert params["target"] == ["similarity"] or params["target"] == "similarity"


def test_url_state_opens_the_named_head_method_and_steps():
    app = open_page("contributions", target="similarity", text="A cat sat.", text_b="A dog ran.", layer="3", head="5",
                    method="alti", steps="16")
    assert app.selectbox(key="contrib_layer").value == 3 and app.selectbox(key="contrib_head").value == 5
    assert app.selectbox(key="contrib_method").value == "alti"
    assert app.number_input(key="contrib_steps").value == 16
    assert any("L3 H5" in title for title in figures(app))
    assert not app.error


def test_bad_links_give_notices_and_a_sensible_view():
    app = open_page("contributions", target="sentiment", method="lime", layer="99", steps="abc")
    text = messages(app)
    assert "sentiment" in text and "lime" in text and "steps" in text and "layer 99 does not exist" in text
    assert app.selectbox(key="contrib_layer").value == 5
    assert not app.error


def test_next_token_on_an_encoder_is_a_message_not_a_traceback():
    app = open_page("contributions", target="next_token")
    assert "needs a decoder" in messages(app)
    assert not app.exception


def test_token_target_picks_a_token():
    app = open_page("contributions", target="token", text="Birds sing at dawn.", token="2")
    assert app.selectbox(key="contrib_token").value == 2
    assert "norm of the output vector of token 2" in next(m for m in app.metric if m.label == "Target").help


def test_hostile_text_stays_text():
    app = open_page("contributions", text=HOSTILE, text_b=HOSTILE)
    assert not app.error
    spec = json.dumps(figures(app)["Each method's score per token"])
    assert "<img" not in spec and "<b>" not in spec and "&lt;" in spec     # tokens "<", "img": escaped labels
    for block in [*app.markdown, *app.caption]:
        assert "<img" not in str(block.value) or block.proto.allow_html is False


def test_a_long_text_is_read_up_to_the_page_cap_with_a_notice():
    long = " ".join(f"Sentence {i} refers back to item {i // 3}." for i in range(60))
    app = open_page("contributions", text=long)
    assert "reads at most 64" in messages(app)
    rows = figures(app)["Each method's score per token"]["data"][0]
    shown = len(rows["x"]) if isinstance(rows["x"], list) else None
    expected = explain(long, "minilm", text_b=TEXT_B, max_tokens=64)
    whole = target_tokens(long, "minilm") + target_tokens(TEXT_B, "minilm")    # both sentences' tokens, uncapped
    assert shown == len(expected.tokens) < len(whole)
    assert dict(app.query_params)["text"] == long                               # the link keeps the whole text


DATE_SOURCE, DATE_PREFIX = "the third of march, twenty twenty-one", "2021-03-0"


def test_translate_mini_from_a_share_link(trained_translate_mini):
    app = open_page("contributions", model="translate-mini", target="next_token", text=DATE_SOURCE, text_b=DATE_PREFIX,
                    layer="3", head="1", method="alti", steps="32")
    assert not app.error
    drawn = figures(app)
    labels = drawn["Each method's score per token"]["data"][0]["x"]
    assert labels[0].startswith("src·") and labels[-1].startswith("dec·0")   # source tokens, then the decoder's
    expected = explain(DATE_SOURCE, "translate-mini", target="next_token", text_b=DATE_PREFIX, max_tokens=64)
    metric = next(m for m in app.metric if m.label == "Target")
    assert metric.value == f"{expected.target_value:.4f}" and "‘3’" in metric.help
    rows = drawn["Head removed"]["layout"]["yaxis"]["ticktext"]
    assert rows == ["encoder 0", "encoder 1", "decoder self 0", "decoder cross 0"]
    assert "decoder cross 0 · H1 · attention weights α" in drawn                # row 3: the cross-attention head
    assert app.text_input(key="contrib_text_b").value == DATE_PREFIX
    params = dict(app.query_params)
    assert params["model"] in ("translate-mini", ["translate-mini"]) and params["text_b"] in (DATE_PREFIX, [DATE_PREFIX])


def test_an_encoder_decoder_link_with_another_target_shows_next_token(trained_translate_mini):
    app = open_page("contributions", model="translate-mini", target="similarity", text=DATE_SOURCE)
    assert "encoder–decoder" in messages(app)
    assert app.radio(key="contrib_target").value == "next_token"
    assert app.text_input(key="contrib_text_b").value == ""                # the similarity default is no output of it
    assert "‘2’" in next(m for m in app.metric if m.label == "Target").help    # nothing written yet: the year's first digit
    assert not app.error


def test_faithfulness_explains_each_sentence_with_the_other_whole_beside_the_known_answers():
    app = open_page("contributions", removal="mask")
    assert not app.error
    text = " ".join(str(b.value) for group in (app.caption, app.markdown) for b in group).replace("\\", "")
    assert "replacing tokens in both sentences by the same token makes them alike" not in text
    assert "the README gives MiniLM's means" not in text
    assert "Each sentence is explained while the other stays whole" in text and "replaced by [MASK]" in text
    assert "Attention, rollout, value norms and ALTI have no sign" in text
    assert app.selectbox(key="contrib_removal").value == "mask"
    drawn = figures(app)
    assert any(title.startswith("Sentence A explained (B whole)") for title in drawn)
    assert any(title.startswith("Sentence B explained (A whole)") for title in drawn)
    tables = [t.value for t in app.dataframe]
    assert any("comprehensiveness − random" in list(t.columns) for t in tables)
    if C.saved_figures():
        assert "Known answers" in text
        assert any(any(c.startswith("translate-mini (") for c in t.columns) for t in tables)


def test_alti_note_says_the_biases_are_in_y_as_the_authors_define_it():
    assert "includes the biases" in METHOD_NOTES["alti"] and "biases=False" in METHOD_NOTES["alti"]
    assert "Feed-forward layers and biases are left out" not in METHOD_NOTES["alti"]
