"""Time series: self-attention over time steps — forecasting a series, and the remaining useful life of machines."""
from functools import partial

import pandas as pd
import streamlit as st

import ui
from attention.analyses.efficient import probsparse_counts
from attention.domains import timeseries as ts
from figures.timeseries import forecast_figure, gradient_figure, rul_trace_figure, sensors_figure, time_heatmap

PATTERNS = ("full", "probsparse")
AVERAGE = "average"


def read_head(raw: str | None) -> tuple[str, str | None]:
    if raw is None or raw.strip().lower() in ("", AVERAGE, "avg"):
        return AVERAGE, None
    value, notice = ui.parse_index(raw, "head")
    return (AVERAGE, notice) if notice else (str(value), None)


STATE = ui.PageState("ts", ui.Choice("dataset", ts.DATASETS), ui.Index("window", None, fallback=None),  # absent: the first window
                     ui.Choice("pattern", PATTERNS), ui.Index("sample", noun="held-out window"),
                     ui.Index("output", noun="forecast step"), ui.Index("layer", 1), ui.Custom("head", AVERAGE, read_head),
                     shared=())
STATE.load()

st.title("Time series")
st.caption("Here the tokens are moments in time instead of words. A small transformer built on this project's own attention "
           "engine reads a window of the past — each token is a short stretch of steps (or one machine cycle), turned into "
           "a vector and given a position — and answers with a forecast, or with how many cycles a machine has left.")
ui.show_url_notices()

c1, c2, c3 = st.columns([2, 1, 1])
dataset = c1.selectbox("Dataset", ts.DATASETS, key="ts_dataset", format_func=ts.DATASET_TITLES.get)
windows = ts.WINDOWS[dataset]
if st.session_state.get("ts_window") not in windows:
    if st.session_state.get("ts_window") is not None and st.session_state.get("_ts_window_of", dataset) == dataset:  # a link, not a switch
        ui.warn(f"The {dataset} models read windows of {', '.join(map(str, windows))} steps, not "
                f"{st.session_state['ts_window']}; {windows[0]} is shown.")
    st.session_state["ts_window"] = windows[0]
st.session_state["_ts_window_of"] = dataset
window = c2.selectbox("Window (steps)", windows, key="ts_window",
                      help="How much past the model reads. Each window length is its own model, trained once and kept on disk.")
pattern = c3.selectbox("Attention pattern", PATTERNS, key="ts_pattern",
                       help="full: every token looks at every token. probsparse: Informer's ProbSparse — only the queries "
                       "whose scores stand out attend; the rest take the average. Same trained weights.")

config = ts.make_config(dataset, window)
trained = ui.load_demo(partial(ts.load_or_train, config), ts.is_cached(config),
                       f"Training the {dataset} model once (a fixed seed, on the CPU; it is then kept on disk)…")

if dataset == "rul":
    st.info("**Simulated data.** No real engine was measured: each of 160 machines gets a random life (130–330 cycles) and "
            "a starting wear; wear grows slowly, then ever faster (exponentially) until failure, and 8 of 10 noisy sensors "
            "follow it — the shape of NASA's C-MAPSS turbofan data. The remaining useful life is capped at "
            f"{ts.RUL_CAP} cycles, as is usual for C-MAPSS. The last 40 machines are held out.")
elif dataset == "synthetic":
    low, high = ts.SYNTHETIC_STRENGTH
    short, long = ts.SYNTHETIC_PERIODS
    st.info(f"**How this series is made.** value = trend · (1 + short season + long season) + noise: the trend rises from 1 "
            f"to 3; the short season is 0.25·sin(2πt/{short}); the long season is A·sin³(2πt/{long}), where the strength A "
            f"is drawn at random between {low} and {high} for each {long}-step cycle (a strong year, then a weak one); "
            "the noise is Gaussian with σ = 0.03. A fixed linear map over the window cannot tell which steps belong to "
            "the current cycle, so it mixes in the last cycle's strength; attention can read the current cycle's "
            "strength from the part already seen. The next cycle's strength cannot be known by anyone.")

st.subheader("On held-out data, against simple baselines")
table = pd.DataFrame(trained.table).T
st.dataframe(table.style.format("{:.3f}"), width="stretch")
split_words = "the last 20% of the series (the model never saw it)" if config.forecasting else "4 random moments in each held-out machine's life"
kept_aside = "the last 20% of the training period" if config.forecasting else "a fifth of the training machines"
members = (f" The forecast is the average of {config.members} such transformers trained from different seeds; the head "
           f"list below holds their {config.n_heads} heads each, member after member.") if config.members > 1 else ""
st.caption(f"Scored on {len(trained.data.test_x)} windows from {split_words}. Lower is better. The transformer starts "
           "from the linear regression's own forecast and attention learns corrections to it; the checkpoint is chosen "
           f"on {kept_aside}, never on the test windows.{members} Trained in {trained.seconds:.0f} s.")

