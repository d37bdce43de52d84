"""Contributions over a fixed set of sentence pairs of the sample corpus (MiniLM similarity), side by side in one run:

  * the removal: for "delete", "mask" and "pad", how much removing the token every method ranks last moves the target
    (removal_artefact; the default removal is the one with the smallest median)
  * faithfulness with that removal, each sentence explained with the other whole: each method's AOPC comprehensiveness
    and sufficiency minus the random order's (10 shuffles), the mean over pairs with a 95% interval over pairs, and
    Kendall τ with the single-token removal effects (|·| for every method, signed for signed methods); the same
    comprehensiveness with [MASK] beside it
  * known-answer checks: the share of cases where the known token ranks first (translate-mini's day words for the day
    digit, MiniLM minimal pairs' swapped word, induction-mini's earlier copy)
  * cost: each method's time as a multiple of one forward pass over the same pair (median over pairs); goals:
    value norms and ALTI ≤ 3× a forward (trace included), integrated gradients ≤ 1.5 × steps × one forward+backward
  * the page's first view: AppTest server time for the default pair (median of 5, caches emptied before each)

Pairs are consecutive sentences (0–1, 2–3, …) of attention/data/sample_corpus.txt: a few are minimal pairs (one word
swapped), most unrelated neighbours. One thread, as the other benches. --save writes the figures the Contributions page
shows to attention/data/bench_contributions.json (package data).

    .venv/bin/python bench/bench_contributions.py --save     # 50 pairs, 50 dates, 50 induction texts, 5 page views
    .venv/bin/python bench/bench_contributions.py --quick    # 5 of each, 1 page view
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, table, verdict  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402


SAVED = ROOT / "attention" / "data" / "bench_contributions.json"


def _timed(function, repeats: int = 3) -> float:
    """Median seconds of `repeats` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def pairs(n: int) -> list[tuple[str, str]]:
    from attention.analyses.corpus import SAMPLE, read_sentences

    sentences = read_sentences(SAMPLE)
    return [(sentences[2 * i], sentences[2 * i + 1]) for i in range(n)]


def measure_pair(a: str, b: str, steps: int, cost: bool = True) -> dict:
    from attention.analyses import contributions as C
    from attention.run.trace import TRACES

    TRACES.clear() if hasattr(TRACES, "clear") else None
    start = time.perf_counter()
    setup, _, _ = C._setup(a, "minilm", "similarity", b, None)      # two traces: the pair's first (recorded) pass
    trace_time = time.perf_counter() - start
    network = setup.network
    with torch.inference_mode():
        forward = _timed(lambda: [network.run(setup.ids(i)) for i in range(2)])
    backward = heads = float("nan")
    timings = {name: float("nan") for name in C.METHODS}
    if cost:
        with torch.no_grad():
            timings = {name: _timed(lambda name=name: C._attention_scores(setup, [name])) for name in C.METHODS[:4]}
            backward = _timed(lambda: C._gradient_scores(setup, ["grad_input", "attention_gradient"]))
            timings["grad_input"] = timings["attention_gradient"] = backward
            timings["integrated_gradients"] = _timed(lambda: C._integrated_gradients(setup, steps, None), 1)
            heads = _timed(lambda: (C.head_effects(setup, "remove"), C.head_effects(setup, "mean")), 1)
    start = time.perf_counter()
    found = C.explain(a, "minilm", text_b=b, steps=steps)
    whole = time.perf_counter() - start
    with torch.no_grad():
        artefact = {r: C.removal_artefact(setup, found.scores, found.target_value, r) for r in C.REMOVALS}
        masked, _, _, _ = C.faithfulness(setup, found.scores, found.target_value, "mask")
    return {"forward": forward, "trace": trace_time, "forward_backward": backward, "cost": timings, "heads": heads,
            "explain": whole, "faithfulness": found.faithfulness, "masked": masked, "gap": found.completeness_gap,
            "n_tokens": len(found.tokens), "artefact": artefact}


