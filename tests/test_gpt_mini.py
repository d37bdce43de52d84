"""gpt-mini: the data split and baselines, a decoder on the project's engine (attend, trace, generate), held-out
perplexity against unigram and bigram, and its induction heads against the same network untrained."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from attention import attend, evaluate_lm, generate, head_scores, load_model, trace
from attention.domains import gpt_mini
from attention.domains.gpt_mini.data import load_corpus, ngram_perplexities, tokenizer, windows

SENTENCE = "the for statement iterates over the items of a sequence"


def test_split_is_by_topic_seeded_and_disjoint():
    corpus = load_corpus()
    assert not set(corpus.train_topics) & set(corpus.held_out_topics)
    assert len(corpus.held_out_topics) == 8 and len(corpus.train_topics) == 71           # 10% of 79 topics
    assert load_corpus(split_seed=1).held_out_topics != corpus.held_out_topics
    known = set(corpus.vocabulary.tolist())
    assert set(np.unique(corpus.train).tolist()) <= known and set(np.unique(corpus.held_out).tolist()) <= known
    assert corpus.unk in known and corpus.train[0] == corpus.bos


def test_heading_underlines_are_dropped_and_nothing_else():
    from attention.domains.gpt_mini.data import clean

    text = "The for statement\n*****************\n\n   for_stmt ::= \"for\" target_list\nf(*args, **kwargs)\n  ---\n"
    assert clean(text) == "The for statement\n\n   for_stmt ::= \"for\" target_list\nf(*args, **kwargs)\n"
    corpus = load_corpus()
    star = tokenizer().convert_tokens_to_ids("*")     # gpt-mini's tokenizer (MiniLM's): no trained model needed
    assert np.mean(corpus.train == star) < 0.025                               # 5.2% of all tokens with them


def test_windows_cut_without_overlap():
    assert windows(np.arange(10), 4).tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_ngram_baselines_on_a_hand_built_corpus():
    """Train 'a b a b …', hold out 'a b a b': the bigram always knows the next token (with k→0, perplexity → 1)."""
    from attention.domains.gpt_mini.data import Corpus

    a, b, unk = 5, 6, 1
    corpus = Corpus(np.array([a, b] * 50), np.array([a, b] * 4), np.array([unk, a, b]), ("t",), ("h",), unk, a, b)
    scores = ngram_perplexities(corpus, context=8, k_grid=(0.001,))
    assert scores["tokens"] == 7
    assert scores["bigram"] == pytest.approx(1.0, abs=0.01)
    # unigram with add-one over 3 tokens: counts 51, 51, 1 of 103
    expected = math.exp(-(4 * math.log(51 / 103) + 3 * math.log(51 / 103)) / 7)
    assert scores["unigram"] == pytest.approx(expected)


def test_gpt_mini_beats_the_bigram_by_two_fifths(trained_gpt_mini):
    scores = evaluate_lm("gpt-mini")
    assert scores["tokens"] > 20_000
    assert scores["perplexity"] <= 0.6 * scores["bigram"] < scores["unigram"]             # issue 25's goal
    network = trained_gpt_mini.network                                     # the recorded score is the network's own
    corpus = trained_gpt_mini.corpus
    assert gpt_mini.train.perplexity(network, corpus, 128) == pytest.approx(scores["perplexity"], rel=1e-3)
    untrained = evaluate_lm("scratch:random-gpt-mini")
    assert untrained["perplexity"] > scores["unigram"]                    # an untrained network knows nothing
    with pytest.raises(ValueError, match="gpt-mini"):
        evaluate_lm("minilm")


def test_gpt_mini_is_a_causal_decoder_on_the_engine(trained_gpt_mini):
    backend = load_model("gpt-mini")
    assert backend.kind == "scratch" and backend.family == "decoder"
    result = attend(SENTENCE, "gpt-mini")
    assert result.tokens[0] == "[CLS]" and result.meta["causal"]
    assert not np.triu(result.weights, 1).any()
    run = trace(SENTENCE, "gpt-mini")
    np.testing.assert_allclose(run.weights, result.weights, atol=1e-6)
    assert run.weights.shape[:2] == (2, 4)


def test_unknown_tokens_read_as_unk(trained_gpt_mini):
    network = trained_gpt_mini.network
    outside = int(np.setdiff1d(np.arange(1000, 30000), trained_gpt_mini.corpus.vocabulary)[0])
    weight = network.token_embedding.weight
    torch.testing.assert_close(weight[outside], weight[trained_gpt_mini.corpus.unk])


def test_generation_stays_in_the_vocabulary_and_cache_matches(trained_gpt_mini):
    run = generate("the for statement is used to", "gpt-mini", steps=15, temperature=0.9, seed=2)
    vocabulary = set(trained_gpt_mini.corpus.vocabulary.tolist())
    assert all(i in vocabulary for i in run.ids[run.generated_from:])
    fresh = generate("the for statement is used to", "gpt-mini", steps=15, temperature=0.9, seed=2, cache=False)
    assert fresh.ids == run.ids
    np.testing.assert_allclose(fresh.weights, run.weights, atol=1e-5)
    np.testing.assert_allclose(run.weights, attend_ids(run.ids), atol=1e-5)


def attend_ids(ids: list[int]) -> np.ndarray:
    return load_model("gpt-mini").run(ids, {})["weights"]


def test_head_scores_of_trained_and_untrained(trained_gpt_mini):
    """Scores are [layer, head] means in 0..1. Trained: a previous-token head in layer 0 and an induction head in layer
    1 (issue 25's goal: induction ≥ 0.5 on held-out random tokens repeated), where the untrained network has neither.
    head_roles, which the Masks, Step-by-step and Generation captions state, are the best heads of each score."""
    for kind in ("previous", "induction", "sink"):
        trained, untrained = head_scores("gpt-mini", kind), head_scores("scratch:random-gpt-mini", kind)
        assert trained.shape == untrained.shape == (2, 4) and trained.dtype == np.float32
        assert ((0 <= trained) & (trained <= 1)).all() and ((0 <= untrained) & (untrained <= 1)).all()
    induction, previous = head_scores("gpt-mini", "induction"), head_scores("gpt-mini", "previous")
    assert induction[1].max() >= 0.5 and previous[0].max() >= 0.5
    assert head_scores("scratch:random-gpt-mini", "induction").max() < 0.1
    roles = gpt_mini.head_roles()
    for kind, (layer, head, score) in roles.items():
        scores = head_scores("gpt-mini", kind)
        assert score == pytest.approx(float(scores.max())) and scores[layer, head] == scores.max()
    np.testing.assert_array_equal(head_scores("gpt-mini", "induction", seed=1), head_scores("gpt-mini", "induction", seed=1))


def test_training_is_reproducible_for_a_seed():
    """A short run of the recipe twice from the same seed gives the same weights (one thread, seeded batches)."""
    config = gpt_mini.GPTMiniConfig(mix_steps=2, mix_batch=4, mix_length=8, steps=3, batch_size=2, context=16)
    corpus = gpt_mini.train.corpus_for(config)
    first, second = (gpt_mini.train.train(config, corpus) for _ in range(2))
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_step_by_step_opens_gpt_mini(trained_gpt_mini):
    """The Learn views that open up the engine take gpt-mini (a trained decoder, causal by itself)."""
    from attention.analyses.steps import trace_steps

    run = trace(SENTENCE, "gpt-mini")
    steps = trace_steps(run, 1, 2)
    np.testing.assert_allclose(steps.weights, run.weights[1, 2], atol=1e-6)
    assert not np.triu(steps.weights, 1).any()


def test_a_shipped_recipe_is_read_not_trained_and_its_first_steps_reproduce(tmp_path, monkeypatch):
    """ship() writes what load_or_train reads for that recipe without training; re-running the recipe's first steps
    gives the losses recorded when it was trained (to 1e-4)."""
    from attention.domains import store
    from attention.domains.gpt_mini import cache
    from attention.domains.gpt_mini.ship import ship
    from attention.domains.gpt_mini.train import first_losses

    config = gpt_mini.GPTMiniConfig(mix_steps=3, mix_batch=4, mix_length=8, steps=3, batch_size=2, context=16, warmup=2,
                                    seed=5)
    path = tmp_path / "gpt-mini.pt"
    saved = ship(path, config)
    assert len(saved["losses"]) == 6 and saved["recipe"] == cache.recipe(config)
    monkeypatch.setattr(cache, "shipped_path", lambda: path)
    cache.shipped.cache_clear()
    try:
        assert cache.is_cached(config) and not store.is_ready(cache.cache_path(config))

        def no_training(*args, **kwargs):
            raise AssertionError("a shipped recipe is read, not trained")

        monkeypatch.setattr(cache, "train", no_training)
        trained = cache.load_or_train(config)
        for name, value in cache.pack(trained.network).items():
            torch.testing.assert_close(value, saved["state"][name], rtol=0, atol=0, msg=name)
        assert trained.scores == saved["scores"]
        np.testing.assert_allclose(first_losses(config, 3), saved["losses"][:3], rtol=0, atol=1e-4)
        assert not cache.is_cached(replace(config, seed=6))                 # another recipe is not the shipped one
    finally:
        cache.shipped.cache_clear()


def test_docstrings_join_the_training_side_only():
    from attention.domains.gpt_mini.data import docstring_texts

    texts = docstring_texts(20_000)
    assert all(len(text) >= 80 for text in texts) and 20_000 <= sum(map(len, texts)) < 20_000 + max(map(len, texts))
    base, more = load_corpus(), load_corpus(docstrings=20_000)
    assert len(more.train) > len(base.train) and more.held_out_topics == base.held_out_topics
    assert len(more.held_out) == len(base.held_out)


def test_packed_weights_give_the_same_network(trained_gpt_mini):
    from attention.domains.gpt_mini.cache import pack, unpack

    network = trained_gpt_mini.network
    again = unpack(gpt_mini.GPTMiniConfig(), pack(network), trained_gpt_mini.corpus.unk)
    for (name, a), (_, b) in zip(network.state_dict().items(), again.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    assert pack(network)["token_embedding.weight"].shape[0] == len(network.vocabulary)


def test_masks_and_step_by_step_say_what_the_heads_do_as_measured(trained_gpt_mini, trained_translate_mini):
    """The captions' numbers are head_roles()'s, which are head_scores()'s best heads (checked above)."""
    from apptest_pages import open_page
    from test_pages_learn import words

    from figures.generation import roles_caption

    roles = gpt_mini.head_roles()
    masks = open_page("masks")
    assert roles_caption(roles) in words(masks)
    steps = open_page("step_by_step", text=SENTENCE, model="scratch", causal="1")
    assert roles_caption(roles) in words(steps)


def test_the_shipped_weights_are_the_default_recipes_and_its_first_50_steps_reproduce():
    """gpt-mini ships (attention/data/gpt-mini.pt, ≤ 25 MB) because its recipe takes longer than a first visit should
    wait; re-running the default recipe's first 50 steps gives the losses recorded when it was trained (to 1e-4)."""
    from attention.domains.gpt_mini import cache
    from attention.domains.gpt_mini.train import first_losses

    path = cache.shipped_path()
    assert path.exists() and path.stat().st_size <= 25 * 2**20
    saved = cache.shipped()
    assert saved["recipe"] == cache.recipe(gpt_mini.GPTMiniConfig()) and cache.is_cached() and gpt_mini.is_shipped()
    assert len(saved["losses"]) == gpt_mini.GPTMiniConfig().mix_steps + gpt_mini.GPTMiniConfig().steps
    np.testing.assert_allclose(first_losses(gpt_mini.GPTMiniConfig(), 50), saved["losses"][:50], rtol=0, atol=1e-4)
