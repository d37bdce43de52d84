"""Generation: a GPT-style decoder writes text one token at a time; see each step's candidates, the attention of the
newest token with its key/value cache, and which heads copy, look back one token, or rest on the first token."""
import streamlit as st

import ui
from attention.analyses.generation import Generation, generate
from attention.domains import gpt_mini
from attention.run.cache import memoized
from figures.generation import cache_figure, candidates_figure, latest_heads_figure
from ui.generation import DEFAULT_TOP_K, heads_panel, lens_panel, quality_panel, read_top_k

DEFAULT_PROMPT = "the return statement"
DECODERS = (gpt_mini.MODEL_NAME, gpt_mini.RANDOM_NAME)
STEP_LIMIT = 64
STATE = ui.PageState(
    "generation", ui.Text("prompt", DEFAULT_PROMPT, limit=2000), ui.Text("model", DECODERS[0], strip=True, limit=200),
    ui.Integer("steps", 20, low=1, high=STEP_LIMIT), ui.Integer("seed", 0, low=0, high=2**31 - 1),
    ui.Fraction("temperature", 0.8, low=0.0, high=2.0), ui.Custom("top_k", DEFAULT_TOP_K, read_top_k),
    ui.Index("layer"), ui.Index("head"), ui.Index("step", None, noun="step", fallback=None), shared=())
STATE.load()

st.title("Generation")
st.caption(
    "A GPT-style decoder (Radford et al., 2018) writes text one token at a time: it scores every token of its "
    "vocabulary as the next one, one is picked, appended, and the longer text goes in again. Its attention is causal, "
    "so a token never sees later ones, and what earlier tokens computed never changes: their keys and values can be "
    "kept (the **key/value cache**) and each step only computes the newest token's query, key and value."
)
ui.show_url_notices()
trained = ui.load_demo(gpt_mini.load_or_train, gpt_mini.is_cached(),   # shipped; another recipe trains once, then on disk
                       "Training gpt-mini once on this machine (it is saved for every later visit)…")

st.text_area("Prompt", key=STATE.key("prompt"), height=70, help="gpt-mini writes lowercase: MiniLM's tokenizer lowercases.")
c1, c2, c3, c4, c5 = st.columns([2, 1, 1, 1, 1])
c1.text_input("Decoder", key=STATE.key("model"), help="gpt-mini (trained here on Python's documentation), scratch:random-gpt-mini "
              "(the same network untrained), scratch:<GPT-2 folder>, or a transformers decoder id or folder (GPT-2, Llama …).")
c2.number_input("Tokens to write", 1, STEP_LIMIT, key=STATE.key("steps"))
c3.number_input("Temperature", 0.0, 2.0, step=0.1, key=STATE.key("temperature"),
                help="0: always the likeliest token (greedy). Above 0: drawn from softmax(scores / temperature).")
c4.number_input("Seed", 0, 2**31 - 1, key=STATE.key("seed"), help="The same seed draws the same tokens.")
top_k = c5.number_input("Top-k (0: all)", 0, 1000, value=STATE["top_k"] or 0, help="Draw only among the k likeliest tokens.")
STATE["top_k"] = int(top_k) or None


def show_all(temperature: float | None = None) -> None:
    STATE["step"] = None
    if temperature is not None:
        STATE["temperature"] = temperature


def one_more() -> None:
    """Show the next token; when all are shown, write one more (a seeded run writes the same tokens before it)."""
    shown = STATE["step"] if STATE["step"] is not None else STATE["steps"]
    if shown >= STATE["steps"]:
        STATE["steps"] = min(STEP_LIMIT, STATE["steps"] + 1)
    STATE["step"] = min(shown + 1, STATE["steps"])


b1, b2, b3, _ = st.columns([1, 1, 1, 3])
b1.button("Generate", type="primary", on_click=show_all)
b2.button("Greedy", on_click=show_all, args=(0.0,), help="Temperature 0: always the likeliest token.")
b3.button("Step", on_click=one_more, help="Show one more token (writing one more when all are shown).")

prompt, model = STATE["prompt"], STATE["model"] or DECODERS[0]
settings = dict(steps=int(STATE["steps"]), seed=int(STATE["seed"]), temperature=float(STATE["temperature"]), top_k=STATE["top_k"])
share = dict(prompt=prompt, model=model, **{**settings, "top_k": settings["top_k"] or "none"})


@memoized("generations", max_items=16)
def cached_generation(prompt: str, model: str, steps: int, seed: int, temperature: float, top_k: int | None) -> Generation:
    return generate(prompt, model, steps=steps, seed=seed, temperature=temperature, top_k=top_k)


run = ui.run_core(f"{model[:60]} is writing…", cached_generation, prompt, model, **settings)
if run is None:
    ui.stop_with_share(share, prompt)
for notice in run.notices:
    ui.warn(notice)
step, notice = run.shown_step(STATE["step"])
if notice:
    ui.warn(notice)
STATE.clamp("layer", run.n_layers)
STATE.clamp("head", run.n_heads)
layer, head = STATE["layer"], STATE["head"]

st.header("The text, token by token")
st.markdown(f"**Prompt:** {ui.md_escape(prompt)}")
st.markdown(f"**Written ({step} of {run.n_generated} tokens):** {ui.md_escape(run.written[step - 1]) or '∅'}")
st.dataframe(run.steps_table(step), hide_index=True, width="stretch")
ui.chart(candidates_figure(run, step - 1), "generation_candidates")

st.header("The newest token's attention, and the cache")
l1, l2, _ = st.columns([1, 1, 3])
l1.number_input("Layer", 0, run.n_layers - 1, key=STATE.key("layer"))
l2.number_input("Head", 0, run.n_heads - 1, key=STATE.key("head"))
layer, head = STATE["layer"], STATE["head"]
query = run.newest(step)
st.caption(
    f"To write token {query + 1}, the model runs only token {query} ({ui.md_escape(repr(run.tokens[query]))}) through every layer: its "
    f"query meets the {query + 1} keys (the {query} in the cache and its own), and its value joins the cache. Rows above "
    "were computed at earlier steps and are never computed again: causal attention means no earlier row can change."
)
ui.chart(cache_figure(run, layer, head, step), "generation_cache")
ui.chart(latest_heads_figure(run, layer, step), "generation_heads")
groups = run.kv_groups
if any(len(group) > 1 for group in groups):
    st.caption("Grouped-query attention (Ainslie et al., 2023): query heads in one group read the same keys and values, "
               "so the cache keeps one key/value head per group.")
    st.dataframe({"key/value head": list(range(len(groups))), "query heads": [", ".join(map(str, g)) for g in groups]},
                 hide_index=True)

st.subheader("Logit lens: the next token, read from every layer")
lens_panel(run, step)

st.header("What the heads do: gpt-mini against the same network untrained")
heads_panel(DECODERS)

st.header("How good is gpt-mini?")
quality_panel(trained)

STATE.share(prompt, **share, layer=layer, head=head, step=step)
