"""Every figure on the Learn, Efficient, Time-series, Images, Bias and Contributions pages is readable as drawn: each
figure names its axes, every colour scale has a titled colour bar (or a legend naming its colours)."""
from __future__ import annotations

import json

import pytest

from apptest_pages import open_page

PAGES = {   # page -> (URL parameters, fixtures that train its models)
    "step_by_step": ({}, ()),
    "step_by_step?causal": ({"causal": "1"}, ("trained_gpt_mini",)),
    "multi_head": ({}, ()),
    "positions": ({}, ()),
    "masks": ({}, ("trained_masks_models",)),
    "efficient_attention": ({"pattern": "probsparse"}, ()),
    "time_series": ({}, ("trained_timeseries",)),
    "images": ({}, ("trained_vit",)),
    "bias_probe": ({"text": "{He/She} is a nurse.", "occupations": "nurse"}, ()),
    "contributions": ({}, ()),
}


def specs(page: str, params: dict) -> list[dict]:
    app = open_page(page, **params)
    return [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]


def axis_titles(layout: dict, letter: str) -> list[str]:
    """The titles of the x or y axes of a figure (any subplot) that show tick labels (a picture's bare axes need none)."""
    titles = []
    for name, axis in layout.items():
        if (name.startswith(f"{letter}axis") and isinstance(axis, dict) and axis.get("visible", True)
                and axis.get("showticklabels", True)):
            title = axis.get("title")
            titles.append((title.get("text") if isinstance(title, dict) else title) or "")
    return titles


def colour_bar_titled(trace: dict, layout: dict) -> bool:
    """A colour-mapped trace shows a titled colour bar, or hides its scale while a legend names the colours."""
    if trace.get("showscale") is False:
        return True
    bar = layout.get(trace["coloraxis"], {}).get("colorbar", {}) if trace.get("coloraxis") else trace.get("colorbar", {})
    title = bar.get("title", {})
    return bool((title.get("text") if isinstance(title, dict) else title))


@pytest.mark.parametrize("page", [pytest.param(page, marks=[pytest.mark.trained] if fixtures else [])
                                  for page, (_, fixtures) in PAGES.items()])
def test_every_figure_names_its_axes_and_its_colour_scale(page, request):
    params, fixtures = PAGES[page]
    for name in fixtures:
        request.getfixturevalue(name)
    found = specs(page.split("?")[0], params)
    assert found, "the page draws figures"
    for spec in found:
        layout = spec["layout"]
        name = (layout.get("title") or {}).get("text") or next((a["text"] for a in layout.get("annotations", [])), "?")
        for letter in "xy":
            titles = axis_titles(layout, letter)
            if titles or not any(k.startswith(f"{letter}axis") for k in layout):   # an axis with tick labels, or plotly's default
                assert any(titles), f"{page}: '{name}' has no {letter}-axis title"
        for trace in spec["data"]:
            if trace.get("type") == "heatmap":
                assert colour_bar_titled(trace, layout), f"{page}: '{name}' has a colour scale without a title"
