"""Activation patching: which activations carry what makes a clean input's answer differ from a corrupted one's.

    clean, corrupted ──► trace each (the same pass as every view) ──► metric: clean_value, corrupted_value
                     ──► the corrupted input again, one activation at a time taken from the clean trace
                         (a head's output, the residual stream at a layer and position, a block's attention or
                         feed-forward output), copies stacked along the batch axis, one pass per patch
                     ──► restored = (patched − corrupted) ÷ (clean − corrupted): 0 = as corrupted, 1 = as clean
                         (a patch whose clean activation equals the corrupted one is not run: it restores exactly 0)

The replacement is an option of the engine's forward (Swap in engine/maths.py, `swaps` in trace.forward), the way
gates are, so every patched value is measured on the same pass as the traces. Meng et al. (2022) call this causal
tracing; Wang et al. (2023) use it to find the circuit of a task; it is TransformerLens's core workflow.

Metrics:
    logit difference   `answer` − `wrong` after the last token (decoders; an encoder–decoder's after the last token of
                       the output so far, `prefix`); `answer` alone: its logit. Without either: the clean input's top
                       next token against the corrupted input's (or its logit alone when they agree); an encoder's
                       metric is then "similarity".
    "next_token"       the logit of `answer` (default: the clean input's top next token)
    "similarity"       cosine similarity of the mean-pooled output with the clean input's (clean value 1)
    "token"            the output at position `token`: its norm (token=i), or the cosine of two (token=(i, j))
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from attention.analyses.contributions.setups import _decoder_prefix
from attention.analyses.contributions.targets import _check_int, _named_token
from attention.engine.backends import COMPUTE_LOCK
from attention.engine.maths import Swap
from attention.engine.transformer import ScratchTransformer
from attention.run.api import Prepared
from attention.run.models import load_model
from attention.run.trace import StackTrace, Trace, engine_model, forward, trace

TARGETS = ("next_token", "similarity", "token")
BATCH_TOKENS = 1024          # tokens per stacked pass: measured (bench/bench_patching.py) faster than 256 or 4096 on MiniLM and gpt-mini


@dataclass(frozen=True)
class Patching:
    """What each activation restores (0 = corrupted, 1 = clean). Rows of `heads`, `attention` and `feed_forward` are
    `layer_names` (an encoder–decoder: the encoder's layers, the decoder's self-attention, its cross-attention; NaN
    where a row has no such block); `residual` rows are the stream entering each layer as trace() names it (row 0 the
    embeddings, the last row the output) over the positions of `tokens` (an encoder–decoder: its encoder's)."""

    heads: np.ndarray              # [layer, head] float32
    residual: np.ndarray           # [layer + 1, position] float32
    attention: np.ndarray          # [layer] float32: the attention block's output (before the residual)
    feed_forward: np.ndarray       # [layer] float32: the feed-forward block's output (before the residual)
    clean_value: float
    corrupted_value: float
    notices: list[str]
    tokens: list[str] = field(default_factory=list)            # the clean input's tokens (residual's positions)
    corrupted_tokens: list[str] = field(default_factory=list)
    layer_names: list[str] = field(default_factory=list)
    metric: str = ""               # what was measured, for people
    model: str = ""
    passes: int = 0                # patches run (one pass each, stacked); a patch whose clean activation equals the
    #                                corrupted run's own is not run: it restores exactly 0

    @property
    def changed(self) -> list[int]:
        """Positions where the clean and corrupted tokens differ."""
        return [i for i, (a, b) in enumerate(zip(self.tokens, self.corrupted_tokens)) if a != b]

    def top_heads(self, count: int = 3) -> list[tuple[int, int, float]]:
        """The heads that restore most: [(layer row, head, restored)], largest first."""
        order = np.argsort(-np.nan_to_num(self.heads, nan=-np.inf), axis=None)[:count]
        return [(int(r), int(h), float(self.heads[r, h])) for r, h in zip(*np.unravel_index(order, self.heads.shape))]

    def head_label(self, row: int, head: int) -> str:
        """'L1 H3' (or 'decoder 0 H2' for an encoder–decoder's rows)."""
        name = self.layer_names[row]
        return f"L{row} H{head}" if name == f"layer {row}" else f"{name} H{head}"


@dataclass
class _Side:
    """One stack of the pass as the patches see it: the clean trace's activations, by the name of the patch that
    takes them: heads [layer, head, token, d_head], attention and feed_forward [layer, token, d_model], input
    [layer + 1, token, d_model] (the residual stream), and a decoder's cross_heads and cross_attention."""

    name: str                      # "encoder" (also a decoder-only model's one stack) or "decoder"
    clean: dict[str, np.ndarray]

    @classmethod
    def of(cls, name: str, stack: StackTrace, cross: StackTrace | None = None, n: int | None = None) -> "_Side":
        """The activations of a trace's stack, cut to its first n positions (a causal decoder's prefix)."""
        cut = slice(None, n)
        found = {"heads": stack.head_outputs[:, :, cut], "attention": stack.attention_output[:, cut],
                 "feed_forward": stack.feed_forward_output[:, cut], "input": stack.residual[:, cut]}
        if cross is not None:
            found.update(cross_heads=cross.head_outputs[:, :, cut], cross_attention=cross.attention_output[:, cut])
        return cls(name, found)

    @property
    def shape(self) -> tuple[int, int]:
        """(layers, heads)."""
        return self.clean["heads"].shape[:2]


def _metric(network: ScratchTransformer, encoder_decoder: bool, tokenizer: Any, clean_ids: list[int], clean_out: torch.Tensor,
            corrupted_out: torch.Tensor, answer: Any, wrong: Any, target: str | None, token: Any,
            notices: list[str]) -> tuple[Callable[[torch.Tensor], torch.Tensor], str]:
    """The metric as a function of the output hidden [batch, token, d_model] -> [batch], and its label."""
    if target is not None and target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}; got {str(target)[:40]!r}.")
    blank = all(t is None or (isinstance(t, str) and not t.strip()) for t in (answer, wrong))
    if target is None and blank and not encoder_decoder and not network.config.causal:
        target = "similarity"
        notices.append("An encoder predicts no next token: the metric is the similarity of the output with the clean one.")
    if target in ("similarity", "token"):
        if not blank:
            raise ValueError(f"answer and wrong name tokens for a logit difference; the {target} target reads the "
                             "output vectors. Leave them out, or leave out target.")
        if encoder_decoder:
            raise ValueError("An encoder–decoder is patched on the logits of its next output token: give answer "
                             "(and wrong), and leave out target.")
        if target == "similarity":
            reference = clean_out.mean(1)                                    # [1, d_model]
            return (lambda hidden: torch.cosine_similarity(hidden.mean(1), reference, dim=-1),
                    "cosine similarity of the mean-pooled output with the clean input's")
        if token is None:
            raise ValueError("The token target needs a token index: token=i (its output's norm) or token=(i, j).")
        chosen = [_check_int(t, "token") for t in (token if isinstance(token, (tuple, list)) else [token])]
        n = clean_out.shape[1]
        if not 1 <= len(chosen) <= 2 or not all(0 <= t < n for t in chosen):
            raise ValueError(f"token is one index or a pair (i, j) of indices in 0–{n - 1}; got {str(token)[:40]}.")
        if len(chosen) == 1:
            return lambda hidden: hidden[:, chosen[0]].norm(dim=-1), f"norm of the output vector of token {chosen[0]}"
        return (lambda hidden: torch.cosine_similarity(hidden[:, chosen[0]], hidden[:, chosen[1]], dim=-1),
                f"cosine similarity of the outputs of tokens {chosen[0]} and {chosen[1]}")
    if not encoder_decoder and not network.config.causal:
        raise ValueError("answer and wrong are next tokens, and this model is an encoder (each token sees the whole "
                         "text): use target='similarity' or target='token'.")

    ends = {tokenizer.sep_token_id, tokenizer.eos_token_id} - {None}
    # a decoder continues the text: an end marker its tokenizer appends is not part of it (causal: it changes nothing before)
    read = clean_out.shape[1] - 2 if not encoder_decoder and clean_ids[-1] in ends and len(clean_ids) > 1 else -1

    def logits(hidden: torch.Tensor) -> torch.Tensor:                       # [batch, vocab] after the last position
        if encoder_decoder:
            read_out = getattr(network, "read_out", None)
            last = hidden[:, -1]
            return read_out(last) if read_out is not None else last @ network.decoder.token_embedding.weight.T
        return network.next_token_logits(hidden[:, read][:, None])[:, 0]

    clean_logits, corrupted_logits = logits(clean_out)[0], logits(corrupted_out)[0]
    vocab = clean_logits.shape[0]
    if answer is None or (isinstance(answer, str) and not answer.strip()):
        answer = int(clean_logits.argmax())
        if target is None and wrong is None and int(corrupted_logits.argmax()) != answer:
            wrong = int(corrupted_logits.argmax())
        notices.append("No answer given: the clean input's top next token is the answer"
                       + (", the corrupted input's the wrong one." if wrong is not None else "."))
    if target == "next_token":
        wrong = None
    if isinstance(wrong, str) and not wrong.strip():
        wrong = None
    ids = [_named_token(tokenizer, answer, vocab)] + ([] if wrong is None else [_named_token(tokenizer, wrong, vocab)])
    if not torch.isfinite(clean_logits[ids]).all():
        raise ValueError("This model never predicts that token (it is outside its output vocabulary): pick another.")
    if len(ids) == 2 and ids[0] == ids[1]:
        raise ValueError("answer and wrong are the same token: name two different tokens.")
    words = tokenizer.convert_ids_to_tokens(ids)
    last = tokenizer.convert_ids_to_tokens([clean_ids[read]])[0]
    where = "after the last token of the output so far" if encoder_decoder else f"after the last token (‘{last}’)"
    if len(ids) == 1:
        return lambda hidden: logits(hidden)[:, ids[0]], f"logit of ‘{words[0]}’ {where}"
    return (lambda hidden: logits(hidden)[:, ids[0]] - logits(hidden)[:, ids[1]],
            f"logit of ‘{words[0]}’ − logit of ‘{words[1]}’ {where}")


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(array))[None]                           # [1, ...]: broadcast over the batch


