"""`attend()`: text in, per-head attention out."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from attention.run import limits
from attention.run.cache import memory_cache
from attention.engine.backends import Backend
from attention.run.models import GPT_MINI_NAMES, INDUCTION_MINI, SCRATCH, load_model
from attention.engine.patterns import ATTEND_OPTIONS, Pattern, from_options
from attention.run import on_demand
from attention.run.result import Attention

CHARS_PER_TOKEN_CAP = 40  # text beyond max_tokens × this many characters cannot fit and is cut before tokenising
RESULTS = memory_cache("results", lambda result: result.nbytes, "ATTENTION_LENS_CACHE_MB", 512)
_OPTIONS = {"max_tokens", "causal", "target", *ATTEND_OPTIONS}


def clean_text(text: Any) -> tuple[str, list[str]]:
    """Check user text and drop control characters; returns (text, notices). Raises ValueError when unusable."""
    if not isinstance(text, str):
        raise ValueError("The input must be text.")
    notices = []
    categories = [unicodedata.category(ch) for ch in text]
    kept = "".join(ch for ch, kind in zip(text, categories) if ch in "\t\n\r" or kind not in ("Cc", "Cs"))
    controls = sum(kind == "Cc" for ch, kind in zip(text, categories) if ch not in "\t\n\r")
    if controls:
        notices.append(f"Removed {controls} control character(s) from the text.")
    if categories.count("Cs"):  # halves of broken characters (e.g. from a bad paste) cannot be tokenised
        notices.append(f"Removed {categories.count('Cs')} broken (unpaired surrogate) character(s) from the text.")
    if not kept.strip():
        raise ValueError("The text is empty: type a sentence to see its attention.")
    return kept, notices


def _check_options(backend: Backend, options: dict[str, Any]) -> tuple[dict[str, Any], Pattern | None]:
    """The options checked against the model, and the attention pattern they name (parsed here, once per call)."""
    unknown = set(options) - _OPTIONS
    if unknown:
        raise ValueError(f"Unknown option(s) {sorted(unknown)}; attend() takes {sorted(_OPTIONS)}.")
    if options.keys() & set(ATTEND_OPTIONS) and backend.kind != "scratch":
        raise ValueError(f"Attention patterns run on the project's own engine: pick 'scratch:{backend.name[:80]}' "
                         f"(the same weights) instead of '{backend.name[:80]}'.")
    for name in options.keys() - {"max_tokens"}:
        if name not in backend.options:
            raise ValueError(f"The model '{backend.name}' does not take the option '{name}'.")
    if "max_tokens" in options:
        value = options["max_tokens"]
        if not isinstance(value, int) or isinstance(value, bool) or value < 2:
            raise ValueError("max_tokens must be a whole number of at least 2.")
    if "causal" in options and not isinstance(options["causal"], bool):
        raise ValueError("causal must be True or False.")
    if options.get("causal") is False and backend.family == "decoder":
        raise ValueError(f"'{backend.name}' is a decoder: it was trained to see only earlier tokens, so it always runs causally.")
    if "target" in options and not isinstance(options["target"], str):
        raise ValueError("target must be text.")
    if options.keys() & set(ATTEND_OPTIONS) and "target" in options:
        raise ValueError("A pattern applies to one text's self-attention; leave out target to use it.")
    return options, from_options(options)  # checks the pattern's name and options


def _encode(backend: Backend, text: str, limit: int) -> tuple[list[int], list[int | None] | None, list[str]]:
    """Tokenise with the model's own tokenizer, truncating to `limit` tokens with a notice."""
    notices = []
    char_cap = limit * CHARS_PER_TOKEN_CAP
    if len(text) > char_cap:
        notices.append(f"The text has {len(text):,} characters; only the first {char_cap:,} were read.")
        text = text[:char_cap]
    tokenizer = backend.tokenizer
    encoding = tokenizer(text)
    if len(encoding["input_ids"]) > limit:
        full = len(encoding["input_ids"])
        encoding = tokenizer(text, truncation=True, max_length=limit)
        notices.append(f"The text has {full:,} tokens; {backend.name} reads at most {limit}, so it was truncated to the first {limit}.")
    ids = list(encoding["input_ids"])
    word_ids = encoding.word_ids() if getattr(encoding, "is_fast", False) else None
    return ids, word_ids, notices


