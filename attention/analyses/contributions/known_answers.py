"""Known-answer checks: cases where the token that decides the target is known by construction, and each method's
share of cases where that token ranks first (signed methods by |score|, unsigned ones by score).

    translate-mini   the day's last digit of the ISO date (the rest of the date written): the source's day words
    minimal pairs    MiniLM similarity of two sentences that differ in one word: that word, in each sentence explained
                     with the other whole
    induction-mini   the copy the induction model makes: the token after the earlier copy of the last token
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable, NamedTuple

import numpy as np

from attention.analyses.contributions.evaluation import UNSIGNED
from attention.analyses.contributions.explanation import Explanation


SAVED = Path(__file__).resolve().parent.parent.parent / "data" / "bench_contributions.json"   # package data, written
                                                                                         # by bench_contributions.py --save


def saved_figures() -> dict:
    """The measured figures the page shows beside one input's: {"pairs", "removal", "removal_artefact" {removal: median},
    "methods" {method: {"comprehensiveness_vs_random": [mean, ±95%], …}}, "known_answers" {set: {"cases", "shares"}}};
    {} when the bench has not saved them."""
    return json.loads(SAVED.read_text()) if SAVED.exists() else {}


class Case(NamedTuple):
    """One known-answer case: explain() arguments and, over the Explanation's tokens, the known token(s) and the
    tokens ranked against them (bool [token] each)."""

    text: str
    text_b: str | None
    target: str
    token: object
    known: Callable[[Explanation], np.ndarray]
    among: Callable[[Explanation], np.ndarray]


def ranks_first(found: Explanation, known: np.ndarray, among: np.ndarray) -> dict[str, bool]:
    """For each method of `found`: is its top token among `among` one of `known`? (bool per method)"""
    positions = np.flatnonzero(among)
    result = {}
    for method, values in found.scores.items():
        v = np.asarray(values, dtype=np.float64)[positions]
        v = v if method in UNSIGNED else np.abs(v)
        result[method] = bool(known[positions[int(np.argmax(v))]])
    return result


def scores_only(text: str, model: str, target: str, text_b: str | None, token: object, steps: int) -> Explanation:
    """Every method's scores as explain() gives them (integrated gradients per direction), without the head maps and
    the faithfulness test: an Explanation whose tokens, segments, special and scores are filled."""
    import torch

    from attention.analyses.contributions import METHODS, _ig_by_direction
    from attention.analyses.contributions.gradients import _gradient_scores
    from attention.analyses.contributions.setups import _setup
    from attention.analyses.contributions.trace_methods import _attention_scores
    from attention.engine.backends import COMPUTE_LOCK

    setup, notices, label = _setup(text, model, target, text_b, token)
    with COMPUTE_LOCK, torch.no_grad():
        scores, _ = _attention_scores(setup, list(METHODS[:4]))
        scores.update(_gradient_scores(setup, ["grad_input", "attention_gradient"])[0])
        _, _, scores["integrated_gradients"], _ = _ig_by_direction(setup, steps, None)
        full = float(setup.value(setup.outputs())[0])
    empty = np.zeros((0, 0), np.float32)
    return Explanation(tokens=setup.tokens, target_value=full, scores={m: scores[m] for m in METHODS if m in scores},
                       head_importance=empty, completeness_gap=float("nan"), faithfulness={}, notices=notices,
                       head_mean_ablation=empty, special=np.concatenate(setup.special), target=target, target_label=label,
                       segments=np.concatenate([np.full(len(ids), i) for i, ids in enumerate(setup.segment_ids)]))


def shares(cases: Iterable[Case], model: str, steps: int = 16) -> tuple[dict[str, float], int]:
    """Each method's share of `cases` whose known token ranks first, and the number of cases."""
    hits: dict[str, list[bool]] = {}
    seen: dict[tuple, Explanation] = {}                                     # a pair's two directions share one run
    for case in cases:
        key = (case.text, case.target, case.text_b, repr(case.token))
        found = seen.get(key) or seen.setdefault(key, scores_only(case.text, model, case.target, case.text_b,
                                                                  case.token, steps))
        for method, hit in ranks_first(found, case.known(found), case.among(found)).items():
            hits.setdefault(method, []).append(hit)
    n = len(next(iter(hits.values()), []))
    return {method: float(np.mean(v)) for method, v in hits.items()}, n


