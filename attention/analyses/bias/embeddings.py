"""SEAT: bias in the sentence encoder's output (May et al., 2019), WEAT's effect size (Caliskan et al., 2017) on
sentences built from names and attribute words."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from attention.analyses.bias.significance import PERMUTATIONS


# The project's own word lists and templates (nothing downloaded). Targets are first names; attributes are nouns.
SEAT_NAMES = (
    ("James", "Robert", "Michael", "David", "Thomas", "Daniel", "Peter", "Mark"),       # male
    ("Mary", "Sarah", "Emily", "Laura", "Anna", "Rachel", "Helen", "Lisa"),             # female
)
SEAT_ATTRIBUTES = {
    "career-family": (("office", "salary", "manager", "business", "job", "promotion", "company", "profession"),
                      ("home", "children", "parents", "family", "wedding", "marriage", "relatives", "household")),
    "math-arts": (("algebra", "geometry", "calculus", "equation", "numbers", "statistics", "arithmetic", "addition"),
                  ("poetry", "painting", "music", "dance", "novels", "sculpture", "theatre", "drawing")),
}
SEAT_LABELS = {"career-family": ("career", "family"), "math-arts": ("math", "arts")}
# "Semantically bleached" templates (May et al., 2019): they add words but no meaning, so that what differs between
# sentences is the slot.
NAME_TEMPLATES = ("This is {}.", "{} is here.", "That is {}.", "{} is a person.", "Here is {}.")
WORD_TEMPLATES = ("This is about {}.", "It is {}.", "That is {}.", "They talked about {}.", "Here is {}.")


def _cosines(rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    rows = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    columns = columns / np.linalg.norm(columns, axis=1, keepdims=True)
    return rows @ columns.T


def weat(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray, permutations: int = PERMUTATIONS,
         seed: int = 0) -> dict[str, float]:
    """WEAT (Caliskan et al., 2017) on vectors x [n, d], y [n, d] (targets), a, b [m, d] (attributes), cosine:
    s(w) = mean cos(w, a) − mean cos(w, b); effect size = (mean s(x) − mean s(y)) / std of s over x ∪ y (sample std);
    p = one-sided share of equal-size re-splits of x ∪ y whose Σ s(x) − Σ s(y) is at least the observed one (every
    split when there are at most `permutations`, else that many random ones, seeded, the observed one counted)."""
    if len(x) != len(y) or len(x) < 2 or len(a) < 1 or len(b) < 1:
        raise ValueError("WEAT needs two target sets of the same size (at least 2 each) and two attribute sets.")
    words = np.concatenate([x, y])
    s = _cosines(words, a).mean(axis=1) - _cosines(words, b).mean(axis=1)        # [2n]
    n = len(x)
    observed = s[:n].sum() - s[n:].sum()
    spread = s.std(ddof=1)
    if spread < 1e-12:                                 # every word associates alike: no effect, nothing to test
        return {"effect_size": 0.0, "p_value": 1.0, "statistic": float(observed), "s_x": float(s[:n].mean()),
                "s_y": float(s[n:].mean())}
    effect = (s[:n].mean() - s[n:].mean()) / spread
    total = s.sum()
    from math import comb
    if comb(2 * n, n) <= permutations:
        from itertools import combinations
        splits = [sum(s[list(c)]) for c in combinations(range(2 * n), n)]
        statistics = 2 * np.array(splits) - total                               # Σ s(x_i) − Σ s(y_i) for each split
        p = float((statistics >= observed - 1e-12).mean())
    else:
        rng = np.random.default_rng(seed)
        firsts = np.array([s[rng.permutation(2 * n)[:n]].sum() for _ in range(permutations)])
        p = float(((2 * firsts - total >= observed - 1e-12).sum() + 1) / (permutations + 1))
    return {"effect_size": float(effect), "p_value": p, "statistic": float(observed),
            "s_x": float(s[:n].mean()), "s_y": float(s[n:].mean())}


def minilm_embeddings(sentences: list[str], model: str = "minilm") -> np.ndarray:
    """Mean-pooled last-layer vectors (padding excluded), as sentence-transformers pools all-MiniLM-L6-v2: [sentence, d]."""
    import torch

    from attention.engine.backends import COMPUTE_LOCK
    from attention.run.models import load_model

    backend = load_model(model)
    if backend.kind != "transformers" or backend.family != "encoder":
        raise ValueError(f"SEAT reads a sentence encoder's vectors; '{model[:80]}' is not one run by transformers (try minilm).")
    encoded = backend.tokenizer(sentences, padding=True, return_tensors="pt")
    with COMPUTE_LOCK, torch.inference_mode():
        hidden = backend.network(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"]).last_hidden_state
    keep = encoded["attention_mask"][..., None].float()                          # [sentence, token, 1]
    return ((hidden * keep).sum(dim=1) / keep.sum(dim=1)).numpy()


def seat_sentences(test: str = "career-family") -> dict[str, list[str]]:
    """The four sets of sentences of a SEAT test: x (male names), y (female names), a and b (the attribute pair)."""
    if test not in SEAT_ATTRIBUTES:
        raise ValueError(f"Unknown SEAT test '{str(test)[:40]}': pick one of {', '.join(SEAT_ATTRIBUTES)}.")
    male, female = SEAT_NAMES
    first, second = SEAT_ATTRIBUTES[test]
    fill = lambda words, templates: [t.format(w) for w in words for t in templates]   # noqa: E731
    return {"x": fill(male, NAME_TEMPLATES), "y": fill(female, NAME_TEMPLATES),
            "a": fill(first, WORD_TEMPLATES), "b": fill(second, WORD_TEMPLATES)}


def seat(model: str = "minilm", test: str = "career-family", embed: Callable[[list[str]], np.ndarray] | None = None,
         permutations: int = PERMUTATIONS, seed: int = 0) -> dict[str, Any]:
    """SEAT (May et al., 2019): WEAT's effect size and permutation p-value on sentence vectors (mean-pooled, cosine) for
    male vs female names (in NAME_TEMPLATES) × an attribute pair (`test`: "career-family" or "math-arts").

    A positive effect size: male-name sentences are relatively more associated with the first attribute (career, math)
    than female-name ones are (the effect is differential: neither set need lie nearer it).
    The permutation re-splits the name sentences, which treats the sentences of one name as independent (as SEAT does)."""
    sets = seat_sentences(test)
    embed = embed or (lambda sentences: minilm_embeddings(sentences, model))
    vectors = {name: np.asarray(embed(sentences), dtype=np.float64) for name, sentences in sets.items()}
    found = weat(vectors["x"], vectors["y"], vectors["a"], vectors["b"], permutations, seed)
    first, second = SEAT_LABELS[test]
    return {**found, "model": model, "test": test, "targets": ("male names", "female names"), "attributes": (first, second),
            "sentences": {name: len(sentences) for name, sentences in sets.items()}, "permutations": permutations,
            "meaning": (f"Effect size {found['effect_size']:+.2f} (Cohen's d-like, −2…2): "
                        + (f"male-name sentences are relatively more associated with '{first}' (and female-name ones "
                           f"with '{second}') than the other way round"
                           if found["effect_size"] > 0 else
                           f"female-name sentences are relatively more associated with '{first}' (and male-name ones "
                           f"with '{second}') than the other way round")
                        + " (a differential effect: neither set need be nearer either attribute)"
                        + f"; p = {found['p_value']:.4f} (one-sided permutation test).")}


def seat_all(model: str, embed: Callable[[list[str]], np.ndarray] | None = None) -> dict[str, dict[str, Any] | str]:
    """SEAT for every attribute pair in SEAT_LABELS: per test its result, or the message of the ValueError that stopped
    it (e.g. a model transformers does not run), so one failing test does not hide the others."""
    found: dict[str, dict[str, Any] | str] = {}
    for test in SEAT_LABELS:
        try:
            found[test] = seat(model, test, embed=embed)
        except ValueError as error:
            found[test] = str(error)
    return found
