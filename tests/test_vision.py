"""The vision transformer: patches as tokens (shapes, order, pixels), training, accuracy, rollout, drawn images."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from attention import Attention

from attention.domains import store

from attention.domains import vision
from figures.vision import digit_figure, overlay_panels, probability_figure
from attention.engine.maths import MultiHeadAttention


def test_patches_come_row_by_row_and_map_back_to_their_pixels():
    images = torch.arange(2 * 8 * 8, dtype=torch.float32).reshape(2, 8, 8)
    patches = vision.patchify(images, 2)
    assert patches.shape == (2, 16, 4)                                   # [batch, patch, pixels per patch]
    for batch in range(2):
        for patch in range(16):
            rows, cols = vision.patch_pixels(patch, 2, 8)
            np.testing.assert_array_equal(patches[batch, patch].numpy(), images[batch, rows, cols].reshape(-1).numpy())
    assert vision.patch_pixels(0, 2, 8) == (slice(0, 2), slice(0, 2))   # top left
    assert vision.patch_pixels(3, 2, 8) == (slice(0, 2), slice(6, 8))   # end of the first row
    assert vision.patch_pixels(4, 2, 8) == (slice(2, 4), slice(0, 2))   # second row starts at the left
    assert vision.patch_pixels(15, 2, 8) == (slice(6, 8), slice(6, 8))
    # a single bright pixel lands in exactly the patch that covers it, at the right place inside it
    image = torch.zeros(1, 8, 8)
    image[0, 5, 2] = 1.0
    found = vision.patchify(image, 2)[0]
    assert found.sum() == 1 and found[2 * 4 + 1, 2 * 1 + 0] == 1.0       # patch row 2, column 1; pixel (1, 0) inside
    assert vision.patch_tokens(vision.VisionConfig())[:6] == ["[CLS]", "r0c0", "r0c1", "r0c2", "r0c3", "r1c0"]


def test_the_vit_runs_on_the_projects_attention_engine():
    config = vision.VisionConfig(d_model=16, n_heads=2, n_layers=2, d_ff=32)
    model = vision.VisionTransformer(config)
    assert all(isinstance(layer.self_attention, MultiHeadAttention) for layer in model.layers)
    tokens = model.embed(torch.rand(3, 8, 8))
    assert tokens.shape == (3, 17, 16)                                   # [CLS] + 16 patches
    logits, weights = model(torch.rand(3, 8, 8))
    assert logits.shape == (3, 10) and weights.shape == (3, 2, 2, 17, 17)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, 2, 17))
    # the [CLS] token carries no pixels: it is the same vector (plus its position) for every image
    torch.testing.assert_close(tokens[0, 0], tokens[1, 0])


def test_training_is_repeatable_from_its_seed():
    config = vision.VisionConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32, epochs=1)
    data = vision.load_digits_split(config)
    small = vision.Digits(data.train_images[:128], data.train_labels[:128], data.test_images, data.test_labels)
    first, second = vision.train(config, small), vision.train(config, small)
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_the_split_is_stratified_and_the_same_for_both_models():
    data = vision.load_digits_split()
    assert data.train_images.shape[1:] == (8, 8) and len(data.test_labels) == 450
    assert 0.0 <= data.train_images.min() and data.train_images.max() <= 1.0
    assert np.bincount(data.test_labels).min() >= 43                    # every digit held out 43–46 times


def test_the_trained_vit_at_least_matches_logistic_regression(trained_vit):
    assert trained_vit.logistic_accuracy == pytest.approx(vision.logistic_accuracy(trained_vit.data))
    measured = vision.accuracy(trained_vit.network, trained_vit.data.test_images, trained_vit.data.test_labels)
    assert measured == pytest.approx(trained_vit.vit_accuracy)
    assert measured >= 0.97 and measured >= trained_vit.logistic_accuracy
    wrong = vision.mistakes(trained_vit)
    assert len(wrong) == round((1 - measured) * len(trained_vit.data.test_labels))
    assert all(true != said and trained_vit.data.test_labels[i] == true for i, true, said in wrong)


def test_the_cache_gives_back_the_same_model(trained_vit):
    assert vision.is_cached() and vision.cache_path().exists()
    saved = store.load(vision.cache_path())
    assert saved["config"]["seed"] == 0 and saved["vit_accuracy"] == trained_vit.vit_accuracy
    for name, tensor in trained_vit.network.state_dict().items():
        torch.testing.assert_close(saved["state"][name], tensor, rtol=0, atol=0, msg=name)
    assert vision.load_or_train() is trained_vit                         # once per process


def test_attend_image_returns_patch_tokens(trained_vit):
    image = trained_vit.data.test_images[0]
    result = vision.attend_image(trained_vit.network, image)
    assert result.token_kind == "patch" and result.tokens[0] == "[CLS]" and result.n_tokens == 17
    assert result.weights.shape == (3, 4, 17, 17)
    probabilities = np.array(result.meta["probabilities"])
    assert probabilities.sum() == pytest.approx(1, abs=1e-5) and result.meta["prediction"] == probabilities.argmax()
    maps = result.over_patches(0)                                        # [layer, head, patch row, patch column]
    assert maps.shape == (3, 4, 4, 4)
    np.testing.assert_allclose(maps[1, 2, 3, 0], result.weights[1, 2, 0, 1 + 12])   # row 3, column 0 is patch 12
    np.testing.assert_allclose(maps.sum(axis=(2, 3)) + result.weights[:, :, 0, 0], 1, atol=1e-5)
    with pytest.raises(ValueError, match="8×8"):
        vision.attend_image(trained_vit.network, np.zeros((4, 4)))


def test_rollout_over_the_picture_on_a_toy_by_hand():
    # [CLS] + 4 patches (a 2×2 grid), one head. Layer 0: [CLS] looks at patch 0, every patch at patch 3.
    # Layer 1: [CLS] looks at patch 0 again, which by now holds some of patch 3.
    first, second = np.zeros((5, 5)), np.eye(5)
    first[0, 1] = 1.0
    first[1:, 4] = 1.0
    second[0] = [0, 1, 0, 0, 0]
    toy = Attention(tokens=["[CLS]", "r0c0", "r0c1", "r1c0", "r1c1"], weights=np.stack([first, second])[:, None],
                    model="toy", token_kind="patch", meta={"grid": 2})
    # with the residual counted as half: layer 0 gives [CLS] ½ itself + ½ patch 0, patch 0 ½ itself + ½ patch 3;
    # layer 1 gives [CLS] ½ (½ [CLS] + ½ patch 0) + ½ (½ patch 0 + ½ patch 3) = ¼ [CLS] + ½ patch 0 + ¼ patch 3
    np.testing.assert_allclose(vision.rollout_map(toy), [[0.5, 0.0], [0.0, 0.25]], atol=1e-6)
    np.testing.assert_allclose(vision.rollout_map(toy, query=1), [[0.5, 0.0], [0.0, 0.5]], atol=1e-6)  # patch 0: itself, patch 3
    np.testing.assert_allclose(toy.over_patches(0)[0, 0], [[1.0, 0.0], [0.0, 0.0]])   # one layer alone sees only patch 0


def test_drawn_images_travel_as_hex():
    image = np.zeros((8, 8), dtype=np.float32)
    image[2:6, 3] = 1.0
    image[0, 0] = 0.4
    text = vision.encode_pixels(image)
    assert len(text) == 64 and text[0] == "6" and text[2 * 8 + 3] == "f"
    np.testing.assert_allclose(vision.decode_pixels(text.upper()), np.round(image * 15) / 15)
    for bad in ("", "xyz", "g" * 64, "0" * 63):
        with pytest.raises(ValueError, match="64 hex digits"):
            vision.decode_pixels(bad)


def test_figures_draw_the_picture_under_the_attention():
    image = np.eye(8, dtype=np.float32)
    fig = digit_figure(image, 2, "picture", patch=5)
    assert fig.data[1].customdata.tolist() == list(range(16)) and len(fig.layout.shapes) == 6 + 1   # grid lines + highlight
    maps = [np.arange(16, dtype=np.float32).reshape(4, 4) / 16] * 2
    panels = overlay_panels([image, image], maps, ["a", "<b>b</b>"], 2, patch_size=2)
    overlay = panels.data[1]
    assert (overlay.x0, overlay.dx) == (0.5, 2)                          # each patch value covers its 2×2 pixels
    assert panels.layout.coloraxis.cmax == pytest.approx(15 / 16)
    assert "<b>" not in "".join(a.text for a in panels.layout.annotations)
    bars = probability_figure(np.eye(10)[3] * 0.9 + 0.01, label=4)
    assert bars.data[0].marker.color[3] == "#dc1e1e" and bars.data[0].marker.line.width[4] == 3


def test_patch_at_counts_patches_row_by_row():
    config = vision.VisionConfig()                                       # 8×8 pixels, 2×2 patches: a 4×4 grid
    assert config.patch_at(0, 0) == 0 and config.patch_at(1.4, 1.9) == 0
    assert config.patch_at(2, 3) == 5 and config.patch_at(7, 7) == 15
    for patch in range(config.n_patches):                                # every patch's pixels lead back to it
        rows, columns = vision.patch_pixels(patch, config.patch_size, config.image_size)
        assert config.patch_at(rows.start, columns.stop - 1) == patch


def test_mistakes_with_their_rollouts_and_the_heads_overlay(trained_vit):
    from figures.vision import heads_overlay, mistakes_figure

    wrong = vision.mistakes(trained_vit)[:3]
    found = vision.mistake_rollouts(trained_vit, wrong)
    assert [item[:3] for item in found] == wrong
    for index, _, said, rolled in found:
        result = vision.attend_image(trained_vit.network, trained_vit.data.test_images[index])
        assert result.meta["prediction"] == said
        np.testing.assert_allclose(rolled, vision.rollout_map(result))
    fig = mistakes_figure(trained_vit.data.test_images, found, 2)
    assert [a.text for a in fig.layout.annotations] == [f"#{i}: a {true} read as {said}" for i, true, said in wrong]
    image = trained_vit.data.test_images[0]
    result = vision.attend_image(trained_vit.network, image)
    heads = heads_overlay(image, result, 1 + 5, 2, patch=5)
    assert len(heads.layout.annotations) == 12 and heads.layout.annotations[6].text == "layer 1 · head 2"
    np.testing.assert_allclose(np.asarray(heads.data[2 * 6 + 1].z, dtype=float), result.over_patches(6)[1, 2])