def _patches(sides: list[_Side], n_tokens: int) -> list[tuple[str, str, int, int]]:
    """Every patch, in the order the result's arrays are filled: (side, kind, layer, head or position)."""
    found = []
    for side in sides:
        layers, heads = side.shape
        cross = "cross_heads" in side.clean
        found += [(side.name, "heads", l, h) for l in range(layers) for h in range(heads)]
        if cross:
            found += [(side.name, "cross_heads", l, h) for l in range(layers) for h in range(heads)]
        if side.name == "encoder":
            found += [(side.name, "input", l, p) for l in range(layers + 1) for p in range(n_tokens)]
        found += [(side.name, kind, l, 0) for kind in ("attention", "feed_forward") for l in range(layers)]
        if cross:
            found += [(side.name, "cross_attention", l, 0) for l in range(layers)]
    return found


def _swaps(chunk: list[tuple[str, str, int, int]], sides: dict[str, _Side], n_heads: int,
           n_tokens: int) -> dict[str, dict[int, dict[str, Swap]]]:
    """The Swaps of one stacked pass: row i of the batch takes patch chunk[i]; {side: {layer: {kind: Swap}}}."""
    found: dict[str, dict[int, dict[str, Swap]]] = {"encoder": {}, "decoder": {}}
    for row, (side, kind, layer, index) in enumerate(chunk):
        per_layer = found[side].setdefault(layer, {})
        if kind not in per_layer:
            width = {"heads": n_heads, "cross_heads": n_heads, "input": n_tokens}.get(kind)
            where = torch.zeros((len(chunk),) if width is None else (len(chunk), width), dtype=torch.bool)
            per_layer[kind] = Swap(_tensor(sides[side].clean[kind][layer]), where)   # the clean activation, [1, ...]
        if per_layer[kind].where.dim() == 2:
            per_layer[kind].where[row, index] = True
        else:
            per_layer[kind].where[row] = True
    return found


