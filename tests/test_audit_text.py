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


def _source(*parts: str) -> str:
    from pathlib import Path

    return (Path(__file__).resolve().parent.parent.joinpath(*parts)).read_text()


def test_positions_default_head_is_named_for_what_it_does():
    """MiniLM's layer-0 head 2 (the Positions page's default) puts its weight on the previous token, not the next."""
    import re

    from attention import attend
    from attention.analyses import stats

    head = int(re.search(r"^DEFAULT_HEAD = (\d+)", _source("pages", "positions.py"), re.M).group(1))
    found = stats.result_stats(attend("The animal didn't cross the street because it was too tired.", "scratch:minilm"))
    assert found.values["previous"][0, head] > 0.9 > found.values["next"][0, head]
    learn = _source("docs", "learn.md")
    assert "layer-0 next-token head" not in learn and f"`head` (default {head}: MiniLM's layer-0 previous-token head)" in learn
    assert "head 2 attends to the next position" not in _source("pages", "positions.py")


def test_equal_to_transformers_says_within_what():
    """'Same numbers' / 'equal to transformers' gave no tolerance; the engine's MiniLM attention is within 1e-5."""
    from attention import attend

    text = "The animal didn't cross the street because it was too tired."
    assert np.abs(attend(text, "minilm").weights - attend(text, "scratch:minilm").weights).max() < 1e-5
    inspect_doc, learn = _source("docs", "inspect.md"), _source("docs", "learn.md")
    assert "(`scratch:minilm`, equal to transformers)" not in inspect_doc
    assert "(`scratch:minilm`, equal to transformers' attention within 1e-5)" in inspect_doc
    assert "(same weights, same numbers)" not in learn and "its attention equals transformers' within 1e-5" in learn
    masks = _source("pages", "masks.py")
    assert "(same numbers as transformers)" not in masks and "(its attention equals transformers' within 1e-5)" in masks
    widgets = _source("ui", "widgets.py")
    assert "(same weights, same attention)" not in widgets and widgets.count("its attention equals minilm's within 1e-5.") == 2


def test_the_decoder_differences_stated_in_learn_are_measured():
    """docs/learn.md: GPT-2 and BART in the engine against transformers on the tiny random models of test_decoder."""
    import re
    import tempfile
    from pathlib import Path

    import torch

    from attention import attend
    from test_decoder import SOURCE, TARGET, bart, bart_reference, eager, gpt2, ids_of, save_with_tokenizer

    learn = _source("docs", "learn.md")
    assert "measured\n  difference 0)" not in learn
    stated_bart, stated_gpt2 = re.search(r"measured:\n  ([0-9.e-]+) for BART, ([0-9.e-]+) for GPT-2\)", learn).groups()
    folder = save_with_tokenizer(gpt2(), Path(tempfile.mkdtemp()))
    ours = attend(SOURCE, f"scratch:{folder}")
    with torch.inference_mode():
        out = eager(folder)(input_ids=torch.tensor([ids_of(folder, SOURCE)]), output_attentions=True, use_cache=False)
    gpt2_gap = float(np.abs(ours.weights - torch.cat(out.attentions).numpy()).max())
    folder = save_with_tokenizer(bart(), Path(tempfile.mkdtemp()))
    ours = attend(SOURCE, f"scratch:{folder}", target=TARGET)
    out = bart_reference(folder, ids_of(folder, SOURCE), ids_of(folder, TARGET))
    bart_gap = max(float(np.abs(mine - torch.cat(theirs).numpy()).max()) for mine, theirs in (
        (ours.weights, out.encoder_attentions), (ours.target_weights, out.decoder_attentions), (ours.cross, out.cross_attentions)))
    # round-off: the same order of magnitude as stated (another CPU may round differently), and far within 1e-5
    assert bart_gap <= max(float(stated_bart) * 10, 1e-7)
    assert float(stated_gpt2) / 10 <= gpt2_gap <= float(stated_gpt2) * 10 < 1e-5


def test_inspect_doc_says_what_the_bias_probe_opens_on_and_what_flow_costs():
    inspect_doc = _source("docs", "inspect.md")
    assert "a plain-language summary of the heads that move most" not in inspect_doc
    assert "`head` (default: the surviving head of largest \\|excess\\|" in inspect_doc
    assert "(about 6 s at\n  64 tokens × 6 layers; 0.2 s for the default sentence)" not in inspect_doc
    assert "a heuristic for which inputs a\n  position draws on, not a measurement of it" in inspect_doc
    page = _source("pages", "bias_probe.py")
    assert "Opens on the head whose excess is largest" not in page and "Opens on the surviving head of largest |excess|" in page


