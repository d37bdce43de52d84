"""The Time series page in a real browser: opened from a share link, attention shaded under the curve, a pattern switch."""
from __future__ import annotations

import pytest

from test_browser_learn import open_link, plot_titled, url_params, wait_for_title

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", autouse=True)
def trained_co2(trained_timeseries):
    """Trained before the page opens (conftest's trained_timeseries, into the cache folder the test server reads too),
    so the page does not train while the browser waits; every test here opens the page."""
    return trained_timeseries["co2"]


def test_time_series_from_a_share_link(page, app_url, artifacts, trained_co2):
    dialogs = open_link(page, app_url, "time_series", dataset="co2", pattern="probsparse", layer="1", head="1", output="2")
    wait_for_title(page, "Attention over time, layer 1 (head 1)")
    forecast = plot_titled(page, "Forecast steps 17–24")
    assert forecast.locator("path.js-fill").count() >= 1                 # the attention shading under the curve
    legend = forecast.locator(".legendtext").all_text_contents()
    assert {"attention (shaded)", "past (input window)", "forecast", "what happened"} <= set(legend)
    heatmap = plot_titled(page, "Attention over time, layer 1 (head 1)")
    assert heatmap.locator(".hm, image").count() >= 1
    page.get_by_text("Seasonal naive").first.wait_for(state="attached")   # a cell of the baselines table (drawn on canvas)
    page.get_by_text("Full vs ProbSparse on all").first.wait_for()
    assert page.get_by_text("Full vs ProbSparse on all").count() == 1
    assert page.locator("[data-testid=stException]").count() == 0 and dialogs == []
    page.screenshot(path=str(artifacts / "time_series.png"), full_page=True)

    box = page.get_by_test_id("stSelectbox").filter(has_text="Head")
    box.click()
    page.get_by_role("option", name="all heads, averaged").click()
    wait_for_title(page, "Attention over time, layer 1 (heads averaged)")
    page.wait_for_function("() => new URLSearchParams(location.search).get('head') === 'average'", timeout=60_000)
    params = url_params(page)
    assert params["dataset"] == "co2" and params["pattern"] == "probsparse" and params["output"] == "2"
