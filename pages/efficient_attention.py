"""Efficient attention: sparse patterns beside full attention on real weights, their quality, and their measured cost."""
import streamlit as st

import ui
from attention.analyses.efficient import at_longest, compare, global_positions, informer_u, kept_share, load_costs, probsparse_counts
from figures.efficient import MINILM_DOUBLING, cost_figure, head_pair_figure, pattern_figure, quality_figure
from attention.engine.patterns import PATTERN_OPTIONS, PATTERNS
from attention.run.cache import memoized
from attention.run.trace import trace

MAX_TOKENS = 512   # this page reads up to 512 tokens: long texts are where patterns matter
LIMITS = {"window": (1, MAX_TOKENS, 3), "dilation": (1, 16, 2), "block": (1, 64, 4), "random": (0, 8, 1), "seed": (0, 9999, 0),
          "u": (1, MAX_TOKENS, 4)}                                       # URL name: (lowest, highest, default)
FIELDS = {   # attend() option -> (URL / widget name, label, help); each pattern shows the fields of its options
    "window": ("window", "Window (each side)", "A query sees the keys at most this many positions away."),
    "dilation": ("dilation", "Dilation", "Keep every d-th key inside the window: the same reach as the sliding window with "
                                         "about 1/d of its keys."),
    "global_tokens": ("globals", "Global tokens", "Positions (from 0; -1 is the last) that see every token and are seen by every token."),
    "block": ("block", "Block size", "BigBird works in blocks of this many tokens."),
    "random_blocks": ("random", "Random blocks", "Key blocks each query block also sees, picked at random."),
    "seed": ("seed", "Seed", "Seed of the random picks."),
    "u": ("u", "Active queries u", "ProbSparse: how many queries get full attention; the rest take the mean value. "
                                   "Informer's default is ⌈5·ln n⌉ for n tokens."),
}

@memoized("efficient-quality", max_items=16)
def quality(text: str, model: str, options: dict):
    """Full vs patterned, layer by layer, from the two traces the page already holds (cached: the top-k sort of a
    512-token text takes a moment)."""
    return compare(trace(text, model, max_tokens=MAX_TOKENS), trace(text, model, max_tokens=MAX_TOKENS, **options))


STATE = ui.PageState("efficient", ui.Sentence(), ui.Engine(), ui.Choice("pattern", PATTERNS[2:] + PATTERNS[:2]),
                     ui.Text("globals", "0", strip=True, keep_empty=True, limit=60), ui.Index("layer"), ui.Index("head"),
                     *(ui.Integer(name, default, low, high) for name, (low, high, default) in LIMITS.items()))
STATE.load()

st.title("Efficient attention")
st.caption(
    "Full attention scores every token against every other token, so doubling the text quadruples the number of scores "
    "(the n × n matrix): 1,000 tokens already make a million pairs. The whole model grows less: its linear layers grow "
    f"with n, so for MiniLM's sizes 512 → 1,024 tokens is ≈ {MINILM_DOUBLING:.1f}× the total work; and exact attention "
    "need not hold the matrix (FlashAttention computes it in O(n) memory). Sparse patterns keep only some pairs — here "
    "computed that way, block by block, not by blanking out a full matrix. Compare each pattern with full attention on "
    "the same real weights: MiniLM was trained with full attention, while Longformer, BigBird and Informer are trained "
    "with their patterns, so the errors shown are those of a model meeting a pattern it never saw."
)
ui.show_url_notices()
text, model = ui.text_and_model(picker=ui.engine_picker)
c1, c2, c3, c4, c5, c6 = st.columns(6, vertical_alignment="bottom")
pattern = c1.selectbox("Pattern", PATTERNS[2:] + PATTERNS[:2], key="efficient_pattern",
                       help="sliding: a band around each token · dilated: every few tokens inside the band · longformer: band + "
                            "global tokens · bigbird: band + global + random blocks · probsparse: Informer's busy queries only")
options = {}
for option, column in zip(PATTERN_OPTIONS[pattern], [c2, c3, c4, c5, c6]):
    name, label, help_text = FIELDS[option]
    if option == "global_tokens":
        options[option], message = global_positions(column.text_input(label, key=f"efficient_{name}", help=help_text))
        if message:
            st.error(message)
    else:
        options[option] = column.number_input(label, *LIMITS[name][:2], key=f"efficient_{name}", help=help_text)

patterned = ui.run_trace(text, model, max_tokens=MAX_TOKENS, pattern=pattern, **options)   # the pattern in every layer
full = (ui.run_core("Running full attention on the same text…", trace, text, model, max_tokens=MAX_TOKENS)
        if patterned is not None else None)   # the same text and engine, full attention (its notices are the ones above)
