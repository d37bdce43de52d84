"""The two masks of self-attention: bidirectional (BERT: every query sees every key) and causal (GPT: a query sees
itself and the keys before it), as [query, key] matrices of 1 (allowed) and 0 (hidden)."""
from __future__ import annotations

import numpy as np


def mask_kinds(n: int) -> dict[str, np.ndarray]:
    """{"bidirectional": [query, key] all ones, "causal": [query, key] lower triangle} for n tokens."""
    return {"bidirectional": np.ones((n, n)), "causal": np.tri(n)}
