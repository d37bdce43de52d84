"""Training gpt-mini from a fixed seed on one CPU thread (two stages, see train()), and its perplexity on held-out text."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from attention.domains import store
from attention.domains.store import Progress
from attention.domains.gpt_mini.data import Corpus, load_corpus, windows
from attention.domains.gpt_mini.model import GPTMini, GPTMiniConfig


def corpus_for(config: GPTMiniConfig) -> Corpus:
    """The corpus a recipe trains and is scored on."""
    return load_corpus(config.split_seed, config.held_out_share, config.min_count, config.docstrings)


def build(config: GPTMiniConfig, corpus: Corpus) -> GPTMini:
    """The untrained network with its seeded starting weights."""
    return GPTMini.initial(config.scratch(), torch.as_tensor(corpus.vocabulary), config.seed, config.sinusoidal_start,
                           config.query_key_start, config.untied)


def commonest(corpus: Corpus) -> np.ndarray:
    """The output vocabulary's ids, commonest training token first (ties in id order): int64 [kept]."""
    counts = np.bincount(corpus.train, minlength=int(corpus.vocabulary.max()) + 1)[corpus.vocabulary]
    return corpus.vocabulary[np.argsort(-counts, kind="stable")]


def alphabet(config: GPTMiniConfig, corpus: Corpus, step: int = 0, order: np.ndarray | None = None) -> torch.Tensor:
    """The tokens of stage 1's repeated runs at `step`: the commonest training tokens after the five commonest
    (punctuation and [CLS]/[SEP]-like tokens that text already predicts well), `alphabet` of them, doubling every
    `grow_every` steps from `grow_after` on: int64 [tokens]. `order` is commonest(corpus), when the caller has it."""
    order = commonest(corpus) if order is None else order
    size = config.alphabet
    if step >= config.grow_after:
        size *= 2 ** ((step - config.grow_after) // config.grow_every + 1)
    return torch.as_tensor(order[5:5 + size])


def _gapped(count: int, length: int, config: GPTMiniConfig, generator: torch.Generator) -> torch.Tensor:
    """Position ids int64 [count, length]: 0, 1, 2, … with, in `gap_share` of the rows, a jump of up to `max_gap` at
    a random place."""
    positions = torch.arange(length).repeat(count, 1)
    cut = torch.randint(1, length, (count,), generator=generator)
    gap = torch.randint(0, config.max_gap + 1, (count,), generator=generator) * (torch.rand(count, generator=generator) < config.gap_share)
    return positions + (positions >= cut[:, None]) * gap[:, None]


def _runs(count: int, length: int, periods: tuple[int, int], pool: torch.Tensor, bos: int,
          generator: torch.Generator) -> torch.Tensor:
    """`count` rows [CLS] + a random run of `pool` tokens repeated with its own period: int64 [count, length]."""
    period = torch.randint(periods[0], periods[1] + 1, (count,), generator=generator)
    runs = pool[torch.randint(0, len(pool), (count, periods[1]), generator=generator)]
    body = runs.gather(1, torch.arange(length - 1)[None, :] % period[:, None])
    return torch.cat([torch.full((count, 1), bos), body], dim=1)


def _text(count: int, length: int, corpus: Corpus, generator: torch.Generator) -> torch.Tensor:
    """`count` random slices of `length` tokens of the training stream: int64 [count, length]."""
    train = torch.as_tensor(corpus.train)
    starts = torch.randint(0, len(train) - length, (count,), generator=generator)
    return torch.stack([train[s:s + length] for s in starts.tolist()])


def mixed_batch(config: GPTMiniConfig, corpus: Corpus, generator: torch.Generator,
                pool: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Stage 1's batch: (ids, position ids) int64 [mix_batch, mix_length + 1]: `mix_text_share` of the rows text (plain
    positions), the rest repeated runs of `pool` with gapped positions."""
    length = config.mix_length + 1
    n_text = int(config.mix_batch * config.mix_text_share)
    n_runs = config.mix_batch - n_text
    ids = torch.cat([_text(n_text, length, corpus, generator),
                     _runs(n_runs, length, config.periods, pool, corpus.bos, generator)])
    positions = torch.cat([torch.arange(length).repeat(n_text, 1), _gapped(n_runs, length, config, generator)])
    return ids, positions


def _batch(config: GPTMiniConfig, corpus: Corpus, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Stage 2's batch: (ids int64 [batch, context + 1], position ids or None): random slices of the training stream;
    with `repeat_share`, some rows are instead [CLS] + a random run of the whole output vocabulary repeated (periods
    repeat_length/3 … 2·repeat_length, so only an induction head serves them all), with gapped positions when the
    model is rotary."""
    length = config.context + 1
    n_repeat = int(round(config.batch_size * config.repeat_share))
    vocabulary = torch.as_tensor(corpus.vocabulary)
    periods = (config.repeat_length // 3, 2 * config.repeat_length)
    ids = torch.cat([_runs(n_repeat, length, periods, vocabulary, corpus.bos, generator),
                     _text(config.batch_size - n_repeat, length, corpus, generator)])
    if config.positional != "rotary":
        return ids, None
    positions = torch.cat([_gapped(n_repeat, length, config, generator),
                           torch.arange(length).repeat(config.batch_size - n_repeat, 1)])
    return ids, positions


def _loss(network: GPTMini, index: torch.Tensor, rows: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
    """Mean next-token cross-entropy over the output vocabulary; rows [batch, context + 1] of token ids (position ids
    of the same shape for a rotary model, or None)."""
    hidden = network.run(rows[:, :-1], positions=None if positions is None else positions[:, :-1]).hidden
    logits = network.vocabulary_logits(hidden)                                 # [batch, context, kept]
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), index[rows[:, 1:]].reshape(-1))


def train(config: GPTMiniConfig = GPTMiniConfig(), corpus: Corpus | None = None, progress: Progress | None = None,
          losses: list[float] | None = None, stop_after: int | None = None) -> GPTMini:
    """Train from a fixed seed on one CPU thread (small matrices gain nothing from a second thread on a shared
    machine, and one thread keeps the result repeatable), in two stages with AdamW: stage 1 (`mix_steps`, constant
    rate) on short rows, half text, half repeated runs of a growing alphabet with gapped positions; stage 2 (`steps`,
    warm-up then cosine decay) on full-length text windows, some of them repeated runs of the whole vocabulary. Each
    step's loss is appended to `losses`; `stop_after` ends the run early (the same first steps as the full recipe)."""
    with store.one_thread():
        return _train(config, corpus or corpus_for(config), progress, losses, stop_after)


def first_losses(config: GPTMiniConfig = GPTMiniConfig(), steps: int = 50) -> list[float]:
    """The training losses of the recipe's first `steps` steps, run again: [step]."""
    losses: list[float] = []
    train(config, losses=losses, stop_after=steps)
    return losses


def _index(corpus: Corpus, vocab_size: int) -> torch.Tensor:
    """MiniLM id -> position in the output vocabulary (−1 outside it): [vocab]."""
    index = torch.full((vocab_size,), -1, dtype=torch.long)
    index[torch.as_tensor(corpus.vocabulary)] = torch.arange(len(corpus.vocabulary))
    return index


def _optimiser(network: GPTMini, config: GPTMiniConfig, rate: float) -> torch.optim.Optimizer:
    decay = [p for n, p in network.named_parameters() if p.dim() >= 2 and "embedding" not in n]
    rest = [p for n, p in network.named_parameters() if not (p.dim() >= 2 and "embedding" not in n)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}],
                             lr=rate, betas=(0.9, 0.95))


