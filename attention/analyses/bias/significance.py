"""The tests: a sign-flip permutation test over sentence pairs, and Benjamini–Hochberg's correction over heads."""
from __future__ import annotations

from itertools import product

import numpy as np


ALPHA = 0.05           # false discovery rate for the excess shifts (Benjamini–Hochberg over every head)
PERMUTATIONS = 10_000  # random sign flips when there are too many pairs to try every one


def sign_flip_p(differences: np.ndarray, permutations: int = PERMUTATIONS, seed: int = 0) -> np.ndarray:
    """Two-sided sign-flip permutation test of mean 0, per cell: differences [unit, ...] -> p-values [...].

    Under the null hypothesis each unit's difference is as likely to have the other sign, so the observed mean is
    compared with the means under sign flips: every flip when there are at most `permutations` of them (exact),
    else `permutations` random ones, seeded, counting the observed one (p ≥ 1 / (permutations + 1))."""
    units = differences.shape[0]
    flat = differences.reshape(units, -1).astype(np.float64)
    observed = np.abs(flat.mean(axis=0))
    if 2 ** units <= permutations:
        signs = np.array(list(product((1.0, -1.0), repeat=units)))                    # every flip, the observed one included
        extra = 0
    else:
        signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(permutations, units))
        extra = 1
    at_least = (np.abs(signs @ flat / units) >= observed - 1e-12).sum(axis=0)          # ties count against the effect
    return ((at_least + extra) / (len(signs) + extra)).reshape(differences.shape[1:])


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (same shape): a cell is a discovery at false discovery rate q when ≤ q."""
    flat = p_values.ravel()
    order = np.argsort(flat)
    ranked = flat[order] * flat.size / np.arange(1, flat.size + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1.0)
    out = np.empty_like(flat, dtype=np.float64)
    out[order] = adjusted
    return out.reshape(p_values.shape)
