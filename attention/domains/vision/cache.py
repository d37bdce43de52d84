"""Train once with a seed, keep on disk, load (attention/domains/store.py), with both models' held-out accuracy."""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

from attention.domains import store
from attention.domains.vision.data import Digits, load_digits_split, logistic_accuracy
from attention.domains.vision.model import MODEL_NAME, VisionConfig, VisionTransformer, accuracy
from attention.domains.vision.train import Progress, train


TRAINING_VERSION = 2   # bump when the training recipe changes: old cache files are then ignored


class Trained(NamedTuple):
    """A trained ViT with its data split and scores: accuracies on the held-out images, training time in seconds."""

    network: VisionTransformer
    data: Digits
    vit_accuracy: float
    logistic_accuracy: float
    seconds: float
    notices: tuple[str, ...] = ()

    @property
    def model(self) -> VisionTransformer:
        """`network` under its name before the naming rule (docs/architecture.md), for scripts that use it."""
        return self.network


def cache_dir() -> Path:
    """Where trained weights are kept (attention/store.py): $ATTENTION_LENS_CACHE, else ~/.cache/attention-lens."""
    return store.cache_dir()


def cache_path(config: VisionConfig = VisionConfig()) -> Path:
    """One file per recipe: its name carries a hash of the config and of TRAINING_VERSION."""
    return store.recipe_path(MODEL_NAME, {**asdict(config), "version": TRAINING_VERSION})


def is_cached(config: VisionConfig = VisionConfig()) -> bool:
    """True when load_or_train will not need to train (in memory or on disk)."""
    return store.is_ready(cache_path(config))


def load_or_train(config: VisionConfig = VisionConfig(), progress: Progress | None = None) -> Trained:
    """The trained ViT: from memory, else from the disk cache, else trained now (`progress` hears each epoch) and saved."""
    data = load_digits_split(config)

    def read(saved: dict) -> Trained:
        network = VisionTransformer(config)
        network.load_state_dict(saved["state"], strict=True)
        return Trained(network.eval(), data, float(saved["vit_accuracy"]), float(saved["logistic_accuracy"]), float(saved["seconds"]))

    def fresh(notices: tuple[str, ...]) -> tuple[Trained, dict]:
        started = time.perf_counter()
        network = train(config, data, progress)
        seconds = time.perf_counter() - started
        trained = Trained(network, data, accuracy(network, data.test_images, data.test_labels), logistic_accuracy(data), seconds, notices)
        return trained, {"state": network.state_dict(), "config": asdict(config), "seconds": seconds,
                         "vit_accuracy": trained.vit_accuracy, "logistic_accuracy": trained.logistic_accuracy}

    return store.load_or_train(cache_path(config), read, fresh, "vision model")
