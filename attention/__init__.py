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

from importlib import import_module  # noqa: E402
from typing import Any  # noqa: E402

from attention import domains as _domains  # noqa: E402,F401  (registers the trained demos' names; no torch)
from attention.run.names import BUNDLED, SCRATCH  # noqa: E402

# The public names load on first use (as transformers' own top level does): `import attention` and the command line's
# argument and model-name checks cost no torch import; `from attention import attend` imports what attend needs.
_PUBLIC = {
    "load_model": "attention.run.models", "limits": "attention.run.limits", "attend": "attention.run.api",
    "clean_text": "attention.run.api", "Attention": "attention.run.result", "view": "attention.run.view",
    "StackTrace": "attention.run.trace", "Trace": "attention.run.trace", "trace": "attention.run.trace",
    "Explanation": "attention.analyses.contributions", "explain": "attention.analyses.contributions",
    "Generation": "attention.analyses.generation", "generate": "attention.analyses.generation",
    "head_scores": "attention.analyses.generation", "Patching": "attention.analyses.patching",
    "patch": "attention.analyses.patching", "LogitLens": "attention.analyses.lens", "logit_lens": "attention.analyses.lens",
    "evaluate_lm": "attention.domains.gpt_mini.cache",
}

MODELS = (BUNDLED, SCRATCH, f"{SCRATCH}:{BUNDLED}")

__all__ = ["attend", "view", "trace", "Attention", "Trace", "StackTrace", "load_model", "clean_text", "limits", "MODELS",
           "generate", "Generation", "head_scores", "evaluate_lm", "explain", "Explanation", "patch", "Patching", "logit_lens", "LogitLens"]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'attention' has no attribute {name!r}")
    module = import_module(_PUBLIC[name])
    value = module if name == "limits" else getattr(module, name)   # `limits` is a module, the rest its members
    globals()[name] = value   # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
