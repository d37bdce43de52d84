"""Generation, one token at a time, with the attention of every step; and per-head scores (previous token, induction,
attention sink) measured on a random token sequence repeated twice.

    prompt ──► tokens ──► pass over the prompt (keys and values kept: the cache) ──► next-token scores ──► pick one
           ──► pass over the new token only, reading the cache ──► its attention row ──► pick the next … (repeat)

With a key/value cache each step projects only the newest token; its query meets every cached key. Row i of the
weights is what token i attended to when it was the newest, which is the same as one causal pass over the whole
text (tested). Runs on the project's engine ('gpt-mini', 'scratch:random-gpt-mini', 'scratch:<GPT-2 folder>') and on
any transformers decoder (GPT-2, Llama, Qwen2, Mistral and others with a causal-LM head), through its own cache.
"""
from __future__ import annotations

import inspect
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from attention.engine.backends import COMPUTE_LOCK, Backend, _family, _from_pretrained, _quiet_transformers
from attention.run.models import load_model, model_source
from attention.run import limits
from attention.run.api import clean_text
from attention.run.result import LayersAndHeads

TOP_CANDIDATES = 10
MAX_STEPS = 256
SCORE_KINDS = ("previous", "induction", "sink")


@dataclass(frozen=True)
class Generation(LayersAndHeads):
    """A prompt and what the model wrote after it, with the attention of every step.

    tokens/ids: prompt + generated; generated_from: index of the first generated token; weights [layer, head, query,
    key] float32, causal (row i: what token i attended to when it was the newest); candidates: per generated token,
    the model's top-10 next tokens as (token, probability) at temperature 1 (what it believed, before temperature and
    top-k reshaped the draw); chosen: the model's probability of each generated token; kv_groups: query heads that
    share one key/value head (grouped-query attention), per layer the same."""

    model: str
    prompt: str
    tokens: list[str]
    ids: list[int]
    generated_from: int
    weights: np.ndarray
    candidates: list[list[tuple[str, float]]]
    chosen: list[float]
    text: str
    settings: dict[str, Any]
    kv_groups: list[list[int]]
    notices: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)   # the generated text after each step, as the tokenizer decodes it

    @property
    def n_generated(self) -> int:
        return len(self.ids) - self.generated_from

    def row(self, layer: int, head: int, query: int) -> np.ndarray:
        """What token `query` attended to when it was the newest: [key] (keys after it are 0)."""
        return self.weights[layer, head, query]

    def shown_step(self, asked: int | None) -> tuple[int, str | None]:
        """The step a view shows for `asked` (1..n_generated; None: the last), with a notice when there is no such step."""
        if asked is None or 1 <= asked <= self.n_generated:
            return (self.n_generated if asked is None else asked), None
        return self.n_generated, (f"The link asked for step {asked}; this run wrote {self.n_generated} tokens, so step "
                                  f"{self.n_generated} is shown.")

    def newest(self, step: int) -> int:
        """The position of the newest token once `step` tokens are written: the one run through the layers to write the next."""
        return self.generated_from - 1 + step

    def steps_table(self, step: int) -> dict[str, list]:
        """The first `step` generated tokens as table columns: step, token, its probability, the next three candidates."""
        return {"step": list(range(1, step + 1)),
                "token": self.tokens[self.generated_from:self.generated_from + step],
                "probability": [round(p, 4) for p in self.chosen[:step]],
                "runners-up": [", ".join(f"{t} {p:.0%}" for t, p in c[1:4]) for c in self.candidates[:step]]}

    def latest(self, layer: int, step: int | None = None) -> np.ndarray:
        """Every head's row for the token that was newest after `step` generated tokens (default: all): [head, key]."""
        query = self.generated_from - 1 + (self.n_generated if step is None else step)
        return self.weights[layer, :, query]


# --- the model behind a name ------------------------------------------------------------------------------------

_LMS: OrderedDict[str, tuple[Any, torch.nn.Module, int]] = OrderedDict()
_LM_LOCK = threading.Lock()