def patch(clean: str, corrupted: str, model: str, answer: Any = None, wrong: Any = None, target: str | None = None, *,
          token: Any = None, prefix: str | None = None, max_tokens: int | None = None) -> Patching:
    """Activation patching of `corrupted` with `clean`'s activations on `model`: heads [layer, head], residual
    [layer + 1, position], attention and feed_forward [layer], each the metric restored (0 = corrupted, 1 = clean).
    Metric: logit of `answer` − `wrong` (or `answer` alone), or target "similarity" / "token" / "next_token".
    Encoder–decoders: `prefix` is the output so far. Raises ValueError with a message for people."""
    name, notices = engine_model(model)
    backend = load_model(name)
    network = backend.network
    if not isinstance(network, ScratchTransformer):
        raise ValueError(f"Patching runs on the project's engine; '{name[:80]}' is not one.")
    encoder_decoder = backend.family == "encoder-decoder"
    limit = {} if max_tokens is None else {"max_tokens": max_tokens}
    if not encoder_decoder and prefix:
        notices.append("The output so far is read by encoder–decoders only; this model does not use it.")
    prefix_ids: list[int] | None = None
    if encoder_decoder:
        prefix_ids, prefix_notices = _decoder_prefix(backend.tokenizer, prefix, network.decoder.config.max_positions)
        notices += prefix_notices
        limit["target"] = prefix if prefix and prefix.strip() else clean
    runs = [trace(text, name, **limit) for text in (clean, corrupted)]
    for run in runs:
        notices += [n for n in run.notices if n not in notices]
    _check_aligned(runs)
    sides = [_Side.of("encoder", runs[0])]
    outputs = [torch.from_numpy(np.array(run.output))[None] for run in runs]   # [1, token, d_model]
    if encoder_decoder:
        n = len(prefix_ids)
        if backend.tokenizer.convert_tokens_to_ids(runs[0].target_tokens)[:n] != prefix_ids:
            raise ValueError("The output so far could not be read as the start of the decoder's input.")
        sides.append(_Side.of("decoder", runs[0].decoder, runs[0].cross, n))
        outputs = [torch.from_numpy(np.array(run.decoder.residual[-1][:n]))[None] for run in runs]
    with torch.inference_mode():
        value, label = _metric(network, encoder_decoder, backend.tokenizer, runs[0].ids, outputs[0], outputs[1], answer, wrong,
                               target, token, notices)
        clean_value, corrupted_value = float(value(outputs[0])[0]), float(value(outputs[1])[0])
    if not abs(clean_value - corrupted_value) > 1e-6 * max(1.0, abs(clean_value)):
        raise ValueError(f"The clean and corrupted inputs give the same value ({clean_value:.4f}), so there is nothing "
                         "to restore: change the corrupted input where it matters, or pick another answer.")
    patches = _patches(sides, runs[0].n_tokens)
    corrupted_sides = [_Side.of("encoder", runs[1])] + (
        [_Side.of("decoder", runs[1].decoder, runs[1].cross, len(prefix_ids))] if encoder_decoder else [])
    changes = _changes(patches, {s.name: s for s in sides}, {s.name: s for s in corrupted_sides})
    restored = np.zeros(len(patches), np.float32)          # a patch that changes nothing restores nothing, exactly
    if changes.any():
        run = [p for p, changed in zip(patches, changes) if changed]
        restored[changes] = (_run_patches(runs[1], name, run, {s.name: s for s in sides}, value, prefix_ids)
                             - corrupted_value) / (clean_value - corrupted_value)
    return _assemble(runs, sides, patches, restored, clean_value, corrupted_value, notices, label, name, int(changes.sum()))


