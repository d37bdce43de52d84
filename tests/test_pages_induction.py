"""The Induction heads page through Streamlit's AppTest: the numbers and figures shown are the core's (training
history, findings, traces with and without the removed head), URL state and bad values."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from apptest_pages import open_page
from test_pages_learn import array, messages, metric, words

from attention import trace
from attention.domains import induction_mini as im

DEFAULT_TEXT = "mr dursley of privet drive; mr dursley of privet drive"


@pytest.fixture(autouse=True)
def _model(trained_induction_mini):
    """Every test here opens the page on the trained, cached induction-mini (a fresh machine trains it once first)."""
    return trained_induction_mini


@pytest.fixture(scope="module")
def found(trained_induction_mini) -> im.Findings:
    trained = trained_induction_mini
    return im.findings(trained.network, trained.config, trained.history)


def chart(app, key: str) -> dict:
    return json.loads(next(c for c in app.get("plotly_chart") if c.proto.id.endswith(key)).proto.spec)


def test_bare_url_shows_the_phase_change_the_heads_and_the_composition(trained_induction_mini, found):
    app = open_page("induction_heads")
    assert not app.error and not app.warning
    text = words(app)
    config, history = trained_induction_mini.config, trained_induction_mini.history
    assert "What it is not:" in text and "Olsson et al., 2022" in text and "Elhage et al., 2021" in text
    assert f"{config.n_layers} layers × {config.n_heads} heads" in text and f"{config.min_period}–{config.max_period}" in text
    assert f"at step {found.phase_step} (dashed line)" in text
    assert f"Trained in {trained_induction_mini.seconds:.0f} s ({trained_induction_mini.cpu_seconds:.0f} s of processor" in text
    assert f"ln 62 ≈ {math.log(62):.1f} nats" in text
    assert abs(history["loss_first"][-1] - math.log(62)) < 0.3          # the caption's "stays near ln 62"
    assert f"[BOS], {im.PROBE_LENGTH} random" in text and 2 * im.PROBE_LENGTH + 1 == im.probe().shape[1]
    best, prev = found.induction_head, found.previous_head
    assert f"layer {best[0]} head {best[1]} ({found.best_induction:.2f})" in text
    assert f"layer {prev[0]} head {prev[1]} ({found.best_previous:.2f})" in text
    phase = chart(app, "induction_phase")["data"]
    np.testing.assert_allclose(array(phase[1]["y"]), history["loss_repeated"], atol=1e-6)
    induction_lines = [trace for trace in phase if trace.get("yaxis") == "y2"]
    np.testing.assert_allclose(array(induction_lines[4 + best[1]]["y"]), history["induction"][:, 1, best[1]], atol=1e-6)
    np.testing.assert_allclose(array(chart(app, "induction_scores")["data"][0]["z"]), found.induction, atol=1e-6)
    removal = found.removal_of(None)                     # the default: the previous-token head removed
    assert metric(app, f"Induction score, layer {best[0]} head {best[1]}") == f"{removal.induction_after[best]:.2f}"
    assert metric(app, "Loss on the repeated part (nats)") == f"{removal.loss_repeated_after:.2f}"
    # the captions' claims, measured: the induction head fails and the repeats become about as hard as the first part
    assert removal.induction_after[best] < removal.induction_before[best] / 3
    assert removal.loss_repeated_after > removal.loss_first_before - 0.5
    low, high = found.composition_range()
    assert f"{low:.2f}–{high:.2f}" in text and low > found.composition_range(trained=False)[1]
    np.testing.assert_allclose(array(chart(app, "induction_composition")["data"][0]["z"]), found.composition, atol=1e-6)
    assert app.dataframe[0].value.shape == (4, 4)
    assert app.query_params["removed"] == str(prev[1]) and app.query_params["text"] == DEFAULT_TEXT   # the share link


def test_the_text_view_is_the_trace_with_and_without_the_removed_head(found):
    text = "abcdefghij abcdefghij"
    app = open_page("induction_heads", text=text, removed="2")
    assert not app.error and not app.warning
    best = found.induction_head
    data = chart(app, "induction_on_text")["data"]
    kept, gated = trace(text, "induction-mini"), trace(text, "induction-mini", gate={(0, 2): 0.0})
    lower = np.tril(np.ones((kept.n_tokens, kept.n_tokens), dtype=bool))
    np.testing.assert_allclose(array(data[0]["z"])[lower], kept.head(*best)[lower], atol=1e-6)
    np.testing.assert_allclose(array(data[1]["z"])[lower], gated.head(*best)[lower], atol=1e-6)
    assert metric(app, "Loss on the repeated part (nats)") == f"{found.removal_of(2).loss_repeated_after:.2f}"


def test_bad_values_in_the_link_become_notices():
    app = open_page("induction_heads", removed="9")
    assert not app.exception and "layer-0 head" in messages(app)
    app = open_page("induction_heads", removed="x")
    assert not app.exception and "layer-0 head" in messages(app)



def test_a_link_of_the_heads_page_runs_induction_mini_by_name():
    """The model is a name like any other: the first page's share link runs it, as attend() does."""
    from attention import attend

    app = open_page("home", text="abc abc", model="induction-mini")
    assert not app.error and app.session_state["model"] == "induction-mini"
    assert attend("abc abc", "induction-mini").tokens == ["[BOS]", "a", "b", "c", "▁", "a", "b", "c"]


def test_the_phase_change_figure_drawn_while_training_runs_to_the_last_step(trained_induction_mini):
    """While training (phase_step None) the chart has no phase line and its x axis runs to the last step, so it grows
    rightwards; once trained the line marks the phase change."""
    from figures.induction import phase_change_figure

    history = trained_induction_mini.history
    so_far = {name: values[:9] for name, values in history.items()}
    growing = phase_change_figure(so_far, None, 1500)
    assert list(growing.layout.xaxis.range) == [0, 1500] and not growing.layout.shapes
    np.testing.assert_array_equal(growing.data[0].x, history["step"][:9])
    done = phase_change_figure(history, 225)
    assert done.layout.shapes[0].x0 == 225 and done.layout.xaxis.range is None