class _Runner:
    """One decoder behind one interface: start(ids) and step(id) -> (next-token scores [vocab], weights [layer, head,
    new, key]); full(ids) recomputes the whole prefix (no cache)."""

    def __init__(self, model: str):
        name = model.strip() if isinstance(model, str) else ""
        if not name:
            raise ValueError("Pick a decoder: gpt-mini, scratch:<GPT-2 folder>, or a transformers decoder id / folder.")
        self.name = name
        self.backend: Backend | None = None
        if name in ("gpt-mini", "scratch:random-gpt-mini", "induction-mini") or name.startswith("scratch:"):
            self.backend = load_model(name)
            if self.backend.family != "decoder":
                raise ValueError(f"'{name[:80]}' is {'an' if self.backend.family[0] == 'e' else 'a'} {self.backend.family}: "
                                 "only a decoder (GPT-style, causal) writes text one token at a time.")
            self.tokenizer, self.limit = self.backend.tokenizer, self.backend.max_tokens
            self.kind, self.groups = "scratch", [[h] for h in range(self.backend.network.config.n_heads)]
        else:
            self.tokenizer, self.network, self.limit = _causal_lm(name)
            config = self.network.config
            n_heads = config.num_attention_heads
            n_kv = getattr(config, "num_key_value_heads", None) or n_heads
            self.kind, self.groups = "transformers", kv_groups(n_heads, n_kv)
        self.past: Any = None

    def _scratch(self, ids: list[int], past: Any) -> tuple[torch.Tensor, torch.Tensor, Any]:
        network = self.backend.network
        passed = network.run(torch.tensor([ids]), record=True, past=past)
        scores = network.next_token_logits(passed.hidden[:, -1:])[0, -1]                 # [vocab]
        return scores, torch.cat(passed.weights), passed.cache()                         # weights [layer, head, new, key]

    def _transformers(self, ids: list[int], past: Any, use_cache: bool) -> tuple[torch.Tensor, torch.Tensor, Any]:
        # transformers 5 calls the key/value cache `cache`; earlier versions `past_key_values`
        name = "cache" if "cache" in inspect.signature(self.network.forward).parameters else "past_key_values"
        out = self.network(input_ids=torch.tensor([ids]), use_cache=use_cache, output_attentions=True, **{name: past})
        kept = getattr(out, "cache", None) if name == "cache" else out.past_key_values
        return out.logits[0, -1], torch.cat(out.attentions), kept if use_cache else None

    def start(self, ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """The pass over the prompt; keeps its keys and values."""
        run = self._scratch(ids, None) if self.kind == "scratch" else self._transformers(ids, None, True)
        scores, weights, self.past = run
        return scores, weights

    def step(self, token: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One new token through every layer, reading the cache: its scores [vocab] and weights [layer, head, 1, key]."""
        run = self._scratch([token], self.past) if self.kind == "scratch" else self._transformers([token], self.past, True)
        scores, weights, self.past = run
        return scores, weights

    def full(self, ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole prefix again, no cache: scores for the next token [vocab], weights [layer, head, query, key]."""
        if self.kind == "scratch":
            scores, weights, _ = self._scratch(ids, None)
        else:
            scores, weights, _ = self._transformers(ids, None, False)
        return scores, weights


def _causal_lm(name: str) -> tuple[Any, torch.nn.Module, int]:
    """A transformers decoder with its language-model head (eager attention, float32), loaded once per process."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from attention.engine.backends import _limit

    limits.current().check_model(name)
    with _LM_LOCK:
        if name in _LMS:
            _LMS.move_to_end(name)
            return _LMS[name]
        _quiet_transformers()
        source = model_source(name)
        config = _from_pretrained(AutoConfig, source, name)
        if getattr(config, "auto_map", None):
            raise ValueError(f"'{name[:80]}' needs custom code from its folder to run, which Attention Lens never executes.")
        if _family(config) != "decoder":
            raise ValueError(f"'{name[:80]}' is not a decoder: only a decoder (GPT-style, causal) writes text one token at a time.")
        tokenizer = _from_pretrained(AutoTokenizer, source, name)
        try:
            network = _from_pretrained(AutoModelForCausalLM, source, name, config=config, attn_implementation="eager",
                                       dtype=torch.float32).eval()
        except (TypeError, ValueError) as error:
            raise ValueError(f"'{name[:80]}' has no language-model head to write with: {str(error)[:200]}") from error
        _LMS[name] = (tokenizer, network, _limit(tokenizer, config))
        while len(_LMS) > 2:
            _LMS.popitem(last=False)
        return _LMS[name]


def kv_groups(n_heads: int, n_kv_heads: int) -> list[list[int]]:
    """Grouped-query attention: the query heads that read each key/value head (transformers' repeat_kv gives key/value
    head j to query heads j·r … j·r + r − 1, r = n_heads / n_kv_heads): [kv head][query heads]."""
    if n_kv_heads < 1 or n_heads % n_kv_heads:
        raise ValueError(f"{n_heads} query heads cannot be shared evenly by {n_kv_heads} key/value heads.")
    share = n_heads // n_kv_heads
    return [list(range(j * share, (j + 1) * share)) for j in range(n_kv_heads)]


# --- generation ---------------------------------------------------------------------------------------------------

def _check(steps: Any, seed: Any, temperature: Any, top_k: Any) -> tuple[int, int, float, int | None]:
    def whole(value: Any) -> bool:
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

    if not whole(steps) or not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be a whole number from 1 to {MAX_STEPS}.")
    if not whole(seed) or not 0 <= seed < 2**63:
        raise ValueError("seed must be a whole number of 0 or more.")
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or not math.isfinite(temperature) \
            or not 0 <= temperature <= 5:
        raise ValueError("temperature must be a number from 0 (always the likeliest token) to 5.")
    if top_k is not None and (not whole(top_k) or top_k < 1):
        raise ValueError("top_k must be a whole number of at least 1, or left out (no limit).")
    return int(steps), int(seed), float(temperature), None if top_k is None else int(top_k)


def _prompt_ids(tokenizer: Any, prompt: str, limit: int, steps: int, notices: list[str]) -> tuple[list[int], int]:
    """The prompt's ids without an end marker (a decoder continues the text), cut to leave room for `steps`."""
    ids = list(tokenizer(prompt)["input_ids"])
    ends = {tokenizer.sep_token_id, tokenizer.eos_token_id} - {None}
    if len(ids) > 1 and ids[-1] in ends:
        ids = ids[:-1]
    if len(ids) >= limit:
        notices.append(f"The prompt has {len(ids)} tokens; this model reads at most {limit}, so its first {limit - 1} were kept.")
        ids = ids[: limit - 1]
    if len(ids) + steps > limit:
        notices.append(f"This model reads at most {limit} tokens, so it wrote {limit - len(ids)} instead of {steps}.")
        steps = limit - len(ids)
    return ids, steps


def _pick(scores: torch.Tensor, temperature: float, top_k: int | None, generator: torch.Generator) -> int:
    """Greedy at temperature 0; else a draw from softmax(scores / temperature) over the top_k likeliest tokens."""
    if temperature == 0:
        return int(torch.argmax(scores))
    scaled = scores / temperature
    if top_k is not None and top_k < scaled.numel():
        threshold = torch.topk(scaled, top_k).values[-1]
        scaled = scaled.masked_fill(scaled < threshold, float("-inf"))
    return int(torch.multinomial(torch.softmax(scaled, dim=-1), 1, generator=generator))


def generate(prompt: str, model: str = "gpt-mini", steps: int = 20, seed: int = 0, temperature: float = 0.0,
             top_k: int | None = None, cache: bool = True) -> Generation:
    """Write `steps` tokens after `prompt` with `model`, one at a time, keeping every step's attention: Generation with
    weights [layer, head, query, key]. Greedy at temperature 0, else sampled (deterministic for a seed). `cache=False`
    recomputes the whole prefix at every step (same tokens and weights, slower: for checks and benchmarks)."""
    steps, seed, temperature, top_k = _check(steps, seed, temperature, top_k)
    prompt, notices = clean_text(prompt)
    runner = _Runner(model)
    ids, steps = _prompt_ids(runner.tokenizer, prompt, runner.limit, steps, notices)
    generator = torch.Generator().manual_seed(seed)
    ends = {runner.tokenizer.sep_token_id, runner.tokenizer.eos_token_id} - {None}
    rows: list[torch.Tensor] = []                     # per step: [layer, head, new, key]
    candidates, chosen = [], []
    with COMPUTE_LOCK, torch.inference_mode():
        scores, weights = runner.start(ids) if cache else runner.full(ids)
        rows.append(weights)
        prompt_length = len(ids)
        for index in range(steps):
            probabilities = torch.softmax(scores.float(), dim=-1)
            top = torch.topk(probabilities, min(TOP_CANDIDATES, probabilities.numel()))
            names = runner.tokenizer.convert_ids_to_tokens(top.indices.tolist())
            candidates.append([(str(n), float(p)) for n, p in zip(names, top.values.tolist())])
            token = _pick(scores.float(), temperature, top_k, generator)
            chosen.append(float(probabilities[token]))
            ids.append(token)
            if cache:
                scores, weights = runner.step(token)
                rows.append(weights)
            else:
                scores, weights = runner.full(ids)
                rows.append(weights[:, :, -1:])
            if token in ends:
                notices.append(f"The model ended the text after {index + 1} of {steps} tokens.")
                break
    n = len(ids)
    first = rows[0]
    matrix = np.zeros((first.shape[0], first.shape[1], n, n), dtype=np.float32)     # [layer, head, query, key]
    matrix[:, :, :prompt_length, :prompt_length] = first.float().numpy()
    for offset, row in enumerate(rows[1:]):
        query = prompt_length + offset
        matrix[:, :, query, : query + 1] = row[:, :, 0].float().numpy()
    matrix.flags.writeable = False
    tokens = [str(t) for t in runner.tokenizer.convert_ids_to_tokens(ids)]
    text = runner.tokenizer.decode(ids[prompt_length:], skip_special_tokens=True)
    settings = {"steps": steps, "seed": seed, "temperature": temperature, "top_k": top_k, "cache": cache}
    written = [runner.tokenizer.decode(ids[prompt_length:prompt_length + count], skip_special_tokens=True)
               for count in range(1, len(ids) - prompt_length + 1)]
    return Generation(runner.name, prompt, tokens, list(ids), prompt_length, matrix, candidates, chosen, text, settings,
                      runner.groups, notices, written)


# --- head scores --------------------------------------------------------------------------------------------------

def repeated_tokens(model: str, length: int = 50, sequences: int = 4, seed: int = 0) -> np.ndarray:
    """The standard probe: a start token, then `length` random tokens, then the same tokens again: int64 [sequence,
    1 + 2·length]. Tokens are drawn from the model's output vocabulary (gpt-mini) or from its non-special tokens."""
    backend = load_model(model)
    tokenizer = backend.tokenizer
    vocabulary = getattr(backend.network, "vocabulary", None)
    specials = set(tokenizer.all_special_ids)
    if vocabulary is not None:
        pool = np.array([i for i in vocabulary.tolist() if i not in specials])
    else:
        pool = np.array([i for i in range(tokenizer.vocab_size) if i not in specials])
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.cls_token_id
    start = start if start is not None else int(pool[0])
    length = min(length, (backend.max_tokens - 1) // 2)
    draws = np.random.default_rng(seed).choice(pool, size=(sequences, length))
    return np.concatenate([np.full((sequences, 1), start), draws, draws], axis=1).astype(np.int64)


def head_scores(model: str, kind: str, seed: int = 0) -> np.ndarray:
    """Per-head score on random tokens repeated twice (Olsson et al., 2022): float32 [layer, head].

    "previous": mean attention from each token to the one before it; "induction": mean attention from each token of
    the second copy to the token just after its earlier occurrence; "sink": mean attention on the first token (Xiao
    et al., 2024), over every query after it."""
    if kind not in SCORE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(SCORE_KINDS)}; got '{str(kind)[:40]}'.")
    backend = load_model(model.strip() if isinstance(model, str) else model)
    sequences = repeated_tokens(backend.name, seed=seed)
    length = (sequences.shape[1] - 1) // 2
    options = {"causal": True} if "causal" in backend.options else {}
    weights = np.stack([backend.run(list(map(int, ids)), options)["weights"] for ids in sequences])  # [seq, layer, head, q, k]
    return score_weights(weights, length, kind)


def score_weights(weights: np.ndarray, length: int, kind: str) -> np.ndarray:
    """The scores of head_scores from weights [..., layer, head, query, key] over [start, copy 1, copy 2] of `length`
    tokens each: mean over the queries (and any leading axes) -> float32 [layer, head]."""
    if kind not in SCORE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(SCORE_KINDS)}; got '{str(kind)[:40]}'.")
    if weights.shape[-1] != 2 * length + 1:
        raise ValueError(f"Weights over {weights.shape[-1]} tokens do not hold a start token and two copies of {length}.")
    if kind == "previous":
        query = np.arange(1, 2 * length + 1)
        values = weights[..., query, query - 1]
    elif kind == "induction":
        query = np.arange(length + 1, 2 * length + 1)
        values = weights[..., query, query - length + 1]
    else:
        values = weights[..., 1:, 0]
    leading = tuple(range(values.ndim - 3))
    return values.mean(axis=(*leading, -1)).astype(np.float32)


def model_kv_groups(model: str) -> list[list[int]]:
    """Which query heads share a key/value head in `model` ([kv head][query heads]; one head each without GQA)."""
    backend = load_model(model)
    config = getattr(backend.network, "config", None)
    if backend.kind == "scratch":
        return kv_groups(config.n_heads, config.n_heads)
    n_heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_head", None)
    return kv_groups(n_heads, getattr(config, "num_key_value_heads", None) or n_heads)