@dataclass(frozen=True)
class Prepared:
    """Text made ready for one model exactly as attend() does it: the loaded model, token ids and checked options."""

    backend: Backend
    text: str
    ids: list[int]
    tokens: list[str]
    word_ids: list[int | None] | None
    notices: list[str]
    options: dict[str, Any]
    limit: int
    pattern: Pattern | None = None


def prepare(text: str, model: str, **options: Any) -> Prepared:
    """Clean and tokenise `text` for `model` and check the options (views that run the engine themselves use this)."""
    if not isinstance(model, str):
        raise ValueError("The model must be named by a string, e.g. 'minilm'.")
    text, notices = clean_text(text)
    backend = load_model(model.strip())
    options, pattern = _check_options(backend, dict(options))
    limit = min(backend.max_tokens, options.get("max_tokens", backend.max_tokens))
    cap = limits.current().max_tokens
    if cap is not None and cap < limit:
        limit = cap
        notices.append(f"This deployment reads at most {cap} tokens per text.")
    ids, word_ids, encode_notices = _encode(backend, text, limit)
    notices += encode_notices
    if pattern is not None:
        pattern.globals_for(len(ids))  # global positions must fall inside the tokenised text
    tokenizer = backend.tokenizer
    structural = set(tokenizer.all_special_ids) - {tokenizer.unk_token_id}  # [UNK] stands for real text
    if not encode_notices and all(i in structural for i in ids):
        notices.append("The text holds no characters this model's tokenizer keeps, so only its special tokens remain.")
    return Prepared(backend, text, ids, tokenizer.convert_ids_to_tokens(ids), word_ids, notices, options, limit, pattern)


def _result_key(text: str, model: str, options: dict[str, Any]) -> tuple:
    return (text, model, tuple(sorted((k, repr(v)) for k, v in options.items())), limits.current())  # raw text: notices differ


def is_cached(text: str, model: str = "minilm", **options: Any) -> bool:
    """True when attend(text, model, **options) would answer from the result cache, without computing."""
    return isinstance(text, str) and isinstance(model, str) and _result_key(text, model.strip(), options) in RESULTS


def with_target(prepared: Prepared) -> tuple[dict[str, Any], list[str] | None, list[str]]:
    """The run options with the decoder's token ids when the model has a decoder side, its tokens, and all notices."""
    backend, notices = prepared.backend, list(prepared.notices)
    run_options = dict(prepared.options)
    target_tokens = None
    if backend.family == "encoder-decoder" or "target" in prepared.options:
        target_ids, _, target_notices = _encode(backend, prepared.options.get("target") or prepared.text, prepared.limit)
        notices += [f"Target: {n}" for n in target_notices]
        run_options["target_ids"] = target_ids
        target_tokens = backend.tokenizer.convert_ids_to_tokens(target_ids)
    return run_options, target_tokens, notices


