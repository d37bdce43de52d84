"""Training from a fixed seed on one CPU thread: AdamW, one-cycle learning rate, teacher forcing."""
from __future__ import annotations

import torch
from torch import nn

from attention.domains import store
from attention.domains.store import Progress
from attention.domains.translate_mini.data import Example, generate, split_dates, tokenizer
from attention.domains.translate_mini.model import TranslateConfig, Translator, untrained


def _groups(examples: list[Example]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Examples tokenised once and grouped by source length (so no padding reaches the cross-attention):
    [(source ids [n, length], target ids [n, 12])]."""
    encode = tokenizer()
    sources = encode([e.source for e in examples])["input_ids"]
    targets = encode([e.target for e in examples])["input_ids"]        # every ISO date: [BOS] + 10 characters + [EOS]
    by_length: dict[int, list[int]] = {}
    for index, ids in enumerate(sources):
        by_length.setdefault(len(ids), []).append(index)
    return [(torch.tensor([sources[i] for i in members]), torch.tensor([targets[i] for i in members]))
            for _, members in sorted(by_length.items())]


def _batches(groups: list[tuple[torch.Tensor, torch.Tensor]], batch_size: int,
             generator: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch: each length group shuffled and cut into batches, the batches shuffled."""
    batches = []
    for source, target in groups:
        order = torch.randperm(len(source), generator=generator)
        batches += [(source[chunk], target[chunk]) for chunk in order.split(batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def train(config: TranslateConfig = TranslateConfig(), progress: Progress | None = None) -> Translator:
    """Train from a fixed seed on one CPU thread (AdamW, one-cycle learning rate, teacher forcing, cross-entropy)."""
    with store.one_thread():
        return _train(config, progress)


def _train(config: TranslateConfig, progress: Progress | None) -> Translator:
    train_dates, _ = split_dates(config.data_seed, config.held_out)
    groups = _groups(generate(train_dates, config.train_examples, config.data_seed))
    generator = torch.Generator().manual_seed(config.seed)
    network = untrained(config).train()
    optimiser = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, config.learning_rate, total_steps=config.steps, pct_start=0.1)
    loss_function = nn.CrossEntropyLoss()
    step = 0
    while step < config.steps:
        for source, target in _batches(groups, config.batch_size, generator):
            logits = network.logits(source, target[:, :-1])                          # [batch, target, vocab]
            loss = loss_function(logits.reshape(-1, logits.shape[-1]), target[:, 1:].reshape(-1))
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            step += 1
            if progress and (step % 50 == 0 or step == config.steps):
                progress(step / config.steps, f"Training translate-mini: step {step:,} of {config.steps:,} (loss {loss.item():.3f})")
            if step == config.steps:
                break
    return network.eval()
