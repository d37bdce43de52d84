"""The target: the one number every method explains, and the _Setup every explain() call shares.

A _Setup holds the model, the prepared inputs, their traces and how the target reads the model's output:
    "similarity"  cosine of the two sentences' mean-pooled outputs
    "token"       one token's output norm, or the cosine of two tokens' outputs
    "next_token"  one logit of the next token (decoders; encoder–decoders read the decoder's last position)
The setups themselves are built in setups.py (engine, encoder–decoder) and transformers_path.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from attention.run.api import Prepared
from attention.run.trace import StackTrace, Trace

TARGETS = ("similarity", "token", "next_token")

ENGINE, ENCODER_DECODER, TRANSFORMERS = "engine", "encoder-decoder", "transformers"   # how a setup runs its model


@dataclass
class _Setup:
    """Everything one explain() call shares: the model, the prepared inputs, their traces and the target.

    Segments are the token sequences that get scores: [text] or [text, text_b] read independently (mode "engine" and
    "transformers"), or [source, decoder prefix] read together (mode "encoder-decoder")."""

    network: nn.Module
    prepared: list[Prepared]
    runs: list[Trace]
    target: str
    positions: list[int]          # "token": [i] or [i, j]; "next_token": [last]; "similarity": all
    target_id: int | None
    special: list[np.ndarray]     # per segment, bool [token]
    dtype: torch.dtype
    mode: str = ENGINE
    segment_ids: list[list[int]] = field(default_factory=list)
    stacks: dict[str, StackTrace] = field(default_factory=dict)   # encoder–decoders: "encoder", "decoder", "cross"
    output_row: torch.Tensor | None = None                        # next_token: the output layer's row [d_model]
    output_bias: float = 0.0
    model: str = ""
    inputs: list[torch.Tensor] = field(default_factory=list)      # transformers: each segment's output [1, token, d_model]
    attentions: list[np.ndarray] = field(default_factory=list)    # transformers: each segment's weights [layer, head, q, k]

    def ids(self, index: int) -> torch.Tensor:
        return torch.tensor([self.segment_ids[index]])

    def readout(self, hidden: torch.Tensor, positions: list[int] | None = None) -> torch.Tensor:
        """What the target reads from one segment's output hidden [batch, token, d_model]: [batch, ...] (`positions`:
        where a token target's tokens are when some were deleted before them)."""
        if self.target == "similarity":
            return hidden.mean(1)                                            # mean pooling over every token
        if self.target == "token":
            return hidden[:, self.positions if positions is None else positions]   # [batch, 1 or 2, d_model]
        return hidden[:, -1] @ self.output_row + self.output_bias           # one logit: [batch]

    def combine(self, reads: list[torch.Tensor]) -> torch.Tensor:
        """The target from each segment's readout (batches broadcast): [batch]."""
        if self.target == "similarity":
            return torch.cosine_similarity(reads[0], reads[1], dim=-1)
        if self.target == "token":
            vectors = reads[0]
            if vectors.shape[1] == 1:
                return vectors[:, 0].norm(dim=-1)
            return torch.cosine_similarity(vectors[:, 0], vectors[:, 1], dim=-1)
        return reads[0]

    def value(self, hiddens: list[torch.Tensor]) -> torch.Tensor:
        """The target from every segment's output hidden [batch, token, d_model] (an encoder–decoder: the decoder's): [batch]."""
        if self.mode == ENCODER_DECODER:
            return self.readout(hiddens[-1])
        return self.combine([self.readout(h) for h in hiddens])

    def outputs(self) -> list[torch.Tensor]:
        """Each segment's output at the input as given: [1, token, d_model]."""
        if self.mode == TRANSFORMERS:
            return self.inputs
        if self.mode == ENCODER_DECODER:
            return [torch.from_numpy(self.stacks[s].residual[-1].copy())[None].to(self.dtype) for s in ("encoder", "decoder")]
        return [torch.from_numpy(run.output.copy())[None].to(self.dtype) for run in self.runs]

    def embedding(self, index: int) -> nn.Module:
        """The token embedding table segment `index` reads."""
        if self.mode == TRANSFORMERS:
            return self.network.get_input_embeddings()
        if self.mode == ENCODER_DECODER and index == 1:
            return self.network.decoder.token_embedding
        return self.network.token_embedding

    def query_rows(self, index: int) -> np.ndarray:
        """The query positions whose attention rows stand for the target in segment `index`."""
        n = len(self.segment_ids[index])
        return np.arange(n) if self.target == "similarity" else np.asarray(self.positions)

    @property
    def tokens(self) -> list[str]:
        tokenizer = self.prepared[0].backend.tokenizer
        return [t for ids in self.segment_ids for t in tokenizer.convert_ids_to_tokens(ids)]


def _special_mask(tokenizer: Any, ids: list[int]) -> np.ndarray:
    structural = set(tokenizer.all_special_ids) - {tokenizer.unk_token_id}
    return np.array([i in structural for i in ids], dtype=bool)


