"""gpt-mini trained once with a seed, with its held-out scores; the networks the engine serves as `gpt-mini` and
`scratch:random-gpt-mini`.

A recipe is trained at first use and kept on disk (attention/domains/store.py; a changed recipe has another file name,
so it retrains). Files hold only the output vocabulary's rows of the token embedding table (pack/unpack: ~4 MB
instead of ~16 MB), the recipe, the held-out scores, the training seconds and every step's loss. A recipe that takes
longer than a first visit should wait is shipped instead: `python -m attention.domains.gpt_mini.ship` writes the
same content to attention/data/gpt-mini.pt, which load_or_train reads when its recipe is the one asked for. The
default recipe (~20 minutes on one thread) ships; tests re-run its first 50 steps against the recorded losses."""
from __future__ import annotations

import threading
import time
from dataclasses import asdict
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from attention.domains import store
from attention.domains.gpt_mini.data import Corpus, fingerprint, ngram_perplexities
from attention.domains.gpt_mini.model import GPTMini, GPTMiniConfig
from attention.domains.gpt_mini.train import Progress, build, corpus_for, perplexity, train


MODEL_NAME = "gpt-mini"
RANDOM_NAME = "scratch:random-gpt-mini"   # the same architecture with its untrained, seeded starting weights
TRAINING_VERSION = 6   # bump when the training recipe changes: old cache and shipped files are then ignored
SHIPPED = "gpt-mini.pt"
_FROM_SHIPPED: dict[GPTMiniConfig, "Trained"] = {}   # the shipped network, read once per process
_SHIPPED_LOCK = threading.Lock()


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


def recipe(config: GPTMiniConfig = GPTMiniConfig()) -> dict:
    """What makes the weights: the config and TRAINING_VERSION (a cache file's name carries its hash)."""
    return {**asdict(config), "version": TRAINING_VERSION}


def cache_path(config: GPTMiniConfig = GPTMiniConfig()) -> Path:
    """One file per recipe: its name carries a hash of the config and of TRAINING_VERSION."""
    return store.recipe_path(MODEL_NAME, recipe(config))


def shipped_path() -> Path:
    """The trained weights shipped with the package (attention/data/gpt-mini.pt)."""
    return Path(str(resources.files("attention") / "data" / SHIPPED))


@lru_cache(maxsize=1)
def shipped() -> dict | None:
    """The shipped file's content (weights, recipe, scores, losses), or None when there is none."""
    path = shipped_path()
    return store.load(path) if path.exists() else None


def _is_shipped(config: GPTMiniConfig) -> bool:
    found = shipped()
    return found is not None and found["recipe"] == recipe(config)


def is_shipped(config: GPTMiniConfig = GPTMiniConfig()) -> bool:
    """True when this recipe's weights ship with the package (read, never trained here)."""
    return _is_shipped(config)


def is_cached(config: GPTMiniConfig = GPTMiniConfig()) -> bool:
    """True when load_or_train will not need to train (shipped, in memory or on disk)."""
    return _is_shipped(config) or store.is_ready(cache_path(config))


def pack(network: GPTMini) -> dict:
    """The network's weights with only the output vocabulary's rows of the token embedding table (every other row is
    [UNK]'s, see GPTMini.read_unknown_as_unk): 30,522 rows → ~4,500, a third of the file."""
    state = dict(network.state_dict())
    state["token_embedding.weight"] = state["token_embedding.weight"][network.vocabulary].clone()
    return state


def unpack(config: GPTMiniConfig, state: dict, unk: int) -> GPTMini:
    """The network from pack()'s weights."""
    vocabulary = state["vocabulary"]
    network = GPTMini(config.scratch(), vocabulary, config.untied)
    full = network.token_embedding.weight.detach().clone()
    rows = state["token_embedding.weight"]
    full[vocabulary if len(rows) == len(vocabulary) else slice(None)] = rows     # packed, or the whole table
    network.load_state_dict({**state, "token_embedding.weight": full}, strict=True)
    network.read_unknown_as_unk(unk)
    return network.eval()


def train_and_record(config: GPTMiniConfig = GPTMiniConfig(), corpus: Corpus | None = None,
                     progress: Progress | None = None) -> tuple[GPTMini, dict]:
    """Train the recipe and return the network with what is saved: packed weights, recipe, held-out scores, seconds,
    every step's loss and the corpus's fingerprint."""
    corpus = corpus or corpus_for(config)
    losses: list[float] = []
    started = time.perf_counter()
    network = train(config, corpus, progress, losses)
    seconds = time.perf_counter() - started
    scores = {"perplexity": perplexity(network, corpus, config.context), **ngram_perplexities(corpus, config.context)}
    return network, {"state": pack(network), "recipe": recipe(config), "seconds": seconds, "scores": scores,
                     "losses": losses, "corpus": fingerprint(corpus)}


def load_or_train(config: GPTMiniConfig = GPTMiniConfig(), progress: Progress | None = None) -> Trained:
    """The trained gpt-mini: the shipped weights when they are this recipe's, else from memory, the disk cache, or
    trained now (`progress` hears every 2%) and saved."""
    corpus = corpus_for(config)

    def read(saved: dict) -> Trained:
        notices = ()
        if saved.get("corpus", fingerprint(corpus)) != fingerprint(corpus):
            notices = ("This Python ships a slightly different documentation text than the one gpt-mini was trained on; "
                       "its held-out scores are the recorded ones.",)
        return Trained(unpack(config, saved["state"], corpus.unk), corpus, dict(saved["scores"]), float(saved["seconds"]),
                       notices)

    if _is_shipped(config):
        with _SHIPPED_LOCK:
            if config not in _FROM_SHIPPED:
                _FROM_SHIPPED[config] = read(shipped())
            return _FROM_SHIPPED[config]

    def fresh(notices: tuple[str, ...]) -> tuple[Trained, dict]:
        network, content = train_and_record(config, corpus, progress)
        return Trained(network, corpus, content["scores"], content["seconds"], notices), content

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


ROLES = ("previous", "induction", "sink")


@lru_cache(maxsize=4)
def head_roles(model: str = MODEL_NAME) -> dict[str, tuple[int, int, float]]:
    """The strongest head of each kind by head_scores (previous token, induction, attention sink), measured on random
    tokens repeated twice: {kind: (layer, head, score)}."""
    from attention.analyses.generation import head_scores

    roles = {}
    for kind in ROLES:
        scores = head_scores(model, kind)                                   # [layer, head]
        layer, head = np.unravel_index(int(np.argmax(scores)), scores.shape)
        roles[kind] = (int(layer), int(head), float(scores[layer, head]))
    return roles


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
