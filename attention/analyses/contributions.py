"""Contributions: from where heads look to what they do to the output.

One target (a number the model's output gives), many answers to "which input tokens and which heads made it what
it is", each read from the project's own engine (the trace for the attention-based methods, its autograd-ready
forward for the gradient ones), and a faithfulness test of every answer on the same input:

    text (, text_b) ──► trace (weights, value writes, residual) ──► attention · rollout · value_norm · alti
                    ──► forward with gradients on ──► grad_input · integrated_gradients · attention_gradient
                    ──► heads removed / mean-ablated, batched ──► head_importance [layer, head]
                    ──► tokens deleted / kept by each ranking ──► AOPC comprehensiveness and sufficiency

Targets:
    "similarity"  cosine similarity of the two sentences' embeddings, each the mean of its output vectors over all
                  tokens, special tokens included (sentence-transformers' pooling for all-MiniLM-L6-v2, whose
                  1_Pooling config sets mean tokens only; its final L2 normalisation does not change a cosine)
    "token"       token `token`'s output vector: its norm (token=i), or its cosine similarity to token j's (token=(i, j))
    "next_token"  decoders: the logit of the next token after the last position, read with the token embedding
                  matrix as the output layer (tied, as GPT-2 does); the predicted token unless `token` names one.
                  Encoder–decoders (translate-mini, scratch:<BART>): `text` is the source, `text_b` the output so far
                  (the decoder reads its start token, then text_b's tokens; empty: the first output token); the target
                  is the logit of the next output token, through the model's own read-out (translate-mini) or the
                  decoder's token embeddings (BART, tied; its final_logits_bias is not part of the encoder–decoder
                  weights the engine loads). Scores cover the source tokens, then the decoder's.

Models with no engine equivalent (e.g. a Llama folder) run through transformers itself: attention and rollout from
output_attentions, grad_input, integrated_gradients (through inputs_embeds) and attention_gradient (through the
returned attention weights), head removal and mean ablation by a hook on each layer's attention output projection;
value_norm and alti need the engine's value vectors and are named as not available.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np
import torch
from torch import nn

from attention.analyses.stats import rollout
from attention.engine.backends import COMPUTE_LOCK, load_model
from attention.engine.layers import run_layers
from attention.engine.maths import causal_mask, split_heads
from attention.engine.transformer import ScratchTransformer
from attention.run.api import Prepared, clean_text, prepare
from attention.run.cache import memory_cache
from attention.run.trace import StackTrace, Trace, engine_model, forward, trace

METHODS = ("attention", "rollout", "value_norm", "alti", "grad_input", "integrated_gradients", "attention_gradient")
TARGETS = ("similarity", "token", "next_token")
RANDOM_SEEDS = 10          # the random order's AOPC is averaged over this many shuffles
MAX_CURVE_POINTS = 6       # deletion/insertion curves are measured at up to this many k, evenly spaced over 1 … n
_EVAL_BATCH = 256          # masked variants of one sentence per forward pass (one pass for a sentence of the page's size)
_IG_CHUNK = 9              # interpolation points per batched forward+backward (progress is reported between chunks)

# What each method measures, and what it cannot claim (the page shows these; each rests on the paper named).
METHOD_NOTES = {
    "attention": "Last layer's attention weights, heads averaged, from the target's query rows. Where the heads look; "
                 "it ignores what the looked-at vectors hold and every earlier layer (Jain & Wallace, 2019; Wiegreffe & Pinter, 2019).",
    "rollout": "Attention rollout (Abnar & Zuidema, 2020): layer averages with the residual as 0.5·I, multiplied through "
               "the layers. Still weights only: value vectors, layer norms and feed-forward layers are left out.",
    "value_norm": "‖α·f(x)‖, the size of what each token's value actually writes through a head (Kobayashi et al., 2020), "
                  "last layer, heads summed as vectors. A large write is not necessarily one the target uses.",
    "alti": "ALTI (Ferrando et al., 2022; after Kobayashi et al., 2021): each layer's output split into per-token parts "
            "with the residual and layer norm, scored by Manhattan distance, rows summing to 1, multiplied through the "
            "layers. Feed-forward layers and biases are left out; it measures how much a token shapes the output "
            "vectors, not the direction the target reads.",
    "grad_input": "Gradient × input on the token embeddings (summed over dimensions): a first-order, local estimate of "
                  "each token's effect. Signed; it can miss saturated effects.",
    "integrated_gradients": "Integrated gradients (Sundararajan et al., 2017) from a baseline to the input along a "
                            "straight line; the scores sum to f(input) − f(baseline) (completeness, gap shown). The "
                            "answer depends on the baseline chosen.",
    "attention_gradient": "Attention × gradient of the target with respect to every attention weight, summed over layers, "
                          "heads and queries per key token: the one-point form of Hao et al.'s (2021) attention "
                          "attribution, which integrates the gradient while the weights grow from 0.",
}


@dataclass(frozen=True, eq=False, kw_only=True)
class Explanation:
    """Every method's answer for one target. Contract fields first; the rest serve the page and exports."""

    tokens: list[str]                                  # text's tokens, then text_b's (each with its special tokens)
    target_value: float                                # the target on the input as given
    scores: dict[str, np.ndarray]                      # method -> float32 [token]
    head_importance: np.ndarray                        # float32 [layer, head]: target − target with the head removed
    completeness_gap: float                            # integrated gradients: |Σ scores − (f(x) − f(baseline))| / |f(x) − f(baseline)|
    faithfulness: dict[str, dict[str, float]]          # method and "random" -> {"comprehensiveness", "sufficiency"}
    notices: list[str]
    head_mean_ablation: np.ndarray                     # float32 [layer, head]: target − target with the head's output
                                                       # replaced by its mean over tokens
    head_scores: dict[str, np.ndarray] = field(default_factory=dict)   # "value_norm", "attention_gradient" -> [layer, head]
    curves: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # method/"random" -> {"k", "deletion", "insertion"}
    segments: np.ndarray | None = None                 # int [token]: 0 for text, 1 for text_b
    special: np.ndarray | None = None                  # bool [token]: special tokens (kept by deletions and the baseline)
    model: str = ""                                    # the engine's model name that ran
    target: str = ""
    target_label: str = ""                             # the target in words, e.g. "cosine similarity of A and B"
    baseline: str = ""                                 # integrated gradients' baseline, in words
    replacement: str = ""                              # what deleted tokens are replaced by, in words
    f_baseline: float = float("nan")                   # the target at the integrated-gradients baseline
    head_layers: list[str] = field(default_factory=list)   # what each row of the [layer, head] maps is: "layer 0", …;
                                                           # encoder–decoders: "encoder 0", …, "decoder self 0", …,
                                                           # "decoder cross 0", … (NaN where a stack has fewer heads)
    unavailable: list[str] = field(default_factory=list)   # methods asked for that this model cannot give (named in notices)

    @property
    def methods(self) -> list[str]:
        return list(self.scores)

    @property
    def nbytes(self) -> int:
        """Bytes of its arrays (what the explanations cache counts)."""
        arrays = [*self.scores.values(), self.head_importance, self.head_mean_ablation, *self.head_scores.values(),
                  *(a for curve in self.curves.values() for a in curve.values())]
        return sum(np.asarray(a).nbytes for a in arrays) + 64 * len(self.tokens)

    def rows(self) -> list[dict]:
        """One dict per token: position, sentence, token and every method's score (for tables and CSV)."""
        sides = ("source", "decoder") if self.target == "next_token" and self.segments is not None and \
            int(self.segments.max(initial=0)) == 1 else ("A", "B")
        return [{"position": i, "sentence": sides[int(self.segments[i])] if self.segments is not None else "A",
                 "token": token, **{name: float(values[i]) for name, values in self.scores.items()}}
                for i, token in enumerate(self.tokens)]

    def head_rows(self) -> list[dict]:
        """One dict per head: layer, head, removal and mean-ablation changes, per-head method scores."""
        layers, heads = self.head_importance.shape
        names = self.head_layers or [f"layer {l}" for l in range(layers)]
        return [{"layer": l, "stack": names[l], "head": h, "removed": float(self.head_importance[l, h]),
                 "mean_ablated": float(self.head_mean_ablation[l, h]),
                 **{name: float(v[l, h]) for name, v in self.head_scores.items()}}
                for l in range(layers) for h in range(heads)]

    def faithfulness_rows(self) -> list[dict]:
        return [{"method": name, **values} for name, values in self.faithfulness.items()]

    def to_json(self) -> dict:
        """Everything as plain JSON types."""
        return {"tokens": self.tokens, "target": self.target, "target_label": self.target_label, "model": self.model,
                "target_value": self.target_value, "f_baseline": self.f_baseline, "baseline": self.baseline,
                "completeness_gap": self.completeness_gap, "replacement": self.replacement,
                "scores": {k: v.tolist() for k, v in self.scores.items()},
                "head_importance": self.head_importance.tolist(), "head_mean_ablation": self.head_mean_ablation.tolist(),
                "head_scores": {k: v.tolist() for k, v in self.head_scores.items()},
                "faithfulness": self.faithfulness, "head_layers": self.head_layers, "unavailable": self.unavailable,
                "curves": {k: {n: v.tolist() for n, v in c.items()} for k, c in self.curves.items()},
                "notices": self.notices}


