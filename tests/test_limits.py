"""Hosted mode: the allow-list, the token cap and the batch cap, switched on by ATTENTION_LENS_HOSTED."""
from __future__ import annotations

import pytest

from attention import attend

from attention.run import limits
from attention.run.models import load_model


@pytest.fixture
def hosted(monkeypatch):
    monkeypatch.setenv("ATTENTION_LENS_HOSTED", "1")
    for name in ("ATTENTION_LENS_MODELS", "ATTENTION_LENS_MAX_TOKENS", "ATTENTION_LENS_MAX_BATCH"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_local_mode_has_no_allow_list_or_cap(monkeypatch):
    monkeypatch.delenv("ATTENTION_LENS_HOSTED", raising=False)
    monkeypatch.delenv("ATTENTION_LENS_MAX_TOKENS", raising=False)
    current = limits.current()
    assert (current.hosted, current.models, current.max_tokens) == (False, None, None)


def test_hosted_mode_defaults(hosted):
    current = limits.current()
    assert current.hosted and current.models == ("minilm", "scratch", "scratch:minilm", "gpt-mini", "scratch:random-gpt-mini",
                                                 "translate-mini", "scratch:random-translate-mini", "induction-mini")
    assert current.max_tokens == 256 and current.max_batch == 24


@pytest.mark.parametrize("name", ["bert-base-uncased", "/etc", "gpt2", "scratch:bert-base-uncased", "../models/x"])
def test_hosted_mode_refuses_models_off_the_allow_list(hosted, name, tiny_bert):
    with pytest.raises(ValueError, match="public demo runs only"):
        attend("Hello there.", name)
    with pytest.raises(ValueError, match="public demo runs only"):
        load_model(tiny_bert)  # a real model folder is refused too: nothing is read from disk


def test_hosted_allow_list_can_be_set(hosted, tiny_bert):
    hosted.setenv("ATTENTION_LENS_MODELS", f"scratch,{tiny_bert}")
    assert attend("Hello there.", tiny_bert).n_layers == 2
    with pytest.raises(ValueError, match="public demo runs only"):
        attend("Hello there.", "minilm")


def test_hosted_token_cap_truncates_with_a_notice(hosted):
    result = attend("word " * 1000, "scratch")
    assert result.n_tokens == 256
    assert any("at most 256 tokens" in notice for notice in result.notices)
    hosted.setenv("ATTENTION_LENS_MAX_TOKENS", "40")
    assert attend("word " * 1000, "scratch").n_tokens == 40  # the cache keys on the limits in force


def test_bad_limit_values_fall_back_to_defaults(hosted):
    hosted.setenv("ATTENTION_LENS_MAX_TOKENS", "lots")
    hosted.setenv("ATTENTION_LENS_MAX_BATCH", "-5")
    current = limits.current()
    assert current.max_tokens == 256 and current.max_batch == 24


def test_hosted_mode_runs_the_trained_demo_models_their_pages_name(hosted):
    """The Generation, Masks and Contributions pages name gpt-mini and translate-mini (and their untrained twins): a
    hosted demo runs them (its image trains them at build time) while the model pickers keep to the bundled models."""
    import ui

    for name in limits.DEMO_MODELS:
        limits.current().check_model(name)          # allowed: no error
        assert ui.hosted_allows(name)
    assert ui.preset_models() == ["minilm", "scratch", "scratch:minilm"]
    hosted.setenv("ATTENTION_LENS_MODELS", "gpt-mini")
    assert ui.preset_models() == ["gpt-mini"]       # an operator's list of demo models only is offered as it is
