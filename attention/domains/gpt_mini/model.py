"""gpt-mini's network: the project's ScratchTransformer as a GPT-style decoder (causal, pre-norm, rotary positions,
no segment embedding, no embedding norm) with an output layer of its own (untied: reading a token and predicting it
are different jobs for a copying circuit), limited to the output vocabulary (tokens seen in training): its softmax
runs over ~4,500 tokens instead of 30,522, which is what makes training on one CPU thread take minutes. Token ids stay
MiniLM's, so attend(), trace() and every view take it like any other model of the engine.
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
    n_layers: int = 2
    d_ff: int = 512
    context: int = 128            # tokens per training window of the second stage (and the most the network reads)
    positional: str = "rotary"    # "rotary" (queries and keys turned by position) or "learned" (a position table)
    untied: bool = True           # an output layer of its own (False: the token embeddings, as in GPT-2)
    # stage 1, "mixed": short rows, half text, half a random run of the ALPHABET commonest tokens repeated with a period
    # drawn from PERIODS, most with a jump of up to MAX_GAP in their position ids (a head that looks a fixed distance
    # back then fails, so copying must go by content: an induction head)
    mix_steps: int = 3750
    mix_batch: int = 32
    mix_length: int = 64
    mix_text_share: float = 0.5
    alphabet: int = 64
    periods: tuple[int, int] = (8, 31)
    max_gap: int = 1000
    gap_share: float = 0.7
    mix_learning_rate: float = 1e-3
    grow_after: int = 2000        # from this step of stage 1 the runs' alphabet doubles every `grow_every` steps
    grow_every: int = 250         # (the next commonest tokens join) until it is the whole output vocabulary: the
                                  # copying learned on ALPHABET then has to hold for every token
    # stage 2: full-length text windows, `repeat_share` of them random runs from the whole output vocabulary (periods
    # repeat_length/3 … 2·repeat_length, gaps as above), learning rate warmed up then cosine-decayed to 10%
    batch_size: int = 16
    steps: int = 1000
    learning_rate: float = 3e-4
    weight_decay: float = 0.01
    warmup: int = 50
    repeat_share: float = 0.25
    repeat_length: int = 24
    sinusoidal_start: float = 0.0   # learned positions only: start as sine/cosine codes × this (0: random)
    query_key_start: float = 0.088  # std of the starting query and key weights (≈ 1/√d_model; 0.02 like the rest
                                    # left every head uniform after 500 steps: scores ~0.05, so no head could sharpen)
    seed: int = 0                 # initial weights and window order
    split_seed: int = 0           # which topics are held out
    held_out_share: float = 0.1
    docstrings: int = 800_000     # characters of standard-library docstrings added to the training text
    min_count: int = 2            # output vocabulary: tokens seen at least this often in training

    def scratch(self, vocab_size: int = 30522) -> ScratchConfig:
        """The engine's config for this decoder."""
        return ScratchConfig(vocab_size=vocab_size, d_model=self.d_model, n_heads=self.n_heads, n_layers=self.n_layers,
                             d_ff=self.d_ff, max_positions=self.context, type_vocab_size=0, layer_norm_eps=1e-5,
                             activation="gelu", positional=self.positional, norm_first=True, embedding_norm=False,
                             causal=True)


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