# --- the target ---------------------------------------------------------------------------------------------------

ENGINE, ENCODER_DECODER, TRANSFORMERS = "engine", "encoder-decoder", "transformers"   # how a setup runs its model
_ENGINE_ONLY = ("value_norm", "alti")      # need the engine's value vectors and W_O (transformers-only models lack them)


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

    def readout(self, hidden: torch.Tensor) -> torch.Tensor:
        """What the target reads from one segment's output hidden [batch, token, d_model]: [batch, ...]."""
        if self.target == "similarity":
            return hidden.mean(1)                                            # mean pooling over every token
        if self.target == "token":
            return hidden[:, self.positions]                                 # [batch, 1 or 2, d_model]
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


def _decoder_prefix(tokenizer: Any, text_b: str | None, limit: int) -> tuple[list[int], list[str]]:
    """The decoder's input for an encoder–decoder: its start token, then text_b's tokens (the output so far), without
    the end token the tokenizer appends; truncated to `limit` with a notice."""
    cleaned = clean_text(text_b)[0] if text_b and text_b.strip() else ""
    ids = list(tokenizer(cleaned)["input_ids"])
    ends = {tokenizer.eos_token_id, tokenizer.sep_token_id} - {None}
    if len(ids) > 1 and ids[-1] in ends:
        ids = ids[:-1]
    notices = []
    if len(ids) > limit:
        notices.append(f"The output so far has {len(ids)} tokens; the decoder reads the first {limit}.")
        ids = ids[:limit]
    return ids, notices


def _prefix_side(side: StackTrace, n: int, cross: bool = False) -> StackTrace:
    """A decoder-side StackTrace cut to its first n queries: a causal decoder's first n positions never see later ones,
    so this equals the trace of the decoder over those n tokens alone."""
    cut = {"weights": side.weights[:, :, :n], "query": side.query[:, :, :n], "head_outputs": side.head_outputs[:, :, :n],
           "attention_input": side.attention_input[:, :n], "attention_output": side.attention_output[:, :n],
           "output_weights": side.output_weights, "output_bias": side.output_bias}
    if cross:
        return StackTrace(**cut, key=side.key, value=side.value)
    cut["weights"] = cut["weights"][..., :n]
    return StackTrace(**cut, key=side.key[:, :, :n], value=side.value[:, :, :n], residual=side.residual[:, :n])


def _transformers_only(model: Any) -> bool:
    """True when `model` names a transformers model whose weights the engine cannot hold (e.g. a Llama folder)."""
    from attention.engine.loaders import FAMILIES

    name = model.strip() if isinstance(model, str) else ""
    if name in ("", "minilm", "scratch") or name.startswith("scratch:"):
        return False
    backend = load_model(name)
    return backend.kind == "transformers" and backend.meta.get("model_type") not in FAMILIES


def _setup(text: str, model: str, target: str, text_b: str | None, token: Any,
           max_tokens: int | None = None) -> tuple[_Setup, list[str], str]:
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}; got {str(target)[:40]!r}.")
    if not isinstance(model, str) or not model.strip():
        raise ValueError("Pick a model: minilm, scratch, scratch:minilm, or a Hugging Face id / local folder.")
    limit = {} if max_tokens is None else {"max_tokens": max_tokens}
    if _transformers_only(model):
        return _transformers_setup(text, model.strip(), target, text_b, token, limit)
    name, notices = engine_model(model)
    if model.strip() == "minilm":
        notices = [f"Computed on the project's own engine with MiniLM's weights ({name}), whose outputs equal transformers'."]
    backend = load_model(name)
    if backend.family == "encoder-decoder":
        return _encoder_decoder_setup(text, name, target, text_b, token, limit, notices)
    texts = _target_texts(text, target, text_b, notices)
    prepared = [prepare(t, name, **limit) for t in texts]
    if backend.kind != "scratch" or not isinstance(backend.network, ScratchTransformer):
        raise ValueError(f"Contributions run on the project's engine; '{name[:80]}' is not one.")
    network: ScratchTransformer = backend.network
    runs = [trace(t, name, **limit) for t in texts]
    for p in prepared:
        notices += [n for n in p.notices if n not in notices]
    setup = _Setup(network, prepared, runs, target, [], None, [_special_mask(backend.tokenizer, p.ids) for p in prepared],
                   network.token_embedding.weight.dtype, ENGINE, [list(p.ids) for p in prepared], model=runs[0].model)
    if target == "next_token" and not network.config.causal:
        raise ValueError(f"next_token needs a decoder (each token sees only earlier ones); '{name[:80]}' is an encoder: "
                         "use the similarity or token target.")
    label = _single_target(setup, token, backend.tokenizer)
    return setup, notices, label


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


