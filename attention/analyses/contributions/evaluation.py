"""How far to trust each answer: deletion and insertion curves with AOPC (DeYoung et al., 2020) against random
orders, and rank agreement between methods (Spearman, Kendall)."""
from __future__ import annotations

import numpy as np
import torch

from attention.analyses.contributions.targets import ENCODER_DECODER, TRANSFORMERS, _Setup
from attention.analyses.contributions.transformers_path import _hf_run

MAX_CURVE_POINTS = 6       # deletion/insertion curves are measured at up to this many k, evenly spaced over 1 … n
_EVAL_BATCH = 256          # masked variants of one sentence per forward pass (one pass for a sentence of the page's size)


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
    masks = []
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
