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


INSPECT = (ROOT / "docs" / "inspect.md").read_text()
LEARN = (ROOT / "docs" / "learn.md").read_text()
DOMAINS = (ROOT / "docs" / "domains.md").read_text()


def test_the_docs_bias_probe_and_seat_figures_are_the_codes():
    """docs/inspect.md's bias-probe paragraph and SEAT table against probe() and seat() on MiniLM's default templates."""
    from attention.analyses import bias

    probes, _ = bias.expand(bias.DEFAULT_TEMPLATES)
    report = bias.probe(probes, "minilm")
    named = [i for i, pair in enumerate(report.pairs) if "{name}" in pair.probe.template]
    pronouns = [i for i in range(len(report.pairs)) if i not in named]
    assert report.controlled == list(range(len(report.pairs)))          # every default pair has its controls
    assert f"({len(report.pairs)} pairs; {len(named)} name pairs, {len(pronouns)} pronoun pairs)" in INSPECT
    assert (f"the gender swap moves {100 * report.scores.mean():.1f}% of the\nterm's attention on average and the controls "
            f"{100 * report.control.mean():.1f}%, so the mean excess is {100 * report.excess.mean():.1f} points"
            ).replace("-", "−") in INSPECT
    found = report.surviving()
    more = [item for item in found if item[2] > 0]
    assert f"It survives the test in {len(found)} of {report.excess.size}\nheads: {len(more)} move *more*" in INSPECT
    (l1, h1, e1, _), (l2, h2, e2, _) = more[:2]
    assert f"(most: layer {l1} · head {h1}, {100 * e1:+.1f} points; layer {l2} · head {h2}, {100 * e2:+.1f})" in INSPECT
    assert f"{len(found) - len(more)} move\n*less*" in INSPECT
    name_excess, pronoun_excess = (100 * report.differences[rows].mean() for rows in (named, pronouns))
    assert (f"the name pairs' mean excess is {name_excess:+.1f} points and the pronoun pairs' {pronoun_excess:+.1f}"
            .replace("-", "−")) in INSPECT
    for test, label in (("career-family", "career/family"), ("math-arts", "math/arts")):
        seat = bias.seat("minilm", test)
        line = next(row for row in INSPECT.splitlines() if row.startswith(f"| male/female names × {label}"))
        effect, p = (cell.strip() for cell in line.split("|")[2:4])
        assert effect == f"{seat['effect_size']:+.2f}".replace("-", "−"), line
        assert p.split(" ")[0] == (f"{seat['p_value']:.4f}" if seat["p_value"] < 0.001 else f"{seat['p_value']:.2f}"), line
    assert f'{{"effect_size": {bias.seat("minilm", "career-family")["effect_size"]:.2f}, "p_value": 0.0001' in INSPECT


def test_the_docs_head_stats_limits_are_the_codes():
    from attention.analyses import corpus, stats
    from attention.analyses.bias import PERMUTATIONS

    sentences = [line for line in corpus.SAMPLE.read_text().splitlines() if line.strip()]
    assert f"`data/sample_corpus.txt`, {len(sentences)} varied sentences" in INSPECT
    assert f"padded batches of {corpus.PADDED}" in INSPECT
    assert f"computed for texts of up to {stats.FLOW_MAX_TOKENS} tokens" in INSPECT
    assert f"(every flip when there are at most\n{PERMUTATIONS:,}, else {PERMUTATIONS:,} seeded random ones)" in INSPECT