def _step(network: GPTMini, optimiser: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    optimiser.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(network.parameters(), 1.0)
    optimiser.step()


def _train(config: GPTMiniConfig, corpus: Corpus, progress: Progress | None, losses: list[float] | None,
           stop_after: int | None) -> GPTMini:
    network = build(config, corpus).train()
    index = _index(corpus, network.config.vocab_size)
    generator = torch.Generator().manual_seed(config.seed)
    total = config.mix_steps + config.steps
    last = min(total, stop_after or total)
    every = max(1, total // 50)

    def done(step: int, loss: torch.Tensor, stage: str) -> None:
        if losses is not None:
            losses.append(float(loss.detach()))
        if progress and (step + 1) % every == 0:
            progress((step + 1) / total, f"Training gpt-mini ({stage}): step {step + 1} of {total} (loss {loss.item():.2f})")

    optimiser = _optimiser(network, config, config.mix_learning_rate)       # stage 1: a constant rate
    order = commonest(corpus)                                               # counted once, not at every step
    for step in range(min(config.mix_steps, last)):
        ids, positions = mixed_batch(config, corpus, generator, alphabet(config, corpus, step, order))
        loss = _loss(network, index, ids, positions if config.positional == "rotary" else None)
        _step(network, optimiser, loss)
        done(step, loss, "text and repeated runs")

    def rate(step: int) -> float:
        if step < config.warmup:
            return (step + 1) / config.warmup
        share = (step - config.warmup) / max(1, config.steps - config.warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * share))

    optimiser = _optimiser(network, config, config.learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, rate)
    for step in range(max(0, last - config.mix_steps)):
        ids, positions = _batch(config, corpus, generator)
        loss = _loss(network, index, ids, positions)
        _step(network, optimiser, loss)
        schedule.step()
        done(config.mix_steps + step, loss, "full-length text")
    network.eval()
    network.read_unknown_as_unk(corpus.unk)
    return network


def perplexity(network: GPTMini, corpus: Corpus, context: int) -> float:
    """Held-out perplexity: windows of `context` tokens, every token after the first of each window predicted from the
    tokens before it in its window (the same tokens the n-gram baselines are scored on)."""
    index = _index(corpus, network.config.vocab_size)
    held = torch.as_tensor(windows(corpus.held_out, context))
    total, count = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(held), 32):
            rows = held[start:start + 32]
            logits = network.vocabulary_logits(network.run(rows[:, :-1]).hidden)
            losses = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), index[rows[:, 1:]].reshape(-1),
                                                 reduction="sum")
            total, count = total + float(losses), count + rows[:, 1:].numel()
    return math.exp(total / count)
