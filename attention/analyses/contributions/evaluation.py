"""How far to trust each answer: removal curves with AOPC (DeYoung et al., 2020) against random orders with a spread,
rank agreement with single-token removal effects (leave-one-out, Kendall τ, as the ferret benchmark does), and rank
agreement between methods (Spearman, Kendall).

Removal changes the input, and a probe that is out of distribution measures itself: for all-MiniLM-L6-v2, replacing any
word but the one that differs by [MASK] lowers a minimal pair's similarity by ≥ 0.12 (even "the"), while deleting "the"
moves it by ≤ 0.011 (docs/contributions.md, tested in tests/test_text_numbers.py). So removal is
one of REMOVALS ("delete": the token taken out of the sequence; "mask": [MASK]; "pad": [PAD]), and the default is the
one that changes the target least when removing the tokens every method ranks last (removal_artefact; bench/
bench_contributions.py measures it over 50 pairs). For the similarity target each sentence is explained on its own
while the other stays whole (two directions, "A" and "B"); bins are fractions of the explained tokens, never 100%.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from attention.analyses.contributions.targets import ENCODER_DECODER, TRANSFORMERS, _Setup
from attention.analyses.contributions.transformers_path import _hf_run

REMOVALS = ("delete", "mask", "pad")
DEFAULT_REMOVAL = "delete"   # the smallest change when the tokens every method ranks last go (bench_contributions.py)
FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)   # shares of the explained tokens removed or kept; not 100%
UNSIGNED = ("attention", "rollout", "value_norm", "alti")   # scores with no sign: ranked by value, compared with |effects|
RANDOM_SEEDS = 10            # shuffles of the random order: its mean and spread
_EVAL_BATCH = 256            # variants of one sentence per forward pass


def _replacement(setup: _Setup, removal: str) -> tuple[int | None, str]:
    """The token id removed tokens become (None: deleted from the sequence) and the removal in words."""
    if removal not in REMOVALS:
        raise ValueError(f"removal must be one of {', '.join(REMOVALS)}; got {str(removal)[:30]!r}.")
    if removal == "delete":
        return None, "deleted, taken out of the sequence"
    tokenizer = setup.prepared[0].backend.tokenizer
    found = getattr(tokenizer, f"{removal}_token_id", None)
    if found is None:
        raise ValueError(f"This model's tokenizer has no {removal} token: pick removal 'delete'"
                         + (" or 'pad'." if removal == "mask" and tokenizer.pad_token_id is not None else "."))
    return int(found), f"replaced by {getattr(tokenizer, f'{removal}_token')}"


def _protected(setup: _Setup, removal: str = DEFAULT_REMOVAL) -> np.ndarray:
    """bool [token]: tokens never removed: special tokens, and when deleting, the positions a token or next-token
    target reads (deleted, the target would not exist; replaced, the target reads what the replacement makes)."""
    keep = np.concatenate(setup.special).copy()
    if removal != "delete":
        return keep
    if setup.mode == ENCODER_DECODER:
        keep[len(setup.segment_ids[0]) + setup.positions[0]] = True         # the decoder position that predicts
    elif setup.target != "similarity":
        keep[np.asarray(setup.positions, dtype=int)] = True
    return keep


def directions(setup: _Setup, removal: str = DEFAULT_REMOVAL) -> list[tuple[str, np.ndarray]]:
    """What is explained in turn, each as (name, bool [token] of its removable tokens): the similarity target's two
    sentences one at a time, the other kept whole ("A", "B"); any other target all its tokens at once ("all")."""
    removable = ~_protected(setup, removal)
    if setup.target == "similarity" and setup.mode != ENCODER_DECODER:
        n_a = len(setup.segment_ids[0])
        side = np.arange(len(removable)) < n_a
        return [("A", removable & side), ("B", removable & ~side)]
    return [("all", removable)]


def _variant(ids: np.ndarray, removed: np.ndarray, replace_id: int | None) -> np.ndarray:
    if replace_id is None:
        return ids[~removed]
    out = ids.copy()
    out[removed] = replace_id
    return out


def _forward(setup: _Setup, index: int, batch: torch.Tensor) -> torch.Tensor:
    return (_hf_run(setup, batch, None, False).last_hidden_state if setup.mode == TRANSFORMERS
            else setup.network.run(batch).hidden)


@torch.no_grad()
def _evaluate(setup: _Setup, masks: list[np.ndarray], replace_id: int | None) -> np.ndarray:
    """The target with the tokens of each boolean mask (over all segments' tokens) removed: [mask]. Distinct variants
    run once, batched by length (each segment on its own; an encoder–decoder's source and decoder prefix together)."""
    bounds = np.cumsum([0] + [len(ids) for ids in setup.segment_ids])
    masks = np.asarray(masks, dtype=bool).reshape(-1, bounds[-1])
    if setup.mode == ENCODER_DECODER:
        distinct, where = np.unique(masks, axis=0, return_inverse=True)
        variants = [[_variant(np.asarray(setup.segment_ids[i]), m[bounds[i]:bounds[i + 1]], replace_id) for i in range(2)]
                    for m in distinct]
        values = np.empty(len(distinct))
        for shape in {(len(a), len(b)) for a, b in variants}:
            chosen = [i for i, (a, b) in enumerate(variants) if (len(a), len(b)) == shape]
            for start in range(0, len(chosen), _EVAL_BATCH):
                part = chosen[start:start + _EVAL_BATCH]
                source = torch.from_numpy(np.stack([variants[i][0] for i in part]))
                prefix = torch.from_numpy(np.stack([variants[i][1] for i in part]))
                memory = setup.network.run(source).hidden
                values[part] = setup.readout(setup.network.decoder.run(prefix, memory=memory).hidden).double().numpy()
        return values[where.reshape(-1)]
    reads = []
    for index, segment in enumerate(setup.segment_ids):
        pieces = masks[:, bounds[index]:bounds[index + 1]]
        distinct, where = np.unique(pieces, axis=0, return_inverse=True)
        positions = np.asarray(setup.positions, dtype=int)
        variants = [_variant(np.asarray(segment), m, replace_id) for m in distinct]
        # a token target's positions move left by the tokens deleted before them
        shifted = [tuple(positions - np.cumsum(m)[positions] + m[positions]) if replace_id is None else tuple(positions)
                   for m in distinct]
        outputs: list[torch.Tensor | None] = [None] * len(distinct)
        for key in {(len(v), s) for v, s in zip(variants, shifted)}:
            chosen = [i for i, (v, s) in enumerate(zip(variants, shifted)) if (len(v), s) == key]
            for start in range(0, len(chosen), _EVAL_BATCH):
                part = chosen[start:start + _EVAL_BATCH]
                hidden = _forward(setup, index, torch.from_numpy(np.stack([variants[i] for i in part])))
                read = setup.readout(hidden, list(key[1]))
                for row, i in enumerate(part):
                    outputs[i] = read[row]
        reads.append(torch.stack(outputs)[torch.from_numpy(where.reshape(-1))])
    return setup.combine(reads).double().numpy()


def _points(n: int) -> np.ndarray:
    """k for each fraction of n explained tokens: at least 1, at most n − 1 (100% is never a bin), distinct."""
    if n < 2:
        return np.zeros(0, int)
    return np.unique(np.clip([math.ceil(f * n - 1e-9) for f in FRACTIONS], 1, n - 1))


def ranking(scores: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """The candidate positions (bool [token] or positions), highest score first (ties by position)."""
    candidates = np.flatnonzero(candidates) if np.asarray(candidates).dtype == bool else np.asarray(candidates)
    return candidates[np.argsort(-np.asarray(scores)[candidates], kind="stable")]


def _kendall(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import kendalltau

    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(kendalltau(x, y).statistic)


def faithfulness(setup: _Setup, scores: dict[str, np.ndarray], full: float, removal: str, seed: int = 0
                 ) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, dict[str, float]]],
                            dict[str, dict[str, dict[str, np.ndarray]]], np.ndarray]:
    """Each method's faithfulness, averaged over the directions, per direction, its curves, and the leave-one-out
    effects f(x) − f(x without token) [token] (NaN where a token is never removed).

    Per direction: AOPC comprehensiveness (mean over the bins of f(x) − f(x without the top k)) and sufficiency
    (f(x) − f(only the top k kept)), each also minus the random order's mean over RANDOM_SEEDS shuffles, with the
    shuffles' standard deviation as the spread; Kendall τ of the scores with the leave-one-out effects: |scores|
    against |effects| for signed methods (unsigned ones: their scores), and signed against signed."""
    replace_id, _ = _replacement(setup, removal)
    n_tokens = int(sum(len(ids) for ids in setup.segment_ids))
    plan, masks = [], []
    for name, candidates in directions(setup, removal):
        n = int(candidates.sum())
        points = _points(n)
        orders = {method: [ranking(values, candidates)] for method, values in scores.items()}
        rng = np.random.default_rng(seed)
        orders["random"] = [rng.permutation(np.flatnonzero(candidates)) for _ in range(RANDOM_SEEDS)]
        start = len(masks)
        for group in orders.values():
            for order in group:
                for k in points:
                    removed = np.zeros(n_tokens, bool)
                    removed[order[:k]] = True
                    masks += [removed, candidates & ~removed]
        for position in np.flatnonzero(candidates):
            single = np.zeros(n_tokens, bool)
            single[position] = True
            masks.append(single)
        plan.append((name, candidates, points, orders, start))
    values = _evaluate(setup, masks, replace_id) if masks else np.zeros(0)
    loo = np.full(n_tokens, np.nan)
    by_direction, curves = {}, {}
    for name, candidates, points, orders, start in plan:
        row, found, drawn = start, {}, {}
        random_aopc = None
        for method, group in orders.items():
            block = values[row:row + 2 * len(group) * len(points)].reshape(len(group), len(points), 2)
            row += block.size
            aopc = (full - block).mean(1) if len(points) else np.full((len(group), 2), np.nan)   # [order, 2]
            if method == "random":
                random_aopc = aopc
            found[method] = aopc
            drawn[method] = {"fraction": (points / max(int(candidates.sum()), 1)).astype(np.float32),
                             "deletion": block[..., 0].mean(0).astype(np.float32),
                             "insertion": block[..., 1].mean(0).astype(np.float32)}
        positions = np.flatnonzero(candidates)
        loo[positions] = full - values[row:row + len(positions)]
        effects = loo[positions]
        result = {}
        for method, aopc in found.items():
            entry = {"comprehensiveness": float(aopc[:, 0].mean()), "sufficiency": float(aopc[:, 1].mean()),
                     "comprehensiveness_vs_random": float(aopc[:, 0].mean() - random_aopc[:, 0].mean()),
                     "sufficiency_vs_random": float(aopc[:, 1].mean() - random_aopc[:, 1].mean()),
                     "comprehensiveness_spread": float(random_aopc[:, 0].std(ddof=1)),
                     "sufficiency_spread": float(random_aopc[:, 1].std(ddof=1)),
                     "tau_abs": float("nan"), "tau_signed": float("nan")}
            if method != "random":
                s = np.asarray(scores[method], dtype=np.float64)[positions]
                signed = method not in UNSIGNED
                entry["tau_abs"] = _kendall(np.abs(s) if signed else s, np.abs(effects))
                entry["tau_signed"] = _kendall(s, effects) if signed else float("nan")
            result[method] = entry
        by_direction[name], curves[name] = result, drawn
    combined = {}
    for method in next(iter(by_direction.values())):
        rows = [d[method] for d in by_direction.values()]
        entry = {key: float(np.nanmean([r[key] for r in rows])) if any(np.isfinite(r[key]) for r in rows) else float("nan")
                 for key in rows[0]}
        # the spread of the mean over directions: the shuffles are independent per direction
        for key in ("comprehensiveness_spread", "sufficiency_spread"):
            entry[key] = float(np.sqrt(np.nansum([r[key] ** 2 for r in rows])) / len(rows))
        combined[method] = entry
    return combined, by_direction, curves, loo


def removal_artefact(setup: _Setup, scores: dict[str, np.ndarray], full: float, removal: str) -> float:
    """How much a removal moves the target by itself: |f(x) − f(x without the token every method ranks last)|, the
    mean over the directions (a token with the lowest mean rank over the methods: by score for unsigned methods, by
    |score| for signed ones). Small is what a removal should be for tokens no method thinks matter."""
    replace_id, _ = _replacement(setup, removal)
    n_tokens = int(sum(len(ids) for ids in setup.segment_ids))
    masks = []
    for _, candidates in directions(setup, removal):
        positions = np.flatnonzero(candidates)
        if not len(positions):
            continue
        ranks = []
        for method, values in scores.items():
            v = np.asarray(values, dtype=np.float64)[positions]
            v = v if method in UNSIGNED else np.abs(v)
            ranks.append(np.argsort(np.argsort(-v, kind="stable"), kind="stable"))   # 0 = first
        single = np.zeros(n_tokens, bool)
        single[positions[int(np.argmax(np.mean(ranks, 0)))]] = True
        masks.append(single)
    if not masks:
        return float("nan")
    return float(np.mean(np.abs(full - _evaluate(setup, masks, replace_id))))


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