def test_the_docs_pattern_bench_figures_are_the_saved_bench():
    """docs/learn.md's cost table and quality sentence against the saved output of bench/bench_patterns.py."""
    from attention.analyses.efficient import load_costs

    costs = load_costs()
    rows = {(r["pattern"], r["length"]): r for r in costs["rows"]}
    full = rows["full", 8192]
    assert f"(103 s in the saved run;" in LEARN and costs["meta"]["seconds"] == 103
    assert f"fastest of {costs['meta']['reps']} runs" in LEARN and f"{costs['meta']['date']}, load average" in LEARN
    for name, exponents in costs["exponents"].items():
        line = next(row for row in LEARN.splitlines() if row.startswith(f"| {name} |"))
        cells = [cell.strip().strip("*") for cell in line.split("|")[1:-1]]
        mine = {n: rows[name, n] for n in (1024, 4096, 8192)}
        assert cells[2:5] == [f"{mine[n]['ms']:,.0f} ms" for n in (1024, 4096, 8192)], line
        assert cells[5].split(" ")[0] == f"{exponents['time']:.2f}", line
        assert cells[6] == f"{mine[8192]['mb']:,.0f}" and cells[7] == f"{exponents['memory']:.2f}", line
        if name != "full":
            cpu, wall = full["ms"] / mine[8192]["ms"], full["wall_ms"] / mine[8192]["wall_ms"]
            assert cells[8] == f"{cpu:.1f}× / {wall:.1f}×" and cells[9] == f"{full['mb'] / mine[8192]['mb']:.1f}×", line
    q = costs["quality"]
    pct = lambda values, i: f"{100 * values[i]:.0f}%"   # noqa: E731
    lf, bb, sl, ps = q["longformer w=32 +CLS"], q["bigbird w=32 b=16 r=2"], q["sliding w=32"], q["probsparse u=32"]
    assert (f"KL {lf['kl'][0]:.2f} → {lf['kl'][-1]:.2f}, output error {pct(lf['error'], 0)} → {pct(lf['error'], -1)}, "
            f"top-5 overlap\n{lf['overlap'][0]:.2f} → {lf['overlap'][-1]:.2f}") in LEARN
    assert (f"output error {pct(bb['error'], 0)} → {pct(bb['error'], -1)}, top-5 overlap "
            f"{bb['overlap'][0]:.2f} → {bb['overlap'][-1]:.2f}") in LEARN
    assert f"sliding (window 32) output error {pct(sl['error'], 0)} → {pct(sl['error'], -1)}" in LEARN
    assert (f"ProbSparse u = 32 output error {pct(ps['error'], 0)} → {pct(ps['error'], -1)}, top-5 overlap "
            f"{min(ps['overlap']):.2f}–{max(ps['overlap']):.2f}") in LEARN


def test_the_docs_translate_mini_setup_is_the_codes(trained_translate_mini):
    """docs/learn.md's translate-mini data, tokenizer and model figures, and docs/inspect.md's explain() example."""
    from attention import attend, explain
    from attention.domains import translate_mini as T
    from attention.run.models import load_model

    config = T.TranslateConfig()
    train, held_out = T.split_dates(config.data_seed, config.held_out)
    assert f"({len(T.all_dates()):,}) in seven formats" in LEARN and f"A tenth of the dates ({len(held_out):,})" in LEARN
    assert f"{config.train_examples:,} training examples" in LEARN and f"{config.test_examples:,} test examples" in LEARN
    assert f"vocabulary ({len(load_model(T.MODEL_NAME).tokenizer)} tokens" in LEARN
    params = sum(p.numel() for p in trained_translate_mini.network.parameters())
    assert f"{config.encoder_layers} encoder layers, {config.decoder_layers} decoder\n  layer, {config.n_heads} heads, " \
           f"d_model {config.d_model}, d_ff {config.d_ff}" in LEARN and f"({params / 1000:.0f} k parameters)" in LEARN
    assert f"{config.steps:,} steps on one CPU thread" in LEARN
    shape = attend("march 3rd 2021", T.MODEL_NAME, target="2021-03-03").cross.shape
    assert f"[layer, head, target, source] = {tuple(shape)}" in LEARN
    assert f'"trained": {{"score": {T.alignment_report()["trained"]["score"]:.3f}' in LEARN
    dates = explain("the third of march, twenty twenty-one", T.MODEL_NAME, target="next_token", text_b="2021-03-0")
    assert f'dates.target_label   # "{dates.target_label}"' in INSPECT
    assert f"dates.head_layers    # {dates.head_layers}" in INSPECT


