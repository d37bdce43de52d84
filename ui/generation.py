"""The Generation page's panels: the top-k link value, the logit lens of the newest token, what gpt-mini's heads do and
how good it is (drawn here, computed by attention.analyses.generation / lens and attention.domains.gpt_mini)."""
from __future__ import annotations

from typing import Any

import streamlit as st

from attention.analyses.generation import Generation, head_scores
from attention.analyses.lens import generation_lens
from attention.domains import gpt_mini
from figures.generation import continuations_table, lens_figure, perplexity_figure, roles_caption, score_maps
from ui.messages import warn
from ui.run import run_core
from ui.state import parse_index
from ui.views import chart

DEFAULT_TOP_K = 40


def read_top_k(raw: str | None) -> tuple[int | None, str | None]:
    """The link's top_k: a whole number ≥ 1, or 'none' (no limit); absent: the page's default."""
    if raw is None or not raw.strip():
        return DEFAULT_TOP_K, None
    if raw.strip().lower() == "none":
        return None, None
    value, notice = parse_index(raw, "top_k")
    if notice or value < 1:
        return DEFAULT_TOP_K, f"The link's top_k '{raw[:20]}' is not a whole number of at least 1; {DEFAULT_TOP_K} is used."
    return value, None


def lens_panel(run: Generation, step: int) -> None:
    """The logit lens at the newest token: what each layer's stream would predict next, read through the output layer."""
    lens = run_core("Reading the logit lens…", generation_lens, run, step)
    if lens is None:
        return
    for notice in lens.notices:
        warn(notice)
    st.caption(f"**A lens, not a measurement.** {lens.note} Read from the bottom row up, it shows where in the stack the "
               "prediction forms (nostalgebraist, 2020).")
    chart(lens_figure(lens), "generation_lens")


def heads_panel(decoders: tuple[str, str]) -> None:
    """gpt-mini's per-head scores beside the same network untrained, with what its strongest heads do."""
    config = gpt_mini.GPTMiniConfig()
    st.caption(
        "Measured the standard way (Olsson et al., 2022): a start token, 50 random tokens, the same 50 again; 4 draws "
        "averaged. **Previous-token** heads put their weight on the token just before; **induction** heads, in the second "
        "copy, look at the token that followed the current token's earlier occurrence (the one to copy next); an "
        "**attention sink** (Xiao et al., 2024) is weight parked on the first token. Half of gpt-mini's first training "
        f"rows are random runs repeated (periods of {config.periods[0]}–{config.periods[1]} tokens, position ids that "
        "jump between the copies), where only an induction head can predict the second copy; its alphabet grows from "
        f"{config.alphabet} common tokens to the whole vocabulary, so the heads copy any token.")
    kind = st.segmented_control("Score", ("induction", "previous", "sink"), default="induction",
                                key="generation_kind") or "induction"
    maps = run_core("Measuring heads…", lambda: {name: head_scores(name, kind) for name in decoders})
    if maps is not None:
        chart(score_maps(maps, f"{kind} score per head (0–1)"), "generation_scores")
        best = {name: float(values.max()) for name, values in maps.items()}
        st.caption(f"Best head: gpt-mini {best[decoders[0]]:.2f}, untrained {best[decoders[1]]:.2f}. "
                   + roles_caption(gpt_mini.head_roles()))


def quality_panel(trained: Any) -> None:
    """Held-out perplexity against the baselines, training time, and held-out openings continued."""
    scores = trained.scores
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("gpt-mini, held-out perplexity", f"{scores['perplexity']:.1f}")
    m2.metric("Bigram (add-k)", f"{scores['bigram']:.1f}", help=f"k = {scores['bigram_k']}, chosen on the held-out text (flatters it).")
    m3.metric("Unigram", f"{scores['unigram']:.1f}")
    shipped = gpt_mini.is_shipped()
    m4.metric("Training", f"{trained.seconds:.0f} s",
              help="One CPU thread, seed 0; done once when the package was made: its weights ship with it." if shipped
              else "Once per machine, one CPU thread, seed 0; kept in the cache folder.")
    st.caption(
        f"Trained on {len(trained.corpus.train):,} tokens of Python's reference documentation (pydoc_data, shipped with "
        f"Python) and scored on {scores['tokens']:,} tokens of "
        f"{len(trained.corpus.held_out_topics)} documentation topics it never saw ({', '.join(trained.corpus.held_out_topics)}). "
        "Perplexity is e to the mean negative log-probability of each true next token: lower is better; a model "
        "guessing evenly among N tokens scores N.")
    chart(perplexity_figure(scores), "generation_perplexity")
    samples = run_core("Writing continuations…", gpt_mini.held_out_continuations)
    if samples:
        st.caption("Openings of held-out topics, continued for 20 tokens as the model writes them (shown as they come), "
                   "beside what the documentation really says next.")
        st.table(continuations_table(samples))