def build_result(prepared: Prepared, model: str, arrays: dict[str, np.ndarray], target_tokens: list[str] | None,
                 notices: list[str]) -> Attention:
    """The Attention result of one run: arrays {"weights", and "cross"/"target_weights" for a decoder side}, or
    {"record"} (a recorded run): full weights when they fit in the weights budget, weights on demand beyond."""
    if "record" in arrays:
        weights, arrays, notices, extra = on_demand.from_record(arrays["record"], prepared.backend.family, notices)
        if weights is None:   # too large to keep: rows, tiles and overviews come from the record
            return Attention(tokens=prepared.tokens, weights=None, model=model, options=prepared.options, notices=notices,
                             word_ids=prepared.word_ids, record=arrays["record"],
                             meta={**prepared.backend.meta, **extra, "max_tokens": prepared.backend.max_tokens})
        return Attention(tokens=prepared.tokens, weights=weights, model=model, options=prepared.options, notices=notices,
                         word_ids=prepared.word_ids, meta={**prepared.backend.meta, **extra,
                                                           "max_tokens": prepared.backend.max_tokens})
    weights = arrays["weights"]
    # one head tells: softmax never gives an exact 0 unless a mask forced it (checking all heads costs ~40 ms at 512)
    causal = bool(len(prepared.ids) > 1 and not np.triu(weights[0, 0], 1).any())
    return Attention(
        tokens=prepared.tokens, weights=weights, model=model, options=prepared.options, notices=notices,
        cross=arrays.get("cross"), target_tokens=target_tokens, target_weights=arrays.get("target_weights"),
        word_ids=prepared.word_ids, meta={**prepared.backend.meta, "causal": causal, "max_tokens": prepared.backend.max_tokens},
    )


def attend(text: str, model: str = "minilm", *, progress: Callable[[int, int], None] | None = None,
           device: str | None = None, **options: Any) -> Attention:
    """Attention of every layer and head of `model` over `text`: weights [layer, head, query, key].

    Options: max_tokens (cap below the model's limit), causal (scratch engines: each token sees only
    itself and earlier tokens), target (encoder–decoders and "scratch": the decoder's text; fills `cross`
    [layer, head, target, source] and `target_weights`), pattern (scratch engines: "full", "causal", "sliding",
    "dilated", "longformer", "bigbird" or "probsparse", with window, dilation, global_tokens, block,
    random_blocks, seed, u; see attention/patterns.py), text_b (encoders that read two texts, e.g. minilm: the second
    text of a pair, which begins at meta["sentence_b_start"]).
    Recorded models (transformers decoders and encoders other than minilm; docs/long-context.md) read up to their own
    context length: progress(tokens, total) is called during the run (raise from it to cancel; nothing is cached),
    device picks "cpu" or "cuda"; above the weights budget (limits.weights_mb) the result keeps queries and keys and
    answers row/tile/overview/summary/grouped, and reading .weights raises an error naming them.
    Raises ValueError with a message for the user on empty text, unknown models or bad options.
    """
    if not isinstance(model, str):
        raise ValueError("The model must be named by a string, e.g. 'minilm'.")
    model = model.strip()
    key = _result_key(text, model, options)
    cached = RESULTS.get(key) if isinstance(text, str) else None
    if cached is not None:
        return cached
    if "text_b" in options:   # a sentence pair through an encoder that reads two texts (attention/run/view.py)
        from attention.run.view import attend_pair

        result = attend_pair(text, model, **options)
        RESULTS.put(key, result)
        return result
    prepared = prepare(text, model, **options)
    run_options, target_tokens, notices = with_target(prepared)
    run_options.update(on_demand.run_options(prepared.backend, progress, device))
    result = build_result(prepared, model, prepared.backend.run(prepared.ids, run_options, prepared.pattern), target_tokens, notices)
    RESULTS.put(key, result)
    return result


def prepare_scratch_name(model: str) -> str:
    """The name, when it names the project's own engine ('scratch' or 'scratch:<weights>'); ValueError otherwise."""
    name = model.strip() if isinstance(model, str) else ""
    if name in (*GPT_MINI_NAMES, INDUCTION_MINI):   # trained here on the engine: every step can be opened up too
        return name
    if name != SCRATCH and not name.startswith(SCRATCH + ":"):
        raise ValueError(
            f"This view opens up the project's own engine, so it needs 'scratch' or 'scratch:<weights>' "
            f"(e.g. scratch:minilm holds MiniLM's weights), not '{name[:80]}'."
        )
    return name


def prepare_scratch(text: str, model: str, **options: Any) -> Prepared:
    """prepare() for views that open up the project's own engine (step by step, heads, positions)."""
    return prepare(text, prepare_scratch_name(model), **options)