def test_the_docs_domain_figures_are_the_codes(trained_vit, trained_timeseries):
    """docs/domains.md's ViT and time-series figures against the trained models (as the pages compute them)."""
    from attention.domains import timeseries as ts
    from attention.domains import vision

    config = vision.VisionConfig()
    wrong = len(vision.mistakes(trained_vit))
    n = len(trained_vit.data.test_labels)
    assert (f"**ViT {trained_vit.vit_accuracy:.1%}** ({wrong} of {n} wrong) vs **logistic regression "
            f"{trained_vit.logistic_accuracy:.1%}**") in DOMAINS
    assert f"({sum(p.numel() for p in trained_vit.network.parameters()):,} parameters)" in DOMAINS
    assert f"{len(trained_vit.data.train_images):,} to train, {n} held out" in DOMAINS
    assert f"{config.n_layers} layers × {config.n_heads} heads, d_model {config.d_model}" in DOMAINS
    assert f"label smoothing {config.label_smoothing},\n  {config.epochs} epochs" in DOMAINS
    agreement = vision.rollout_occlusion_agreement(trained_vit, 40)
    assert f"over 40 held-out\n  digits its median Spearman correlation with the occlusion drop of the true digit is {agreement:.2f}" in DOMAINS
    synthetic = trained_timeseries["synthetic"]
    assert f"layer 1) is {ts.attention_gradient_agreement(synthetic, 1):.2f}" in DOMAINS
    assert f"each token is a patch of {synthetic.network.config.patch} steps" in DOMAINS

    def percent(mine: float, other: float, digits: int) -> str:
        return f"{100 * (mine / other - 1):.{digits}f}%".replace("-", "−")

    rows = {"synthetic": "| synthetic (96 steps) |", "co2": "| CO2 (104 weeks) |", "rul": "| RUL (30 cycles) |"}
    for dataset, start in rows.items():
        table = trained_timeseries[dataset].table
        line = next(row.strip() for row in DOMAINS.splitlines() if row.strip().startswith(start))
        mine = table["Transformer (this page)"]
        if dataset == "rul":
            linear = table["Linear regression (window features)"]
            assert f"RMSE {mine['RMSE']:.1f}, NASA {mine['NASA score']:.0f}" in line, line
            assert (f"{linear['RMSE']:.1f} ({percent(mine['RMSE'], linear['RMSE'], 0)}), {linear['NASA score']:.0f} "
                    f"({percent(mine['NASA score'], linear['NASA score'], 0)})") in line, line
            continue
        linear, naive = table["Linear regression"], table["Seasonal naive"]
        digits = 1 if dataset == "co2" else 0
        assert f"RMSE {mine['RMSE']:.3f}, MAE {mine['MAE']:.3f}" in line, line
        assert (f"{linear['RMSE']:.3f} ({percent(mine['RMSE'], linear['RMSE'], digits)}), {linear['MAE']:.3f} "
                f"({percent(mine['MAE'], linear['MAE'], digits)})") in line, line
        assert f"{naive['RMSE']:.3f}, {naive['MAE']:.3f}" in line, line


def test_the_ui_panels_numbers_are_the_codes():
    """Numbers written into the panels' text (ui/) against the constants and configs that decide them."""
    import inspect

    from attention.analyses.bias import ALPHA
    from attention.analyses.contributions import evaluation
    from attention.analyses.generation import repeated_tokens
    from attention.domains import translate_mini as T

    masks, generation, contributions, bias_ui = ((ROOT / "ui" / f"{name}.py").read_text()
                                                 for name in ("masks", "generation", "contributions", "bias"))
    config = T.TranslateConfig()
    assert (f"({config.encoder_layers} encoder layers, {config.decoder_layers} decoder layer, {config.n_heads} heads, "
            f"d = {config.d_model})") in masks
    defaults = inspect.signature(repeated_tokens).parameters
    length, draws = defaults["length"].default, defaults["sequences"].default
    assert f"a start token, {length} random tokens, the same {length} again; {draws} draws" in generation
    assert f"over {evaluation.RANDOM_SEEDS} random shuffles" in contributions
    assert evaluation.FRACTIONS == tuple(round(0.1 * k, 1) for k in range(1, 10)) and "at 10%, 20%, … 90%" in contributions
    assert f"the head survives at ≤ {ALPHA}" in bias_ui


def test_the_docs_synthetic_floor_is_the_series_own():
    """docs/domains.md: the RMSE of a forecast that knows the synthetic series' parts up to now (and the average
    strength for the next cycle), on the test windows of the default model."""
    from attention.domains import timeseries as ts
    from attention.domains.timeseries.data import SYNTHETIC_PERIODS, SYNTHETIC_STRENGTH, split, synthetic_series

    config = ts.make_config("synthetic")
    series, data, period = synthetic_series(), split(config), SYNTHETIC_PERIODS[1]
    average = float(np.mean(SYNTHETIC_STRENGTH))
    errors = []
    for origin in data.test_ends:
        steps = np.arange(origin, origin + config.horizon)
        current = (origin - 1) // period                      # the cycle of the last observed step
        strength = np.where(steps // period == current, series.strength[current], average)
        known = series.trend[steps] * (1 + series.season_short[steps] + strength * np.sin(2 * np.pi * steps / period) ** 3)
        errors.append(known - series.values[steps])
    rmse = float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))
    assert f"took the average strength, {average:.1f}, for the next cycle would still score RMSE {rmse:.3f}" in DOMAINS