def _changes(patches: list, clean: dict[str, _Side], corrupted: dict[str, _Side]) -> np.ndarray:
    """bool [patch]: whether the clean activation a patch takes differs from the corrupted run's own (where they are the
    same, e.g. a causal model's positions before the first change, the patched pass would be the corrupted pass)."""
    found = np.ones(len(patches), bool)
    for i, (side, kind, layer, index) in enumerate(patches):
        a, b = clean[side].clean[kind][layer], corrupted[side].clean[kind][layer]
        if kind == "input":
            a, b = a[index], b[index]                           # one position of the stream
        elif kind.endswith("heads"):
            a, b = a[index], b[index]                           # one head's output
        found[i] = not np.array_equal(a, b)
    return found


def _check_aligned(runs: list[Trace]) -> None:
    clean, corrupted = runs
    if clean.n_tokens != corrupted.n_tokens:
        raise ValueError(f"The clean input has {clean.n_tokens} tokens and the corrupted one {corrupted.n_tokens}: "
                         "patching swaps activations position by position, so both need the same number of tokens "
                         "(change words for words that are as many tokens long).")
    if clean.ids == corrupted.ids:
        raise ValueError("The clean and corrupted inputs are the same tokens: change the corrupted one.")


def _run_patches(corrupted: Trace, name: str, patches: list, sides: dict[str, _Side], value: Callable,
                 prefix_ids: list[int] | None) -> np.ndarray:
    """The metric with each patch applied to the corrupted input, stacked along the batch axis: [patch]."""
    options = {k: v for k, v in corrupted.options.items() if k != "target"}   # the decoder's ids are passed as prefix_ids
    prepared = Prepared(load_model(name), corrupted.text, list(corrupted.ids), list(corrupted.tokens), None, [], options,
                        corrupted.n_tokens)                                   # as traced: no second tokenisation
    n_tokens, n_heads = corrupted.n_tokens, corrupted.n_heads
    width = max(1, BATCH_TOKENS // (n_tokens + len(prefix_ids or ())))
    values = []
    with COMPUTE_LOCK, torch.inference_mode():
        for start in range(0, len(patches), width):
            chunk = patches[start:start + width]
            swaps = _swaps(chunk, sides, n_heads, n_tokens)
            encoded, decoded = forward(prepared, None, False, None, prefix_ids, swaps=swaps["encoder"],
                                       decoder_swaps=swaps["decoder"], batch=len(chunk))
            values.append(value((decoded or encoded).hidden).float())
    return torch.cat(values).numpy()


def _assemble(runs: list[Trace], sides: list[_Side], patches: list, restored: np.ndarray, clean_value: float,
              corrupted_value: float, notices: list[str], label: str, name: str, passes: int) -> Patching:
    """The result's arrays from the patches' values, in _patches' order."""
    n_layers, n_heads = sides[0].shape
    decoder_layers = sides[1].shape[0] if len(sides) > 1 else 0
    rows = [f"layer {l}" for l in range(n_layers)] if decoder_layers == 0 else (
        [f"encoder {l}" for l in range(n_layers)] + [f"decoder {l}" for l in range(decoder_layers)]
        + [f"cross {l}" for l in range(decoder_layers)])
    heads = np.full((len(rows), n_heads), np.nan, np.float32)
    residual = np.full((n_layers + 1, runs[0].n_tokens), np.nan, np.float32)
    attention = np.full(len(rows), np.nan, np.float32)
    feed_forward = np.full(len(rows), np.nan, np.float32)
    for (side, kind, layer, index), found in zip(patches, restored):
        row = layer + {"encoder": 0, "decoder": n_layers}[side] + (decoder_layers if kind.startswith("cross") else 0)
        if kind.endswith("heads"):
            heads[row, index] = found
        elif kind == "input":
            residual[layer, index] = found
        elif kind.endswith("attention"):
            attention[row] = found
        else:
            feed_forward[row] = found
    return Patching(heads, residual, attention, feed_forward, clean_value, corrupted_value, notices,
                    list(runs[0].tokens), list(runs[1].tokens), rows, label, name, passes)