def _check_int(value: Any, name: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number; got {str(value)[:40]!r}.")
    return int(value)


def _named_token(tokenizer: Any, token: Any, vocab: int) -> int:
    """The vocabulary id `token` names: a token of the vocabulary, a text that is one token, or an id."""
    if isinstance(token, str):
        found = tokenizer.convert_tokens_to_ids(token) if token in tokenizer.get_vocab() else None
        if found is None:
            pieces = tokenizer(token, add_special_tokens=False)["input_ids"]
            if len(pieces) != 1:
                raise ValueError(f"'{token[:40]}' is {len(pieces)} tokens for this model's tokenizer; name one token "
                                 "(e.g. one word piece from its vocabulary) or its id.")
            found = pieces[0]
        return int(found)
    value = _check_int(token, "token")
    if not 0 <= value < vocab:
        raise ValueError(f"token id {value} is outside this model's vocabulary (0–{vocab - 1}).")
    return value


def _output_layer(network: nn.Module, mode: str) -> tuple[torch.Tensor, torch.Tensor | None, str]:
    """The next-token output layer (weight [vocab, d_model], bias [vocab] or None) and its description."""
    if mode == ENCODER_DECODER:
        read_out = getattr(network, "read_out", None)
        if isinstance(read_out, nn.Linear):
            return read_out.weight.detach(), read_out.bias.detach(), "the model's read-out layer"
        return network.decoder.token_embedding.weight.detach(), None, "the decoder's token embeddings as the output layer (tied)"
    if mode == TRANSFORMERS:
        return network.get_input_embeddings().weight.detach(), None, "the input token embeddings as the output layer (tied)"
    if hasattr(network, "output_layer"):                                 # a demo decoder with an output layer of its own
        return network.output_layer(), None, "the model's output layer"
    return network.token_embedding.weight.detach(), None, "token embeddings as the output layer"


def _choose_next(setup: _Setup, token: Any, hidden: torch.Tensor, tokenizer: Any) -> str:
    """Set the next_token target's id and output row: the predicted token (the engine's own next-token scores where
    it has them, e.g. gpt-mini's restricted vocabulary), or the one `token` names. Returns the label."""
    weight, bias, words = _output_layer(setup.network, setup.mode)
    last = hidden[0, -1].to(weight.dtype)
    if token is None:
        if setup.mode == ENGINE and hasattr(setup.network, "next_token_logits"):
            logits = setup.network.next_token_logits(last[None, None])[0, 0]
        else:
            logits = weight @ last + (0 if bias is None else bias)
        setup.target_id = int(logits.argmax())
    else:
        setup.target_id = _named_token(tokenizer, token, weight.shape[0])
    setup.output_row = weight[setup.target_id].to(setup.dtype)
    setup.output_bias = 0.0 if bias is None else float(bias[setup.target_id])
    word = tokenizer.convert_ids_to_tokens([setup.target_id])[0]
    where = "after the decoder's last token" if setup.mode == ENCODER_DECODER else "after the last token"
    return f"logit of ‘{word}’ (id {setup.target_id}) {where}, {words}"


def _single_target(setup: _Setup, token: Any, tokenizer: Any) -> str:
    """Fill in the target of a one- or two-text setup (engine or transformers) and return its label."""
    n_tokens = len(setup.segment_ids[0])
    if setup.target == "token":
        if token is None:
            raise ValueError("The token target needs a token index: token=i (its output's norm) or token=(i, j).")
        chosen = list(token) if isinstance(token, (tuple, list)) else [token]
        if not 1 <= len(chosen) <= 2:
            raise ValueError("token is one index i, or a pair (i, j) for the similarity of two tokens' outputs.")
        for index in chosen:
            value = _check_int(index, "token")
            if not 0 <= value < n_tokens:
                raise ValueError(f"The text has tokens 0–{n_tokens - 1}; token {value} does not exist.")
            setup.positions.append(value)
        first = setup.tokens[setup.positions[0]]
        return (f"norm of the output vector of token {setup.positions[0]} ‘{first}’" if len(setup.positions) == 1
                else f"cosine similarity of the outputs of tokens {setup.positions[0]} and {setup.positions[1]}")
    if setup.target == "next_token":
        setup.positions = [n_tokens - 1]
        return _choose_next(setup, token, setup.outputs()[0], tokenizer)
    return "cosine similarity of the two mean-pooled sentence embeddings"


def _target_texts(text: str, target: str, text_b: str | None, notices: list[str]) -> list[str]:
    """The texts a target reads: the pair for similarity (text_b required), else the one text (a given text_b is
    noted as unused in `notices`)."""
    if target == "similarity":
        if text_b is None or (isinstance(text_b, str) and not text_b.strip()):
            raise ValueError("The similarity target compares two sentences: give a second sentence (text_b).")
        return [text, text_b]
    if text_b is not None and str(text_b).strip():
        notices.append(f"The {target} target reads one text, so the second sentence is not used.")
    return [text]


def _value(setup: _Setup, hiddens: list[torch.Tensor]) -> torch.Tensor:
    return setup.value(hiddens)