def _mean_interval(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% interval over the pairs (1.96 standard errors)."""
    values = np.asarray([v for v in values if np.isfinite(v)], dtype=np.float64)
    if len(values) < 2:
        return float(np.mean(values)) if len(values) else float("nan"), float("nan")
    return float(values.mean()), float(1.96 * values.std(ddof=1) / np.sqrt(len(values)))


def known_answers(n: int) -> dict:
    """Each method's share of known-answer cases whose known token ranks first, for the three case sets."""
    from attention.analyses import contributions as C
    from attention.domains import translate_mini as T
    from attention.run.models import load_model

    T.load_or_train()
    found = {}
    for name, model, cases in (("translate-mini", "translate-mini", C.translate_mini_cases(n)),
                               ("minimal pairs", "minilm", C.minimal_pair_cases(C.minimal_pairs(load_model("scratch:minilm").tokenizer))),
                               ("induction-mini", "induction-mini", C.induction_cases(n))):
        start = time.perf_counter()
        shares, count = C.shares(cases, model)
        found[name] = {"cases": count, "shares": shares, "seconds": time.perf_counter() - start}
        print(f"known answers, {name}: {count} cases in {found[name]['seconds']:.0f} s", file=sys.stderr)
    return found


def markdown_tables(saved: dict) -> str:
    """The saved figures as the markdown tables of docs/contributions.md (tests/test_text_numbers.py checks the docs hold
    exactly these): faithfulness over the pairs, the removal criterion, the known-answer shares."""
    from attention.analyses.contributions import METHODS, UNSIGNED

    lines = [f"| method | comprehensiveness − random ↑ | sufficiency − random ↓ | same with [MASK] ↑ | τ with \\|LOO\\| ↑ "
             "| τ with LOO ↑ |", "|---|---|---|---|---|---|"]
    for name in METHODS:
        m = saved["methods"][name]
        lines.append(f"| {name} | {m['comprehensiveness_vs_random'][0]:+.3f} ± {m['comprehensiveness_vs_random'][1]:.3f} "
                     f"| {m['sufficiency_vs_random'][0]:+.3f} ± {m['sufficiency_vs_random'][1]:.3f} "
                     f"| {m['masked_comprehensiveness_vs_random'][0]:+.3f} ± {m['masked_comprehensiveness_vs_random'][1]:.3f} "
                     f"| {m['tau_abs'][0]:+.2f} | {'—' if name in UNSIGNED else format(m['tau_signed'][0], '+.2f')} |")
    lines += ["", "| removal | median \\|change\\| when the token every method ranks last goes |", "|---|---|"]
    lines += [f"| {r} | {v:.4f} |" for r, v in saved["removal_artefact"].items()]
    sets = saved["known_answers"]
    lines += ["", "| method | " + " | ".join(f"{name} ({found['cases']} cases)" for name, found in sets.items()) + " |",
              "|---|" + "---|" * len(sets)]
    lines += [f"| {name} | " + " | ".join(f"{found['shares'][name]:.0%}" for found in sets.values()) + " |"
              for name in METHODS]
    return "\n".join(lines)


def page_first_view(views: int) -> list[float]:
    """Server seconds of the Contributions page's first view of the default pair in AppTest, caches emptied each time."""
    from streamlit.testing.v1 import AppTest

    from attention.analyses import contributions as C
    from attention.run.api import RESULTS
    from attention.run.trace import TRACES

    times = []
    for _ in range(views + 1):                                          # the first view also loads the model: not counted
        C._CACHE.clear()
        for cache in (TRACES, RESULTS):
            cache.clear() if hasattr(cache, "clear") else None
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        app.switch_page("pages/contributions.py")
        start = time.perf_counter()
        app.run()
        times.append(time.perf_counter() - start)
        assert not app.exception, [e.value for e in app.exception]
    return times[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 pairs and 1 page view (a check that it runs)")
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--dates", type=int, default=50, help="held-out dates for the translate-mini figures")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--save", action="store_true", help="write the page's figures to attention/data/bench_contributions.json")
    parser.add_argument("--views", type=int, default=5, help="page first views to time")
    parser.add_argument("--cost-pairs", type=int, default=10, help="pairs whose methods are also timed")
    parser.add_argument("--first", type=int, default=0, help="start at this pair (to split the pairs over processes)")
    parser.add_argument("--skip-known", action="store_true", help="leave out the known-answer checks")
    parser.add_argument("--raw", type=Path, help="write the per-pair measurements to this JSON file")
    parser.add_argument("--raw-only", action="store_true", help="stop after writing --raw")
    parser.add_argument("--merge", type=Path, nargs="+", help="summarise --raw files instead of measuring")
    args = parser.parse_args()
    torch.set_num_threads(1)
    n_pairs, views = (5, min(1, args.views)) if args.quick else (args.pairs, args.views)

    from attention.analyses import contributions as C
    from attention.analyses.contributions import METHODS

    from attention.run.models import load_model

    load_model("scratch:minilm")
    known = None
    if args.merge:                       # parts measured by several processes (--first, --skip-known, --raw)
        raws = [json.loads(Path(path).read_text()) for path in args.merge]
        measured = [m for raw in raws for m in raw["measured"]]
        known = next((raw["known"] for raw in raws if raw.get("known")), None)
        n_pairs = len(measured)
    else:
        measured = []
        for index, (a, b) in enumerate(pairs(args.first + n_pairs)[args.first:]):
            measured.append(measure_pair(a, b, args.steps, cost=index < args.cost_pairs))
            print(f"pair {args.first + index + 1}/{args.first + n_pairs}: {measured[-1]['n_tokens']} tokens, explain "
                  f"{measured[-1]['explain']:.2f} s", file=sys.stderr)
        if not args.skip_known:
            known = known_answers(5 if args.quick else args.dates)
        if args.raw:
            args.raw.write_text(json.dumps({"measured": measured, "known": known}))
            if args.raw_only:
                return

    timed = [m for m in measured if np.isfinite(m["heads"])]
    medians = {r: statistics.median(m["artefact"][r] for m in measured) for r in C.REMOVALS}
    chosen = min(medians, key=medians.get)
    print(f"\nRemoval: |change of the similarity| when the token every method ranks last goes (median over pairs): "
          + ", ".join(f"{r} {v:.4f}" for r, v in medians.items())
          + f"; smallest: {chosen} (the default is {C.DEFAULT_REMOVAL})   {verdict(chosen == C.DEFAULT_REMOVAL)}")
    summary = {"pairs": n_pairs, "steps": args.steps, "removal_artefact": medians, "removal": chosen, "methods": {}}
    rows = []
    for name in [*METHODS, "random"]:
        comp = _mean_interval([m["faithfulness"][name]["comprehensiveness_vs_random"] for m in measured])
        suff = _mean_interval([m["faithfulness"][name]["sufficiency_vs_random"] for m in measured])
        masked = _mean_interval([m["masked"][name]["comprehensiveness_vs_random"] for m in measured])
        tau_abs = _mean_interval([m["faithfulness"][name]["tau_abs"] for m in measured])
        tau_signed = _mean_interval([m["faithfulness"][name]["tau_signed"] for m in measured])
        spread = float(np.mean([m["faithfulness"][name]["comprehensiveness_spread"] for m in measured]))
        ratio = float("nan") if name == "random" else statistics.median(m["cost"][name] / m["forward"] for m in timed)
        summary["methods"][name] = {"comprehensiveness_vs_random": comp, "sufficiency_vs_random": suff,
                                    "masked_comprehensiveness_vs_random": masked, "tau_abs": tau_abs,
                                    "tau_signed": tau_signed, "random_spread": spread, "cost_forwards": ratio}
        if name != "random":
            rows.append([name, f"{comp[0]:+.3f} ± {comp[1]:.3f}", f"{suff[0]:+.3f} ± {suff[1]:.3f}",
                         f"{masked[0]:+.3f} ± {masked[1]:.3f}", f"{tau_abs[0]:+.2f}",
                         "—" if name in C.UNSIGNED else f"{tau_signed[0]:+.2f}", f"{ratio:.1f}×"])
    print(f"\nFaithfulness over {n_pairs} pairs of the sample corpus (MiniLM similarity, each sentence explained with the "
          f"other whole, tokens {chosen}d; AOPC over 10–90% of the explained tokens minus the random order's, mean over "
          "pairs ± 95% interval; a random order's own spread over 10 shuffles is "
          f"{summary['methods']['random']['random_spread']:.3f} on one pair); cost = method time ÷ one forward:\n")
    print(table(["method", "comprehensiveness − random ↑", "sufficiency − random ↓", "same, [MASK] ↑",
                 "τ with |LOO| ↑", "τ with LOO ↑", "cost (forwards)"], rows))
    trace_forwards = statistics.median(m["trace"] / m["forward"] for m in timed)
    value_norm = statistics.median((m["trace"] + m["cost"]["value_norm"]) / m["forward"] for m in timed)
    alti = statistics.median((m["trace"] + m["cost"]["alti"]) / m["forward"] for m in timed)
    ig = statistics.median(m["cost"]["integrated_gradients"] / (args.steps * m["forward_backward"]) for m in timed)
    gaps = [m["gap"] for m in measured]
    heads = statistics.median(m["heads"] / m["forward"] for m in timed)
    explain_s = statistics.median(m["explain"] for m in measured)
    print(f"\ntrace (one recorded pass over the pair): {trace_forwards:.2f} forwards")
    print(f"value norms incl. trace: {value_norm:.2f} forwards   goal ≤ 3   {verdict(value_norm <= 3)}")
    print(f"ALTI incl. trace:        {alti:.2f} forwards   goal ≤ 3   {verdict(alti <= 3)}")
    print(f"integrated gradients ({args.steps} steps, batched): {ig:.2f} × steps × one forward+backward   goal ≤ 1.5   "
          f"{verdict(ig <= 1.5)}")
    print(f"completeness gap: median {statistics.median(gaps):.2e}, max {max(gaps):.2e}   goal < 1%   {verdict(max(gaps) < 0.01)}")
    print(f"head removal + mean ablation (all heads): {heads:.1f} forwards; whole explain(): median {explain_s:.2f} s")
    summary.update(trace_forwards=trace_forwards, value_norm_forwards=value_norm, alti_forwards=alti, ig_ratio=ig,
                   gap_median=statistics.median(gaps), gap_max=max(gaps), heads_forwards=heads, explain_seconds=explain_s,
                   forward_ms=1000 * statistics.median(m["forward"] for m in measured))

    summary["known_answers"] = known
    print("\nKnown answers: share of cases where the known token ranks first\n")
    sets = list(summary["known_answers"])
    print(table(["method", *[f"{s} ({summary['known_answers'][s]['cases']})" for s in sets]],
                [[name, *[f"{summary['known_answers'][s]['shares'][name]:.0%}" for s in sets]] for name in METHODS]))

    if views:
        median_page = statistics.median(page_first_view(views))
        print(f"page first view (AppTest server time, median of {views}): {median_page:.2f} s   goal < 5 s   "
              f"{verdict(median_page < 5)}")
        summary["page_first_view_seconds"] = median_page
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    if args.save:
        saved = {key: summary[key] for key in ("pairs", "removal", "removal_artefact", "methods", "known_answers")}
        SAVED.write_text(json.dumps(saved, indent=1) + "\n")
        print(f"saved {SAVED.relative_to(ROOT)}; the docs' tables:\n\n{markdown_tables(saved)}")


if __name__ == "__main__":
    main()
