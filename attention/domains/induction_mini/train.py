"""Training induction-mini from a fixed seed on one CPU thread, recording the phase change as it happens: every
`record_every` steps, the loss on the first and on the repeated part of the batch and every head's induction and
previous-token score on the probe (scores.py)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from attention.domains import store
from attention.domains.store import Progress
from attention.domains.induction_mini.data import repeated_rows
from attention.domains.induction_mini.model import InductionConfig, InductionMini
from attention.domains.induction_mini.scores import part_losses, probe_scores

Watch = Callable[[dict[str, np.ndarray]], None]   # hears the history so far at every record (a live chart)


def train(config: InductionConfig = InductionConfig(), progress: Progress | None = None,
          watch: Watch | None = None) -> tuple[InductionMini, dict]:
    """Train (AdamW, constant rate) on rows of random tokens repeated with random periods: (the network, its history
    {step int64 [record], loss_first, loss_repeated float32 [record], induction, previous float32 [record, layer, head]}
    as tensors). `progress(fraction, message)` and `watch(history so far, as numpy)` hear every record."""
    with store.one_thread():
        return _train(config, progress, watch)


def _stacked(history: dict[str, list]) -> dict[str, np.ndarray]:
    """The recorded lists as arrays: step int64 [record], losses float32 [record], scores float32 [record, layer, head]."""
    return {name: np.asarray(values, dtype=np.int64 if name == "step" else np.float32) for name, values in history.items()}


def _train(config: InductionConfig, progress: Progress | None, watch: Watch | None) -> tuple[InductionMini, dict]:
    network = InductionMini.initial(config).train()
    generator = torch.Generator().manual_seed(config.seed)
    optimiser = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    history: dict[str, list] = {"step": [], "loss_first": [], "loss_repeated": [], "induction": [], "previous": []}

    def record(step: int, first: float, repeated: float) -> None:
        network.eval()
        scores = probe_scores(network)
        network.train()
        for name, value in (("step", step), ("loss_first", first), ("loss_repeated", repeated),
                            ("induction", scores["induction"]), ("previous", scores["previous"])):
            history[name].append(value)
        if progress:
            progress(step / config.steps, f"Training induction-mini: step {step} of {config.steps} "
                                          f"(loss on the repeats {repeated:.2f})")
        if watch:
            watch(_stacked(history))

    for step in range(config.steps + 1):
        ids, period = repeated_rows(config.batch_size, config.context - 1, (config.min_period, config.max_period), generator)
        loss, first, repeated = part_losses(network, ids, period)
        if step % config.record_every == 0:          # step 0: the untrained network; the losses before this step's update
            record(step, first.item(), repeated.item())
        if step == config.steps:
            break
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    network.eval()
    return network, {name: torch.from_numpy(values) for name, values in _stacked(history).items()}
