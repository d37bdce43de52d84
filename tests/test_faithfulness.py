"""The faithfulness test (attention/analyses/contributions/evaluation.py) on cases with a known answer: removal by
deletion equals running the shortened text, [MASK]/[PAD] equal running the replaced text, bins never reach 100%, an
order that takes the deciding token first beats random and the reverse order loses, the spread is the shuffles'
standard deviation, leave-one-out effects are single removals, integrated gradients' baseline blanks only the
explained sentence, and the known-answer shares (translate-mini's day words, induction-mini's earlier copy)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from attention import explain
from attention.analyses import contributions as C
from attention.analyses.contributions import evaluation as E

A = "The animal didn't cross the street because it was too tired."
B = "The animal didn't cross the street because it was too wide."


@pytest.fixture(scope="module")
def pair():
    setup, _, _ = C._setup(A, "minilm", "similarity", B, None)
    return setup


def _similarity(a_ids: list[int], b_ids: list[int], setup) -> float:
    with torch.no_grad():
        pooled = [setup.network.run(torch.tensor([ids])).hidden[0].mean(0) for ids in (a_ids, b_ids)]
    return float(torch.cosine_similarity(pooled[0], pooled[1], dim=0))


@pytest.mark.parametrize("removal", C.REMOVALS)
def test_removal_equals_running_the_changed_text(pair, removal):
    ids_a, ids_b = pair.segment_ids
    removed = np.zeros(len(ids_a) + len(ids_b), bool)
    removed[[2, 5]] = True                                                 # two words of sentence A
    found = E._evaluate(pair, [removed], E._replacement(pair, removal)[0])[0]
    tokenizer = pair.prepared[0].backend.tokenizer
    if removal == "delete":
        changed = [t for i, t in enumerate(ids_a) if i not in (2, 5)]
    else:
        filler = tokenizer.mask_token_id if removal == "mask" else tokenizer.pad_token_id
        changed = [filler if i in (2, 5) else t for i, t in enumerate(ids_a)]
    assert found == pytest.approx(_similarity(changed, ids_b, pair), abs=1e-5)


def test_bins_are_fractions_of_the_explained_tokens_never_all():
    assert list(E._points(10)) == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert list(E._points(3)) == [1, 2]
    assert len(E._points(1)) == 0
    assert all(k < n for n in range(2, 40) for k in E._points(n))


def test_the_deciding_order_beats_random_the_reverse_loses_and_the_spread_is_the_shuffles_std(pair):
    """Sentence A's tokens ranked by their own single-removal effect (a known answer: the best one-step order) against
    the reverse; the random row's spread is the standard deviation of the shuffles' AOPC."""
    full = float(pair.value(pair.outputs())[0])
    _, _, _, loo = E.faithfulness(pair, {"zero": np.zeros(len(np.concatenate(pair.special)))}, full, "delete")
    effects = np.nan_to_num(loo, nan=-np.inf)
    found, by_direction, curves, _ = E.faithfulness(pair, {"deciding": effects, "reverse": -np.nan_to_num(loo, nan=np.inf)},
                                                    full, "delete")
    a = by_direction["A"]
    assert a["deciding"]["comprehensiveness_vs_random"] > 2 * a["random"]["comprehensiveness_spread"]
    assert a["reverse"]["comprehensiveness_vs_random"] < -a["random"]["comprehensiveness_spread"]
    assert a["deciding"]["tau_signed"] == pytest.approx(1.0)                # its scores are the effects themselves
    # the spread: recomputed from the random orders' own curves
    candidates = dict(E.directions(pair))["A"]
    rng = np.random.default_rng(0)
    orders = [rng.permutation(np.flatnonzero(candidates)) for _ in range(E.RANDOM_SEEDS)]
    points = E._points(int(candidates.sum()))
    masks = []
    for order in orders:
        for k in points:
            removed = np.zeros(len(candidates), bool)
            removed[order[:k]] = True
            masks.append(removed)
    values = E._evaluate(pair, masks, None).reshape(len(orders), len(points))
    aopc = (full - values).mean(1)
    assert a["random"]["comprehensiveness"] == pytest.approx(aopc.mean(), abs=1e-6)
    assert a["random"]["comprehensiveness_spread"] == pytest.approx(aopc.std(ddof=1), abs=1e-6)


def test_leave_one_out_is_one_removal_and_only_explained_tokens_are_removed(pair):
    full = float(pair.value(pair.outputs())[0])
    _, _, _, loo = E.faithfulness(pair, {"x": np.arange(len(np.concatenate(pair.special)), dtype=float)}, full, "delete")
    special = np.concatenate(pair.special)
    assert np.isnan(loo[special]).all() and np.isfinite(loo[~special]).all()
    ids_a, ids_b = pair.segment_ids
    tired = ids_a.index(pair.prepared[0].backend.tokenizer.convert_tokens_to_ids("tired"))
    assert loo[tired] == pytest.approx(full - _similarity(ids_a[:tired] + ids_a[tired + 1:], ids_b, pair), abs=1e-5)


def test_integrated_gradients_blanks_only_the_explained_sentence(pair):
    with torch.no_grad():
        gap, f_baselines, scores, words = C._ig_by_direction(pair, 16, None)
    for index in range(2):
        blank, _ = C._baseline(pair, index)
        vectors = [blank if i == index else C._embeddings(pair, i) for i in range(2)]
        with torch.no_grad():
            expected = float(pair.value(C._run(pair, vectors)[0])[0])
        assert f_baselines[index] == pytest.approx(expected, abs=1e-5)
    assert gap < 0.01                                                     # completeness holds in each direction
    assert "the other sentence whole" in words


def test_a_removal_the_tokenizer_lacks_or_an_unknown_one_is_a_message():
    with pytest.raises(ValueError, match="removal must be one of"):
        explain(A, "minilm", text_b=B, removal="blur")


def test_the_default_removal_moves_the_similarity_least_for_the_token_every_method_ranks_last():
    """The criterion DEFAULT_REMOVAL rests on (bench_contributions.py measures it over 50 pairs), on three pairs (the
    methods that need no integration)."""
    pairs = [(A, B), ("A dog chased the ball across the park.", "A dog chased the cat across the park."),
             ("She drank a cup of hot tea before going to bed.", "She drank a cup of hot soup before going to bed.")]
    artefacts = {r: [] for r in C.REMOVALS}
    for a, b in pairs:
        setup, _, _ = C._setup(a, "minilm", "similarity", b, None)
        with torch.no_grad():
            scores, _ = C._attention_scores(setup, list(C.METHODS[:4]))
            scores.update(C._gradient_scores(setup, ["grad_input", "attention_gradient"])[0])
            full = float(setup.value(setup.outputs())[0])
            for removal in C.REMOVALS:
                artefacts[removal].append(C.removal_artefact(setup, scores, full, removal))
    medians = {r: float(np.median(v)) for r, v in artefacts.items()}
    assert min(medians, key=medians.get) == C.DEFAULT_REMOVAL, medians


def test_ranks_first_reads_signed_methods_by_their_size():
    found = C.Explanation(tokens=list("abcd"), target_value=0.0, head_importance=np.zeros((1, 1)),
                          completeness_gap=0.0, faithfulness={}, notices=[], head_mean_ablation=np.zeros((1, 1)),
                          scores={"alti": np.array([0.1, 0.5, 0.2, 0.2]), "grad_input": np.array([0.1, 0.2, -0.9, 0.3])})
    known = np.array([False, True, False, False])
    among = np.array([False, True, True, True])
    assert C.ranks_first(found, known, among) == {"alti": True, "grad_input": False}   # |−0.9| ranks first


def test_known_answer_share_on_translate_mini_is_computed(trained_translate_mini):
    """translate-mini: the day words decide the day's last digit. The share of held-out dates whose day words rank
    first, per method, as the page and the bench report it (a sample of 8 here)."""
    shares, n = C.shares(C.translate_mini_cases(8), "translate-mini", steps=8)
    assert n == 8 and set(shares) == set(C.METHODS)
    assert all(0 <= v <= 1 for v in shares.values())
    assert max(shares.values()) >= 0.75                                    # some method finds the day words
    saved = C.saved_figures()["known_answers"]["translate-mini"]["shares"]
    for method in C.METHODS:                                               # the saved 50-date shares agree within noise
        assert abs(saved[method] - shares[method]) <= 0.5, method


def test_known_answer_cases_mark_the_right_tokens(trained_translate_mini):
    case = C.translate_mini_cases(1)[0]
    found = explain(case.text, "translate-mini", target="next_token", text_b=case.text_b, token=case.token, steps=4)
    day = [t for t, k in zip(found.tokens, case.known(found)) if k]
    from attention.domains import translate_mini as T

    example = T.held_out()[0]
    lo, hi = example.spans["day"]
    assert day and all(t.lstrip("#") in example.source[lo:hi] for t in day)
    assert f"‘{example.target[-1]}’" in found.target_label
    pairs = C.minimal_pairs(__import__("attention.run.models", fromlist=["load_model"]).load_model("scratch:minilm").tokenizer, 2)
    first = C.minimal_pair_cases(pairs)[0]
    found = explain(first.text, "minilm", text_b=first.text_b, steps=4)
    assert [t for t, k in zip(found.tokens, first.known(found)) if k] == ["tired"]
