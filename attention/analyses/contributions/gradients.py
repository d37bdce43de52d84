"""grad_input, integrated_gradients and attention_gradient: through the engine's forward with autograd (or
transformers' for models the engine cannot hold)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from attention.analyses.contributions.heads import _head_grid
from attention.analyses.contributions.targets import ENCODER_DECODER, TRANSFORMERS, _Setup
from attention.analyses.contributions.transformers_path import _hf_run
from attention.run.trace import forward

_IG_CHUNK = 9              # interpolation points per batched forward+backward (progress is reported between chunks)


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


def _integrated_gradients(setup: _Setup, steps: int, progress: Callable[[float, str], None] | None,
                          explained: int | None = None) -> tuple[np.ndarray, float, float, float, str]:
    """Integrated gradients with the trapezoid rule over steps + 1 points, batched: (scores [token], f(x), f(baseline),
    gap, baseline). `explained` blanks only that segment in the baseline (the other stays whole, so its scores are 0);
    None blanks every segment."""
    inputs = [_embeddings(setup, i) for i in range(len(setup.segment_ids))]
    blanked = [_baseline(setup, i) for i in range(len(setup.segment_ids))]
    baselines = [b if explained is None or i == explained else x for i, (x, (b, _)) in enumerate(zip(inputs, blanked))]
    words = [w for _, w in blanked]
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
