"""The Time series page through AppTest: defaults, URL state in and out, the numbers shown match the core."""
from __future__ import annotations

import json

import numpy as np
import pytest

from apptest_pages import open_page
from attention.domains import timeseries as ts


@pytest.fixture(scope="module", autouse=True)
def trained_models(trained_timeseries):
    return trained_timeseries


def charts(app) -> dict[str, dict]:
    return {chart.proto.id or str(i): json.loads(chart.proto.spec) for i, chart in enumerate(app.get("plotly_chart"))}


def test_default_view_shows_forecast_table_and_heatmap(trained_models):
    app = open_page("time_series")
    assert app.title[0].value == "Time series"
    table = app.dataframe[0].value
    assert ts.MODEL_ROW in table.index and "Seasonal naive" in table.index
    assert table.loc[ts.MODEL_ROW, "RMSE"] == pytest.approx(trained_models["synthetic"].table[ts.MODEL_ROW]["RMSE"])
    titles = [spec["layout"]["title"]["text"] for spec in charts(app).values()]
    assert any(t.startswith("Forecast steps 1–8") for t in titles) and any("Attention over time" in t for t in titles)
    assert "ProbSparse" in " ".join(m.value for m in app.markdown)
    assert app.query_params["dataset"] == "synthetic" and app.query_params["pattern"] == "full"


def test_url_state_opens_rul_with_probsparse_and_a_head(trained_models):
    app = open_page("time_series", dataset="rul", pattern="probsparse", head="2", layer="0", sample="3")
    assert app.selectbox(key="ts_dataset").value == "rul" and app.selectbox(key="ts_pattern").value == "probsparse"
    assert any("Simulated data" in info.value for info in app.info)
    titles = [spec["layout"]["title"]["text"] for spec in charts(app).values()]
    result = ts.explain(trained_models["rul"], 3, "probsparse")
    assert f"Predicted RUL {result.meta['prediction'][0]:.0f} cycles" in titles[0] and "head 2" in titles[0]
    assert "NASA score" in app.dataframe[0].value.columns
    assert app.query_params["head"] == "2" and app.query_params["sample"] == "3"


def test_bad_links_become_notices():
    app = open_page("time_series", dataset="stocks", window="97", head="9", sample="99999")
    warnings = " ".join(w.value for w in app.warning)
    assert "stocks" in warnings and "97" in warnings and "heads" in warnings
    assert app.selectbox(key="ts_window").value == 96 and app.selectbox(key="ts_head").value == "average"


def test_switching_head_changes_the_heatmap(trained_models):
    app = open_page("time_series")
    app.selectbox(key="ts_head").set_value("1").run()
    heatmap = next(spec for spec in charts(app).values() if "Attention over time" in spec["layout"]["title"]["text"])
    z = heatmap["data"][0]["z"]
    expected = ts.explain(trained_models["synthetic"], 0).head(1, 1)
    from test_pages_learn import array
    np.testing.assert_allclose(array(z), expected, atol=1e-6)
    assert app.query_params["head"] == "1"


def test_switching_dataset_takes_its_default_window_quietly(trained_models):
    app = open_page("time_series")
    app.selectbox(key="ts_dataset").set_value("co2").run()
    assert app.selectbox(key="ts_window").value == 104 and not app.warning
    assert app.query_params["dataset"] == "co2" and app.query_params["window"] == "104"


def test_co2_lists_the_heads_of_each_member(trained_models):
    config = ts.make_config("co2")
    app = open_page("time_series", dataset="co2", head="5")
    box = app.selectbox(key="ts_head")
    assert box.options[1:] == [f"head {h} (member {h // config.n_heads + 1})" for h in range(config.all_heads)]
    assert box.value == "5" and not app.warning
    assert any(f"average of {config.members} such transformers" in caption.value for caption in app.caption)
