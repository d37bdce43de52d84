"""The Patching page through Streamlit's AppTest: the induction example it opens on (its heads standing out), the
date example's button, URL state, and bad input as messages."""
from __future__ import annotations

import numpy as np

from apptest_pages import open_page
from test_pages_learn import array, figures

from attention import patch
from attention.domains.induction_mini import probe_scores

HEADS = "Heads: each head's output taken from the clean run"
RESIDUAL = "Residual stream: the stream at one layer and position taken from the clean run"
BLOCKS = "Blocks: each layer's attention output or feed-forward output from the clean run"


def messages(app) -> str:
    return " ".join(str(m.value) for m in [*app.warning, *app.error]).replace("\\", "")


def _heads(app) -> np.ndarray:
    return array(figures(app)[HEADS]["data"][0]["z"]).astype(float)


def test_opens_on_the_induction_example_where_its_heads_stand_out(trained_induction_mini):
    app = open_page("patching")
    assert not app.error, messages(app)
    assert app.text_input(key="patching_clean").value == "kqzmwtrbfxkqzmw"
    drawn = figures(app)
    assert {HEADS, RESIDUAL, BLOCKS} <= set(drawn)
    expected = patch("kqzmwtrbfxkqzmw", "kqzmxtrbfwkqzmw", "induction-mini", answer="t", wrong="k")
    heads = _heads(app)
    np.testing.assert_allclose(heads, expected.heads, atol=1e-5)
    scores = probe_scores(trained_induction_mini.network)
    previous = np.unravel_index(np.argmax(scores["previous"][0]), heads[0].shape)
    assert heads[0].argmax() == previous[0]              # the previous-token head is the one of layer 0 that stands out
    assert heads[0].max() > 0.5 and (heads[1] > np.delete(heads[0], heads[0].argmax()).max()).all()
    assert next(m for m in app.metric if m.label == "Clean").value == f"{expected.clean_value:.3f}"
    params = dict(app.query_params)
    assert params.get("model") in ("induction-mini", ["induction-mini"])


def test_the_date_example_button_runs_translate_mini(trained_induction_mini, trained_translate_mini):
    app = open_page("patching")
    app.button(key="patching_dates").click().run()
    assert not app.error, messages(app)
    assert app.text_input(key="patching_prefix").value == "2021-03-0"
    expected = patch("the third of march, twenty twenty-one", "the fifth of march, twenty twenty-one", "translate-mini",
                     answer="3", wrong="5", prefix="2021-03-0")
    drawn = figures(app)
    assert drawn[HEADS]["data"][0]["y"] == expected.layer_names
    np.testing.assert_allclose(array(drawn[HEADS]["data"][0]["z"]).astype(float), expected.heads, atol=1e-5)


def test_url_state_on_minilm_uses_the_similarity_metric():
    app = open_page("patching", model="minilm", clean="The cat sat on the mat.", corrupted="The dog sat on the mat.",
                    answer="", wrong="")
    assert not app.error, messages(app)
    assert "similarity" in messages(app) and "scratch:minilm" in messages(app)
    residual = figures(app)[RESIDUAL]["data"][0]
    assert "cat/dog" in "".join(residual["x"])
    assert array(residual["z"]).shape == (7, 9)


def test_bad_input_is_a_message_not_a_traceback(trained_induction_mini):
    app = open_page("patching", corrupted="kqzmxtrbfwkqzmwabc")
    assert "same number of tokens" in messages(app)
    assert HEADS not in figures(app)
    hostile = open_page("patching", model="minilm", clean="<b>x</b>", corrupted="<i>y</i>", answer="", wrong="")
    labels = "".join(figures(hostile)[RESIDUAL]["data"][0]["x"])
    assert "&lt;" in labels and "<" not in labels             # user text reaches the figure escaped
