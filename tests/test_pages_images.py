"""The Images page through Streamlit's AppTest: the trained ViT's numbers, overlays checked against the weights, URL state."""
from __future__ import annotations

import json

import numpy as np
import pytest

from apptest_pages import open_page
from test_pages_learn import array, figures, messages, words

from attention.domains import vision


@pytest.fixture(autouse=True)
def _model(trained_vit):
    """Every test here opens the page on the trained, cached ViT (a fresh machine trains it once first)."""
    return trained_vit


def metric(app, label: str) -> str:
    return next(m.value for m in app.metric if m.label == label)


def chart(app, key: str) -> dict:
    """The figure of the chart with this widget key (several grids share their first panel's title)."""
    return json.loads(next(c for c in app.get("plotly_chart") if c.proto.id.endswith(key)).proto.spec)


def overlays(spec: dict) -> list[np.ndarray]:
    """The attention layers of an overlay figure, panel by panel."""
    return [array(trace["z"]) for trace in spec["data"] if trace.get("coloraxis")]


def test_bare_url_shows_a_held_out_digit_its_prediction_and_attention(trained_vit):
    app = open_page("images")
    assert not app.error and not app.warning
    assert metric(app, "ViT, held-out digits") == f"{trained_vit.vit_accuracy:.1%}"
    assert metric(app, "Logistic regression, same split") == f"{trained_vit.logistic_accuracy:.1%}"
    text = words(app)
    assert "patches" in text and "[CLS]" in text and "rollout" in text.lower()
    found = figures(app)
    result = vision.attend_image(trained_vit.network, trained_vit.data.test_images[0])
    bars = array(found["What the model says"]["data"][0]["y"])
    np.testing.assert_allclose(bars, result.meta["probabilities"], atol=1e-6)
    cls = overlays(chart(app, "images_cls"))
    assert len(cls) == 12                                              # 3 layers × 4 heads
    np.testing.assert_allclose(cls[6], result.over_patches(0)[1, 2], atol=1e-6)   # layer 1, head 2
    np.testing.assert_allclose(overlays(found["rollout: [CLS] ← patches"])[0], vision.rollout_map(result), atol=1e-6)
    assert dict(app.query_params) == {"image": "0", "patch": "5"}


def test_a_share_link_opens_its_digit_and_patch(trained_vit):
    app = open_page("images", image="17", patch="10")
    assert app.number_input[0].value == 17
    result = vision.attend_image(trained_vit.network, trained_vit.data.test_images[17])
    label = int(trained_vit.data.test_labels[17])
    assert f"the digit is a **{label}**" in words(app)
    spec = chart(app, "images_patch_view")
    np.testing.assert_allclose(overlays(spec)[5], result.over_patches(11)[1, 1], atol=1e-6)   # query token 1 + patch 10
    rect = [s for s in spec["layout"]["shapes"] if s["type"] == "rect"][0]
    assert (rect["x0"], rect["y0"]) == (3.5, 3.5)                       # patch 10: row 2, column 2 -> pixels 4–5
    assert dict(app.query_params) == {"image": "17", "patch": "10"}


def test_a_drawn_digit_travels_in_the_link(trained_vit):
    image = np.zeros((8, 8), dtype=np.float32)
    image[1:7, 4] = 1.0                                                # a stroke down the middle: a one
    pixels = vision.encode_pixels(image)
    app = open_page("images", source="draw", pixels=pixels, patch="2")
    result = vision.attend_image(trained_vit.network, vision.decode_pixels(pixels))
    bars = array(figures(app)["What the model says"]["data"][0]["y"])
    np.testing.assert_allclose(bars, result.meta["probabilities"], atol=1e-6)
    assert f"The model reads a **{result.meta['prediction']}**" in words(app)
    assert dict(app.query_params) == {"source": "draw", "pixels": pixels, "patch": "2"}


def test_bad_links_are_explained_and_shown_safely():
    app = open_page("images", image="99999", patch="abc", source="<b>x</b>", pixels="<script>")
    said = messages(app)
    assert "test image 99999 does not exist" in said and "patch 'abc' is not a number" in said
    assert "not one of test, draw" in said
    assert app.number_input[0].value == 449 and dict(app.query_params)["patch"] == "0"


def test_mistakes_are_listed_and_open_on_click(trained_vit):
    wrong = vision.mistakes(trained_vit)
    app = open_page("images")
    assert f"gets {len(wrong)} of the 450 held-out digits wrong" in words(app)
    gallery = overlays(figures(app)[f"#{wrong[0][0]}: a {wrong[0][1]} read as {wrong[0][2]}"])
    assert len(gallery) == min(len(wrong), 12)
    first = vision.attend_image(trained_vit.network, trained_vit.data.test_images[wrong[0][0]])
    np.testing.assert_allclose(gallery[0], vision.rollout_map(first), atol=1e-6)
    app.get("button_group")[-1].set_value(wrong[1][0]).run()
    assert app.number_input[0].value == wrong[1][0]
    assert dict(app.query_params)["image"] == str(wrong[1][0])