n = len(trained.data.test_x)
STATE.clamp("sample", n)
d1, d2, d3, d4 = st.columns(4)
sample = d1.number_input("Held-out window", 0, n - 1, key="ts_sample", step=1)
if config.forecasting:
    STATE.clamp("output", config.n_outputs)
    output = d2.selectbox("Forecast for steps", range(config.n_outputs), key="ts_output", format_func=config.output_name)
else:
    output = st.session_state["ts_output"] = 0
STATE.clamp("layer", config.n_layers)
layer = d3.selectbox("Layer", range(config.n_layers), key="ts_layer")
heads = [AVERAGE, *map(str, range(config.all_heads))]
if st.session_state["ts_head"] not in heads:
    ui.warn(f"This model has {config.all_heads} heads (0–{config.all_heads - 1}); the average is shown.")
    st.session_state["ts_head"] = AVERAGE
head_choice = d4.selectbox("Head", heads, key="ts_head",
                          format_func=lambda choice: config.head_name(None if choice == AVERAGE else int(choice)))
head = None if head_choice == AVERAGE else int(head_choice)

result = ui.run_core("Running the window…", ts.explain, trained, int(sample), pattern)
if result is not None:
    if config.forecasting:
        left, right = st.columns(2)
        ui.chart(forecast_figure(result, output, layer, head), "ts_forecast", slot=left)
        ui.chart(gradient_figure(result, ts.forecast_gradient(trained, int(sample), output), output), "ts_gradient", slot=right)
        st.caption(f"Red shading (left): one layer's attention row — how the chosen forecast token (orange band) weights each "
                   f"past token of {config.patch} steps in layer {layer}. The forecast is a linear baseline plus an attention "
                   "correction, so the row is not how much the forecast draws on each step; the green bars (right) are what "
                   f"the whole model's forecast is locally sensitive to, |∂forecast/∂x|. Over {ts.GRADIENT_CHECKED} held-out "
                   "windows the median Spearman correlation of the two (per token, first forecast token, heads averaged, "
                   f"layer {layer}) is {ts.attention_gradient_agreement(trained, layer):.2f}.")
    else:
        ui.chart(sensors_figure(result, list(ts.SENSOR_NAMES), layer, head), "ts_sensors")
        machine = int(result.meta["end"][0])
        cycles, true, predicted = ts.machine_life(trained, machine)
        ui.chart(rul_trace_figure(true, predicted, cycles), "ts_life")
    ui.chart(time_heatmap(result, layer, head), "ts_heatmap")
    st.caption("Rows are the tokens that look (the last rows are the forecast or RUL tokens), columns the tokens looked at. "
               "Switch between single heads and their average to see whether the heads split the work (recent steps, one season back).")

st.subheader("Why attention suits time series")
st.markdown(
    "- **Far-away moments are one step away.** A recurrent network carries the past forward step by step and tends to "
    "lose what happened long ago; here the forecast token compares itself with every past token directly (a token "
    f"is a patch of {config.patch} steps), so last season's peak is as easy to reach as yesterday.\n"
    "- **No recurrence, so it runs in parallel.** All steps are processed at once rather than one after another.\n"
    "- **The price is the square of the length.** Every token scores every other, so doubling the window quadruples "
    "the number of scores — painful for long sensor histories. Informer's *ProbSparse* lets only the few queries with "
    "sharp, informative score profiles attend (about 5·ln n of them) and gives the rest the average: the number of "
    "scored pairs grows like n·log n, a saving that shows only on long windows (the table below compares both here)."
)

st.subheader(f"Full vs ProbSparse on all {n} held-out windows")
comparison = ui.run_core("Timing full and ProbSparse attention…", ts.compare_patterns, trained)
if comparison is not None:
    counts = {"queries that attend": "{:.0f}", "ms for all test windows": "{:.1f}"}
    st.dataframe(pd.DataFrame(comparison).T.style.format("{:.3f}").format(counts, subset=list(counts)),
                 width="stretch")
    st.caption(f"The same trained weights on all {n} held-out windows ({config.n_past + config.n_outputs} tokens each); "
               "time is the best of 3 runs on this machine. Choose a longer window to see the gap change.")
    tokens = config.n_past + config.n_outputs
    u = int(comparison["probsparse"]["queries that attend"])
    st.caption(f"At {tokens} tokens per window {u} of {tokens} queries attend (Informer's ⌈5·ln n⌉ = "
               f"{probsparse_counts(tokens)['u']})"
               + (", nearly all of them, so ProbSparse does almost the same work plus its sampling, ranking and "
                  "gathering: here it can be slower than full attention." if u >= 0.5 * tokens else ".")
               + " The n·log n saving is asymptotic; it pays off on long windows (Zhou et al., 2021, use inputs of "
                 "hundreds of steps).")

STATE.share("", dataset=dataset, window=window, pattern=pattern, sample=int(sample) or None, output=output or None,
            layer=layer, head=head_choice)
