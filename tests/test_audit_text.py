"""The second audit of the pages' text (issue 26): each statement found wrong is absent from its page, its replacement is
present, and every number the replacement states is the code's own (so a retrained model cannot leave a stale figure)."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from apptest_pages import open_page


def page_text(app) -> str:
    """Every caption, markdown, info and metric help of a page run, as one string."""
    parts = [str(block.value) for group in (app.caption, app.markdown, app.info, app.warning) for block in group]
    parts += [str(m.help or "") for m in app.metric]
    return " ".join(parts).replace("\\", "")


def test_compare_says_minilm_was_distilled_not_trained_as_a_masked_language_model():
    import ast
    from pathlib import Path

    source = (Path(__file__).resolve().parent.parent / "pages" / "compare.py").read_text()
    text = next(ast.literal_eval(node.value) for node in ast.parse(source).body if isinstance(node, ast.Assign)
                and getattr(node.targets[0], "id", "") == "BIDIRECTIONAL_VS_CAUSAL")   # the MiniLM/gpt-mini button's help
    assert "trained (as a masked language model" not in text
    assert "distilled from a larger model's self-attention (Wang et al., 2020)" in text


def test_efficient_attention_states_what_doubling_costs_and_what_the_errors_are():
    from transformers import AutoConfig

    from attention.run.models import _bundled_path
    from figures.efficient import MINILM_DOUBLING, MINILM_SIZES, doubling_ratio

    config = AutoConfig.from_pretrained(_bundled_path(), local_files_only=True)
    assert MINILM_SIZES == {"d_model": config.hidden_size, "d_ff": config.intermediate_size}
    assert doubling_ratio(384, 1536, 512) == pytest.approx(2.36, abs=0.01)
    assert doubling_ratio(64, 0, 10 ** 6) == pytest.approx(4.0, abs=0.01)     # the scores alone: ×4
    text = page_text(open_page("efficient_attention"))
    assert "quadruples the work and the memory" not in text
    assert f"≈ {MINILM_DOUBLING:.1f}× the total work" in text and "FlashAttention" in text
    assert "a model meeting a pattern it never saw" in text and "MiniLM never saw it in training" in text
    assert "this head scores" not in text and "gives a weight above 0 to" in text


def test_step_by_step_names_the_independence_the_variance_argument_needs():
    text = page_text(open_page("step_by_step"))
    assert "If the parts of q and k are independent, each with mean 0 and variance 1" in text


def test_images_describes_rollout_as_weights_and_shows_occlusion_beside_it(trained_vit):
    from attention.domains import vision

    app = open_page("images")
    text = page_text(app)
    assert "estimates how much of each patch's pixels reached [CLS]" not in text
    assert "the patches whose pixels reached [CLS]" not in text
    agreement = vision.rollout_occlusion_agreement(trained_vit, 40)
    assert f"median Spearman correlation of the rollout map with the occlusion drop of the true digit is {agreement:.2f}" in text
    config = vision.VisionConfig()
    assert f"{config.n_patches} patch tokens plus [CLS], through {config.n_layers} layers of {config.n_heads} heads" in text


def test_occlusion_map_is_the_probability_drop_of_each_blanked_patch(trained_vit):
    from attention.domains import vision

    image = trained_vit.data.test_images[3]
    digit = int(trained_vit.data.test_labels[3])
    found = vision.occlusion_map(trained_vit.network, image, digit)
    config = vision.VisionConfig()
    assert found.shape == (config.grid, config.grid)
    blank = image.copy()
    rows, columns = vision.patch_pixels(5, config.patch_size, config.image_size)
    blank[rows, columns] = 0
    probabilities, _ = vision.predict(trained_vit.network, np.stack([image, blank]))
    assert found.ravel()[5] == pytest.approx(probabilities[0, digit] - probabilities[1, digit], abs=1e-6)


def test_time_series_says_the_shading_is_one_attention_row_and_shows_the_gradient(trained_timeseries):
    from attention.domains import timeseries as ts

    app = open_page("time_series")
    text = page_text(app)
    assert "how much the chosen forecast (orange band) draws on each past step" not in text
    assert "compares itself with every past step directly" not in text
    trained = trained_timeseries["synthetic"]
    config = trained.network.config
    layer = config.n_layers - 1 if config.n_layers > 1 else 0
    assert f"past token of {config.patch} steps" in text and f"a token is a patch of {config.patch} steps" in text
    agreement = ts.attention_gradient_agreement(trained, 1)
    assert f"layer 1) is {agreement:.2f}" in text


def test_forecast_gradient_equals_finite_differences(trained_timeseries):
    import torch

    from attention.domains import timeseries as ts

    trained = trained_timeseries["synthetic"]
    gradient = ts.forecast_gradient(trained, 0, 0)
    x = torch.tensor(trained.data.test_x[:1], dtype=torch.float64)
    network = copy.deepcopy(trained.network).double()   # a copy: the cached network is shared (its baseline is float64)
    patch = trained.network.config.patch
    step = 5
    with torch.no_grad():
        moved = [x.clone(), x.clone()]
        moved[0][0, step, 0] += 1e-4
        moved[1][0, step, 0] -= 1e-4
        values = [float(network(m)[0][0, :patch].sum()) for m in moved]
    assert abs(values[0] - values[1]) / 2e-4 == pytest.approx(gradient[step], rel=1e-2, abs=1e-5)


def test_translate_mini_docstring_names_its_layers():
    import attention.domains.translate_mini as T

    config = T.TranslateConfig()
    assert f"encoder ({config.encoder_layers} layers)" in T.__doc__
    assert f"decoder ({config.decoder_layers} layer{'s' if config.decoder_layers > 1 else ''}," in T.__doc__


def test_bias_texts_say_what_the_tests_show():
    import inspect

    from attention.analyses.bias import embeddings, report
    from attention.analyses.bias.significance import ALPHA

    rng = np.random.default_rng(0)
    found = embeddings.seat(embed=lambda sentences: rng.normal(size=(len(sentences), 8)), permutations=20)
    assert "relatively more associated with" in found["meaning"] and "sit nearer" not in found["meaning"]
    source = inspect.getsource(report)
    assert "no more than swapping a word of the same gender" not in source
    assert "no head's excess is detectable at FDR" in source and f"{ALPHA:.0%}" == "5%"
