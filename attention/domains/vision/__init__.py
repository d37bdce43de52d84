"""A small vision transformer (ViT) on the project's own engine: each patch of an image is a token.

    image [8, 8] ──► cut into 2×2 patches, read row by row ──► 16 patch tokens, each a linear map of its 4 pixels
        ──► [CLS] token in front, learned position vector added to each ──► layers of attention/engine/layers.py
        (MultiHeadAttention from attention/engine/maths.py) ──► [CLS]'s final vector ──► 10 digit scores

It learns scikit-learn's 8×8 handwritten digits (they ship with the package: nothing is downloaded), with a fixed
seed on the CPU in well under a minute, and is kept on disk so the app trains it once per machine. The file holds
weights that the code reproduces, so it lives in a cache folder, not in the repository.

Read in this order:
    model.py    the recipe (VisionConfig), patches as tokens, the VisionTransformer, predict()
    data.py     the digits split, the logistic-regression baseline, drawn images in share links
    train.py    training from a fixed seed on one CPU thread
    cache.py    train once, keep on disk, load (store.py), with both models' held-out accuracy
    weights.py  one image's attention as an Attention result, rollout on the patch grid, the mistakes
Every name is importable from `attention.domains.vision` itself.
"""
from attention.domains.vision.cache import TRAINING_VERSION, Trained, cache_dir, cache_path, is_cached, load_or_train
from attention.domains.vision.data import Digits, decode_pixels, encode_pixels, load_digits_split, logistic_accuracy
from attention.domains.vision.model import (MODEL_NAME, VisionConfig, VisionTransformer, accuracy, patch_pixels,
                                            patch_tokens, patchify, predict)
from attention.domains.vision.train import Progress, train
from attention.domains.vision.weights import (attend_image, mistake_rollouts, mistakes, occlusion_map, rollout_map,
                                             rollout_agreement, rollout_occlusion_agreement)

__all__ = [
    "MODEL_NAME", "TRAINING_VERSION", "Digits", "Progress", "Trained", "VisionConfig", "VisionTransformer", "accuracy",
    "attend_image", "cache_dir", "cache_path", "decode_pixels", "encode_pixels", "is_cached", "load_digits_split",
    "load_or_train", "logistic_accuracy", "mistake_rollouts", "mistakes", "patch_pixels", "patch_tokens", "patchify",
    "occlusion_map", "predict", "rollout_map", "rollout_agreement", "rollout_occlusion_agreement", "train",
]