def _encoder_decoder_setup(text: str, name: str, target: str, text_b: str | None, token: Any, limit: dict,
                           notices: list[str]) -> tuple[_Setup, list[str], str]:
    """An encoder–decoder: source `text`, decoder prefix from `text_b`, target the next output token's logit."""
    if target != "next_token":
        raise ValueError(f"'{name[:80]}' is an encoder–decoder: its target is the logit of the next output token "
                         "(target next_token, with text_b the output so far).")
    prepared = prepare(text, name, **limit)
    backend = prepared.backend
    network: ScratchTransformer = backend.network
    prefix, prefix_notices = _decoder_prefix(backend.tokenizer, text_b, network.decoder.config.max_positions)
    run = trace(text, name, target=text_b if text_b and text_b.strip() else text, **limit)
    traced_ids = backend.tokenizer.convert_tokens_to_ids(run.target_tokens)
    if traced_ids[:len(prefix)] != prefix:                                  # the trace's decoder starts with our prefix
        raise ValueError("The output so far could not be read as the start of the decoder's input.")
    n = len(prefix)
    stacks = {"encoder": run, "decoder": _prefix_side(run.decoder, n), "cross": _prefix_side(run.cross, n, cross=True)}
    notices = notices + [n_ for n_ in prepared.notices if n_ not in notices] + prefix_notices
    tokenizer = backend.tokenizer
    setup = _Setup(network, [prepared], [run], target, [n - 1], None,
                   [_special_mask(tokenizer, prepared.ids), _special_mask(tokenizer, prefix)],
                   network.token_embedding.weight.dtype, ENCODER_DECODER, [list(prepared.ids), prefix], stacks,
                   model=run.model)
    label = _choose_next(setup, token, setup.outputs()[1], tokenizer)
    return setup, notices, label


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


def _transformers_setup(text: str, name: str, target: str, text_b: str | None, token: Any,
                        limit: dict) -> tuple[_Setup, list[str], str]:
    """A model the engine cannot hold, run through transformers: outputs and attention weights of each text."""
    backend = load_model(name)
    if backend.family == "encoder-decoder":
        raise ValueError(f"'{name[:80]}' is an encoder–decoder the project's engine cannot hold; contributions for "
                         "encoder–decoders run on the engine (translate-mini, scratch:<BART id or folder>).")
    notices = []
    texts = _target_texts(text, target, text_b, notices)
    if target == "next_token" and backend.family != "decoder":
        raise ValueError(f"next_token needs a decoder (each token sees only earlier ones); '{name[:80]}' is an encoder: "
                         "use the similarity or token target.")
    prepared = [prepare(t, name, **limit) for t in texts]
    for p in prepared:
        notices += [n for n in p.notices if n not in notices]
    network = backend.network
    dtype = network.get_input_embeddings().weight.dtype
    setup = _Setup(network, prepared, [], target, [], None, [_special_mask(backend.tokenizer, p.ids) for p in prepared],
                   dtype, TRANSFORMERS, [list(p.ids) for p in prepared], model=name)
    with COMPUTE_LOCK, torch.inference_mode():
        for index in range(len(prepared)):
            out = _hf_run(setup, setup.ids(index), None, True)
            setup.inputs.append(out.last_hidden_state.detach().clone())
            setup.attentions.append(torch.cat(list(out.attentions)).double().numpy())
    label = _single_target(setup, token, backend.tokenizer)
    return setup, notices, label


def _hf_run(setup: _Setup, ids: torch.Tensor | None, vectors: torch.Tensor | None, attentions: bool) -> Any:
    """One transformers forward over token ids or token vectors (inputs_embeds): the model's output object."""
    kwargs = {"use_cache": False} if setup.prepared[0].backend.family == "decoder" else {}
    if vectors is not None:
        return setup.network(inputs_embeds=vectors, output_attentions=attentions, **kwargs)
    return setup.network(input_ids=ids, output_attentions=attentions, **kwargs)


def _value(setup: _Setup, hiddens: list[torch.Tensor]) -> torch.Tensor:
    return setup.value(hiddens)


# --- attention-based methods, read from the trace -------------------------------------------------------------------

def value_norms(run: StackTrace, layer: int) -> np.ndarray:
    """‖α·f(x)‖ per head (Kobayashi et al., 2020): float32 [head, query, key] for one layer of a trace (or a decoder's
    self- or cross-attention side)."""
    writes = run.value_writes(layer)                                        # [head, key, d_model] f(x_key)
    return (run.weights[layer] * np.linalg.norm(writes, axis=-1)[:, None, :]).astype(np.float32)


def layer_value_norms(run: StackTrace, layer: int) -> np.ndarray:
    """‖Σ_head α·f(x)‖, the whole layer's write from each key to each query: float32 [query, key]."""
    parts = np.einsum("hqk,hkd->qkd", run.weights[layer], run.value_writes(layer), optimize=True)   # [query, key, d_model]
    return np.linalg.norm(parts, axis=-1).astype(np.float32)


def _layer_norm(module: nn.Module) -> tuple[np.ndarray, float] | None:
    return (module.weight.detach().double().numpy(), float(module.eps)) if isinstance(module, nn.LayerNorm) else None


def _alti_rows(parts: np.ndarray, total: np.ndarray | None, norm: tuple[np.ndarray, float] | None) -> np.ndarray:
    """ALTI's scores of one block: parts [query, part, d_model] summing to the block's output (biases left out);
    with `total` [query, d_model] and a post-norm layer norm, each part goes through the norm's linear map at this
    input. contribution = max(0, ‖y‖₁ − ‖y − part‖₁), rows normalised to 1: [query, part]."""
    if total is not None and norm is not None:
        gain, eps = norm
        scale = np.sqrt(total.var(-1) + eps)                                # [query]: the norm's divisor on the real sum
        parts = gain * (parts - parts.mean(-1, keepdims=True)) / scale[:, None, None]
    whole = parts.sum(1)                                                    # [query, d_model]
    distance = np.abs(whole[:, None, :] - parts).sum(-1)                    # [query, part] Manhattan
    contribution = np.maximum(0.0, np.abs(whole).sum(-1)[:, None] - distance)
    totals = contribution.sum(-1, keepdims=True)
    fallback = np.zeros_like(contribution)
    fallback[:, :min(contribution.shape)] = np.eye(contribution.shape[0], min(contribution.shape))
    return np.where(totals > 0, contribution / np.where(totals > 0, totals, 1), fallback)


def alti_layers(run: StackTrace, network: ScratchTransformer) -> np.ndarray:
    """ALTI's per-layer contributions (Ferrando et al., 2022): float32 [layer, query, key], non-negative, rows summing to 1.

    Each layer's attention-block output y_query (residual and, for post-norm models, layer norm included) is split
    exactly into one part per key token, T(x_key) = Σ_head α·f(x_key) (+ x_query for the query itself), passed
    through the layer norm's linear map at this input; contribution = max(0, ‖y‖₁ − ‖y − T(x_key)‖₁), normalised per
    row. Biases (the output projection's and the norm's) belong to no token and are left out of y. `network` is the
    stack that ran (a model, or an encoder–decoder's `.decoder`: its self-attention blocks)."""
    layers = []
    n_tokens = run.weights.shape[-1]
    for layer in range(run.n_layers):
        parts = np.einsum("hqk,hkd->qkd", run.weights[layer], run.value_writes(layer), optimize=True).astype(np.float64)
        stream = run.residual[layer].astype(np.float64)                     # [token, d_model] what enters the layer
        index = np.arange(n_tokens)
        parts[index, index] += stream                                       # the residual: the query's own vector
        block = network.layers[layer]
        post = not block.norm_first
        total = stream + run.attention_output[layer].astype(np.float64) if post else None
        layers.append(_alti_rows(parts, total, _layer_norm(block.attention_norm) if post else None))
    return np.asarray(layers, dtype=np.float32)


def alti(run: StackTrace, network: ScratchTransformer) -> np.ndarray:
    """ALTI aggregated through the layers by matrix products: float32 [layer, query, input token], rows summing to 1."""
    per_layer = alti_layers(run, network).astype(np.float64)
    out = np.empty_like(per_layer)
    out[0] = per_layer[0]
    for layer in range(1, len(per_layer)):
        out[layer] = per_layer[layer] @ out[layer - 1]
    return out.astype(np.float32)


