"""The model: the engine's encoder–decoder with a read-out to next-token scores; greedy decoding."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from attention.domains.translate_mini.data import tokenizer, vocabulary
from attention.engine.config import ScratchConfig
from attention.engine.transformer import ScratchTransformer


MODEL_NAME = "translate-mini"
RANDOM_NAME = "scratch:random-translate-mini"


@dataclass(frozen=True)
class TranslateConfig:
    """Sizes, data and training recipe (all part of the cache file's name)."""

    d_model: int = 64
    n_heads: int = 4
    encoder_layers: int = 2
    decoder_layers: int = 1
    d_ff: int = 128
    max_positions: int = 64
    train_examples: int = 30_000
    steps: int = 1_500
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 0.01
    seed: int = 0            # initial weights and batch order
    data_seed: int = 0       # which dates are held out, and the examples drawn
    held_out: float = 0.1    # share of the dates never seen in training
    test_examples: int = 1_000

    def engine(self) -> ScratchConfig:
        """The engine's config: an encoder stack holding a causal decoder stack with cross-attention."""
        vocab = len(vocabulary())
        sizes = dict(vocab_size=vocab, d_model=self.d_model, n_heads=self.n_heads, d_ff=self.d_ff,
                     max_positions=self.max_positions, type_vocab_size=0)
        decoder = ScratchConfig(**sizes, n_layers=self.decoder_layers, causal=True, cross_attention=True)
        return ScratchConfig(**sizes, n_layers=self.encoder_layers, decoder=decoder)


class Translator(ScratchTransformer):
    """The engine's encoder–decoder plus a linear read-out from the decoder's output to next-token scores."""

    def __init__(self, config: ScratchConfig):
        super().__init__(config)
        self.read_out = nn.Linear(config.decoder.d_model, config.decoder.vocab_size)

    def logits(self, source_ids: torch.Tensor, target_ids: torch.Tensor) -> torch.Tensor:
        """source_ids [batch, source], target_ids [batch, target] -> next-token scores [batch, target, vocab]."""
        _, decoded = self.encode_decode(source_ids, target_ids)
        return self.read_out(decoded.hidden)


def untrained(config: TranslateConfig = TranslateConfig()) -> Translator:
    """The weights training starts from (seeded): the same architecture, random weights."""
    with torch.random.fork_rng():                      # the seed sets the weights without touching the caller's RNG
        torch.manual_seed(config.seed)
        return Translator(config.engine()).eval()


def decode(network: Translator, source_ids: torch.Tensor, max_length: int = 12) -> list[list[int]]:
    """Greedy decoding: source_ids [batch, source] -> each row's output ids (without [BOS], up to [EOS])."""
    encode = tokenizer()
    bos, eos = encode.bos_token_id, encode.eos_token_id
    with torch.inference_mode():
        memory = network.run(source_ids).hidden
        written = torch.full((source_ids.shape[0], 1), bos)
        for _ in range(max_length):
            hidden = network.decoder.run(written, memory=memory).hidden
            written = torch.cat([written, network.read_out(hidden[:, -1]).argmax(-1, keepdim=True)], dim=1)
            if (written == eos).any(dim=1).all():
                break
    outputs = []
    for row in written[:, 1:].tolist():
        outputs.append(row[:row.index(eos)] if eos in row else row)
    return outputs


def _text(ids: list[int]) -> str:
    return "".join(tokenizer().convert_ids_to_tokens(ids))


def translate(source: str, model: str = MODEL_NAME) -> str:
    """The model's ISO date for `source` (greedy decoding), e.g. 'march 3rd 2021' -> '2021-03-03'."""
    from attention.engine.backends import COMPUTE_LOCK
    from attention.run.models import load_model
    from attention.run.api import clean_text

    source, _ = clean_text(source)
    backend = load_model(model)
    if not isinstance(backend.network, Translator):
        raise ValueError(f"'{model}' is not a date translator: pick {MODEL_NAME} or {RANDOM_NAME}.")
    ids = tokenizer()(source, truncation=True, max_length=backend.max_tokens)["input_ids"]
    with COMPUTE_LOCK:
        return _text(decode(backend.network, torch.tensor([ids]))[0])
