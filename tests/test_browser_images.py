"""The Images page in a real browser (Debian Chromium via Playwright): a share link, clicking a patch, drawing a digit."""
from __future__ import annotations

import numpy as np
import pytest

import time
from urllib.parse import parse_qs, urlparse

from test_browser_learn import open_link, wait_for_title

from attention.domains import vision

pytestmark = pytest.mark.browser
PICTURE = "The picture and its 16 patches (click one)"


def url_params(page) -> dict[str, str]:
    """The address bar's parameters (read in the page: Streamlit changes them through the history API)."""
    return {k: v[-1] for k, v in parse_qs(urlparse(page.evaluate("() => location.href")).query).items()}


def wait_for_run(page) -> None:
    """Wait until the page's script has run to its end (the share box is its last element)."""
    page.locator(".sl-link").wait_for(timeout=120_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=120_000)


def test_share_link_then_click_a_patch(trained_vit, page, app_url, artifacts):
    dialogs = open_link(page, app_url, "images", image="17", patch="10")
    wait_for_title(page, PICTURE, timeout=240_000)          # a server without the cached model would train first
    wait_for_title(page, "rollout: [CLS] ← patches")
    result = vision.attend_image(trained_vit.network, trained_vit.data.test_images[17])
    predicted = result.meta["prediction"]
    page.get_by_text(f"The model reads a {predicted}").first.wait_for(timeout=30_000)
    for label in ("ViT, held-out digits", "Logistic regression, same split"):
        page.locator("[data-testid=stMetricLabel]", has_text=label).first.wait_for(timeout=30_000)
    assert page.locator("[data-testid=stMetricValue]", has_text=f"{trained_vit.vit_accuracy:.1%}").count() == 1
    assert page.locator(".js-plotly-plot").count() >= 5
    picture = page.locator(".js-plotly-plot", has=page.locator(".gtitle", has_text=PICTURE)).first
    markers = picture.locator(".scatterlayer .point")
    assert markers.count() == 16
    wait_for_run(page)
    picture.scroll_into_view_if_needed()
    box = picture.locator(".nsewdrag").first.bounding_box()          # the plot area: pixels -0.5 .. 7.5 each way
    x, y = box["x"] + box["width"] * 7 / 8, box["y"] + box["height"] * 1 / 8   # the top right patch's centre
    page.mouse.move(x, y)
    page.locator(".hovertext", has_text="patch 3").first.wait_for(timeout=30_000)
    page.mouse.click(x, y)
    page.wait_for_function("() => new URLSearchParams(location.search).get('patch') === '3'", timeout=60_000)
    patch_box = page.locator("[data-testid=stSelectbox] input[aria-label=Patch]")
    links = page.locator(".sl-link")
    for _ in range(120):                                       # the rerun ends with the new share link
        if patch_box.input_value() == "3 · row 0, column 3" and links.count() == 1 and links.input_value().endswith("patch=3"):
            break
        time.sleep(0.5)
    assert patch_box.input_value() == "3 · row 0, column 3"
    assert links.input_value().endswith("/images?image=17&patch=3")
    assert url_params(page) == {"image": "17", "patch": "3"}
    assert dialogs == [] and page.locator("[data-testid=stException]").count() == 0
    page.screenshot(path=str(artifacts / "images.png"), full_page=True)


def test_draw_a_digit_on_the_pad(trained_vit, page, app_url, artifacts):
    open_link(page, app_url, "images", source="draw", pixels="0" * 64)
    pad = page.locator(".dd-pad")
    pad.wait_for(timeout=240_000)
    wait_for_run(page)
    box = pad.bounding_box()
    cell = box["width"] / 8
    page.mouse.move(box["x"] + 4.5 * cell, box["y"] + 1.5 * cell)   # a stroke down column 4: a one
    page.mouse.down()
    for row in range(1, 7):
        page.mouse.move(box["x"] + 4.5 * cell, box["y"] + (row + 0.5) * cell, steps=3)
    page.mouse.up()
    page.wait_for_function("() => (new URLSearchParams(location.search).get('pixels') || '').includes('f')", timeout=60_000)
    pixels = url_params(page)["pixels"]
    image = vision.decode_pixels(pixels)
    assert (image[1:7, 4] == 1).all() and image[:, :3].sum() == 0   # the stroke, and nothing far from it
    assert image[0, 4] == image[3, 5] == image[6, 3] == pytest.approx(5 / 15)   # the soft brush: a little ink beside the stroke
    predicted = vision.attend_image(trained_vit.network, image).meta["prediction"]
    page.get_by_text(f"The model reads a {predicted}").first.wait_for(timeout=60_000)
    bars = page.locator(".js-plotly-plot", has=page.locator(".gtitle", has_text="What the model says")).first
    assert bars.locator(".point").count() == 10
    page.get_by_role("button", name="Clear").click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('pixels') === '0'.repeat(64)", timeout=60_000)
    assert np.asarray(vision.decode_pixels(url_params(page)["pixels"])).sum() == 0
    page.screenshot(path=str(artifacts / "images-draw.png"), full_page=True)
