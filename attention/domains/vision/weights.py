"""The attention of one image as an Attention result, its rollout on the patch grid, and the ViT's mistakes."""
from __future__ import annotations

import numpy as np

from attention.analyses import stats
from attention.domains.vision.cache import Trained
from attention.domains.vision.model import MODEL_NAME, VisionTransformer, patch_tokens, predict
from attention.run.result import Attention


def attend_image(network: VisionTransformer, image: np.ndarray) -> Attention:
    """Run one image [8, 8] (values 0..1); tokens are [CLS] and the patches, weights [layer, head, query, key].

    meta: probabilities [class], prediction, grid (patches per side), patch_size, image_size."""
    image = np.asarray(image, dtype=np.float32)
    config = network.config
    if image.shape != (config.image_size, config.image_size):
        raise ValueError(f"The image must be {config.image_size}×{config.image_size} pixels; this one is {image.shape}.")
    if not np.isfinite(image).all():
        raise ValueError("The image holds values that are not numbers.")
    probabilities, weights = predict(network, np.clip(image, 0.0, 1.0)[None])
    return Attention(
        tokens=patch_tokens(config), weights=weights[0], model=MODEL_NAME, token_kind="patch",
        meta={"probabilities": probabilities[0].tolist(), "prediction": int(probabilities[0].argmax()), "grid": config.grid,
              "patch_size": config.patch_size, "image_size": config.image_size},
    )


def rollout_map(result: Attention, query: int = 0) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema, 2020; attention/stats.py) from `query` ([CLS] by default) after the last
    layer, laid out on the patch grid: [patch row, patch column] ([CLS] left out)."""
    grid = int(result.meta["grid"])
    return stats.rollout(result.weights)[-1, query, 1:].reshape(grid, grid)


def mistakes(trained: Trained) -> list[tuple[int, int, int]]:
    """The held-out images the ViT gets wrong: (test index, true digit, predicted digit)."""
    probabilities, _ = predict(trained.network, trained.data.test_images)
    predicted = probabilities.argmax(-1)
    wrong = np.flatnonzero(predicted != trained.data.test_labels)
    return [(int(i), int(trained.data.test_labels[i]), int(predicted[i])) for i in wrong]


def mistake_rollouts(trained: Trained, wrong: list[tuple[int, int, int]]) -> list[tuple[int, int, int, np.ndarray]]:
    """Mistakes (from mistakes()) with the rollout map of each: (test index, true digit, predicted, [row, column])."""
    return [(i, true, said, rollout_map(attend_image(trained.network, trained.data.test_images[i]))) for i, true, said in wrong]
