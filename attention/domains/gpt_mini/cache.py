"""gpt-mini trained once with a seed and kept on disk (attention/domains/store.py), with its held-out scores; the
networks the engine serves as `gpt-mini` and `scratch:random-gpt-mini`."""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import torch

from attention.domains import store
from attention.domains.gpt_mini.data import Corpus, load_corpus, ngram_perplexities
from attention.domains.gpt_mini.model import GPTMini, GPTMiniConfig
from attention.domains.gpt_mini.train import Progress, build, perplexity, train


MODEL_NAME = "gpt-mini"
RANDOM_NAME = "scratch:random-gpt-mini"   # the same architecture with its untrained, seeded starting weights
TRAINING_VERSION = 5   # bump when the training recipe changes: old cache files are then ignored


class Trained(NamedTuple):
    """A trained gpt-mini with its held-out scores (perplexities of it and of the baselines) and training seconds."""

    network: GPTMini
    corpus: Corpus
    scores: dict
    seconds: float
    notices: tuple[str, ...] = ()

    @property
    def model(self) -> GPTMini:
        """`network` under its name before the naming rule (docs/architecture.md), for scripts that use it."""
        return self.network


def cache_path(config: GPTMiniConfig = GPTMiniConfig()) -> Path:
    """One file per recipe: its name carries a hash of the config and of TRAINING_VERSION."""
    return store.recipe_path(MODEL_NAME, {**asdict(config), "version": TRAINING_VERSION})


def is_cached(config: GPTMiniConfig = GPTMiniConfig()) -> bool:
    """True when load_or_train will not need to train (in memory or on disk)."""
    return store.is_ready(cache_path(config))


def load_or_train(config: GPTMiniConfig = GPTMiniConfig(), progress: Progress | None = None) -> Trained:
    """The trained gpt-mini: from memory, else the disk cache, else trained now (`progress` hears every 2%) and saved."""
    corpus = load_corpus(config.split_seed, config.held_out_share, config.min_count)

    def read(saved: dict) -> Trained:
        network = GPTMini(config.scratch(), torch.as_tensor(corpus.vocabulary))
        network.load_state_dict(saved["state"], strict=True)
        return Trained(network.eval(), corpus, dict(saved["scores"]), float(saved["seconds"]))

    def fresh(notices: tuple[str, ...]) -> tuple[Trained, dict]:
        started = time.perf_counter()
        network = train(config, corpus, progress)
        seconds = time.perf_counter() - started
        scores = {"perplexity": perplexity(network, corpus, config.context), **ngram_perplexities(corpus, config.context)}
        return Trained(network, corpus, scores, seconds, notices), {"state": network.state_dict(), "config": asdict(config),
                                                                  "seconds": seconds, "scores": scores}

    return store.load_or_train(cache_path(config), read, fresh, "gpt-mini model")


def evaluate_lm(model: str = MODEL_NAME) -> dict:
    """Held-out perplexity of gpt-mini (or its untrained twin, 'scratch:random-gpt-mini') and of a unigram and an add-k
    bigram model on the same tokens: {perplexity, unigram, bigram, bigram_k, tokens, train_tokens, seconds}."""
    if model not in (MODEL_NAME, RANDOM_NAME):
        raise ValueError(f"Held-out perplexity is measured for {MODEL_NAME} (and {RANDOM_NAME}, its untrained twin), "
                         f"whose held-out text is known; not for '{str(model)[:80]}'.")
    trained = load_or_train()
    config = GPTMiniConfig()
    scores = dict(trained.scores)
    if model == RANDOM_NAME:
        untrained = build(config, trained.corpus).eval()
        untrained.read_unknown_as_unk(trained.corpus.unk)
        scores["perplexity"] = perplexity(untrained, trained.corpus, config.context)
    return {**scores, "train_tokens": int(len(trained.corpus.train)), "seconds": trained.seconds, "model": model,
            "held_out_topics": list(trained.corpus.held_out_topics)}


def network(name: str = MODEL_NAME) -> tuple[object, GPTMini]:
    """(MiniLM's tokenizer, the network) for 'gpt-mini' (trained) or 'scratch:random-gpt-mini' (untrained, seeded)."""
    from attention.domains.gpt_mini.data import tokenizer

    trained = load_or_train()
    if name == RANDOM_NAME:
        untrained = build(GPTMiniConfig(), trained.corpus).eval()
        untrained.read_unknown_as_unk(trained.corpus.unk)
        return tokenizer(), untrained
    return tokenizer(), trained.network


def held_out_continuations(count: int = 3, prompt_tokens: int = 12, steps: int = 20, seed: int = 0) -> list[dict]:
    """Greedy and sampled (temperature 0.8, top-k 40) continuations of the openings of `count` held-out topics, with the
    text that really followed: [{topic, prompt, greedy, sampled, actual}]."""
    from pydoc_data import topics

    from attention.analyses.generation import generate
    from attention.domains.gpt_mini.data import clean, tokenizer

    trained = load_or_train()
    tok = tokenizer()
    shown = []
    for topic in trained.corpus.held_out_topics[:count]:
        ids = tok(clean(topics.topics[topic]), verbose=False)["input_ids"][1:]
        prompt = tok.decode(ids[:prompt_tokens])
        actual = tok.decode(ids[prompt_tokens:prompt_tokens + steps])
        greedy = generate(prompt, MODEL_NAME, steps=steps).text
        sampled = generate(prompt, MODEL_NAME, steps=steps, seed=seed, temperature=0.8, top_k=40).text
        shown.append({"topic": topic, "prompt": prompt, "greedy": greedy, "sampled": sampled, "actual": actual})
    return shown
