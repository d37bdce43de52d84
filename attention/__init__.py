"""Attention Lens core: compute per-head attention from scratch or from a real transformer.

    from attention import attend
    result = attend("The cat sat on the mat.", "minilm")
    result.tokens, result.weights.shape   # [layer, head, query, key]

Never imports streamlit: usable from notebooks, tests and benchmarks.
"""
import os

# Torch's OpenMP threads spin while they wait for work. When other processes want the same cores (a browser
# beside the server, a second session, a training run) that spinning made a 128-token MiniLM forward take
# ~1 s instead of ~40 ms here; passive waiting keeps it near 40 ms. Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import limits  # noqa: E402
from .api import attend, clean_text  # noqa: E402
from .models import BUNDLED, SCRATCH, load_model  # noqa: E402
from .result import Attention  # noqa: E402

MODELS = (BUNDLED, SCRATCH, f"{SCRATCH}:{BUNDLED}")

__all__ = ["attend", "Attention", "load_model", "clean_text", "MODELS"]