def _cross_block(decoder: StackTrace, cross: StackTrace, network: ScratchTransformer, layer: int) -> np.ndarray:
    """ALTI of one decoder layer's cross-attention block: [target token, 1 + source token], part 0 the residual (the
    stream after self-attention), then each source token's write Σ_head α·f(encoder output); rows sum to 1."""
    block = network.decoder.layers[layer]
    writes = np.einsum("hqk,hkd->qkd", cross.weights[layer], cross.value_writes(layer), optimize=True).astype(np.float64)
    if block.norm_first:                                                    # x after self-attention = stream + its output
        stream = decoder.residual[layer].astype(np.float64) + decoder.attention_output[layer].astype(np.float64)
    else:                                                                   # post-norm: the cross block reads that stream
        stream = cross.attention_input[layer].astype(np.float64)
    parts = np.concatenate([stream[:, None], writes], axis=1)               # [target, 1 + source, d_model]
    post = not block.norm_first
    total = stream + cross.attention_output[layer].astype(np.float64) if post else None
    return _alti_rows(parts, total, _layer_norm(block.cross_norm) if post else None)


def alti_encoder_decoder(stacks: dict[str, StackTrace], network: ScratchTransformer) -> np.ndarray:
    """ALTI through an encoder–decoder (the structure of ALTI+, Ferrando et al., 2022, "Towards opening the black box of
    neural machine translation"): each decoder position's output split over [source tokens, decoder tokens], float32
    [target, source + target], non-negative, rows summing to 1. Per decoder layer: the self-attention block mixes
    decoder rows (ALTI); the cross-attention block keeps its residual's share of the row and hands each source token's
    share to that token's aggregated encoder row."""
    encoder = alti(stacks["encoder"], network)[-1].astype(np.float64)      # [source, source]
    decoder, cross = stacks["decoder"], stacks["cross"]
    n_source, n_target = encoder.shape[0], decoder.weights.shape[-1]
    rows = np.concatenate([np.zeros((n_target, n_source)), np.eye(n_target)], axis=1)   # [target, source + target]
    self_blocks = alti_layers(decoder, network.decoder).astype(np.float64)
    from_source = np.concatenate([encoder, np.zeros((n_source, n_target))], axis=1)     # source rows, over all tokens
    for layer in range(decoder.n_layers):
        rows = self_blocks[layer] @ rows                                    # self-attention: among decoder positions
        shares = _cross_block(decoder, cross, network, layer)               # [target, 1 + source]
        rows = shares[:, :1] * rows + shares[:, 1:] @ from_source
    return rows.astype(np.float32)


