"""induction-mini's network: the project's ScratchTransformer as a small attention-only decoder (causal, pre-norm,
learned positions, no segment embedding, no embedding norm), with an output layer of its own (not tied to the token
embeddings: reading a token and predicting it are different jobs for a copying circuit).

Attention-only: the engine's feed-forward block has 0 hidden units, so all it can add is one constant vector (its
bias); every token-to-token computation is done by the heads, as in the two-layer models of Elhage et al. (2021).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn

from attention.domains import store
from attention.engine.config import ScratchConfig
from attention.engine.transformer import ScratchTransformer

MODEL_NAME = "induction-mini"


@dataclass(frozen=True)
class InductionConfig:
    """Sizes and training recipe of induction-mini (all part of the cache file's name)."""

    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 0                 # attention-only (see the module docstring)
    vocab_size: int = 64
    context: int = 64             # tokens per row, [BOS] included (and the most the network reads)
    min_period: int = 8           # the period of each row's repeats is drawn from min_period … max_period
    max_period: int = 31
    batch_size: int = 32
    steps: int = 1500
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    record_every: int = 25        # history: losses and head scores every this many steps
    seed: int = 0                 # initial weights and the rows drawn

    def scratch(self) -> ScratchConfig:
        """The engine's config for this decoder."""
        return ScratchConfig(vocab_size=self.vocab_size, d_model=self.d_model, n_heads=self.n_heads, n_layers=self.n_layers,
                             d_ff=self.d_ff, max_positions=self.context, type_vocab_size=0, layer_norm_eps=1e-5,
                             activation="gelu", positional="learned", norm_first=True, embedding_norm=False, causal=True)


class InductionMini(ScratchTransformer):
    """A ScratchTransformer decoder with its own output layer `unembed` (d_model -> vocab)."""

    def __init__(self, config: ScratchConfig):
        with warnings.catch_warnings():       # torch warns that it cannot initialise the 0-unit feed-forward: nothing to do
            warnings.filterwarnings("ignore", "Initializing zero-element tensors", UserWarning)
            super().__init__(config)
        self.unembed = nn.Linear(config.d_model, config.vocab_size, bias=False)

    @classmethod
    def initial(cls, config: InductionConfig) -> "InductionMini":
        """Seeded starting weights (normal, std 0.02 as in GPT-2; query and key 1/√d_model so that scores differ from
        the first step; biases 0; norms identity): training starts here."""
        return store.seeded_start(cls(config.scratch()), config.seed, config.d_model ** -0.5)

    def next_token_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden [batch, seq, d_model] (after the final norm) -> next-token scores [batch, seq, vocab]."""
        return self.unembed(hidden)

    def output_layer(self) -> torch.Tensor:
        """The output layer, float32 [vocab, d_model] (row t scores token t): `unembed`, not the token embeddings."""
        return self.unembed.weight.detach()


def count_parameters(network: nn.Module) -> int:
    """Trainable numbers in the network."""
    return sum(p.numel() for p in network.parameters())
