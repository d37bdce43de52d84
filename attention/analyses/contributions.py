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
                  matrix as the output layer (tied, as GPT-2 does); the predicted token unless `token` names one
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from attention.analyses.stats import rollout
from attention.engine.backends import COMPUTE_LOCK, load_model
from attention.engine.layers import run_layers
from attention.engine.maths import causal_mask, split_heads
from attention.engine.transformer import ScratchTransformer
from attention.run.api import Prepared, prepare
from attention.run.trace import Trace, engine_model, forward, trace

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

    @property
    def methods(self) -> list[str]:
        return list(self.scores)

    def rows(self) -> list[dict]:
        """One dict per token: position, sentence, token and every method's score (for tables and CSV)."""
        return [{"position": i, "sentence": "AB"[int(self.segments[i])] if self.segments is not None else "A",
                 "token": token, **{name: float(values[i]) for name, values in self.scores.items()}}
                for i, token in enumerate(self.tokens)]

    def head_rows(self) -> list[dict]:
        """One dict per head: layer, head, removal and mean-ablation changes, per-head method scores."""
        layers, heads = self.head_importance.shape
        return [{"layer": l, "head": h, "removed": float(self.head_importance[l, h]),
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
                "faithfulness": self.faithfulness,
                "curves": {k: {n: v.tolist() for n, v in c.items()} for k, c in self.curves.items()},
                "notices": self.notices}


# --- the target ---------------------------------------------------------------------------------------------------

@dataclass
class _Setup:
    """Everything one explain() call shares: the engine, the prepared sentences, their traces and the target."""

    network: ScratchTransformer
    prepared: list[Prepared]
    runs: list[Trace]
    target: str
    positions: list[int]          # "token": [i] or [i, j]; "next_token": [last]; "similarity": all
    target_id: int | None
    special: list[np.ndarray]     # per sentence, bool [token]
    dtype: torch.dtype

    def ids(self, index: int) -> torch.Tensor:
        return torch.tensor([self.prepared[index].ids])

    def readout(self, hidden: torch.Tensor) -> torch.Tensor:
        """What the target reads from one sentence's output hidden [batch, token, d_model]: [batch, ...]."""
        if self.target == "similarity":
            return hidden.mean(1)                                            # mean pooling over every token
        if self.target == "token":
            return hidden[:, self.positions]                                 # [batch, 1 or 2, d_model]
        return hidden[:, -1] @ self.network.token_embedding.weight[self.target_id]   # tied output layer: [batch]

    def combine(self, reads: list[torch.Tensor]) -> torch.Tensor:
        """The target from each sentence's readout (batches broadcast): [batch]."""
        if self.target == "similarity":
            return torch.cosine_similarity(reads[0], reads[1], dim=-1)
        if self.target == "token":
            vectors = reads[0]
            if vectors.shape[1] == 1:
                return vectors[:, 0].norm(dim=-1)
            return torch.cosine_similarity(vectors[:, 0], vectors[:, 1], dim=-1)
        return reads[0]

    def query_rows(self, index: int) -> np.ndarray:
        """The query positions whose attention rows stand for the target in sentence `index`."""
        n = len(self.prepared[index].ids)
        return np.arange(n) if self.target == "similarity" else np.asarray(self.positions)


def _special_mask(prepared: Prepared) -> np.ndarray:
    tokenizer = prepared.backend.tokenizer
    structural = set(tokenizer.all_special_ids) - {tokenizer.unk_token_id}
    return np.array([i in structural for i in prepared.ids], dtype=bool)


def _check_int(value: Any, name: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number; got {str(value)[:40]!r}.")
    return int(value)


def _next_token_id(prepared: Prepared, token: Any, hidden: torch.Tensor, network: ScratchTransformer) -> int:
    """The vocabulary id the next_token target scores: the predicted one, or the one `token` names (id or text)."""
    vocab = network.token_embedding.weight.shape[0]
    if token is None:
        return int((hidden[0, -1] @ network.token_embedding.weight.T).argmax())
    if isinstance(token, str):
        tokenizer = prepared.backend.tokenizer
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


def _setup(text: str, model: str, target: str, text_b: str | None, token: Any,
           max_tokens: int | None = None) -> tuple[_Setup, list[str], str]:
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}; got {str(target)[:40]!r}.")
    name, notices = engine_model(model)
    if model.strip() == "minilm":
        notices = [f"Computed on the project's own engine with MiniLM's weights ({name}), whose outputs equal transformers'."]
    texts = [text]
    if target == "similarity":
        if text_b is None or (isinstance(text_b, str) and not text_b.strip()):
            raise ValueError("The similarity target compares two sentences: give a second sentence (text_b).")
        texts.append(text_b)
    elif text_b is not None and str(text_b).strip():
        notices.append(f"The {target} target reads one text, so the second sentence is not used.")
    limit = {} if max_tokens is None else {"max_tokens": max_tokens}
    prepared = [prepare(t, name, **limit) for t in texts]
    backend = prepared[0].backend
    if backend.kind != "scratch" or not isinstance(backend.network, ScratchTransformer):
        raise ValueError(f"Contributions run on the project's engine; '{name[:80]}' is not one.")
    network: ScratchTransformer = backend.network
    if backend.family == "encoder-decoder":
        raise ValueError("Contributions for encoder–decoders (a target token's logit) are not available yet; "
                         "pick an encoder (similarity, token) or a decoder (next_token).")
    runs = [trace(t, name, **limit) for t in texts]
    for p in prepared:
        notices += [n for n in p.notices if n not in notices]
    n_tokens = len(prepared[0].ids)
    positions: list[int] = []
    target_id = None
    if target == "token":
        if token is None:
            raise ValueError("The token target needs a token index: token=i (its output's norm) or token=(i, j).")
        chosen = list(token) if isinstance(token, (tuple, list)) else [token]
        if not 1 <= len(chosen) <= 2:
            raise ValueError("token is one index i, or a pair (i, j) for the similarity of two tokens' outputs.")
        for index in chosen:
            value = _check_int(index, "token")
            if not 0 <= value < n_tokens:
                raise ValueError(f"The text has tokens 0–{n_tokens - 1}; token {value} does not exist.")
            positions.append(value)
        label = (f"norm of the output vector of token {positions[0]} ‘{prepared[0].tokens[positions[0]]}’" if len(positions) == 1
                 else f"cosine similarity of the outputs of tokens {positions[0]} and {positions[1]}")
    elif target == "next_token":
        if not network.config.causal:
            raise ValueError(f"next_token needs a decoder (each token sees only earlier ones); '{name[:80]}' is an encoder: "
                             "use the similarity or token target.")
        positions = [n_tokens - 1]
        hidden = torch.from_numpy(runs[0].output.copy())[None].to(network.token_embedding.weight.dtype)
        target_id = _next_token_id(prepared[0], token, hidden, network)
        word = backend.tokenizer.convert_ids_to_tokens([target_id])[0]
        label = f"logit of ‘{word}’ (id {target_id}) after the last token, token embeddings as the output layer"
    else:
        label = "cosine similarity of the two mean-pooled sentence embeddings"
    setup = _Setup(network, prepared, runs, target, positions, target_id, [_special_mask(p) for p in prepared],
                   network.token_embedding.weight.dtype)
    return setup, notices, label


def _value(setup: _Setup, hiddens: list[torch.Tensor]) -> torch.Tensor:
    return setup.combine([setup.readout(h) for h in hiddens])


# --- attention-based methods, read from the trace -------------------------------------------------------------------

def value_norms(run: Trace, layer: int) -> np.ndarray:
    """‖α·f(x)‖ per head (Kobayashi et al., 2020): float32 [head, query, key] for one layer of a trace."""
    writes = run.value_writes(layer)                                        # [head, key, d_model] f(x_key)
    return (run.weights[layer] * np.linalg.norm(writes, axis=-1)[:, None, :]).astype(np.float32)


def layer_value_norms(run: Trace, layer: int) -> np.ndarray:
    """‖Σ_head α·f(x)‖, the whole layer's write from each key to each query: float32 [query, key]."""
    parts = np.einsum("hqk,hkd->qkd", run.weights[layer], run.value_writes(layer), optimize=True)   # [query, key, d_model]
    return np.linalg.norm(parts, axis=-1).astype(np.float32)


def _layer_norm(module: nn.Module) -> tuple[np.ndarray, float] | None:
    return (module.weight.detach().double().numpy(), float(module.eps)) if isinstance(module, nn.LayerNorm) else None


def alti_layers(run: Trace, network: ScratchTransformer) -> np.ndarray:
    """ALTI's per-layer contributions (Ferrando et al., 2022): float32 [layer, query, key], non-negative, rows summing to 1.

    Each layer's attention-block output y_query (residual and, for post-norm models, layer norm included) is split
    exactly into one part per key token, T(x_key) = Σ_head α·f(x_key) (+ x_query for the query itself), passed
    through the layer norm's linear map at this input; contribution = max(0, ‖y‖₁ − ‖y − T(x_key)‖₁), normalised per
    row. Biases (the output projection's and the norm's) belong to no token and are left out of y."""
    layers = []
    for layer in range(run.n_layers):
        parts = np.einsum("hqk,hkd->qkd", run.weights[layer], run.value_writes(layer), optimize=True).astype(np.float64)
        stream = run.residual[layer].astype(np.float64)                     # [token, d_model] what enters the layer
        index = np.arange(run.n_tokens)
        parts[index, index] += stream                                       # the residual: the query's own vector
        block = network.layers[layer]
        norm = _layer_norm(block.attention_norm)
        if not block.norm_first and norm is not None:                       # post-norm: LN(x + attention(x)), linear at this input
            gain, eps = norm
            total = stream + run.attention_output[layer].astype(np.float64)
            scale = np.sqrt(total.var(-1) + eps)                            # [query]: the norm's divisor on the real sum
            parts = gain * (parts - parts.mean(-1, keepdims=True)) / scale[:, None, None]
        whole = parts.sum(1)                                                # [query, d_model]
        distance = np.abs(whole[:, None, :] - parts).sum(-1)                # [query, key] Manhattan
        contribution = np.maximum(0.0, np.abs(whole).sum(-1)[:, None] - distance)
        totals = contribution.sum(-1, keepdims=True)
        contribution = np.where(totals > 0, contribution / np.where(totals > 0, totals, 1), np.eye(run.n_tokens))
        layers.append(contribution)
    return np.asarray(layers, dtype=np.float32)


def alti(run: Trace, network: ScratchTransformer) -> np.ndarray:
    """ALTI aggregated through the layers by matrix products: float32 [layer, query, input token], rows summing to 1."""
    per_layer = alti_layers(run, network).astype(np.float64)
    out = np.empty_like(per_layer)
    out[0] = per_layer[0]
    for layer in range(1, len(per_layer)):
        out[layer] = per_layer[layer] @ out[layer - 1]
    return out.astype(np.float32)


def _attention_scores(setup: _Setup, methods: list[str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """attention, rollout, value_norm and alti: one score per token of every sentence, and [layer, head] maps."""
    scores: dict[str, list[np.ndarray]] = {m: [] for m in methods}
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


# --- gradient methods, through the engine's forward with autograd ---------------------------------------------------

def _embeddings(setup: _Setup, index: int) -> torch.Tensor:
    return setup.network.token_embedding.weight[setup.ids(index)].detach()          # [1, token, d_model]


def _baseline(setup: _Setup, index: int) -> tuple[torch.Tensor, str]:
    """Integrated gradients' baseline: [PAD]'s embedding at every non-special position (special tokens kept), or zero
    vectors when the tokenizer has no padding token."""
    tokenizer = setup.prepared[index].backend.tokenizer
    vectors = _embeddings(setup, index).clone()
    keep = torch.from_numpy(setup.special[index])
    pad = tokenizer.pad_token_id
    if pad is not None:
        filler = setup.network.token_embedding.weight[pad].detach()
        words = f"the {tokenizer.pad_token} token's embedding"
    else:
        filler = torch.zeros(vectors.shape[-1], dtype=vectors.dtype)
        words = "zero vectors"
    vectors[0, ~keep] = filler
    return vectors, f"{words} at every position but the special tokens (kept); positions unchanged"


def _gradient_scores(setup: _Setup, methods: list[str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """grad_input and attention_gradient from one forward+backward at the input."""
    with torch.enable_grad():
        vectors = [_embeddings(setup, i).clone().requires_grad_(True) for i in range(len(setup.prepared))]
        passes = [forward(p, None, True, v)[0] for p, v in zip(setup.prepared, vectors)]
        weights = [r["self"]["weights"] for p in passes for r in p.records]
        value = _value(setup, [p.hidden for p in passes])[0]
        grads = torch.autograd.grad(value, vectors + weights)
    scores, maps = {}, {}
    if "grad_input" in methods:
        scores["grad_input"] = np.concatenate([(g * v).sum(-1)[0].detach().double().numpy()
                                               for g, v in zip(grads[:len(vectors)], vectors)]).astype(np.float32)
    if "attention_gradient" in methods:
        n_layers = len(passes[0].records)
        per_key, head_map = [], 0.0
        for index in range(len(vectors)):
            start = len(vectors) + index * n_layers
            products = torch.stack([(w * g)[0] for w, g in zip(weights[index * n_layers:(index + 1) * n_layers],
                                                              grads[start:start + n_layers])]).detach().double()  # [layer, head, q, k]
            per_key.append(products.sum((0, 1, 2)).numpy())
            head_map = head_map + products.sum((2, 3)).numpy()
        scores["attention_gradient"] = np.concatenate(per_key).astype(np.float32)
        maps["attention_gradient"] = np.asarray(head_map, dtype=np.float32)
    return scores, maps


def _integrated_gradients(setup: _Setup, steps: int, progress: Callable[[float, str], None] | None
                          ) -> tuple[np.ndarray, float, float, float, str]:
    """Integrated gradients with the trapezoid rule over steps + 1 points, batched: (scores, f(x), f(baseline), gap, baseline)."""
    inputs = [_embeddings(setup, i) for i in range(len(setup.prepared))]
    baselines, words = zip(*[_baseline(setup, i) for i in range(len(setup.prepared))])
    alphas = torch.linspace(0, 1, steps + 1, dtype=setup.dtype)
    rule = torch.ones(steps + 1, dtype=torch.float64) / steps
    rule[0] = rule[-1] = 0.5 / steps                                         # trapezoid weights, summing to 1
    mean_grad = [torch.zeros(x.shape[1:], dtype=torch.float64) for x in inputs]
    values = torch.zeros(steps + 1, dtype=torch.float64)
    for start in range(0, steps + 1, _IG_CHUNK):
        chunk = alphas[start:start + _IG_CHUNK]
        with torch.enable_grad():
            paths = [(b + chunk[:, None, None] * (x - b)).requires_grad_(True) for x, b in zip(inputs, baselines)]
            hidden = [forward(p, None, False, v)[0].hidden for p, v in zip(setup.prepared, paths)]
            out = _value(setup, hidden)                                     # [chunk]
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
    """A forward hook on one layer's self-attention over a batch of `head` copies: copy b has head b's output set to 0
    ("remove", what a gate of 0 does) or to its mean over tokens ("mean"), the change written through W_O."""
    def hook(module: nn.Module, args: tuple, output: tuple) -> tuple:
        x, weights = args[0], output[1]                                      # [batch, token, d_model], [batch, head, q, k]
        n_heads = module.n_heads
        heads = weights @ split_heads(module.value(x), n_heads)              # [batch, head, query, d_head]
        own = heads[torch.arange(n_heads), torch.arange(n_heads)]           # [head, query, d_head]: copy b's head b
        wanted = torch.zeros_like(own) if mode == "remove" else own.mean(1, keepdim=True).expand_as(own)
        change = module.head_writes(wanted - own)                           # [head, query, d_model]: each through its W_O slice
        return output[0] + change, weights
    return hook


def head_effects(setup: _Setup, mode: str = "remove") -> np.ndarray:
    """Target − target with each head removed (mode "remove") or mean-ablated ("mean"): float64 [layer, head].
    Each layer's heads run as one batch from the traced stream entering that layer, through the layers above."""
    network = setup.network
    n_layers, n_heads = len(network.layers), network.config.n_heads
    full = _value(setup, [torch.from_numpy(run.output.copy())[None].to(setup.dtype) for run in setup.runs])[0]
    out = np.zeros((n_layers, n_heads))
    mask = causal_mask(setup.runs[0].n_tokens) if network.config.causal else None   # run_layers takes the mask the model adds
    for layer in range(n_layers):
        handle = network.layers[layer].self_attention.register_forward_hook(_ablation_hook(mode))
        try:
            reads = []
            for run in setup.runs:
                stream = torch.from_numpy(run.residual[layer].copy()).to(setup.dtype)[None].expand(n_heads, -1, -1)
                hidden = run_layers(network.layers[layer:], stream, mask).hidden
                if network.final_norm is not None:
                    hidden = network.final_norm(hidden)
                reads.append(setup.readout(hidden))
        finally:
            handle.remove()
        out[layer] = (full - setup.combine(reads)).double().numpy()
    return out


# --- faithfulness: deletion and insertion ---------------------------------------------------------------------------

def _replacement(setup: _Setup) -> tuple[int, str]:
    tokenizer = setup.prepared[0].backend.tokenizer
    for name in ("mask", "pad", "unk", "eos"):
        found = getattr(tokenizer, f"{name}_token_id", None)
        if found is not None:
            return int(found), f"the {getattr(tokenizer, f'{name}_token')} token"
    return 0, "token id 0"


def _evaluate(setup: _Setup, masks: list[np.ndarray], replace_id: int) -> np.ndarray:
    """The target with the tokens of each boolean mask (over all sentences' tokens) replaced: [mask]. Each sentence's
    distinct variants run once, batched."""
    bounds = np.cumsum([0] + [len(p.ids) for p in setup.prepared])
    reads = []
    for index, p in enumerate(setup.prepared):
        pieces = [m[bounds[index]:bounds[index + 1]] for m in masks]
        distinct, where = np.unique(np.asarray(pieces), axis=0, return_inverse=True)
        ids = np.tile(np.asarray(p.ids), (len(distinct), 1))
        ids[distinct] = replace_id
        outputs = []
        for start in range(0, len(ids), _EVAL_BATCH):
            outputs.append(setup.readout(setup.network.run(torch.from_numpy(ids[start:start + _EVAL_BATCH])).hidden))
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

_CACHE: OrderedDict[tuple, Explanation] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8


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
    text up to that many tokens (with a notice), as attend() does. ValueError for people."""
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
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    setup, notices, label = _setup(text, model, target, text_b, token, max_tokens)
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
        gap, f_base, baseline = float("nan"), float("nan"), ""
        if "integrated_gradients" in chosen:
            scores["integrated_gradients"], _, f_base, gap, baseline = _integrated_gradients(setup, steps, progress)
        full = float(_value(setup, [torch.from_numpy(r.output.copy())[None].to(setup.dtype) for r in setup.runs])[0])
        if progress is not None:
            progress(1.0, "Heads removed and mean-ablated; deletion and insertion curves")
        removed, mean_ablated = head_effects(setup, "remove"), head_effects(setup, "mean")
        special = np.concatenate(setup.special)
        orders = {name: [ranking(scores[name], special)] for name in chosen}
        candidates = np.flatnonzero(~special)
        orders["random"] = [np.random.default_rng(seed + i).permutation(candidates) for i in range(RANDOM_SEEDS)]
        faithful, curves = faithfulness(setup, orders, full, replace_id)
    scores = {name: scores[name] for name in chosen}                        # the order asked for
    tokens = [t for p in setup.prepared for t in p.tokens]
    result = Explanation(
        tokens=tokens, target_value=full, scores=scores, head_importance=removed.astype(np.float32),
        completeness_gap=gap, faithfulness=faithful, notices=notices, head_mean_ablation=mean_ablated.astype(np.float32),
        head_scores=head_scores, curves=curves,
        segments=np.concatenate([np.full(len(p.ids), i) for i, p in enumerate(setup.prepared)]), special=special,
        model=setup.runs[0].model, target=target, target_label=label, baseline=baseline,
        replacement=f"{replacement} (special tokens are never removed)", f_baseline=f_base)
    with _CACHE_LOCK:
        _CACHE[key] = result
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return result


def head_views(text: str, model: str, layer: int, head: int,
               max_tokens: int | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """One head of one sentence: (tokens, attention weights [query, key], value-weighted norms ‖α·f(x)‖ [query, key])."""
    name, _ = engine_model(model)
    run = trace(text, name, **({} if max_tokens is None else {"max_tokens": max_tokens}))
    layer, head = _check_int(layer, "layer"), _check_int(head, "head")
    run.check_layer(layer, head)
    return run.tokens, run.weights[layer, head], value_norms(run, layer)[head]


def target_tokens(text: str, model: str, max_tokens: int | None = None) -> list[str]:
    """The tokens of `text` as the engine running `model` reads them (for picking the token target)."""
    name, _ = engine_model(model)
    return trace(text, name, **({} if max_tokens is None else {"max_tokens": max_tokens})).tokens