def rollout_encoder_decoder(stacks: dict[str, StackTrace]) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema, 2020) carried through cross-attention: float32 [target, source + target],
    rows summing to 1. Each sub-layer is 0.5·(heads' mean) + 0.5·I, as rollout does for self-attention; a
    cross-attention sub-layer keeps half of each row and hands the other half to the source tokens through the
    encoder's rolled-out rows."""
    encoder = rollout(stacks["encoder"].weights)[-1].astype(np.float64)   # [source, source]
    decoder, cross = stacks["decoder"], stacks["cross"]
    n_source, n_target = encoder.shape[0], decoder.weights.shape[-1]
    rows = np.concatenate([np.zeros((n_target, n_source)), np.eye(n_target)], axis=1)
    from_source = np.concatenate([encoder, np.zeros((n_source, n_target))], axis=1)
    for layer in range(decoder.n_layers):
        mixed = 0.5 * decoder.weights[layer].astype(np.float64).mean(0) + 0.5 * np.eye(n_target)
        rows = mixed @ rows
        rows = 0.5 * rows + 0.5 * cross.weights[layer].astype(np.float64).mean(0) @ from_source
    return rows.astype(np.float32)


def _head_grid(blocks: list[np.ndarray]) -> np.ndarray:
    """Stack [layer, head] blocks with possibly different head counts into one float32 map, NaN where a head is absent."""
    width = max(b.shape[1] for b in blocks)
    rows = [np.pad(b.astype(np.float64), ((0, 0), (0, width - b.shape[1])), constant_values=np.nan) for b in blocks]
    return np.concatenate(rows).astype(np.float32)


def head_layer_names(setup: _Setup) -> list[str]:
    """What each row of the setup's [layer, head] maps is."""
    if setup.mode == ENCODER_DECODER:
        encoder, decoder = len(setup.network.layers), len(setup.network.decoder.layers)
        return ([f"encoder {l}" for l in range(encoder)] + [f"decoder self {l}" for l in range(decoder)]
                + [f"decoder cross {l}" for l in range(decoder)])
    layers = len(setup.attentions[0]) if setup.mode == TRANSFORMERS else setup.runs[0].n_layers
    return [f"layer {l}" for l in range(layers)]


def _attention_scores(setup: _Setup, methods: list[str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """attention, rollout, value_norm and alti: one score per token of every segment, and [layer, head] maps."""
    if setup.mode == ENCODER_DECODER:
        return _encoder_decoder_attention_scores(setup, methods)
    scores: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    if setup.mode == TRANSFORMERS:
        for index, weights in enumerate(setup.attentions):
            rows = setup.query_rows(index)
            if "attention" in methods:
                scores["attention"].append(weights[-1].mean(0)[rows].mean(0))
            if "rollout" in methods:
                scores["rollout"].append(rollout(weights)[-1][rows].mean(0))
        return {m: np.concatenate(v).astype(np.float32) for m, v in scores.items()}, {}
    head_value = np.zeros((setup.runs[0].n_layers, setup.runs[0].n_heads))
    for index, run in enumerate(setup.runs):
        rows = setup.query_rows(index)
        if "attention" in methods:
            scores["attention"].append(run.weights[-1].mean(0)[rows].mean(0))
        if "rollout" in methods:
            scores["rollout"].append(rollout(run.weights)[-1][rows].mean(0))
        if "value_norm" in methods:
            scores["value_norm"].append(layer_value_norms(run, run.n_layers - 1)[rows].mean(0))
            head_value += np.stack([value_norms(run, layer)[:, rows].sum(-1).mean(-1) for layer in range(run.n_layers)])
        if "alti" in methods:
            scores["alti"].append(alti(run, setup.network)[-1][rows].mean(0))
    maps = {"value_norm": (head_value / len(setup.runs)).astype(np.float32)} if "value_norm" in methods else {}
    return {m: np.concatenate(v).astype(np.float32) for m, v in scores.items()}, maps


def _encoder_decoder_attention_scores(setup: _Setup, methods: list[str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The last decoder layer from the target's query row: cross-attention over the source tokens, self-attention over
    the decoder's; rollout and ALTI carried through the encoder and the cross-attention."""
    encoder, decoder, cross = (setup.stacks[s] for s in ("encoder", "decoder", "cross"))
    row = setup.positions[0]
    last = decoder.n_layers - 1
    scores, maps = {}, {}
    if "attention" in methods:
        scores["attention"] = np.concatenate([cross.weights[last].mean(0)[row], decoder.weights[last].mean(0)[row]])
    if "rollout" in methods:
        scores["rollout"] = rollout_encoder_decoder(setup.stacks)[row]
    if "value_norm" in methods:
        scores["value_norm"] = np.concatenate([layer_value_norms(cross, last)[row], layer_value_norms(decoder, last)[row]])
        maps["value_norm"] = _head_grid([
            np.stack([value_norms(encoder, l).sum(-1).mean(-1) for l in range(encoder.n_layers)]),   # every source row
            np.stack([value_norms(decoder, l)[:, row].sum(-1) for l in range(decoder.n_layers)]),
            np.stack([value_norms(cross, l)[:, row].sum(-1) for l in range(cross.n_layers)])])
    if "alti" in methods:
        scores["alti"] = alti_encoder_decoder(setup.stacks, setup.network)[row]
    return {m: np.asarray(v, dtype=np.float32) for m, v in scores.items()}, maps


# --- gradient methods, through the engine's forward with autograd ---------------------------------------------------

def _embeddings(setup: _Setup, index: int) -> torch.Tensor:
    return setup.embedding(index).weight[setup.ids(index)].detach()          # [1, token, d_model]


def _baseline(setup: _Setup, index: int) -> tuple[torch.Tensor, str]:
    """Integrated gradients' baseline: [PAD]'s embedding at every non-special position (special tokens kept), or zero
    vectors when the tokenizer has no padding token."""
    tokenizer = setup.prepared[0].backend.tokenizer
    vectors = _embeddings(setup, index).clone()
    keep = torch.from_numpy(setup.special[index])
    pad = tokenizer.pad_token_id
    if pad is not None and pad < setup.embedding(index).weight.shape[0]:
        filler = setup.embedding(index).weight[pad].detach()
        words = f"the {tokenizer.pad_token} token's embedding"
    else:
        filler = torch.zeros(vectors.shape[-1], dtype=vectors.dtype)
        words = "zero vectors"
    vectors[0, ~keep] = filler
    return vectors, f"{words} at every position but the special tokens (kept); positions unchanged"


def _run(setup: _Setup, vectors: list[torch.Tensor], record: bool = False
         ) -> tuple[list[torch.Tensor], list[tuple[list[torch.Tensor], int, int]]]:
    """Every segment's output hidden [batch, token, d_model] with its token embeddings replaced by `vectors` (each
    [batch, token, d_model]; batches of interpolation points run at once), under the caller's grad mode. With
    `record`, also each attention kind's per-layer weights [batch, head, query, key], the segment of its keys and
    its first row in the [layer, head] maps."""
    if setup.mode == TRANSFORMERS:
        outs = [_hf_run(setup, None, v, record) for v in vectors]
        return [o.last_hidden_state for o in outs], [(list(o.attentions), i, 0) for i, o in enumerate(outs)] if record else []
    if setup.mode == ENCODER_DECODER:
        # the engine's own encoder then decoder, both sides' token vectors replaced (trace.forward replaces the encoder's)
        network = setup.network
        encoded = network.run(setup.ids(0), record=record, token_vectors=vectors[0])
        decoded = network.decoder.run(setup.ids(1), memory=encoded.hidden, record=record, token_vectors=vectors[1])
        if not record:
            return [encoded.hidden, decoded.hidden], []
        n_encoder, n_decoder = len(network.layers), len(network.decoder.layers)
        return [encoded.hidden, decoded.hidden], [([r["self"]["weights"] for r in encoded.records], 0, 0),
                                                  ([r["self"]["weights"] for r in decoded.records], 1, n_encoder),
                                                  ([r["cross"]["weights"] for r in decoded.records], 0, n_encoder + n_decoder)]
    passes = [forward(p, None, record, v)[0] for p, v in zip(setup.prepared, vectors)]
    return [p.hidden for p in passes], [([r["self"]["weights"] for r in p.records], i, 0) for i, p in enumerate(passes)] if record else []


def _gradient_scores(setup: _Setup, methods: list[str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """grad_input and attention_gradient from one forward+backward at the input."""
    with torch.enable_grad():
        vectors = [_embeddings(setup, i).clone().requires_grad_(True) for i in range(len(setup.segment_ids))]
        hiddens, kinds = _run(setup, vectors, record=True)
        weights = [w for layer_weights, _, _ in kinds for w in layer_weights]
        value = setup.value(hiddens)[0]
        grads = torch.autograd.grad(value, vectors + weights, allow_unused=True)
    scores, maps = {}, {}
    if "grad_input" in methods:
        scores["grad_input"] = np.concatenate([(g * v).sum(-1)[0].detach().double().numpy()
                                               for g, v in zip(grads[:len(vectors)], vectors)]).astype(np.float32)
    if "attention_gradient" in methods and all(g is None for g in grads[len(vectors):]):
        methods = [m for m in methods if m != "attention_gradient"]         # weights the model does not compute with
    if "attention_gradient" in methods:
        per_key = [np.zeros(len(ids)) for ids in setup.segment_ids]
        blocks: dict[int, np.ndarray] = {}
        position = len(vectors)
        for layer_weights, segment, first_row in kinds:
            for layer, w in enumerate(layer_weights):
                g = grads[position]
                position += 1
                product = (w * g)[0].detach().double() if g is not None else torch.zeros(w.shape[1:], dtype=torch.float64)
                per_key[segment] += product.sum((0, 1)).numpy()                      # [key]
                row = blocks.setdefault(first_row + layer, np.zeros(w.shape[1]))
                blocks[first_row + layer] = row + product.sum((1, 2)).numpy()         # [head]
        scores["attention_gradient"] = np.concatenate(per_key).astype(np.float32)
        maps["attention_gradient"] = _head_grid([blocks[r][None] for r in sorted(blocks)])
    return scores, maps


def _integrated_gradients(setup: _Setup, steps: int, progress: Callable[[float, str], None] | None
                          ) -> tuple[np.ndarray, float, float, float, str]:
    """Integrated gradients with the trapezoid rule over steps + 1 points, batched: (scores, f(x), f(baseline), gap, baseline)."""
    inputs = [_embeddings(setup, i) for i in range(len(setup.segment_ids))]
    baselines, words = zip(*[_baseline(setup, i) for i in range(len(setup.segment_ids))])
    alphas = torch.linspace(0, 1, steps + 1, dtype=setup.dtype)
    rule = torch.ones(steps + 1, dtype=torch.float64) / steps
    rule[0] = rule[-1] = 0.5 / steps                                         # trapezoid weights, summing to 1
    mean_grad = [torch.zeros(x.shape[1:], dtype=torch.float64) for x in inputs]
    values = torch.zeros(steps + 1, dtype=torch.float64)
    for start in range(0, steps + 1, _IG_CHUNK):
        chunk = alphas[start:start + _IG_CHUNK]
        with torch.enable_grad():
            paths = [(b + chunk[:, None, None] * (x - b)).requires_grad_(True) for x, b in zip(inputs, baselines)]
            out = setup.value(_run(setup, paths)[0])                       # [chunk]
            grads = torch.autograd.grad(out.sum(), paths)                   # each point's gradient (points are independent)
        values[start:start + len(chunk)] = out.detach().double()
        weights = rule[start:start + len(chunk)]
        for total, g in zip(mean_grad, grads):
            total += torch.einsum("s,std->td", weights, g.detach().double())
        if progress is not None:
            progress(min(1.0, (start + len(chunk)) / (steps + 1)), f"Integrated gradients: {start + len(chunk)} of {steps + 1} points")
    scores = np.concatenate([((x - b)[0].double() * g).sum(-1).numpy() for x, b, g in zip(inputs, baselines, mean_grad)])
    f_x, f_base = float(values[-1]), float(values[0])
    change = f_x - f_base
    gap = abs(scores.sum() - change) / abs(change) if change != 0 else float("nan")
    return scores.astype(np.float32), f_x, f_base, float(gap), words[0]


# --- heads removed or mean-ablated ----------------------------------------------------------------------------------

def _ablation_hook(mode: str) -> Callable:
    """A forward hook (with kwargs) on one self- or cross-attention over a batch of `head` copies: copy b has head b's
    output set to 0 ("remove", what a gate of 0 does) or to its mean over tokens ("mean"), the change written through
    W_O."""
    def hook(module: nn.Module, args: tuple, kwargs: dict, output: tuple) -> tuple:
        x, weights = args[0], output[1]                                      # [batch, token, d_model], [batch, head, q, k]
        context = kwargs.get("context")
        n_heads = module.n_heads
        heads = weights @ split_heads(module.value(x if context is None else context), n_heads)   # [batch, head, query, d_head]
        own = heads[torch.arange(n_heads), torch.arange(n_heads)]           # [head, query, d_head]: copy b's head b
        wanted = torch.zeros_like(own) if mode == "remove" else own.mean(1, keepdim=True).expand_as(own)
        change = module.head_writes(wanted - own)                           # [head, query, d_model]: each through its W_O slice
        return output[0] + change, weights
    return hook


def head_effects(setup: _Setup, mode: str = "remove") -> np.ndarray:
    """Target − target with each head removed (mode "remove") or mean-ablated ("mean"): float64 [layer, head] (rows as
    head_layer_names). Each layer's heads run as one batch from the traced stream entering that layer, through the
    layers above (an encoder–decoder's encoder layers then through its decoder)."""
    if setup.mode == TRANSFORMERS:
        return _hf_head_effects(setup, mode)
    if setup.mode == ENCODER_DECODER:
        return _encoder_decoder_head_effects(setup, mode)
    network = setup.network
    n_layers, n_heads = len(network.layers), network.config.n_heads
    full = setup.value(setup.outputs())[0]
    out = np.zeros((n_layers, n_heads))
    mask = causal_mask(setup.runs[0].n_tokens) if network.config.causal else None   # run_layers takes the mask the model adds
    for layer in range(n_layers):
        handle = network.layers[layer].self_attention.register_forward_hook(_ablation_hook(mode), with_kwargs=True)
        try:
            hiddens = []
            for run in setup.runs:
                stream = torch.from_numpy(run.residual[layer].copy()).to(setup.dtype)[None].expand(n_heads, -1, -1)
                hidden = run_layers(network.layers[layer:], stream, mask).hidden
                hiddens.append(hidden if network.final_norm is None else network.final_norm(hidden))
        finally:
            handle.remove()
        out[layer] = (full - setup.value(hiddens)).double().numpy()
    return out


def _finish(stack: ScratchTransformer, hidden: torch.Tensor) -> torch.Tensor:
    return hidden if stack.final_norm is None else stack.final_norm(hidden)


def _encoder_decoder_head_effects(setup: _Setup, mode: str) -> np.ndarray:
    """head_effects for an encoder–decoder: rows encoder layers, decoder self-attention layers, decoder cross-attention
    layers (head_layer_names); NaN where a stack has fewer heads than the widest."""
    network = setup.network
    decoder = network.decoder
    encoder_run, decoder_run = setup.stacks["encoder"], setup.stacks["decoder"]
    full = setup.value(setup.outputs())[0]
    memory = setup.outputs()[0]                                             # [1, source, d_model] the encoder's output
    n_target = len(setup.segment_ids[1])
    target_mask = causal_mask(n_target)
    blocks = []
    n_heads = network.config.n_heads
    rows = np.zeros((len(network.layers), n_heads))
    for layer in range(len(network.layers)):
        handle = network.layers[layer].self_attention.register_forward_hook(_ablation_hook(mode), with_kwargs=True)
        try:
            stream = torch.from_numpy(encoder_run.residual[layer].copy()).to(setup.dtype)[None].expand(n_heads, -1, -1)
            encoded = _finish(network, run_layers(network.layers[layer:], stream).hidden)
        finally:
            handle.remove()
        decoded = decoder.run(setup.ids(1).expand(n_heads, -1), memory=encoded).hidden
        rows[layer] = (full - setup.value([encoded, decoded])).double().numpy()
    blocks.append(rows)
    n_heads = decoder.config.n_heads
    for side in ("self_attention", "cross_attention"):
        rows = np.zeros((len(decoder.layers), n_heads))
        for layer in range(len(decoder.layers)):
            module = getattr(decoder.layers[layer], side)
            handle = module.register_forward_hook(_ablation_hook(mode), with_kwargs=True)
            try:
                stream = torch.from_numpy(decoder_run.residual[layer].copy()).to(setup.dtype)[None].expand(n_heads, -1, -1)
                hidden = run_layers(decoder.layers[layer:], stream, target_mask, memory.expand(n_heads, -1, -1)).hidden
            finally:
                handle.remove()
            rows[layer] = (full - setup.value([memory, _finish(decoder, hidden)])).double().numpy()
        blocks.append(rows)
    return _head_grid(blocks).astype(np.float64)


_OUTPUT_PROJECTIONS = (".self_attn.o_proj", ".attn.c_proj", ".attention.output.dense", ".self_attn.out_proj",
                       ".attention.dense", ".attn.out_proj", ".self_attention.dense")


def _hf_output_projections(network: nn.Module) -> list[nn.Module]:
    """Each layer's attention output projection in a transformers model (its input is the heads concatenated), in
    layer order; [] when this architecture's names are not known here."""
    found = [module for name, module in network.named_modules() if name.endswith(_OUTPUT_PROJECTIONS)]
    layers = getattr(network.config, "num_hidden_layers", None)
    return found if layers and len(found) == layers else []


def _hf_head_effects(setup: _Setup, mode: str) -> np.ndarray:
    """head_effects through transformers: a pre-hook on one layer's output projection sets head b's slice of its input
    (the heads concatenated, [batch, token, heads × d_head]) to 0 or to its mean over tokens in batch copy b."""
    projections = _hf_output_projections(setup.network)
    n_heads = setup.network.config.num_attention_heads
    full = setup.value(setup.outputs())[0]
    out = np.full((len(projections), n_heads), np.nan)

    def hook(module: nn.Module, args: tuple) -> tuple:
        heads = args[0].unflatten(-1, (n_heads, -1)).clone()                 # [batch, token, head, d_head]
        index = torch.arange(n_heads)
        own = heads[index, :, index]                                        # [head, token, d_head]: copy b's head b
        heads[index, :, index] = torch.zeros_like(own) if mode == "remove" else own.mean(1, keepdim=True).expand_as(own)
        return (heads.flatten(-2), *args[1:])

    for layer, projection in enumerate(projections):
        handle = projection.register_forward_pre_hook(hook)
        try:
            hiddens = [_hf_run(setup, setup.ids(i).expand(n_heads, -1), None, False).last_hidden_state
                       for i in range(len(setup.segment_ids))]
        finally:
            handle.remove()
        out[layer] = (full - setup.value(hiddens)).double().numpy()
    return out


# --- faithfulness: deletion and insertion ---------------------------------------------------------------------------

def _replacement(setup: _Setup) -> tuple[int, str]:
    """What deleted tokens become: [MASK], else the padding, unknown or end token."""
    tokenizer = setup.prepared[0].backend.tokenizer
    for name in ("mask", "pad", "unk", "eos"):
        found = getattr(tokenizer, f"{name}_token_id", None)
        if found is not None:
            return int(found), f"the {getattr(tokenizer, f'{name}_token')} token"
    return 0, "token id 0"


def _evaluate(setup: _Setup, masks: list[np.ndarray], replace_id: int) -> np.ndarray:
    """The target with the tokens of each boolean mask (over all segments' tokens) replaced: [mask]. Distinct variants
    run once, batched (each segment on its own; an encoder–decoder's source and decoder prefix together)."""
    bounds = np.cumsum([0] + [len(ids) for ids in setup.segment_ids])
    if setup.mode == ENCODER_DECODER:
        distinct, where = np.unique(np.asarray(masks), axis=0, return_inverse=True)
        values = []
        for start in range(0, len(distinct), _EVAL_BATCH):
            chunk = distinct[start:start + _EVAL_BATCH]
            ids = []
            for index in range(2):
                variant = np.tile(np.asarray(setup.segment_ids[index]), (len(chunk), 1))
                variant[chunk[:, bounds[index]:bounds[index + 1]]] = replace_id
                ids.append(torch.from_numpy(variant))
            memory = setup.network.run(ids[0]).hidden
            values.append(setup.readout(setup.network.decoder.run(ids[1], memory=memory).hidden))
        return torch.cat(values)[torch.from_numpy(where.reshape(-1))].double().numpy()
    reads = []
    for index, segment in enumerate(setup.segment_ids):
        pieces = [m[bounds[index]:bounds[index + 1]] for m in masks]
        distinct, where = np.unique(np.asarray(pieces), axis=0, return_inverse=True)
        ids = np.tile(np.asarray(segment), (len(distinct), 1))
        ids[distinct] = replace_id
        outputs = []
        for start in range(0, len(ids), _EVAL_BATCH):
            batch = torch.from_numpy(ids[start:start + _EVAL_BATCH])
            hidden = (_hf_run(setup, batch, None, False).last_hidden_state if setup.mode == TRANSFORMERS
                      else setup.network.run(batch).hidden)
            outputs.append(setup.readout(hidden))
        reads.append(torch.cat(outputs)[torch.from_numpy(where.reshape(-1))])
    return setup.combine(reads).double().numpy()


def _curve_points(n: int) -> np.ndarray:
    return np.unique(np.linspace(1, n, min(n, MAX_CURVE_POINTS)).round().astype(int)) if n else np.zeros(0, int)


def faithfulness(setup: _Setup, orders: dict[str, list[np.ndarray]], full: float, replace_id: int
                 ) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, np.ndarray]]]:
    """AOPC comprehensiveness and sufficiency (DeYoung et al., 2020) of each ranking of the removable tokens, averaged
    over its orders (several for "random"): the mean over k of f(x) − f(x without its top k) and of f(x) − f(only its
    top k kept), k = 1 … n (at most MAX_CURVE_POINTS values)."""
    special = np.concatenate(setup.special)
    n = int((~special).sum())
    points = _curve_points(n)
    masks, slots = [], []
    for name, group in orders.items():
        for order in group:
            for k in points:
                deleted = np.zeros(len(special), dtype=bool)
                deleted[order[:k]] = True
                kept = ~special & ~deleted
                masks += [deleted, kept]
    values = _evaluate(setup, masks, replace_id).reshape(-1, len(points), 2) if len(points) else np.zeros((0, 0, 2))
    result, curves, row = {}, {}, 0
    for name, group in orders.items():
        block = values[row:row + len(group)]
        row += len(group)
        deletion, insertion = block[..., 0].mean(0), block[..., 1].mean(0)
        result[name] = {"comprehensiveness": float((full - deletion).mean()) if n else float("nan"),
                        "sufficiency": float((full - insertion).mean()) if n else float("nan")}
        curves[name] = {"k": points.astype(np.float32), "deletion": deletion.astype(np.float32),
                        "insertion": insertion.astype(np.float32)}
    return result, curves


def ranking(scores: np.ndarray, special: np.ndarray) -> np.ndarray:
    """Removable (non-special) token positions, highest score first (ties by position)."""
    candidates = np.flatnonzero(~special)
    return candidates[np.argsort(-scores[candidates], kind="stable")]


def agreement(scores: dict[str, np.ndarray]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Rank agreement between every pair of methods: (names, Spearman [m, m], Kendall τ [m, m]); nan where a method
    gives every token the same score."""
    from scipy.stats import kendalltau, spearmanr

    names = list(scores)
    spearman = np.eye(len(names))
    kendall = np.eye(len(names))
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            x, y = np.asarray(scores[names[a]], float), np.asarray(scores[names[b]], float)
            if np.ptp(x) == 0 or np.ptp(y) == 0:
                rho = tau = float("nan")
            else:
                rho, tau = float(spearmanr(x, y).statistic), float(kendalltau(x, y).statistic)
            spearman[a, b] = spearman[b, a] = rho
            kendall[a, b] = kendall[b, a] = tau
    return names, spearman, kendall


# --- the one call ---------------------------------------------------------------------------------------------------

_CACHE = memory_cache("explanations", lambda found: found.nbytes, "ATTENTION_LENS_EXPLAIN_CACHE_MB", 64)


def _check_methods(methods: Any) -> list[str]:
    if methods is None:
        return list(METHODS)
    if isinstance(methods, str):
        methods = [methods]
    chosen = list(dict.fromkeys(methods))
    unknown = [m for m in chosen if m not in METHODS]
    if unknown or not chosen:
        raise ValueError(f"Unknown method(s) {[str(m)[:30] for m in unknown]}; pick from {', '.join(METHODS)}.")
    return chosen


def explain(text: str, model: str = "minilm", target: str = "similarity", text_b: str | None = None,
            token: Any = None, methods: list[str] | None = None, steps: int = 32, seed: int = 0,
            progress: Callable[[float, str], None] | None = None, max_tokens: int | None = None) -> Explanation:
    """Every method's contribution of each input token to one target, head importance, IG completeness and the
    faithfulness of each ranking: scores {method: [token]}, head_importance [layer, head]. `max_tokens` reads each
    text up to that many tokens (with a notice), as attend() does. Encoder–decoders (translate-mini, scratch:<BART>):
    target "next_token", `text` the source, `text_b` the output so far; tokens are the source's then the decoder's and
    the head maps' rows are named by `head_layers`. ValueError for people."""
    chosen = _check_methods(methods)
    steps = _check_int(steps, "steps")
    if not 2 <= steps <= 512:
        raise ValueError(f"steps must be between 2 and 512; got {steps}.")
    seed = _check_int(seed, "seed")
    if not isinstance(model, str):
        raise ValueError("The model must be named by a string, e.g. 'minilm'.")
    if not isinstance(text, str) or (text_b is not None and not isinstance(text_b, str)):
        raise ValueError("The input must be text.")
    key = (text, model.strip(), target, text_b, repr(token), tuple(chosen), steps, seed, max_tokens)
    found = _CACHE.get(key)
    if found is not None:
        return found
    setup, notices, label = _setup(text, model, target, text_b, token, max_tokens)
    unavailable = []
    if setup.mode == TRANSFORMERS:
        unavailable = [m for m in chosen if m in _ENGINE_ONLY]
        chosen = [m for m in chosen if m not in _ENGINE_ONLY]
        notices = notices + [f"'{model.strip()[:80]}' runs through transformers (the project's engine cannot hold its "
                             "weights): " + (f"{' and '.join(unavailable)} need the engine's value vectors and output "
                                              "projection per head, so they are not available here; " if unavailable else "")
                             + "attention, rollout, gradients and head removal are computed through transformers."]
        if not chosen:
            raise ValueError(f"{', '.join(unavailable)} need the project's engine, which cannot hold "
                             f"'{model.strip()[:80]}': pick attention, rollout, grad_input, integrated_gradients or "
                             "attention_gradient.")
        if not _hf_output_projections(setup.network):
            notices.append("Head removal is not available for this architecture (its attention output projections "
                           "are not known here): the head maps are empty.")
    elif setup.mode == ENCODER_DECODER:
        notices = notices + ["Encoder–decoder: scores cover the source tokens, then the decoder's (its start token and "
                             "the output so far); the head maps' rows are the encoder's layers, then the decoder's "
                             "self-attention layers, then its cross-attention layers."]
    replace_id, replacement = _replacement(setup)
    with COMPUTE_LOCK, torch.no_grad():
        if progress is not None:
            progress(0.0, "Reading the trace: attention, rollout, value norms, ALTI")
        scores, head_scores = _attention_scores(setup, [m for m in chosen if m in METHODS[:4]])
        if progress is not None:
            progress(0.05, "Gradients")
        if {"grad_input", "attention_gradient"} & set(chosen):
            found, maps = _gradient_scores(setup, chosen)
            scores.update(found)
            head_scores.update(maps)
            if "attention_gradient" in chosen and "attention_gradient" not in found:
                chosen.remove("attention_gradient")
                unavailable.append("attention_gradient")
                notices = notices + ["attention_gradient is not available: the attention weights this model returns are "
                                     "not the ones its values are multiplied by (no gradient reaches them)."]
        if not chosen:
            raise ValueError("None of the methods asked for is available for this model.")
        gap, f_base, baseline = float("nan"), float("nan"), ""
        if "integrated_gradients" in chosen:
            scores["integrated_gradients"], _, f_base, gap, baseline = _integrated_gradients(setup, steps, progress)
        full = float(setup.value(setup.outputs())[0])
        if progress is not None:
            progress(1.0, "Heads removed and mean-ablated; deletion and insertion curves")
        removed, mean_ablated = head_effects(setup, "remove"), head_effects(setup, "mean")
        special = np.concatenate(setup.special)
        orders = {name: [ranking(scores[name], special)] for name in chosen}
        candidates = np.flatnonzero(~special)
        orders["random"] = [np.random.default_rng(seed + i).permutation(candidates) for i in range(RANDOM_SEEDS)]
        faithful, curves = faithfulness(setup, orders, full, replace_id)
    scores = {name: scores[name] for name in chosen}                        # the order asked for
    result = Explanation(
        tokens=setup.tokens, target_value=full, scores=scores, head_importance=removed.astype(np.float32),
        completeness_gap=gap, faithfulness=faithful, notices=notices, head_mean_ablation=mean_ablated.astype(np.float32),
        head_scores=head_scores, curves=curves,
        segments=np.concatenate([np.full(len(ids), i) for i, ids in enumerate(setup.segment_ids)]), special=special,
        model=setup.model, target=target, target_label=label, baseline=baseline,
        replacement=f"{replacement} (special tokens are never removed)", f_baseline=f_base,
        head_layers=head_layer_names(setup), unavailable=unavailable)
    _CACHE.put(key, result)
    return result


class HeadView(NamedTuple):
    """One head of one run, for the page: where it looks and what it moves."""

    query_tokens: list[str]
    key_tokens: list[str]
    weights: np.ndarray            # [query, key]
    norms: np.ndarray | None       # ‖α·f(x)‖ [query, key]; None where the engine's value vectors are not available
    title: str                     # e.g. "L1 H2", "decoder cross 0 · H3"


def head_views(text: str, model: str, layer: int, head: int, max_tokens: int | None = None,
               text_b: str | None = None) -> HeadView:
    """One head: its attention weights [query, key] and value-weighted norms ‖α·f(x)‖ [query, key]. `layer` is a row of
    the head maps (head_layer_names: for an encoder–decoder, encoder rows, then decoder self, then decoder cross;
    `text_b` is then the output so far)."""
    layer, head = _check_int(layer, "layer"), _check_int(head, "head")
    limit = {} if max_tokens is None else {"max_tokens": max_tokens}
    if not isinstance(model, str) or not model.strip():
        raise ValueError("Pick a model: minilm, scratch, scratch:minilm, or a Hugging Face id / local folder.")
    name = model.strip()
    if _transformers_only(name):
        from attention.run.api import attend

        result = attend(text, name, **limit)
        if not (0 <= layer < result.n_layers and 0 <= head < result.n_heads):
            raise ValueError(f"{name[:80]} has layers 0–{result.n_layers - 1} and heads 0–{result.n_heads - 1}.")
        return HeadView(result.tokens, result.tokens, result.weights[layer, head], None, f"L{layer} H{head}")
    engine, _ = engine_model(name)
    if load_model(engine).family != "encoder-decoder":
        run = trace(text, engine, **limit)
        run.check_layer(layer, head)
        return HeadView(run.tokens, run.tokens, run.weights[layer, head], value_norms(run, layer)[head], f"L{layer} H{head}")
    setup, _, _ = _setup(text, engine, "next_token", text_b, None, max_tokens)
    rows = head_layer_names(setup)
    if not 0 <= layer < len(rows):
        raise ValueError(f"{engine[:80]} has head-map rows 0–{len(rows) - 1} ({rows[0]} … {rows[-1]}); row {layer} does not exist.")
    n_encoder, n_decoder = len(setup.network.layers), len(setup.network.decoder.layers)
    side = "encoder" if layer < n_encoder else "decoder" if layer < n_encoder + n_decoder else "cross"
    stack = setup.stacks[side]
    index = layer - {"encoder": 0, "decoder": n_encoder, "cross": n_encoder + n_decoder}[side]
    if not 0 <= head < stack.n_heads:
        raise ValueError(f"{rows[layer]} has heads 0–{stack.n_heads - 1}; head {head} does not exist.")
    tokenizer = setup.prepared[0].backend.tokenizer
    source, target = (tokenizer.convert_ids_to_tokens(ids) for ids in setup.segment_ids)
    queries, keys = {"encoder": (source, source), "decoder": (target, target), "cross": (target, source)}[side]
    return HeadView(queries, keys, stack.weights[index, head], value_norms(stack, index)[head], f"{rows[layer]} · H{head}")


def target_tokens(text: str, model: str, max_tokens: int | None = None) -> list[str]:
    """The tokens of `text` as the model reads them (for picking the token target)."""
    limit = {} if max_tokens is None else {"max_tokens": max_tokens}
    if _transformers_only(model):
        return prepare(text, model.strip(), **limit).tokens
    engine, _ = engine_model(model)
    return trace(text, engine, **limit).tokens


def targets_for(model: str) -> tuple[str, ...]:
    """The targets a model takes: an encoder–decoder only next_token (its next output token's logit), others all."""
    if _transformers_only(model):
        return TARGETS
    engine, _ = engine_model(model)
    return ("next_token",) if load_model(engine).family == "encoder-decoder" else TARGETS
