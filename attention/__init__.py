"""Attention Lens core: compute per-head attention from scratch or from a real transformer.

    from attention import attend
    result = attend("The cat sat on the mat.", "minilm")
    result.tokens, result.weights.shape   # [layer, head, query, key]

Never imports streamlit: usable from notebooks, tests and benchmarks.
"""
from . import limits
from .api import attend, clean_text
from .models import BUNDLED, SCRATCH, load_model
from .result import Attention

MODELS = (BUNDLED, SCRATCH, f"{SCRATCH}:{BUNDLED}")

__all__ = ["attend", "Attention", "load_model", "clean_text", "MODELS"]
