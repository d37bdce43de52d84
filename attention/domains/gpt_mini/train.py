"""Training gpt-mini from a fixed seed on one CPU thread, keeping it on disk, and scoring it on held-out text."""
from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch
from torch import nn

from attention.domains import store
from attention.domains.gpt_mini.data import Corpus, load_corpus, ngram_perplexities, windows
from attention.domains.gpt_mini.model import GPTMini, GPTMiniConfig

MODEL_NAME = "gpt-mini"
RANDOM_NAME = "scratch:random-gpt-mini"   # the same architecture with its untrained, seeded starting weights
TRAINING_VERSION = 5   # bump when the training recipe changes: old cache files are then ignored

Progress = Callable[[float, str], None]


class Trained(NamedTuple):
    """A trained gpt-mini with its held-out scores (perplexities of it and of the baselines) and training seconds."""

    model: GPTMini
    corpus: Corpus
    scores: dict
    seconds: float
    notices: tuple[str, ...] = ()


def build(config: GPTMiniConfig, corpus: Corpus) -> GPTMini:
    """The untrained network with its seeded starting weights."""
    return GPTMini.initial(config.scratch(), torch.as_tensor(corpus.vocabulary), config.seed, config.sinusoidal_start,
                           config.query_key_start)


def _batch(config: GPTMiniConfig, corpus: Corpus, generator: torch.Generator) -> torch.Tensor:
    """One batch of training windows [batch, context + 1]: random slices of the training stream; with
    `repeat_share`, some rows are instead [CLS] + a random token sequence repeated (the standard setting where
    induction heads pay: the second copy is predictable only by looking back at the first)."""
    train = torch.as_tensor(corpus.train)
    length = config.context + 1
    starts = torch.randint(0, len(train) - length, (config.batch_size,), generator=generator)
    rows = torch.stack([train[s:s + length] for s in starts.tolist()])
    n_repeat = int(round(config.batch_size * config.repeat_share))
    vocabulary = torch.as_tensor(corpus.vocabulary)
    for row in range(n_repeat):
        # the period varies (repeat_length/3 … 2·repeat_length), so copying needs an induction head: a head that
        # attends a fixed distance back would serve one period only
        period = int(torch.randint(config.repeat_length // 3, 2 * config.repeat_length + 1, (1,), generator=generator))
        picks = vocabulary[torch.randint(0, len(vocabulary), (period,), generator=generator)]
        rows[row] = torch.cat([torch.tensor([corpus.bos]), picks.repeat(-(-(length - 1) // period))[: length - 1]])
    return rows


def _loss(model: GPTMini, index: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over the output vocabulary; rows [batch, context + 1] of token ids."""
    hidden = model.run(rows[:, :-1]).hidden                                  # [batch, context, d_model]
    logits = model.vocabulary_logits(hidden)                                 # [batch, context, kept]
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), index[rows[:, 1:]].reshape(-1))


def train(config: GPTMiniConfig = GPTMiniConfig(), corpus: Corpus | None = None, progress: Progress | None = None) -> GPTMini:
    """Train from a fixed seed (AdamW, linear warm-up then cosine decay) on one CPU thread: small matrices gain
    nothing from a second thread on a shared machine, and one thread keeps the result repeatable."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(config, corpus or load_corpus(config.split_seed, config.held_out_share, config.min_count), progress)
    finally:
        torch.set_num_threads(threads)


def _index(corpus: Corpus, vocab_size: int) -> torch.Tensor:
    """MiniLM id -> position in the output vocabulary (−1 outside it): [vocab]."""
    index = torch.full((vocab_size,), -1, dtype=torch.long)
    index[torch.as_tensor(corpus.vocabulary)] = torch.arange(len(corpus.vocabulary))
    return index


def _train(config: GPTMiniConfig, corpus: Corpus, progress: Progress | None) -> GPTMini:
    model = build(config, corpus).train()
    index = _index(corpus, model.config.vocab_size)
    generator = torch.Generator().manual_seed(config.seed)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embedding" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embedding" not in n)]
    optimiser = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}],
                                  lr=config.learning_rate, betas=(0.9, 0.95))

    def rate(step: int) -> float:
        if step < config.warmup:
            return (step + 1) / config.warmup
        done = (step - config.warmup) / max(1, config.steps - config.warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, rate)
    every = max(1, config.steps // 50)
    for step in range(config.steps):
        loss = _loss(model, index, _batch(config, corpus, generator))
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        if progress and (step + 1) % every == 0:
            progress((step + 1) / config.steps, f"Training gpt-mini: step {step + 1} of {config.steps} (loss {loss.item():.2f})")
    model.eval()
    model.read_unknown_as_unk(corpus.unk)
    return model


def perplexity(model: GPTMini, corpus: Corpus, context: int) -> float:
    """Held-out perplexity: windows of `context` tokens, every token after the first of each window predicted from the
    tokens before it in its window (the same tokens the n-gram baselines are scored on)."""
    index = _index(corpus, model.config.vocab_size)
    held = torch.as_tensor(windows(corpus.held_out, context))
    total, count = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(held), 32):
            rows = held[start:start + 32]
            logits = model.vocabulary_logits(model.run(rows[:, :-1]).hidden)
            losses = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), index[rows[:, 1:]].reshape(-1),
                                                 reduction="sum")
            total, count = total + float(losses), count + rows[:, 1:].numel()
    return math.exp(total / count)


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
        model = GPTMini(config.scratch(), torch.as_tensor(corpus.vocabulary))
        model.load_state_dict(saved["state"], strict=True)
        return Trained(model.eval(), corpus, dict(saved["scores"]), float(saved["seconds"]))

    def fresh(notices: tuple[str, ...]) -> tuple[Trained, dict]:
        started = time.perf_counter()
        model = train(config, corpus, progress)
        seconds = time.perf_counter() - started
        scores = {"perplexity": perplexity(model, corpus, config.context), **ngram_perplexities(corpus, config.context)}
        return Trained(model, corpus, scores, seconds, notices), {"state": model.state_dict(), "config": asdict(config),
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
    return tokenizer(), trained.model


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