def translate_mini_cases(n: int) -> list[Case]:
    """n held-out dates: target the logit of the true last digit of the day, the rest of the ISO date as the output
    so far; known: the source tokens of the day; ranked among the source's non-special tokens."""
    from attention.domains import translate_mini as T

    cases = []
    for example in T.held_out()[:n]:
        day = T.field_tokens(example)["day"]

        def known(found: Explanation, day=day) -> np.ndarray:
            return np.concatenate([day, np.zeros(len(found.tokens) - len(day), bool)])

        def among(found: Explanation, day=day) -> np.ndarray:
            source = ~found.special[:len(day)]
            return np.concatenate([source, np.zeros(len(found.tokens) - len(day), bool)])

        cases.append(Case(example.source, example.target[:-1], "next_token", example.target[-1], known, among))
    return cases


# Sentences with one word swapped (the word in braces, then its replacement): each pair differs in that word only.
MINIMAL_PAIRS = (
    "The animal didn't cross the street because it was too {tired|wide}.",
    "The manager fired the employee because he was always {late|angry}.",
    "She drank a cup of hot {tea|soup} before going to bed.",
    "The children played in the {garden|snow} all afternoon.",
    "He bought a new {car|guitar} with the money he saved.",
    "The weather in the mountains was {cold|sunny} all week.",
    "My brother works as a {doctor|teacher} in a small town.",
    "The {cat|baby} slept on the sofa while we watched a film.",
    "We took the {train|boat} to the island early in the morning.",
    "The museum was full of old {paintings|coins} from the city.",
    "She wrote a long {letter|poem} to her grandmother.",
    "The restaurant serves the best {pizza|fish} in the neighbourhood.",
    "The meeting was moved to {Friday|Monday} because of the storm.",
    "He found his {keys|wallet} under the kitchen table.",
    "The students were {happy|nervous} before the final exam.",
    "The river was too {deep|dirty} to swim across.",
    "Our neighbours painted their house {blue|white} last summer.",
    "The film was so {funny|long} that nobody left early.",
    "A {bird|plane} flew over the field at dawn.",
    "The old bridge was closed for {repairs|safety} reasons.",
)


def minimal_pairs(tokenizer, n: int | None = None) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """MINIMAL_PAIRS as (a, b, bool [token of a], bool [token of b]) marking the swapped word's tokens."""
    import re

    found = []
    for template in MINIMAL_PAIRS[:n]:
        match = re.search(r"\{(\w+)\|(\w+)\}", template)
        texts, marks = [], []
        for word in match.groups():
            text = template[:match.start()] + word + template[match.end():]
            encoded = tokenizer(text, return_offsets_mapping=True)
            start, end = match.start(), match.start() + len(word)
            marks.append(np.array([s >= start and e <= end and e > s for s, e in encoded["offset_mapping"]]))
            texts.append(text)
        found.append((texts[0], texts[1], marks[0], marks[1]))
    return found


def minimal_pair_cases(pairs: list[tuple[str, str, np.ndarray, np.ndarray]]) -> list[Case]:
    """Two cases per minimal pair, one per sentence explained (the other whole): known the swapped word's tokens."""
    cases = []
    for a, b, in_a, in_b in pairs:
        for side, word in ((0, in_a), (1, in_b)):
            def mask(found: Explanation, side=side, word=word, only: bool = True) -> np.ndarray:
                out = np.zeros(len(found.tokens), bool)
                if only:
                    out[np.flatnonzero(found.segments == side)[word]] = True
                else:
                    out[found.segments == side] = True
                    out &= ~found.special
                return out

            cases.append(Case(a, b, "similarity", None, mask, lambda found, mask=mask: mask(found, only=False)))
    return cases


def induction_cases(n: int, seed: int = 0) -> list[Case]:
    """n texts of distinct random letters t₁ … t_p then t₁ … t_c repeated (p 12, c 3–8): induction-mini's next token
    is t_{c+1}; known: the earlier t_{c+1}, the token after the earlier copy of the last token; ranked among the earlier
    tokens ([BOS] and the last token, the query itself, which rollout and ALTI's residual share always keep, left out)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    cases = []
    for _ in range(n):
        part = rng.permutation(letters)[:12]
        copied = int(rng.integers(3, 9))
        text = "".join(part) + "".join(part[:copied])

        def known(found: Explanation, copied=copied) -> np.ndarray:
            out = np.zeros(len(found.tokens), bool)
            out[1 + copied] = True                                          # after [BOS]: t_{c+1} of the first part
            return out

        def among(found: Explanation) -> np.ndarray:
            out = ~found.special
            out[-1] = False                                                 # the query itself: its residual keeps it
            return out

        cases.append(Case(text, None, "next_token", str(part[copied]), known, among))
    return cases
