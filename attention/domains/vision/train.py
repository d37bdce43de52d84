"""Training from a fixed seed on one CPU thread (AdamW, one-cycle learning rate, label smoothing)."""
from __future__ import annotations

import torch
from torch import nn

from attention.domains import store
from attention.domains.store import Progress
from attention.domains.vision.data import Digits, load_digits_split
from attention.domains.vision.model import VisionConfig, VisionTransformer


def train(config: VisionConfig = VisionConfig(), data: Digits | None = None, progress: Progress | None = None) -> VisionTransformer:
    """Train from a fixed seed on the CPU (AdamW, one-cycle learning rate, label smoothing).

    Runs on one CPU thread: for matrices this small, threads cost more in waiting than they save (measured on
    2 shared cores: 20 ms a step on one thread, 300 ms on two), and one thread keeps the result repeatable."""
    with store.one_thread():
        return _train(config, data, progress)


def _train(config: VisionConfig, data: Digits | None, progress: Progress | None) -> VisionTransformer:
    data = data or load_digits_split(config)
    generator = torch.Generator().manual_seed(config.seed)
    with torch.random.fork_rng():                      # the seed sets the initial weights without touching the caller's RNG
        torch.manual_seed(config.seed)
        network = VisionTransformer(config)
    images, labels = torch.as_tensor(data.train_images), torch.as_tensor(data.train_labels)
    steps_per_epoch = -(-len(images) // config.batch_size)
    optimiser = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, config.learning_rate,
                                                   total_steps=config.epochs * steps_per_epoch, pct_start=0.1)
    loss_function = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    network.train()
    for epoch in range(config.epochs):
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(images), config.batch_size):
            batch = order[start:start + config.batch_size]
            logits, _ = network(images[batch])
            loss = loss_function(logits, labels[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
        if progress:
            progress((epoch + 1) / config.epochs, f"Training the vision transformer: epoch {epoch + 1} of {config.epochs}")
    return network.eval()
