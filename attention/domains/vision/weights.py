"""The attention of one image as an Attention result, its rollout on the patch grid, and the ViT's mistakes."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from attention.analyses import stats
from attention.domains.vision.cache import Trained
from attention.domains.vision.model import MODEL_NAME, VisionTransformer, patch_pixels, patch_tokens, predict
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


def occlusion_map(network: VisionTransformer, image: np.ndarray, digit: int) -> np.ndarray:
    """How much the probability of `digit` drops when each patch is blanked (its pixels set to 0, the background), laid
    out on the patch grid: [patch row, patch column] (Zeiler & Fergus, 2014). What the output uses, measured directly."""
    config = network.config
    image = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
    variants = np.repeat(image[None], config.n_patches + 1, axis=0)            # [1 + patch, 8, 8]: the image, then each blanked
    for patch in range(config.n_patches):
        rows, columns = patch_pixels(patch, config.patch_size, config.image_size)
        variants[1 + patch, rows, columns] = 0.0
    probabilities, _ = predict(network, variants)
    return (probabilities[0, digit] - probabilities[1:, digit]).reshape(config.grid, config.grid)


@lru_cache(maxsize=4)
def rollout_agreement(n: int = 40) -> float:
    """rollout_occlusion_agreement of the trained ViT (trained or read from disk first), kept per process."""
    from attention.domains.vision.cache import load_or_train

    return rollout_occlusion_agreement(load_or_train(), n)


def rollout_occlusion_agreement(trained: Trained, n: int = 40) -> float:
    """Median over the first n held-out digits of the Spearman correlation between the rollout map and the occlusion map
    of the true digit (how far rollout ranks the patches as the output uses them)."""
    from scipy.stats import spearmanr

    data = trained.data
    found = []
    for index in range(min(n, len(data.test_images))):
        image = data.test_images[index]
        rolled = rollout_map(attend_image(trained.network, image)).ravel()
        occluded = occlusion_map(trained.network, image, int(data.test_labels[index])).ravel()
        if np.ptp(rolled) > 0 and np.ptp(occluded) > 0:
            found.append(float(spearmanr(rolled, occluded).statistic))
    return float(np.median(found))
