"""gpt-mini: the data split and baselines, a decoder on the project's engine (attend, trace, generate), held-out
perplexity against unigram and bigram, and its induction heads against the same network untrained."""
from __future__ import annotations

import math

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


def test_gpt_mini_beats_the_bigram_by_a_fifth(trained_gpt_mini):
    scores = evaluate_lm("gpt-mini")
    assert scores["tokens"] > 20_000
    assert scores["perplexity"] <= 0.8 * scores["bigram"] < scores["unigram"]
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
    assert run.weights.shape[:2] == (4, 4)


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
    """Scores are [layer, head] means in 0..1; training parks attention on the first token (a sink) where the untrained
    network spreads it. (Induction heads did not form within the 500-step budget: see the README for the figures.)"""
    for kind in ("previous", "induction", "sink"):
        trained, untrained = head_scores("gpt-mini", kind), head_scores("scratch:random-gpt-mini", kind)
        assert trained.shape == untrained.shape == (4, 4) and trained.dtype == np.float32
        assert ((0 <= trained) & (trained <= 1)).all() and ((0 <= untrained) & (untrained <= 1)).all()
    assert head_scores("gpt-mini", "sink").max() > 3 * head_scores("scratch:random-gpt-mini", "sink").max()
    np.testing.assert_array_equal(head_scores("gpt-mini", "induction", seed=1), head_scores("gpt-mini", "induction", seed=1))


def test_training_is_reproducible_for_a_seed():
    """A short run of the recipe twice from the same seed gives the same weights (one thread, seeded batches)."""
    config = gpt_mini.GPTMiniConfig(steps=3, batch_size=2, context=16)
    corpus = load_corpus()
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