def test_the_docs_efficient_link_ranges_are_the_pages():
    """docs/learn.md's URL-parameter table of Efficient attention against the page's LIMITS (lowest, highest, default)."""
    import ast

    source = (ROOT / "pages" / "efficient_attention.py").read_text()
    assignment = next(node for node in ast.parse(source).body if isinstance(node, ast.Assign)
                      and getattr(node.targets[0], "id", "") == "LIMITS")
    limits = {key: tuple(ast.literal_eval(value) if not isinstance(value, ast.Name) else 512 for value in item.elts)
              for key, item in zip((ast.literal_eval(k) for k in assignment.value.keys), assignment.value.values)}
    assert "MAX_TOKENS = 512" in source
    for name, wording in (("window", "(1–512, default 3)"), ("dilation", "(1–16, default 2)"), ("block", "block size (1–64, default 4)"),
                          ("random", "query block (0–8, default 1)"), ("u", "active queries (1–512, default 4)")):
        low, high, default = limits[name]
        assert wording.endswith(f"({low}–{high}, default {default})") and wording in LEARN, name


def test_the_docs_generation_bench_says_which_output_layer_it_times():
    """bench/bench_generation.py builds gpt-mini's network over MiniLM's whole vocabulary, not the trained restricted one."""
    import re

    from attention.run.models import load_model

    bench = (ROOT / "bench" / "bench_generation.py").read_text()
    width = int(re.search(r"GPTMini\.initial\(config\.scratch\(\), torch\.arange\((\d+)\)", bench).group(1))
    assert width == len(load_model("minilm").tokenizer.vocab)
    assert f"an output layer over all {width:,} tokens, not gpt-mini's restricted vocabulary" in LEARN
    assert f"the {width:,}-wide output layer" in LEARN


def test_the_docs_time_series_setup_is_the_codes():
    """docs/domains.md's series recipe, fleet and link windows against attention/domains/timeseries/data.py."""
    import inspect

    from attention.domains.timeseries import data

    short, long = data.SYNTHETIC_PERIODS
    low, high = data.SYNTHETIC_STRENGTH
    noise = inspect.signature(data.synthetic_series).parameters["noise"].default
    machines = inspect.signature(data.simulate_fleet).parameters["n_machines"].default
    assert f"short = 0.25·sin(2πt/{short})" in DOMAINS and f"A_k·sin³(2πt/{long})" in DOMAINS
    assert f"A_k ~ U({low}, {high}) is drawn anew for each {long}-step cycle" in DOMAINS and f"σ = {noise}" in DOMAINS
    assert f"fleet of {machines} machines" in DOMAINS and f"RUL capped at {data.RUL_CAP})" in DOMAINS
    assert f"{len(data.SENSOR_NAMES)} noisy sensors" in DOMAINS
    windows = ", ".join(f"{name} {'/'.join(map(str, sizes))}" for name, sizes in data.WINDOWS.items())
    assert f"`window` ({windows})" in DOMAINS
    assert f"RUL: {machines * 3 // 4 // 5} of the {machines * 3 // 4} training\n  machines" in DOMAINS


def test_the_docs_control_words_are_single_wordpieces():
    """docs/inspect.md: every control word and name (and what it replaces) is one WordPiece of MiniLM's vocabulary."""
    from attention.analyses.bias import CONTROL_NAMES, CONTROL_WORDS
    from attention.run.models import load_model

    tokenizer = load_model("minilm").tokenizer
    words = [word for pair in CONTROL_WORDS.items() for word in pair] + [name for names in CONTROL_NAMES for name in names]
    assert [word for word in words if len(tokenizer.tokenize(word)) != 1] == []
    assert "All are single WordPieces in MiniLM's vocabulary" in INSPECT
    listed = " / ".join(", ".join(names) for names in CONTROL_NAMES)
    assert f"the next name of the same list — {listed};" in " ".join(INSPECT.split())   # lines joined


def test_the_time_series_page_numbers_are_the_codes():
    """pages/time_series.py's timing note and its split words against the code that times and splits."""
    import inspect

    from attention.domains.timeseries import compare_patterns, data

    page = (ROOT / "pages" / "time_series.py").read_text()
    assert f"time is the best of {inspect.signature(compare_patterns).parameters['repeats'].default} runs" in page
    machines = inspect.signature(data.simulate_fleet).parameters["n_machines"].default
    assert f"each of {machines} machines" in page and f"The last {machines - machines * 3 // 4} machines are held out" in page
    assert "a saving that shows only on long windows (the table below compares both here)" in page


