"""The data: scikit-learn's 8×8 digits split once (seeded, stratified), the logistic-regression baseline, and
drawn images in share links (64 hex digits, one per pixel, row by row)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from attention.domains.vision.model import VisionConfig


class Digits(NamedTuple):
    """scikit-learn's digits split once: images float32 [n, 8, 8] in 0..1, labels int64 [n]."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def load_digits_split(config: VisionConfig = VisionConfig()) -> Digits:
    """The held-out split both models are scored on (stratified, seeded)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)   # pixel values 0..16 -> 0..1
    split = train_test_split(images, digits.target.astype(np.int64), test_size=config.test_size,
                             random_state=config.split_seed, stratify=digits.target)
    return Digits(split[0], split[2], split[1], split[3])


def logistic_accuracy(data: Digits) -> float:
    """The baseline: logistic regression on the 64 raw pixels, scored on the same held-out images."""
    from sklearn.linear_model import LogisticRegression

    classifier = LogisticRegression(max_iter=5000)
    classifier.fit(data.train_images.reshape(len(data.train_images), -1), data.train_labels)
    return float(classifier.score(data.test_images.reshape(len(data.test_images), -1), data.test_labels))


def encode_pixels(image: np.ndarray) -> str:
    """image [8, 8] in 0..1 -> 64 hex digits (16 grey levels), row by row."""
    levels = np.clip(np.rint(np.asarray(image, dtype=np.float64) * 15), 0, 15).astype(int)
    return "".join(f"{level:x}" for level in levels.ravel())


def decode_pixels(text: str, image_size: int = 8) -> np.ndarray:
    """64 hex digits -> image [8, 8] in 0..1; anything else is a ValueError written for the user."""
    cleaned = text.strip().lower()
    if len(cleaned) != image_size**2 or any(c not in "0123456789abcdef" for c in cleaned):
        raise ValueError(f"A drawn image is {image_size**2} hex digits (0–f), one per pixel; the link's '{text[:20]}' is not one.")
    return (np.array([int(c, 16) for c in cleaned], dtype=np.float32) / 15).reshape(image_size, image_size)