if patterned is not None and full is not None:
    result = patterned.result
    l1, l2, _ = st.columns([1, 1, 3])
    layer, head = ui.layer_and_head("efficient", result, [l1, l2])
    n = result.n_tokens
    left, right = st.columns([2, 3])
    with left:
        st.subheader("The pattern")
        ui.chart(pattern_figure(patterned, layer, head, pattern), "mask")
        if pattern == "probsparse":
            c = probsparse_counts(n, u=options.get("u"))
            note = (f"{n} tokens: only u = {c['u']} of {n} queries attend (Informer's default ⌈5·ln n⌉ would be "
                    f"{informer_u(n)}); they score {c['attended']:,} of the {c['full']:,} pairs, plus {c['measured']:,} "
                    f"sampled dot products to choose them. The other {n - c['u']} queries are given the mean of the "
                    "values (uniform weights, drawn in the heatmap).")
            if informer_u(n) >= 0.5 * n:
                note += (" At this length Informer's ⌈5·ln n⌉ would keep nearly every query, so ProbSparse would save "
                         "little" + ("." if c["u"] >= 0.5 * n else f"; here u = {c['u']} is set by hand."))
            st.caption(note)
        else:
            st.caption(f"{n} tokens: this head gives a weight above 0 to {kept_share(patterned, layer, head):.0%} of "
                       f"the {n * n:,} pairs full attention scores.")
    with right:
        st.subheader("This head, pattern beside full attention")
        ui.chart(head_pair_figure(patterned, full, layer, head, pattern), "pair")
    st.subheader("How far from full attention, layer by layer")
    found = ui.run_core("Comparing every layer with full attention…", quality, text, model, {"pattern": pattern, **options})
    if found is not None:
        ui.chart(quality_figure(found, pattern), "quality")
        st.caption("The pattern runs in every layer, so differences build up towards the top; MiniLM never saw it in "
                   "training (the models that use these patterns are trained with them). KL(pattern ‖ full): how far "
                   "each of the pattern's rows is from full attention's row, in nats (0 = the same). Output error: how much the layer's output vectors moved. "
                   f"Top-{found.top_k}: of the keys full attention weighs most, the share the pattern keeps among its own top.")

st.subheader("What it costs: measured")
costs = load_costs()
if costs is None:
    st.info("No measurements yet: run `.venv/bin/python bench/bench_patterns.py --save` to draw them here.")
else:
    meta, (longest, at) = costs["meta"], at_longest(costs)
    ui.chart(cost_figure(costs), "cost")
    st.caption(
        f"Saved output of bench/bench_patterns.py (shipped in the repo, measured on {meta['date']}, {meta['cpus']} CPUs, "
        f"{meta['engine']}): one forward pass per length, CPU time on {meta['threads']} thread(s), fastest of {meta['reps']} runs; "
        "memory is the peak above what the process held before the pass. On a log-log plot a straight line's slope is the "
        f"growth exponent: full ≈ {costs['exponents']['full']['time']:.1f}, sliding ≈ {costs['exponents']['sliding']['time']:.1f}. "
        f"At {longest:,} tokens full attention takes {at['full']['ms'] / 1000:.1f} s and {at['full']['mb']:,.0f} MB; the sliding "
        f"window {at['sliding']['ms'] / 1000:.2f} s and {at['sliding']['mb']:,.0f} MB.")

st.subheader("The ideas, in short")
st.markdown("""
**Sliding window.** Most of what a word needs sits close to it. Each token looks only at its neighbours within the
window, so the work per token is fixed and the total grows in step with the length. Information still travels far:
every layer widens the reach by one window. *Use it* for long text where local context carries most of the meaning.

**Dilated window.** The same band with gaps: within the window the token looks at every d-th neighbour only — the same
reach as the sliding window with about 1/d of its keys. (Longformer's dilated window instead keeps w keys spread d
apart, so it reaches d·w for the same work (Beltagy et al., 2020); this engine keeps the reach and drops keys, and as it
scores the whole band before masking, it is not faster than sliding.)

**Longformer.** A sliding window plus a handful of *global* tokens — typically the classification token or a question —
that read the whole text and that every token can read. The window keeps the cost linear; the global tokens give every
pair a two-step path. *Use it* for long documents where a few positions must summarise or steer everything.

**BigBird.** Longformer's window and global tokens, plus a few randomly chosen blocks of keys for each block of queries.
The random links make short paths between distant tokens likely, at a fixed extra cost per block.

**ProbSparse (Informer).** A different bet: not every *query* needs attention. A query whose scores are flat spreads its
weight almost evenly, so its answer is close to the plain average of the values. Informer measures how peaked a query
is by M(q, K) = log-sum-exp of its scores − their mean; in practice it uses the cheaper approximation max − mean,
estimated on a random sample of about 5·ln n keys (Zhou et al., 2021), as this engine does. It gives full attention only
to the u queries that stand out most and hands the rest the mean of the values. With u = ⌈5·ln n⌉ the number of scored
pairs grows like n·log n; at short lengths u is nearly n (15 of 20 tokens; every token up to 14), so the saving only
appears on long inputs. *Use it* for long time series (forecasting), where a few moments drive the rest.
""")

STATE.share(text, text=text, model=model, pattern=pattern, layer=STATE["layer"], head=STATE["head"],
            **{FIELDS[name][0]: ",".join(map(str, value)) if name == "global_tokens" else value for name, value in options.items()})