def test_the_efficient_page_probsparse_example_is_informers_rule():
    """pages/efficient_attention.py: 'u is nearly n (15 of 20 tokens; every token up to 14)' under ⌈5·ln n⌉."""
    from attention.analyses.efficient import informer_u

    every = max(n for n in range(2, 200) if informer_u(n) == n)
    assert all(informer_u(n) == n for n in range(2, every + 1))
    page = (ROOT / "pages" / "efficient_attention.py").read_text()
    assert f"({informer_u(20)} of 20 tokens; every token up to {every})" in page


def test_the_docs_gpt_mini_recipe_and_figures_are_the_shipped_models(trained_gpt_mini):
    """docs/learn.md's gpt-mini section: every number of its recipe is GPTMiniConfig's, every measured figure the
    shipped file's scores or head_scores() of the shipped network."""
    import numpy as np

    from attention import evaluate_lm, head_scores
    from attention.domains.gpt_mini import cache
    from attention.domains.gpt_mini.model import GPTMiniConfig, count_parameters

    config, corpus, scores = GPTMiniConfig(), trained_gpt_mini.corpus, trained_gpt_mini.scores
    text = " ".join(LEARN.split())
    growth_done = config.grow_after + config.grow_every * int(np.ceil(np.log2(len(corpus.vocabulary) / config.alphabet)) - 1)
    for phrase in (f"{config.n_layers} layers × {config.n_heads} heads, d_model {config.d_model}, d_ff {config.d_ff}, context {config.context}",
                   f"{config.mix_steps:,} steps of {config.mix_batch} rows × {config.mix_length + 1} tokens",
                   f"learning rate {config.mix_learning_rate:.0e}".replace("e-03", "e-3"),
                   f"with a period of {config.periods[0]}–{config.periods[1]}",
                   f"In {config.gap_share:.0%} of the runs the position ids jump by up to {config.max_gap:,}",
                   f"the {config.alphabet} commonest tokens after the five commonest, and from step {config.grow_after:,} it doubles every {config.grow_every} steps",
                   f"(from step {growth_done:,})",
                   f"{config.steps:,} steps of {config.batch_size} windows × {config.context + 1} tokens",
                   f"{config.warmup} warm-up steps then cosine decay from {config.learning_rate:.0e}".replace("e-04", "e-4"),
                   f"{round(config.batch_size * config.repeat_share)} windows in {config.batch_size} runs of the whole vocabulary (periods {config.repeat_length // 3}–{2 * config.repeat_length}",
                   f"weight decay {config.weight_decay} on matrices", f"query and key weights (std {config.query_key_start})",
                   f"{len(corpus.held_out_topics)} topics, {len(corpus.held_out):,} tokens) held out; {len(corpus.train):,} training tokens",
                   f"{len(corpus.vocabulary):,} tokens: those seen at least twice",
                   f"{count_parameters(trained_gpt_mini.network) / 1e6:.1f} M parameters",
                   f"{cache.shipped_path().stat().st_size / 1e6:.1f} MB",
                   f"**{scores['perplexity']:.1f}** on {scores['tokens']:,} predicted tokens",
                   f"{scores['bigram']:.1f} (k = {scores['bigram_k']}", f"gpt-mini is **{scores['perplexity'] / scores['bigram']:.3f}×**",
                   f"| {scores['unigram']:.1f} |", f"| {evaluate_lm('scratch:random-gpt-mini')['perplexity']:,.0f} (≈ the {len(corpus.vocabulary):,}-token vocabulary",
                   f"{trained_gpt_mini.seconds:,.0f} s"):
        assert phrase in text, phrase
    import json

    bench = json.loads((ROOT / "bench" / "results" / "gpt_mini.json").read_text())                # the v5 column's run
    before, after = bench["before"], bench["after"]
    assert after["perplexity"] == round(scores["perplexity"], 2) and after["best_induction"] == round(float(head_scores("gpt-mini", "induction").max()), 3)
    for phrase in (f"| {before['perplexity']} |", f"({before['ratio']}×)", f"| {before['best_induction']} |",
                   f"| {before['best_previous']} |", f"| {before['best_sink']} |", f"{after['seconds']:,.0f} s in the bench",
                   f"{before['seconds']:.0f} s in the bench"):
        assert phrase in text, phrase
    for kind, words in (("induction", "best head, induction score"), ("previous", "best head, previous-token score"),
                        ("sink", "best head, attention-sink share")):
        trained, untrained = head_scores("gpt-mini", kind), head_scores("scratch:random-gpt-mini", kind)
        layer, head = np.unravel_index(int(trained.argmax()), trained.shape)
        bold = "**" if kind != "sink" else ""
        assert (f"| {words} | {bold}{trained.max():.3f}{bold} (layer {layer} · head {head}" in text
                and f"untrained {untrained.max():.3f}" in text), kind
