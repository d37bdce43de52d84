"""From a page's inputs to a _Setup: the engine (one text or a pair), an encoder–decoder (source and the output so
far, read together), or a model only transformers can run (transformers_path.py)."""
from __future__ import annotations

from typing import Any


from attention.analyses.contributions.targets import (ENCODER_DECODER, ENGINE, TARGETS, _choose_next, _Setup,
                                                      _single_target, _special_mask, _target_texts)
from attention.analyses.contributions.transformers_path import _transformers_only, _transformers_setup
from attention.run.models import load_model
from attention.engine.transformer import ScratchTransformer
from attention.run.api import clean_text, prepare
from attention.run.trace import StackTrace, engine_model, trace

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