def test_rollout_and_attention_rows_are_not_said_to_measure_what_reaches_the_output():
    stats_page, images, learn = _source("pages", "head_stats.py"), _source("pages", "images.py"), _source("docs", "learn.md")
    assert "which input tokens reach each position" not in stats_page
    assert "Weights alone (no values, norms or MLPs): a heuristic, not a measurement." in stats_page
    assert "which patches it takes its new vector from" not in images and "where it puts its attention weight" in images
    assert "these patterns pay off in models\ntrained with them" not in learn
    assert "the errors of a model meeting a pattern it never saw" in learn


def test_scaling_experiment_caption_allows_for_sampling_noise():
    from figures.learn import scaling_figure

    peaks = [fig.data[3].y for fig in (scaling_figure(4),)][0]      # the scaled curve: the largest weight per d_k
    assert np.ptp(peaks) > 0                                        # not exactly the same at every d_k
    source = _source("pages", "step_by_step.py")
    assert "stay the same at every d_k." not in source and "stay about the same at every d_k (up to sampling noise)" in source


def test_token_target_norm_is_not_said_to_stay_in_a_narrow_range():
    """docs/inspect.md: the `token` target's norm after MiniLM's final layer norm, over the default sentence's tokens."""
    import torch

    from attention.run.models import load_model

    backend = load_model("minilm")
    encoded = backend.tokenizer(["The animal didn't cross the street because it was too tired."], return_tensors="pt")
    with torch.inference_mode():
        norms = backend.network(**encoded).last_hidden_state[0].norm(dim=-1).numpy()
    text = _source("docs", "inspect.md")
    assert "keeps this norm within a narrow range" not in text
    assert f"ranges {norms.min():.2f}–{norms.max():.2f} over the default sentence's tokens" in text


def test_hover_weights_are_said_to_be_kept_to_their_precision_not_exact():
    """The heatmap sends each head as 16-bit levels of its largest weight: the hover is within 1/65,535 of it, not exact."""
    import base64

    from attention import attend
    from views.payloads import head_payload

    result = attend("The animal didn't cross the street because it was too tired.", "scratch")
    sent = head_payload(result, 0, 1)
    weights = result.head(0, 1)
    levels = np.frombuffer(base64.b64decode(sent["weights"]), dtype="<u2").reshape(weights.shape)
    error = np.abs(levels / 65535 * float(weights.max()) - weights).max()
    assert 0 < error <= float(weights.max()) / 65535 / 2 + 1e-9
    from views.payloads import PREFETCH_BITS

    assert PREFETCH_BITS == 8 and 2 * (2 ** PREFETCH_BITS - 1) == 510                # a prefetched head: ± max/510
    readme, index = _source("README.md"), _source("docs", "index.md")
    assert "exact weights on hover" not in readme + index
    assert "with its bound (1/65,535 of the head's largest weight once the server has sent it)" in readme
    assert "prefetched 8-bit copy (± 1/510 of its largest weight), then the server's 16-bit one (1/65,535)" in index


def test_a_padded_batch_is_said_to_match_each_run_up_to_rounding():
    from attention.analyses.batch import attend_padded, gap_alone

    texts = ["The animal didn't cross the street because it was too tired.", "It was tired."]
    gap = gap_alone(attend_padded(texts, "scratch:minilm", 128), texts, 128)
    assert 0 <= gap < 1e-5
    assert "equal its own run's within 1e-5)" in _source("docs", "learn.md")
    masks = _source("pages", "masks.py")
    assert "as when it runs alone, up to rounding (largest difference here" in masks


def test_long_mini_note_claims_no_more_than_is_tested():
    """tests/test_long_mini.py checks the induction stripe over ≥ 5,000 tokens, not 'at any distance'."""
    note = _source("ui", "zoom.py")
    assert "find an earlier copy at any distance" not in note and "find an earlier copy far back, not only nearby" in note


def test_learn_pages_do_not_call_random_or_made_up_matrices_learned():
    """The Learn pages also run `scratch` (seeded random weights) and a toy with made-up matrices."""
    steps, heads = _source("pages", "step_by_step.py"), _source("pages", "multi_head.py")
    assert "Three learned matrices" not in steps and "Three weight matrices (learned, in a trained model)" in steps
    assert "one learned matrix mixes" not in heads and "one matrix (the output projection) mixes" in heads
