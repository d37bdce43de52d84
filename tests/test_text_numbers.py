"""Numbers stated in docs/contributions.md and the Contributions page, checked against the code that computes them, so a
retrained model or a new bench run cannot leave a stale figure behind."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from attention.analyses import contributions as C
from attention.analyses.contributions import evaluation as E

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "contributions.md").read_text()
A = "The animal didn't cross the street because it was too tired."
B = "The animal didn't cross the street because it was too wide."


def test_the_docs_tables_are_the_saved_bench_figures():
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_contributions import markdown_tables

    saved = C.saved_figures()
    assert saved["pairs"] >= 50 and saved["removal"] == C.DEFAULT_REMOVAL
    assert markdown_tables(saved) in DOC
    assert f"{saved['pairs']} consecutive pairs" in DOC


def test_the_docs_removal_figures_are_the_codes():
    setup, _, _ = C._setup(A, "minilm", "similarity", B, None)
    full = float(setup.value(setup.outputs())[0])
    n = len(setup.segment_ids[0])
    tokens = setup.tokens
    changes = {}
    for removal in ("mask", "delete"):
        masks = []
        for position in range(1, n - 1):
            mask = np.zeros(len(tokens), bool)
            mask[position] = True
            masks.append(mask)
        changes[removal] = dict(zip(range(1, n - 1), E._evaluate(setup, masks, E._replacement(setup, removal)[0]) - full))
    tired = tokens.index("tired")
    masked_others = [-v for p, v in changes["mask"].items() if p != tired]
    assert f"by {min(masked_others):.3f}–{max(masked_others):.3f}, even \"the\"" in DOC
    the = max(abs(v) for p, v in changes["delete"].items() if tokens[p] == "the")
    assert f"deleting \"the\" moves it by at most {the:.3f}" in DOC
    assert f"(by {-changes['mask'][tired]:.3f}), deleting it raises it by {changes['delete'][tired]:.3f}" in DOC
    assert changes["delete"][tired] > 0 > changes["mask"][tired]


def test_the_docs_alti_bias_figures_are_the_codes():
    from attention import trace
    from attention.run.models import load_model
    from test_alti_reference import SENTENCES, _reference

    per_layer, _, share = _reference(SENTENCES[0])
    run = trace(SENTENCES[0], "scratch:minilm")
    network = load_model("scratch:minilm").network
    difference = np.abs(C.alti_layers(run, network, biases=False) - per_layer).max()
    assert f"about {share[0]:.0%} of ‖y‖₁ in layer 0 and {share[1:].min():.0%}–{share[1:].max():.0%} later" in DOC
    assert f"by up to {difference:.2f}" in DOC
    measured = float(re.search(r"measured: ([0-9.]+e-0?7)", DOC).group(1))
    assert np.abs(C.alti_layers(run, network) - per_layer).max() < max(measured * 2, 1e-6)


def test_every_number_in_the_conclusions_is_in_the_tables_or_the_saved_summary():
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_contributions import markdown_tables

    saved = C.saved_figures()
    tables = markdown_tables(saved)
    conclusions = DOC[DOC.index("**What this supports.**"):DOC.index("Also measured in this run")]
    numbers = re.findall(r"[+-]?\d+\.\d+|\d+%", conclusions)
    assert len(numbers) > 20
    for number in numbers:
        assert number in tables, number


def test_the_docs_translate_mini_figures_are_the_codes(trained_translate_mini):
    """docs/learn.md's held-out table (it came from the README) against translate_mini.alignment_report()."""
    from attention.domains import translate_mini as T

    report = T.alignment_report()
    learn = (ROOT / "docs" / "learn.md").read_text()
    for name, row in (("`translate-mini`", report["trained"]), ("`scratch:random-translate-mini`", report["random"])):
        line = next(l for l in learn.splitlines() if l.startswith(f"| {name}"))
        cells = [c.strip().strip("*") for c in line.split("|")[2:-1]]
        assert cells[1:] == [f"{row['score']:.3f}", *(f"{row['per_field'][f]:.3f}" for f in ("year", "month", "day"))], line
    assert f"{report['accuracy']:.1%}" in learn
    assert f"| chance (peak drawn uniformly over the source tokens) | | {report['trained']['chance']:.3f} |" in learn
