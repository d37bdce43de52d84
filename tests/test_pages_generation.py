"""The Generation page through Streamlit's AppTest: the run shown is generate()'s, URL state and bad values, Step."""
from __future__ import annotations

import json

import numpy as np
import pytest

from apptest_pages import open_page
from test_pages_learn import array, messages, metric, words

from attention import generate
from attention.analyses.lens import generation_lens
from attention.domains import gpt_mini
from figures.generation import roles_caption
from ui.messages import md_escape

DEFAULT_PROMPT = "the return statement"


@pytest.fixture(autouse=True)
def _model(trained_gpt_mini):
    """Every test here opens the page on the trained, cached gpt-mini (a fresh machine trains it once first)."""
    return trained_gpt_mini


def chart(app, key: str) -> dict:
    return json.loads(next(c for c in app.get("plotly_chart") if c.proto.id.endswith(key)).proto.spec)


def written(app) -> str:
    return next(str(m.value) for m in app.markdown if str(m.value).startswith("**Written"))


def no_runs(tokens: list[str]) -> bool:
    """No token written twice in a row (the old default wrote `_ _ _ _ …`)."""
    return all(a != b for a, b in zip(tokens, tokens[1:]))


def test_bare_url_samples_with_a_seed_and_shows_the_numbers(trained_gpt_mini):
    app = open_page("generation")
    assert not app.error and not app.warning
    run = generate(DEFAULT_PROMPT, "gpt-mini", steps=20, seed=0, temperature=0.8, top_k=40)
    assert no_runs(run.tokens[run.generated_from:])
    assert md_escape(run.written[-1]) in written(app)
    assert f"({run.n_generated} of {run.n_generated} tokens)" in written(app)
    cache = array(chart(app, "generation_cache")["data"][0]["z"])
    query = run.generated_from - 1 + run.n_generated
    lower = np.tril(np.ones((query + 1, query + 1), dtype=bool))
    np.testing.assert_allclose(cache[lower], run.weights[0, 0, :query + 1, :query + 1][lower], atol=1e-6)
    assert np.isnan(cache[~lower]).all()                                         # later keys: not yet written
    bars = chart(app, "generation_candidates")["data"][0]
    np.testing.assert_allclose(array(bars["x"]), [p for _, p in run.candidates[-1]], atol=1e-6)
    scores = trained_gpt_mini.scores
    assert metric(app, "gpt-mini, held-out perplexity") == f"{scores['perplexity']:.1f}"
    assert metric(app, "Bigram (add-k)") == f"{scores['bigram']:.1f}"
    assert "key/value cache" in words(app) and "Olsson" in words(app) and "A lens, not a measurement" in words(app)
    lens = chart(app, "generation_lens")["data"][0]
    tokens, probabilities = generation_lens(run, run.n_generated).column()
    np.testing.assert_allclose(array(lens["z"]), probabilities, atol=1e-6)
    assert roles_caption(gpt_mini.head_roles()) in words(app)
    shown = gpt_mini.held_out_continuations()
    assert app.table[0].value["greedy"].tolist() == [sample["greedy"] for sample in shown]
    assert app.table[0].value["what really followed"].tolist() == [sample["actual"] for sample in shown]


def test_a_link_opens_the_same_sampled_run_and_step(trained_gpt_mini):
    params = dict(prompt="a class definition", steps="6", seed="3", temperature="0.8", top_k="10", layer="1", head="2", step="4")
    app = open_page("generation", **params)
    assert not app.error and not app.warning
    run = generate("a class definition", "gpt-mini", steps=6, seed=3, temperature=0.8, top_k=10)
    assert "(4 of 6 tokens)" in written(app)
    assert app.dataframe[0].value["token"].tolist() == run.tokens[run.generated_from:run.generated_from + 4]
    latest = array(chart(app, "generation_heads")["data"][0]["z"])
    np.testing.assert_allclose(latest, run.latest(1, 4)[:, : run.generated_from + 4], atol=1e-6)
    assert {k: app.query_params[k] for k in params} == params


def test_step_adds_one_token_and_greedy_is_one_click():
    app = open_page("generation", steps="3")
    assert "(3 of 3 tokens)" in written(app)
    app.button[2].click().run()
    assert "(4 of 4 tokens)" in written(app)
    assert app.query_params["steps"] == "4" and app.query_params["step"] == "4"
    app.button[0].click().run()
    assert "(4 of 4 tokens)" in written(app)
    app.button[1].click().run()                                                    # Greedy
    greedy = generate(DEFAULT_PROMPT, "gpt-mini", steps=4)
    assert app.query_params["temperature"] == "0" and md_escape(greedy.written[-1]) in written(app)


def test_bad_values_in_the_link_give_notices():
    app = open_page("generation", steps="lots", temperature="9", top_k="-2", layer="99", step="40")
    text = messages(app)
    assert "steps" in text and "temperature" in text and "top_k" in text and "layer" in text and "step 40" in text
    assert not app.error and "(20 of 20 tokens)" in written(app)


def test_an_encoder_is_refused_with_a_message():
    app = open_page("generation", model="minilm")
    assert "decoder" in messages(app)
    assert not app.exception


def test_hostile_prompt_is_shown_as_text():
    hostile = "<img src=x onerror=alert(1)> **bold** [link](javascript:alert(1))"
    app = open_page("generation", prompt=hostile, steps="2")
    prompt_line = next(str(m.value) for m in app.markdown if str(m.value).startswith("**Prompt"))
    assert "\\*\\*bold\\*\\*" in prompt_line and "\\<img" in prompt_line and "\\[link\\]" in prompt_line


def test_the_docs_state_the_pages_sampling_defaults():
    """docs/learn.md's sampling defaults are the page's own (its schema and ui.generation)."""
    import re
    from pathlib import Path

    from ui.generation import DEFAULT_TOP_K

    root = Path(__file__).resolve().parent.parent
    page = (root / "pages" / "generation.py").read_text()
    temperature = re.search(r'ui\.Fraction\("temperature", ([0-9.]+)', page).group(1)
    seed = re.search(r'ui\.Integer\("seed", (\d+)', page).group(1)
    docs = (root / "docs" / "learn.md").read_text()
    assert f"(temperature {temperature},\nthe {DEFAULT_TOP_K} likeliest tokens, seed {seed}:" in docs
