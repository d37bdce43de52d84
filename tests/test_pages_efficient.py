"""The "Efficient attention" page through Streamlit's AppTest: URL state in and out, figures carry attend()'s numbers."""
from __future__ import annotations

import numpy as np

from apptest_pages import open_page
from test_pages_learn import array, figures, messages, words

import ui
from attention import attend

SENTENCE = "Birds sing at dawn while the city still sleeps."


def test_bare_url_opens_a_sliding_window_on_the_default_sentence():
    app = open_page("efficient_attention")
    assert app.text_area[0].value == ui.DEFAULT_TEXT and not app.error
    found = figures(app)
    assert "sliding: who may look at whom" in found
    params = dict(app.query_params)
    assert params["pattern"] == "sliding" and params["window"] == "3" and params["model"] == "scratch:minilm"
    text = words(app)
    assert "Longformer" in text and "ProbSparse" in text and "quadruples" in text


def test_a_longformer_link_shows_the_pattern_and_the_weights_attend_returns():
    app = open_page("efficient_attention", text=SENTENCE, model="scratch:minilm", pattern="longformer", window="1",
                    globals="0,-1", layer="2", head="5")
    found = figures(app)
    mask = array(found["longformer: who may look at whom"]["data"][0]["z"])
    n = mask.shape[0]
    assert mask[0].min() == 2 and mask[:, n - 1].min() == 2 and mask[3, 6] == 0 and mask[3, 4] == 2
    pair = found["longformer · layer 2 · head 5"]["data"]
    expected = attend(SENTENCE, "scratch:minilm", max_tokens=512, pattern="longformer", window=1, global_tokens=[0, -1])
    np.testing.assert_allclose(array(pair[0]["z"]), expected.weights[2, 5], atol=1e-6)
    np.testing.assert_allclose(array(pair[1]["z"]), attend(SENTENCE, "scratch:minilm", max_tokens=512).weights[2, 5], atol=1e-6)
    quality = found["KL(pattern ‖ full), mean per row"]["data"]
    assert len(array(quality[0]["y"])) == 6 and array(quality[2]["y"]).max() <= 1
    params = dict(app.query_params)
    assert params["globals"] == "0,-1" and params["layer"] == "2" and params["head"] == "5" and "u" not in params


def test_probsparse_with_u_equal_to_the_length_matches_full_attention():
    n = attend(SENTENCE, "scratch").n_tokens
    app = open_page("efficient_attention", text=SENTENCE, model="scratch", pattern="probsparse", u=str(n))
    found = figures(app)
    kl = array(found["KL(pattern ‖ full), mean per row"]["data"][0]["y"])
    assert np.all(np.abs(kl) < 1e-5)
    assert any(title.startswith("Active queries · layer 0") for title in found)
    caption = " ".join(str(c.value) for c in app.caption)
    assert f"only u = {n} of {n} queries attend" in caption                 # ProbSparse's share is u of n, not 100%
    assert "keeps nearly every query" in caption or "would keep nearly every query" in caption


def test_bad_links_become_notices_and_errors_not_exceptions():
    app = open_page("efficient_attention", text=SENTENCE, model="scratch", pattern="telepathy", window="-4")
    said = messages(app)
    assert "is not one of sliding" in said and "outside 1–512" in said
    app = open_page("efficient_attention", text=SENTENCE, model="scratch", pattern="longformer", globals="0,99")
    assert "Global token 99 is outside the text's" in messages(app)


def test_changing_the_pattern_updates_the_url():
    app = open_page("efficient_attention", text=SENTENCE, model="scratch")
    app.selectbox(key="efficient_pattern").set_value("dilated").run()
    app.number_input(key="efficient_dilation").set_value(3).run()
    assert not app.exception
    params = dict(app.query_params)
    assert params["pattern"] == "dilated" and params["dilation"] == "3" and params["window"] == "3"
