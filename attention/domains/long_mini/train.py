"""Training long-mini from a fixed seed on one CPU thread (attention/domains/store.one_thread): AdamW on the
next-token loss of every repeated token, scored over WORDS only (a row's tokens are drawn from them, so a softmax over
all 30,522 ids would cost 500× more and teach nothing more); and the induction score it reaches."""
from __future__ import annotations

from typing import Any, Callable

import torch

from attention.domains import store
from attention.domains.long_mini.data import rows, word_ids
from attention.domains.long_mini.model import LongMiniConfig, build

Progress = store.Progress


def batch_loss(network: Any, config: LongMiniConfig, generator: torch.Generator) -> tuple[torch.Tensor, float]:
    """(loss, accuracy) of one fresh batch: cross-entropy of the repeated tokens over WORDS."""
    ids, positions, mask = rows(config.batch_size, config.length, config.periods, config.max_gap, generator)
    words = word_ids()
    hidden = network.model(input_ids=ids, position_ids=positions).last_hidden_state    # [row, length, hidden]
    logits = hidden[mask] @ network.model.embed_tokens.weight[words].T                 # [target, word]
    index = torch.full((int(words.max()) + 1,), -1, dtype=torch.long)
    index[words] = torch.arange(len(words))
    targets = index[ids[:, 1:][mask[:, :-1]]]                                          # the next token's word index
    loss = torch.nn.functional.cross_entropy(logits, targets)
    return loss, float((logits.argmax(-1) == targets).float().mean())


def train(config: LongMiniConfig = LongMiniConfig(), progress: Progress | None = None,
          log: Callable[[int, float, float], None] | None = None) -> Any:
    """The trained network (eval mode), from config.seed."""
    with store.one_thread():
        network = build(config).train()
        generator = torch.Generator().manual_seed(config.seed)
        optimizer = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=0.0)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.learning_rate, total_steps=config.steps,
                                                       pct_start=0.1)
        for step in range(config.steps):
            loss, accuracy = batch_loss(network, config, generator)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            if log and step % 25 == 0:
                log(step, loss.item(), accuracy)
            if progress and step % max(1, config.steps // 50) == 0:
                progress(step / config.steps, f"Training long-mini: step {step}/{config.steps}")
    return network.eval()


def evaluate(network: Any, config: LongMiniConfig, batches: int = 8) -> dict:
    """Held-out loss and accuracy on the repeated tokens of fresh rows (seed + 1, not seen in training), gaps included:
    {"loss", "accuracy"}."""
    generator = torch.Generator().manual_seed(config.seed + 1)
    with torch.no_grad():
        found = [batch_loss(network, config, generator) for _ in range(batches)]
    return {"loss": sum(float(loss) for loss, _ in found) / batches,
            "accuracy": sum(accuracy for _, accuracy in found) / batches}
