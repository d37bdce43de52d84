"""Training gpt-mini from a fixed seed on one CPU thread, and its perplexity on held-out text."""
from __future__ import annotations

import math

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


def _loss(network: GPTMini, index: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over the output vocabulary; rows [batch, context + 1] of token ids."""
    hidden = network.run(rows[:, :-1]).hidden                                  # [batch, context, d_model]
    logits = network.vocabulary_logits(hidden)                                 # [batch, context, kept]
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), index[rows[:, 1:]].reshape(-1))


def train(config: GPTMiniConfig = GPTMiniConfig(), corpus: Corpus | None = None, progress: Progress | None = None,
          losses: list[float] | None = None, stop_after: int | None = None) -> GPTMini:
    """Train from a fixed seed (AdamW, linear warm-up then cosine decay) on one CPU thread: small matrices gain
    nothing from a second thread on a shared machine, and one thread keeps the result repeatable. Each step's loss is
    appended to `losses`; `stop_after` ends the run early (the same first steps as the full recipe)."""
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


def _train(config: GPTMiniConfig, corpus: Corpus, progress: Progress | None, losses: list[float] | None,
           stop_after: int | None) -> GPTMini:
    network = build(config, corpus).train()
    index = _index(corpus, network.config.vocab_size)
    generator = torch.Generator().manual_seed(config.seed)
    decay = [p for n, p in network.named_parameters() if p.dim() >= 2 and "embedding" not in n]
    rest = [p for n, p in network.named_parameters() if not (p.dim() >= 2 and "embedding" not in n)]
    optimiser = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}],
                                  lr=config.learning_rate, betas=(0.9, 0.95))

    def rate(step: int) -> float:
        if step < config.warmup:
            return (step + 1) / config.warmup
        done = (step - config.warmup) / max(1, config.steps - config.warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, rate)
    every = max(1, config.steps // 50)
    for step in range(min(config.steps, stop_after or config.steps)):
        loss = _loss(network, index, _batch(config, corpus, generator))
        if losses is not None:
            losses.append(float(loss.detach()))
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(network.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        if progress and (step + 1) % every == 0:
            progress((step + 1) / config.steps, f"Training gpt-mini: step {step + 1} of {config.steps} (loss {loss.item():.2f})")
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
