"""Bias probe: does attention treat swapped terms differently (he/she, John/Mary) in the same sentence?

Templates hold one swappable pair, written inline as {he/she} or as {name} (each pair of a names list),
and may hold {occupation} (each entry of an occupations list). Every expansion gives two sentences that
differ only in the term. For each, we read the attention *from* the term to every other token, per layer
and head, and measure how much of it moves between the two versions.

Any swap moves some attention, gendered or not: a different word is a different token. So every gendered swap
also runs *control* swaps that change the word but not to the other gender (CONTROL_WORDS, CONTROL_NAMES: a
same-gender word, or for a pronoun the neuter one), and the report's `excess` is the gender swap's shift minus the
controls' shift, tested per head with a sign-flip permutation test over the sentence pairs and Benjamini–Hochberg's
correction over the heads. `seat()` measures the sentence
encoder's *output* instead: SEAT (May et al., 2019), WEAT's effect size (Caliskan et al., 2017) on sentences.

Read in this order:
    probes.py        templates expanded into sentence pairs; each gendered swap's control swaps
    significance.py  the sign-flip permutation test and Benjamini–Hochberg's correction
    report.py        probe(): the term's attention shift per layer and head, against its controls (BiasReport)
    embeddings.py    SEAT and WEAT on the sentence encoder's output
Every name is importable from `attention.analyses.bias` itself.
"""
from attention.analyses.bias.probes import (CONTROL_NAMES, CONTROL_WORDS, DEFAULT_NAMES, DEFAULT_OCCUPATIONS,
                                            DEFAULT_TEMPLATES, MAX_PAIRS, control_probes, control_term, expand,
                                            parse_list, parse_pairs, Probe)
from attention.analyses.bias.significance import ALPHA, PERMUTATIONS, benjamini_hochberg, sign_flip_p
from attention.analyses.bias.report import TERM, BiasReport, PairAttention, probe, term_attention, term_span
from attention.analyses.bias.embeddings import (NAME_TEMPLATES, SEAT_ATTRIBUTES, SEAT_LABELS, SEAT_NAMES,
                                                WORD_TEMPLATES, minilm_embeddings, seat, seat_all, seat_sentences,
                                                weat)

__all__ = [
    "ALPHA", "BiasReport", "CONTROL_NAMES", "CONTROL_WORDS", "DEFAULT_NAMES", "DEFAULT_OCCUPATIONS",
    "DEFAULT_TEMPLATES", "MAX_PAIRS", "NAME_TEMPLATES", "PERMUTATIONS", "PairAttention", "Probe", "SEAT_ATTRIBUTES",
    "SEAT_LABELS", "SEAT_NAMES", "TERM", "WORD_TEMPLATES", "benjamini_hochberg", "control_probes", "control_term",
    "expand", "minilm_embeddings", "parse_list", "parse_pairs", "probe", "seat", "seat_all", "seat_sentences",
    "sign_flip_p", "term_attention", "term_span", "weat"
]
