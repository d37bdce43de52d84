"""The logit lens (nostalgebraist, 2020): read a decoder's residual stream after every layer as if it were the output.

    text ──► trace() (one pass) ──► residual [layer + 1, token, d_model] ──► final norm ──► output layer ──► softmax
         ──► per row and position: the top tokens and their probabilities

Row 0 reads the embeddings, row l + 1 the stream after layer l; the last row is the model's own next-token
distribution. It is a lens, not a measurement of what the layers "think": intermediate layers were never trained to
be read through the final norm and the output layer, so early rows can be meaningless where the model works well.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from attention.analyses.generation import Generation
from attention.engine.backends import COMPUTE_LOCK
from attention.run.models import load_model
from attention.run.trace import trace

LENS_NOTE = ("Logit lens: each row reads the residual stream through the final norm and the output layer. Only the last "
             "row is what the model was trained to output; earlier layers were not trained to be read this way.")
MAX_TOP = 50


@dataclass(frozen=True)
class LogitLens:
    """The top `top` next tokens read from every residual row at every position.

    tokens: the input tokens; rows: a label per residual row ("embeddings", "after layer 0", …), [row];
    top_ids int64 / top_tokens str / probabilities float32 [row, position, top] (best first; the last row is the
    model's own next-token distribution); note: what a lens is and is not; notices: what happened to the text."""

    model: str
    tokens: list[str]
    rows: list[str]
    top_ids: np.ndarray
    top_tokens: list[list[list[str]]]
    probabilities: np.ndarray
    note: str = LENS_NOTE
    notices: list[str] = field(default_factory=list)

    @property
    def newest(self) -> int:
        """The newest token's position: the one whose next token the model is about to write."""
        return len(self.tokens) - 1

    def column(self, position: int | None = None) -> tuple[list[list[str]], np.ndarray]:
        """One position's top tokens [row][top] and probabilities float32 [row, top] (default: the newest token)."""
        position = self.newest if position is None else position
        if not -len(self.tokens) <= position < len(self.tokens):
            raise ValueError(f"The text has {len(self.tokens)} tokens; position {position} does not exist.")
        position %= len(self.tokens)
        return [row[position] for row in self.top_tokens], self.probabilities[:, position]


def logit_lens(text: str, model: str = "gpt-mini", top: int = 5) -> LogitLens:
    """The logit lens of a decoder on the project's engine: top tokens and probabilities [layer + 1, position, top]
    read from one traced pass. ValueError (for people) for encoders and encoder–decoders."""
    if not isinstance(top, (int, np.integer)) or isinstance(top, bool) or not 1 <= top <= MAX_TOP:
        raise ValueError(f"top must be a whole number from 1 to {MAX_TOP}.")
    run = trace(text, model)
    family = run.meta.get("family")
    if family != "decoder" or run.decoder is not None:
        raise ValueError(f"The logit lens reads a decoder's next-token predictions; {run.model[:80]} is "
                         f"{'an' if str(family)[:1] in 'aeiou' else 'a'} {family}, which does not predict the next token. "
                         "Try gpt-mini.")
    backend = load_model(run.model)
    ends = {backend.tokenizer.sep_token_id, backend.tokenizer.eos_token_id} - {None}
    # a decoder continues the text: drop the end marker the tokenizer adds (causal, so no earlier position saw it)
    kept = len(run.ids) - 1 if len(run.ids) > 1 and run.ids[-1] in ends else len(run.ids)
    residual = torch.from_numpy(np.array(run.residual[:, :kept]))                 # [layer + 1, token, d_model]
    return _read(backend, residual, list(run.tokens[:kept]), list(run.notices), top)


def _read(backend: Any, residual: torch.Tensor, tokens: list[str], notices: list[str], top: int) -> LogitLens:
    """The lens of a residual stream [layer + 1, token, d_model] whose last row has been through the final norm."""
    network = backend.network
    ids, probabilities = [], []
    with COMPUTE_LOCK, torch.inference_mode():
        for row in range(residual.shape[0]):
            hidden = residual[row]
            # the last row left the stack through the final norm already (trace's residual); the others have not
            if row < residual.shape[0] - 1 and network.final_norm is not None:
                hidden = network.final_norm(hidden)
            scores = network.next_token_logits(hidden[None])[0].float()             # [token, vocab]
            best = torch.topk(torch.softmax(scores, dim=-1), min(top, scores.shape[-1]), dim=-1)
            ids.append(best.indices)
            probabilities.append(best.values)
    top_ids = torch.stack(ids).numpy().astype(np.int64)                             # [row, token, top]
    names = [[[str(t) for t in backend.tokenizer.convert_ids_to_tokens(position.tolist())] for position in row]
             for row in top_ids]
    rows = ["embeddings"] + [f"after layer {layer}" for layer in range(residual.shape[0] - 1)]
    prob = torch.stack(probabilities).numpy().astype(np.float32)
    for array in (top_ids, prob):
        array.flags.writeable = False
    return LogitLens(backend.name, tokens, rows, top_ids, names, prob, notices=notices)


def generation_lens(generation: Generation, step: int | None = None, top: int = 5) -> LogitLens:
    """The logit lens over a Generation's text up to its newest token after `step` generated tokens (default: all):
    [layer + 1, position, top]; its last row at the newest token is the model's next-token distribution there."""
    step = generation.n_generated if step is None else step
    if not 0 <= step <= generation.n_generated:
        raise ValueError(f"This run wrote {generation.n_generated} tokens; step {step} does not exist.")
    ids = generation.ids[: generation.newest(step) + 1]
    backend = load_model(generation.model)
    if backend.kind == "scratch":           # the engine: one pass over the very ids generated, recorded as trace() does
        with COMPUTE_LOCK, torch.inference_mode():
            passed = backend.network.run(torch.tensor([ids]), record=True)
            residual = torch.cat([entry["input"] for entry in passed.records] + [passed.hidden])   # [layer + 1, token, d_model]
        return _read(backend, residual, generation.tokens[: len(ids)], [], top)
    tokenizer = backend.tokenizer           # a transformers decoder: traced on the engine from the written text
    if ids and ids[0] in {tokenizer.cls_token_id, tokenizer.bos_token_id} - {None}:
        ids = ids[1:]                       # the tokenizer adds its start marker again
    lens = logit_lens(tokenizer.decode(ids, skip_special_tokens=False), generation.model, top)
    if lens.tokens != generation.tokens[: generation.newest(step) + 1]:
        note = "Read again from the written text, the tokens differ a little from the ones generated: the lens shows the text's."
        lens = LogitLens(lens.model, lens.tokens, lens.rows, lens.top_ids, lens.top_tokens, lens.probabilities,
                         notices=[*lens.notices, note])
    return lens
