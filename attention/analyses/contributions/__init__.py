"""Contributions: from where heads look to what they do to the output.

One target (a number the model's output gives), many answers to "which input tokens and which heads made it what
it is", each read from the project's own engine (the trace for the attention-based methods, its autograd-ready
forward for the gradient ones), and a faithfulness test of every answer on the same input:

    text (, text_b) ──► trace (weights, value writes, residual) ──► attention · rollout · value_norm · alti
                    ──► forward with gradients on ──► grad_input · integrated_gradients · attention_gradient
                    ──► heads removed / mean-ablated, batched ──► head_importance [layer, head]
                    ──► tokens removed / kept by each ranking, one sentence at a time ──► AOPC − random (± spread),
                        Kendall τ with single-token removal effects; known-answer checks (known_answers.py)

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

Read in this order (explain() below is the whole method in one page):
    targets.py            the target every method explains, and the _Setup one call shares
    setups.py             the page's inputs to a _Setup: engine, encoder–decoder (transformers_path.py: the rest)
    trace_methods.py      attention, rollout, value_norm, alti, read from the trace
    gradients.py          grad_input, integrated_gradients, attention_gradient, through a forward with autograd
    heads.py              each head removed or mean-ablated: [layer, head] maps
    evaluation.py         removal (delete, [MASK], [PAD]) and its criterion, AOPC against random orders with their
                          spread, leave-one-out τ; agreement between methods
    known_answers.py      cases whose deciding token is known: translate-mini, minimal pairs, induction-mini
    explanation.py        the Explanation explain() returns
    views.py              what the page reads besides: one head's view, a text's tokens, a model's targets
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

# Every name of the former single module stays importable from here (pages, bench and tests use some private ones).
from attention.analyses.contributions.evaluation import (DEFAULT_REMOVAL, FRACTIONS, RANDOM_SEEDS, REMOVALS, UNSIGNED,
                                                         _EVAL_BATCH, _evaluate, _replacement, agreement, directions,
                                                         faithfulness, ranking, removal_artefact)
from attention.analyses.contributions.explanation import Explanation
from attention.analyses.contributions.known_answers import (MINIMAL_PAIRS, Case, induction_cases, minimal_pair_cases, scores_only,
                                                            minimal_pairs, ranks_first, saved_figures, shares,
                                                            translate_mini_cases)
from attention.analyses.contributions.gradients import (_IG_CHUNK, _baseline, _embeddings, _gradient_scores,
                                                        _integrated_gradients, _run)
from attention.analyses.contributions.heads import (_ablation_hook, _encoder_decoder_head_effects, _finish, _head_grid,
                                                    head_effects, head_layer_names)
from attention.analyses.contributions.setups import _decoder_prefix, _encoder_decoder_setup, _prefix_side, _setup
from attention.analyses.contributions.targets import (ENCODER_DECODER, ENGINE, TARGETS, TRANSFORMERS, _check_int,
                                                      _choose_next, _named_token, _output_layer, _Setup, _single_target,
                                                      _special_mask, _target_texts, _value)
from attention.analyses.contributions.trace_methods import (_alti_rows, _attention_scores, _cross_block,
                                                            _encoder_decoder_attention_scores, _layer_norm, alti,
                                                            alti_encoder_decoder, alti_layers, layer_value_norms,
                                                            rollout_encoder_decoder, value_norms)
from attention.analyses.contributions.transformers_path import (_ENGINE_ONLY, _OUTPUT_PROJECTIONS, _hf_head_effects,
                                                                _hf_output_projections, _hf_run, _transformers_only,
                                                                _transformers_setup)
from attention.analyses.contributions.views import HeadView, head_views, target_tokens, targets_for
from attention.engine.backends import COMPUTE_LOCK
from attention.run.cache import memory_cache

METHODS = ("attention", "rollout", "value_norm", "alti", "grad_input", "integrated_gradients", "attention_gradient")

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
            "layers. As the authors' code defines it, the layer output y the parts are measured against includes the "
            "biases (the output projection's, through the layer norm, and the norm's β), which belong to no token; "
            "alti(..., biases=False) is a bias-free variant that leaves them out of y. Feed-forward layers are left "
            "out; it measures how much a token shapes the output vectors, not the direction the target reads.",
    "grad_input": "Gradient × input on the token embeddings (summed over dimensions): a first-order, local estimate of "
                  "each token's effect. Signed; it can miss saturated effects.",
    "integrated_gradients": "Integrated gradients (Sundararajan et al., 2017) from a baseline to the input along a "
                            "straight line; the scores sum to f(input) − f(baseline) (completeness, gap shown). The "
                            "answer depends on the baseline chosen.",
    "attention_gradient": "Attention × gradient of the target with respect to every attention weight, summed over layers, "
                          "heads and queries per key token: the one-point form of Hao et al.'s (2021) attention "
                          "attribution, which integrates the gradient while the weights grow from 0.",
}


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


def _ig_by_direction(setup, steps: int, progress) -> tuple[float, list[float], np.ndarray, str]:
    """Integrated gradients per direction: for the similarity target each sentence's scores come from a baseline that
    blanks only that sentence (the other whole); otherwise one baseline blanks every segment. (gap, f(baseline) per
    direction, scores [token], baseline in words); the gap is the largest over the directions."""
    if setup.target != "similarity" or setup.mode == ENCODER_DECODER:
        found, _, f_base, gap, words = _integrated_gradients(setup, steps, progress)
        return gap, [f_base], found, words
    bounds = np.cumsum([0] + [len(ids) for ids in setup.segment_ids])
    scores, bases, gaps = np.zeros(bounds[-1], np.float32), [], []
    for index in range(len(setup.segment_ids)):
        found, _, f_base, gap, words = _integrated_gradients(setup, steps, progress, explained=index)
        scores[bounds[index]:bounds[index + 1]] = found[bounds[index]:bounds[index + 1]]
        bases.append(f_base)
        gaps.append(gap)
    return float(max(gaps)), bases, scores, words.replace("every position", "every position of the explained sentence "
                                                          "(the other sentence whole)")


def explain(text: str, model: str = "minilm", target: str = "similarity", text_b: str | None = None,
            token: Any = None, methods: list[str] | None = None, steps: int = 32, seed: int = 0,
            progress: Callable[[float, str], None] | None = None, max_tokens: int | None = None,
            removal: str = DEFAULT_REMOVAL) -> Explanation:
    """Every method's contribution of each input token to one target, head importance, IG completeness and the
    faithfulness of each ranking: scores {method: [token]}, head_importance [layer, head]. `max_tokens` reads each
    text up to that many tokens (with a notice), as attend() does. Encoder–decoders (translate-mini, scratch:<BART>):
    target "next_token", `text` the source, `text_b` the output so far; tokens are the source's then the decoder's and
    the head maps' rows are named by `head_layers`. `removal` is how the faithfulness test takes tokens away
    (REMOVALS: "delete", "mask", "pad"); the similarity target's sentences are explained one at a time, the other
    whole (integrated gradients' baseline blanks only the explained one). ValueError for people."""
    chosen = _check_methods(methods)
    steps = _check_int(steps, "steps")
    if not 2 <= steps <= 512:
        raise ValueError(f"steps must be between 2 and 512; got {steps}.")
    seed = _check_int(seed, "seed")
    if not isinstance(model, str):
        raise ValueError("The model must be named by a string, e.g. 'minilm'.")
    if not isinstance(text, str) or (text_b is not None and not isinstance(text_b, str)):
        raise ValueError("The input must be text.")
    if removal not in REMOVALS:
        raise ValueError(f"removal must be one of {', '.join(REMOVALS)}; got {str(removal)[:30]!r}.")
    key = (text, model.strip(), target, text_b, repr(token), tuple(chosen), steps, seed, max_tokens, removal)
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
    _, replacement = _replacement(setup, removal)
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
        gap, f_bases, baseline = float("nan"), [], ""
        if "integrated_gradients" in chosen:
            gap, f_bases, scores["integrated_gradients"], baseline = _ig_by_direction(setup, steps, progress)
        full = float(setup.value(setup.outputs())[0])
        if progress is not None:
            progress(1.0, "Heads removed and mean-ablated; removal curves and single-token effects")
        removed, mean_ablated = head_effects(setup, "remove"), head_effects(setup, "mean")
        special = np.concatenate(setup.special)
        faithful, by_direction, curves, loo = faithfulness(setup, {n: scores[n] for n in chosen}, full, removal, seed)
    scores = {name: scores[name] for name in chosen}                        # the order asked for
    result = Explanation(
        tokens=setup.tokens, target_value=full, scores=scores, head_importance=removed.astype(np.float32),
        completeness_gap=gap, faithfulness=faithful, notices=notices, head_mean_ablation=mean_ablated.astype(np.float32),
        head_scores=head_scores, curves=curves, faithfulness_by_direction=by_direction, removal=removal,
        leave_one_out=loo.astype(np.float32), f_baselines=f_bases,
        segments=np.concatenate([np.full(len(ids), i) for i, ids in enumerate(setup.segment_ids)]), special=special,
        model=setup.model, target=target, target_label=label, baseline=baseline,
        replacement=f"{replacement}; special tokens are never removed", f_baseline=f_bases[0] if f_bases else float("nan"),
        head_layers=head_layer_names(setup), unavailable=unavailable)
    _CACHE.put(key, result)
    return result
