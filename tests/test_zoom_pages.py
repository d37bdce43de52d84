"""The pages that show a long result as the zoomable map (AppTest: the page runs, says why, draws no heatmap)."""
from __future__ import annotations

import pytest

from apptest_pages import open_page

pytestmark = pytest.mark.trained

TEXT = " ".join(f"Ship {i} left the harbour at dawn and the keeper wrote its name in the ledger." for i in range(60))


@pytest.fixture
def small_budget(monkeypatch, trained_long_mini):
    monkeypatch.setenv("ATTENTION_LENS_WEIGHTS_MB", "2")   # ~1,000 tokens of long-mini are then a long result


def test_token_links_shows_a_long_result_as_the_map(small_budget):
    app = open_page("token_links", text=TEXT, model="long-mini", layer="1")
    assert any("too many to draw a line for every pair" in info.value for info in app.info)
    assert any("keeps the queries and keys" in warning.value for warning in app.warning)


def test_home_shows_a_long_result_as_the_map_and_says_what_long_mini_is(small_budget):
    app = open_page("home", text=TEXT, model="long-mini", layer="1", head="2")
    captions = " ".join(caption.value for caption in app.caption)
    assert "**long-mini** is a small Llama trained on this machine: 2 layers, 4 query heads sharing 2" in captions
    assert not app.multiselect   # the full-weights views (Compare heads) are left out for a long result


def test_the_demo_note_gives_the_passage_only_for_the_demo_text(trained_long_mini):
    from attention import attend
    from attention.domains import long_mini
    from attention.domains.long_mini.data import tokenizer
    from ui.zoom import model_note

    first, second, size = long_mini.passage_positions(tokenizer()(long_mini.demo_text())["input_ids"])
    note = model_note(attend(long_mini.demo_text(), "long-mini"), long_mini.demo_text())
    assert f"one {size}-token passage placed twice, at token {first:,} and at token {second:,}" in note
    assert f"the stripe {second - first:,} tokens left of the diagonal" in note
    short = model_note(attend(TEXT, "long-mini"), TEXT)
    assert short.startswith("**long-mini** is a small Llama") and "passage" not in short
    assert "passage" not in model_note(attend(long_mini.demo_text(), "long-mini"))   # no text given: no claim
    assert model_note(attend(TEXT, "minilm")) is None


def test_the_demo_link_says_where_its_passage_repeats(trained_long_mini):
    from attention.domains import long_mini
    from attention.domains.long_mini.data import tokenizer

    first, second, size = long_mini.passage_positions(tokenizer()(long_mini.demo_text())["input_ids"])
    app = open_page("home", demo="long-mini", layer="1")
    captions = " ".join(caption.value for caption in app.caption)
    assert f"one {size}-token passage placed twice, at token {first:,} and at token {second:,}" in captions
    assert not [w.value for w in app.warning if "The link keeps the first" in w.value]   # the link carries demo=, whole
