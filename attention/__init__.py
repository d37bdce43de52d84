"""Attention Lens core: compute per-head attention from scratch or from a real transformer.

    from attention import attend, trace
    result = attend("The cat sat on the mat.", "minilm")
    result.tokens, result.weights.shape   # [layer, head, query, key]
    run = trace("The cat sat on the mat.")  # every intermediate of one pass of the project's engine

    text ──► run (attend / trace) ──► engine ──► Trace / Attention ──► analyses
    attention/engine    maths, layers, weight loaders, sparse patterns, backends
    attention/run       attend(), trace(), the result type, caches, limits, exports of results
    attention/analyses  statistics, words and links, compare, bias, corpus, the Learn pages' computations
    attention/domains   models trained here (vision, time series, gpt-mini, translate-mini), kept on disk

Never imports streamlit or plotly: usable from notebooks, tests, benchmarks and the command line.
Naming: `model` is always a model's *name* (a string such as "minilm"); the torch module that runs it is its
`network`; `Attention` is the result type; a layer's attention module is its `self_attention` (or `cross_attention`).
"""
import os

# Torch's OpenMP threads spin while they wait for work. When other processes want the same cores (a browser
# beside the server, a second session, a training run) that spinning made a 128-token MiniLM forward take
# ~1 s instead of ~40 ms here; passive waiting keeps it near 40 ms. Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from attention.run.models import BUNDLED, SCRATCH, load_model  # noqa: E402
from attention.run import limits  # noqa: E402
from attention.run.api import attend, clean_text  # noqa: E402
from attention.run.result import Attention  # noqa: E402
from attention.run.view import view  # noqa: E402
from attention.run.trace import StackTrace, Trace, trace  # noqa: E402
from attention.analyses.contributions import Explanation, explain  # noqa: E402
from attention.analyses.generation import Generation, generate, head_scores  # noqa: E402
from attention.analyses.patching import Patching, patch  # noqa: E402
from attention.analyses.lens import LogitLens, logit_lens  # noqa: E402
from attention.domains.gpt_mini.cache import evaluate_lm  # noqa: E402

MODELS = (BUNDLED, SCRATCH, f"{SCRATCH}:{BUNDLED}")

__all__ = ["attend", "view", "trace", "Attention", "Trace", "StackTrace", "load_model", "clean_text", "limits", "MODELS",
           "generate", "Generation", "head_scores", "evaluate_lm", "explain", "Explanation", "patch", "Patching", "logit_lens", "LogitLens"]
