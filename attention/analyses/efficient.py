"""How far a sparse pattern is from full attention, layer by layer, and the measured cost of each pattern.

`pattern_quality` compares two traces of one text, one with full attention and one with a pattern in every
layer, per layer:
  KL       Σ p·log(p / f) of each query's pattern row p against its full row f, averaged over heads and queries
           (this direction is finite: full attention gives every key a positive weight; float32 underflow is floored at 1e-12)
  error    ‖pattern output − full output‖ / ‖full output‖ of the layer's hidden states (errors compound upwards)
  overlap  of each row's k strongest keys under full attention, the share the pattern also ranks in its top k
`load_costs` reads the timing and memory table that bench/bench_patterns.py saves.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attention.engine.patterns import OPTION_NAMES, SAMPLE_FACTOR, make_pattern
from attention.run.api import prepare_scratch_name
from attention.run.trace import Trace, trace

FLOOR = 1e-12  # smallest full-attention weight KL reads
COSTS = Path(__file__).resolve().parent.parent / "data" / "bench_patterns.json"   # package data, written by bench/bench_patterns.py --save


@dataclass(frozen=True)
class Quality:
    """Per-layer distance of a pattern from full attention (each a float array [layer])."""

    kl: np.ndarray
    error: np.ndarray
    overlap: np.ndarray
    top_k: int
    n_tokens: int


def compare(full: Trace, sparse: Trace, top_k: int = 5) -> Quality:
    """KL, relative output error and top-k overlap per layer between a full and a patterned trace of one text."""
    kl, error, overlap = [], [], []
    for layer in range(full.n_layers):
        f, p = full.weights[layer].astype(np.float64), sparse.weights[layer].astype(np.float64)     # [head, query, key]
        # 0·log 0 counts as 0; a full weight that underflowed to 0 (scores ~100 apart) counts as FLOOR, so KL stays finite
        with np.errstate(divide="ignore", invalid="ignore"):
            kl.append(float(np.where(p > 0, p * (np.log(p) - np.log(np.maximum(f, FLOOR))), 0.0).sum(-1).mean()))
        full_x, sparse_x = full.residual[layer + 1], sparse.residual[layer + 1]
        error.append(float(np.linalg.norm(sparse_x - full_x) / max(float(np.linalg.norm(full_x)), 1e-12)))
        k = min(top_k, f.shape[-1])
        top_full = np.argsort(-f, axis=-1, kind="stable")[..., :k]                              # [head, query, k]
        top_sparse = np.argsort(-p, axis=-1, kind="stable")[..., :k]
        overlap.append(float((top_full[..., :, None] == top_sparse[..., None, :]).any(-1).mean()))
    return Quality(np.array(kl), np.array(error), np.array(overlap), min(top_k, full.n_tokens), full.n_tokens)


def pattern_quality(text: str, model: str, max_tokens: int | None = None, top_k: int = 5, **options) -> Quality:
    """How far `pattern=…` (attend() options) is from full attention on this text, per layer of a scratch engine:
    two traces of the text, one with full attention and one with the pattern in every layer."""
    name = prepare_scratch_name(model)
    cap = {"max_tokens": max_tokens} if max_tokens else {}
    full_options = {**cap, **({"causal": True} if options.get("causal") else {})}
    patterned = trace(text, name, **cap, **options)
    return compare(trace(text, name, **full_options), patterned, top_k)


def growth_exponent(lengths: list[int], values: list[float]) -> float:
    """The slope of log(value) against log(length): 1 for linear growth, 2 for quadratic."""
    return float(np.polyfit(np.log(lengths), np.log(values), 1)[0])


def load_costs(path: Path = COSTS) -> dict | None:
    """The saved bench table {"rows": [{pattern, length, ms, mb}], "meta": {...}}, or None when the bench has not been run."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None


def active_queries(weights: np.ndarray) -> np.ndarray:
    """ProbSparse's chosen queries in one head's weights [query, key]: rows that are not spread evenly over their keys."""
    shown = np.where(weights > 0, weights, np.nan)
    return (np.nanmax(shown, axis=-1) - np.nanmin(shown, axis=-1)) > 1e-7


def allowed_pairs(run: Trace, layer: int, head: int) -> np.ndarray:
    """Who may look at whom under the run's pattern, [query, key]: 2 allowed, 0 not. ProbSparse allows every pair but
    lets only its active queries attend, so there the chosen queries' rows are 2 and the rest 1 (they take the mean value)."""
    n, name = run.n_tokens, run.options.get("pattern", "full")
    if name == "probsparse":
        return np.broadcast_to(np.where(active_queries(run.weights[layer, head]), 2, 1)[:, None], (n, n))
    chosen = {option: run.options[option] for option in OPTION_NAMES if option in run.options}
    return make_pattern(name, causal=bool(run.meta.get("causal")), **chosen).mask(n).numpy() * 2


def kept_share(run: Trace, layer: int, head: int) -> float:
    """The share of the n × n query–key pairs this head actually weighs (weight above 0)."""
    return float((run.weights[layer, head] > 0).mean())


def probsparse_counts(n: int, u: int | None = None) -> dict[str, int]:
    """What ProbSparse computes for n tokens (Zhou et al., 2021): u attending queries, keys sampled per query for the
    max − mean measure, and the query–key dot products each part takes, against full attention's n² pairs.

    The other n − u queries are handed the mean of the values: their weights are uniform (1/n), not 0, so a share of
    "pairs with a weight" is always 100%; `attended` and `measured` are the pairs actually scored."""
    pattern = make_pattern("probsparse", **({} if u is None else {"u": u}))
    active = pattern.active_queries(n)
    sample = min(n, math.ceil(SAMPLE_FACTOR * math.log(max(n, 2))))
    return {"n": n, "u": active, "sample": sample, "attended": active * n,
            "measured": n * n if sample >= n else n * sample, "full": n * n}


def informer_u(n: int) -> int:
    """Informer's default number of attending queries for n tokens, ⌈5·ln n⌉, at most n (Zhou et al., 2021)."""
    return min(math.ceil(5 * math.log(max(n, 2))), n)


def global_positions(text: str) -> tuple[list[int], str | None]:
    """Global token positions typed as "0, -1" (commas or semicolons; -1 is the last): (positions, None), or ([0], a
    message for people) when a part is not a whole number."""
    try:
        return [int(part) for part in str(text).replace(";", ",").split(",") if part.strip()], None
    except ValueError:
        return [0], "Global tokens must be whole numbers separated by commas, e.g. 0, -1; using 0."


def at_longest(costs: dict) -> tuple[int, dict[str, dict]]:
    """From load_costs(): the longest length measured and, per pattern, its row (ms, mb, …) at that length."""
    longest = max(row["length"] for row in costs["rows"])
    return longest, {row["pattern"]: row for row in costs["rows"] if row["length"] == longest}
