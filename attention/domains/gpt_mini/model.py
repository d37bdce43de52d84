"""gpt-mini's network: the project's ScratchTransformer as a GPT-style decoder (causal, pre-norm, learned positions,
no segment embedding, no embedding norm), whose output layer is its token embeddings (tied, as in GPT-2), limited
to the output vocabulary (tokens seen in training): its softmax runs over ~2,500 tokens instead of 30,522, which is
what makes training on two CPU cores take minutes. Token ids stay MiniLM's, so attend(), trace() and every view
take it like any other model of the engine.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from attention.domains import store
from attention.engine.config import ScratchConfig
from attention.engine.layers import sinusoidal_positions
from attention.engine.transformer import ScratchTransformer


@dataclass(frozen=True)
class GPTMiniConfig:
    """Sizes and training recipe of gpt-mini (all part of the cache file's name)."""

    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 4
    d_ff: int = 512
    context: int = 128            # tokens per training window (and the most the network reads)
    batch_size: int = 16
    steps: int = 500
    learning_rate: float = 3e-3
    weight_decay: float = 0.1
    warmup: int = 100
    repeat_share: float = 0.125   # share of training windows that are a random token sequence repeated (induction)
    repeat_length: int = 24       # periods drawn from 8 … 48 tokens: only an induction head serves them all
    sinusoidal_start: float = 0.02  # learned positions start as sine/cosine codes × this (0: random like the rest)
    query_key_start: float = 0.088  # std of the starting query and key weights (≈ 1/√d_model; 0.02 like the rest
                                    # left every head uniform after 500 steps: scores ~0.05, so no head could sharpen)
    seed: int = 0                 # initial weights and window order
    split_seed: int = 0           # which topics are held out
    held_out_share: float = 0.1
    docstrings: int = 0           # characters of standard-library docstrings added to the training text
    min_count: int = 2            # output vocabulary: tokens seen at least this often in training

    def scratch(self, vocab_size: int = 30522) -> ScratchConfig:
        """The engine's config for this decoder."""
        return ScratchConfig(vocab_size=vocab_size, d_model=self.d_model, n_heads=self.n_heads, n_layers=self.n_layers,
                             d_ff=self.d_ff, max_positions=self.context, type_vocab_size=0, layer_norm_eps=1e-5,
                             activation="gelu", positional="learned", norm_first=True, embedding_norm=False, causal=True)


class GPTMini(ScratchTransformer):
    """A ScratchTransformer decoder with an output vocabulary: `vocabulary` [kept] holds the token ids it predicts.
    With `untied`, its output layer is a matrix of its own, `unembed` [kept, d_model], instead of the token embeddings
    (reading a token and predicting it are different jobs for a copying circuit)."""

    def __init__(self, config: ScratchConfig, vocabulary: torch.Tensor, untied: bool = False):
        super().__init__(config)
        self.register_buffer("vocabulary", torch.as_tensor(vocabulary, dtype=torch.long).clone())
        self.unembed = nn.Linear(config.d_model, len(self.vocabulary), bias=False) if untied else None

    @classmethod
    def initial(cls, config: ScratchConfig, vocabulary: torch.Tensor, seed: int = 0, sinusoidal_start: float = 0.0,
                query_key_start: float = 0.02, untied: bool = False) -> "GPTMini":
        """Seeded starting weights as in GPT-2 (normal, std 0.02; biases 0; norms identity): training starts here, and
        'scratch:random-gpt-mini' is exactly this untrained network. With `sinusoidal_start` the learned position table
        starts as sine/cosine codes times it: neighbouring positions start alike, so a head that looks one token back
        (the first half of an induction circuit) has something to find from the first step. `query_key_start` is the
        std of the query and key weights: large enough that scores differ from the first step."""
        network = store.seeded_start(cls(config, vocabulary, untied), seed, query_key_start)
        if sinusoidal_start and config.positional == "learned":
            with torch.no_grad():
                network.position_embedding.weight.copy_(sinusoidal_positions(config.max_positions, config.d_model) * sinusoidal_start)
        return network

    def vocabulary_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden [batch, seq, d_model] -> scores over the output vocabulary [batch, seq, kept] (training, perplexity)."""
        if self.unembed is not None:
            return self.unembed(hidden)
        return hidden @ self.token_embedding.weight[self.vocabulary].T

    def output_layer(self) -> torch.Tensor:
        """The output layer in MiniLM's id space, float32 [vocab, d_model]: row t scores token t (rows of tokens outside
        the output vocabulary are 0: next_token_logits gives them −inf)."""
        if self.unembed is None:
            return self.token_embedding.weight.detach()
        weight = torch.zeros(self.config.vocab_size, self.config.d_model, dtype=self.unembed.weight.dtype)
        weight[self.vocabulary] = self.unembed.weight.detach()
        return weight

    def next_token_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden [batch, seq, d_model] -> scores [batch, seq, vocab] in MiniLM's id space; tokens outside the output
        vocabulary get -inf (probability exactly 0)."""
        logits = torch.full((*hidden.shape[:-1], self.config.vocab_size), float("-inf"), dtype=hidden.dtype)
        logits[..., self.vocabulary] = self.vocabulary_logits(hidden)
        return logits

    def read_unknown_as_unk(self, unk: int) -> None:
        """Tokens outside the output vocabulary were read as [UNK] in training: give their embeddings [UNK]'s, so any
        text the app sends reads the same way."""
        with torch.no_grad():
            outside = torch.ones(self.config.vocab_size, dtype=torch.bool)
            outside[self.vocabulary] = False
            self.token_embedding.weight[outside] = self.token_embedding.weight[unk].clone()


def count_parameters(network: nn.Module) -> int:
    """Trainable numbers in the network."""
    return sum(p.numel() for p in network.parameters())
