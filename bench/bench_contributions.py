"""Contributions over a fixed set of sentence pairs of the sample corpus (MiniLM similarity), side by side in one run:

  * faithfulness: each method's mean AOPC comprehensiveness and sufficiency (DeYoung et al., 2020), against a random
    order (10 shuffles), and integrated gradients' completeness gap
  * cost: each method's time as a multiple of one forward pass over the same pair (median over pairs); goals:
    value norms and ALTI ≤ 3× a forward (trace included), integrated gradients ≤ 1.5 × steps × one forward+backward
  * the page's first view: AppTest server time for the default pair (median of 5, caches emptied before each)
  * translate-mini (the encoder–decoder): the same faithfulness figures over held-out dates, the target being the
    logit of the date's last character (the day's last digit) with the rest of the ISO date as the output so far

Pairs are consecutive sentences (0–1, 2–3, …) of attention/data/sample_corpus.txt: many are minimal pairs (one word
swapped), the rest unrelated neighbours. One thread, as the other benches.

    .venv/bin/python bench/bench_contributions.py            # 50 pairs, 50 dates, 5 page views
    .venv/bin/python bench/bench_contributions.py --quick    # 5 pairs, 5 dates, 1 page view
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


def measure_pair(a: str, b: str, steps: int) -> dict:
    from attention.analyses import contributions as C
    from attention.run.trace import TRACES

    TRACES.clear() if hasattr(TRACES, "clear") else None
    start = time.perf_counter()
    setup, _, _ = C._setup(a, "minilm", "similarity", b, None)      # two traces: the pair's first (recorded) pass
    trace_time = time.perf_counter() - start
    network = setup.network
    with torch.inference_mode():
        forward = _timed(lambda: [network.run(setup.ids(i)) for i in range(2)])
    with torch.no_grad():
        cost = {name: _timed(lambda name=name: C._attention_scores(setup, [name])) for name in C.METHODS[:4]}
        backward = _timed(lambda: C._gradient_scores(setup, ["grad_input", "attention_gradient"]))
        cost["grad_input"] = cost["attention_gradient"] = backward
        cost["integrated_gradients"] = _timed(lambda: C._integrated_gradients(setup, steps, None), 1)
        heads = _timed(lambda: (C.head_effects(setup, "remove"), C.head_effects(setup, "mean")), 1)
    start = time.perf_counter()
    found = C.explain(a, "minilm", text_b=b, steps=steps)
    whole = time.perf_counter() - start
    return {"forward": forward, "trace": trace_time, "forward_backward": backward, "cost": cost, "heads": heads,
            "explain": whole, "faithfulness": found.faithfulness, "gap": found.completeness_gap,
            "n_tokens": len(found.tokens)}


def translate_mini(n: int, steps: int) -> dict:
    """Faithfulness on the encoder–decoder: n held-out dates, target the day's last digit given the rest of the date."""
    from attention.analyses.contributions import METHODS, explain
    from attention.domains import translate_mini as T

    T.load_or_train()
    found, right, seconds = [], 0, []
    for example in T.held_out()[:n]:
        start = time.perf_counter()
        result = explain(example.source, "translate-mini", target="next_token", text_b=example.target[:-1], steps=steps)
        seconds.append(time.perf_counter() - start)
        found.append(result)
        right += f"‘{example.target[-1]}’" in result.target_label
    methods = {name: {kind: float(np.mean([f.faithfulness[name][kind] for f in found]))
                      for kind in ("comprehensiveness", "sufficiency")} for name in [*METHODS, "random"]}
    gaps = [f.completeness_gap for f in found]
    return {"examples": n, "methods": methods, "predicted_right": right / n, "gap_median": statistics.median(gaps),
            "gap_max": max(gaps), "explain_seconds": statistics.median(seconds)}


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
    args = parser.parse_args()
    torch.set_num_threads(1)
    n_pairs, views = (5, 1) if args.quick else (args.pairs, 5)

    from attention.analyses.contributions import METHODS

    from attention.run.models import load_model

    load_model("scratch:minilm")
    measured = []
    for index, (a, b) in enumerate(pairs(n_pairs)):
        measured.append(measure_pair(a, b, args.steps))
        print(f"pair {index + 1}/{n_pairs}: {measured[-1]['n_tokens']} tokens, explain {measured[-1]['explain']:.2f} s",
              file=sys.stderr)

    names = [*METHODS, "random"]
    rows = []
    summary = {"pairs": n_pairs, "steps": args.steps, "methods": {}}
    for name in names:
        comp = [m["faithfulness"][name]["comprehensiveness"] for m in measured]
        suff = [m["faithfulness"][name]["sufficiency"] for m in measured]
        if name == "random":
            ratio = float("nan")
        else:
            extra = [m["cost"][name] / m["forward"] for m in measured]
            ratio = statistics.median(extra)
        summary["methods"][name] = {"comprehensiveness": float(np.mean(comp)), "sufficiency": float(np.mean(suff)),
                                    "cost_forwards": ratio}
        rows.append([name, f"{np.mean(comp):+.4f}", f"{np.mean(suff):+.4f}", "—" if name == "random" else f"{ratio:.1f}×"])
    print(f"\nFaithfulness over {n_pairs} pairs of the sample corpus (MiniLM similarity, tokens replaced by [MASK]); "
          "cost = method time on the pair ÷ one forward pass over the pair (median over pairs), the trace not counted:\n")
    print(table(["method", "comprehensiveness ↑", "sufficiency ↓", "cost (forwards)"], rows))

    trace_forwards = statistics.median(m["trace"] / m["forward"] for m in measured)
    value_norm = statistics.median((m["trace"] + m["cost"]["value_norm"]) / m["forward"] for m in measured)
    alti = statistics.median((m["trace"] + m["cost"]["alti"]) / m["forward"] for m in measured)
    ig = statistics.median(m["cost"]["integrated_gradients"] / (args.steps * m["forward_backward"]) for m in measured)
    gaps = [m["gap"] for m in measured]
    heads = statistics.median(m["heads"] / m["forward"] for m in measured)
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

    dates = translate_mini(5 if args.quick else args.dates, args.steps)
    print(f"\ntranslate-mini over {dates['examples']} held-out dates (target: the logit of the day's last digit, the rest "
          f"of the ISO date written; predicted right {dates['predicted_right']:.0%}; tokens replaced by [PAD]):\n")
    print(table(["method", "comprehensiveness ↑", "sufficiency ↓"],
                [[name, f"{v['comprehensiveness']:+.3f}", f"{v['sufficiency']:+.3f}"] for name, v in dates["methods"].items()]))
    print(f"completeness gap: median {dates['gap_median']:.2e}, max {dates['gap_max']:.2e}; "
          f"explain() median {dates['explain_seconds']:.2f} s")
    summary["translate_mini"] = dates

    page = page_first_view(views)
    median_page = statistics.median(page)
    print(f"page first view (AppTest server time, median of {views}): {median_page:.2f} s   goal < 5 s   {verdict(median_page < 5)}")
    summary["page_first_view_seconds"] = median_page
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
