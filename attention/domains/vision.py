"""A small vision transformer (ViT) on the project's own engine: each patch of an image is a token.

    image [8, 8] ──► cut into 2×2 patches, read row by row ──► 16 patch tokens, each a linear map of its 4 pixels
        ──► [CLS] token in front, learned position vector added to each ──► layers of attention/engine/transformer.py
        (MultiHeadAttention from attention/engine/maths.py) ──► [CLS]'s final vector ──► 10 digit scores

It learns scikit-learn's 8×8 handwritten digits (they ship with the package: nothing is downloaded), with a fixed
seed on the CPU in well under a minute, and is kept on disk so the app trains it once per machine. The file holds
weights that the code reproduces, so it lives in a cache folder, not in the repository.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch
from torch import nn

from attention.domains import store

from attention.analyses import stats
from attention.engine.backends import COMPUTE_LOCK
from attention.run.result import Attention
from attention.engine import ScratchConfig, TransformerLayer, run_layers

MODEL_NAME = "vit-digits"
TRAINING_VERSION = 2   # bump when the training recipe changes: old cache files are then ignored


@dataclass(frozen=True)
class VisionConfig:
    """Sizes of the ViT and its training recipe (all part of the cache file's name)."""

    image_size: int = 8
    patch_size: int = 2
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 3
    d_ff: int = 128
    n_classes: int = 10
    epochs: int = 100
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 0.3      # strong, as 1,347 training digits are few for a transformer; 0.05 overfits (94% held out)
    label_smoothing: float = 0.1
    seed: int = 0            # initial weights and batch order
    split_seed: int = 0      # which digits are held out (stratified); logistic regression is scored on the same
    test_size: float = 0.25  # held-out share of the 1,797 digits

    @property
    def grid(self) -> int:
        """Patches per side."""
        return self.image_size // self.patch_size

    @property
    def n_patches(self) -> int:
        return self.grid**2

    def patch_at(self, row: float, column: float) -> int:
        """The patch (counted row by row from the top left) holding the pixel at (row, column)."""
        return int(row) // self.patch_size * self.grid + int(column) // self.patch_size


# --- patches as tokens ------------------------------------------------------------------------------------------

def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into square patches, row by row: [batch, height, width] -> [batch, patch, patch_size²]."""
    batch, height, width = images.shape
    rows, cols = height // patch_size, width // patch_size
    x = images.reshape(batch, rows, patch_size, cols, patch_size)          # [batch, row, y in patch, col, x in patch]
    return x.permute(0, 1, 3, 2, 4).reshape(batch, rows * cols, patch_size * patch_size)


def patch_pixels(patch: int, patch_size: int, image_size: int) -> tuple[slice, slice]:
    """The pixel rows and columns of patch number `patch` (counted row by row from the top left)."""
    row, col = divmod(patch, image_size // patch_size)
    return slice(row * patch_size, (row + 1) * patch_size), slice(col * patch_size, (col + 1) * patch_size)


def patch_tokens(config: VisionConfig) -> list[str]:
    """Token labels: [CLS], then "r0c0", "r0c1", ... for each patch's row and column in the grid."""
    return ["[CLS]"] + [f"r{p // config.grid}c{p % config.grid}" for p in range(config.n_patches)]


class VisionTransformer(nn.Module):
    """Patch embedding, [CLS] token, learned positions, pre-norm layers of the project's engine, a linear classifier."""

    def __init__(self, config: VisionConfig):
        super().__init__()
        self.config = config
        layer = ScratchConfig(d_model=config.d_model, n_heads=config.n_heads, d_ff=config.d_ff, layer_norm_eps=1e-5,
                              norm_first=True, activation="gelu")  # pre-norm, as in the ViT paper
        self.patch_embedding = nn.Linear(config.patch_size**2, config.d_model)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.d_model))
        self.position_embedding = nn.Parameter(torch.randn(1, config.n_patches + 1, config.d_model) * 0.02)
        self.layers = nn.ModuleList(TransformerLayer(layer) for _ in range(config.n_layers))
        self.final_norm = nn.LayerNorm(config.d_model, eps=1e-5)
        self.classifier = nn.Linear(config.d_model, config.n_classes)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """images [batch, 8, 8] in 0..1 -> tokens [batch, 1 + patch, d_model]: [CLS] first, then patches row by row."""
        patches = self.patch_embedding(patchify(images, self.config.patch_size))   # [batch, patch, d_model]
        cls = self.cls_token.expand(images.shape[0], -1, -1)                        # [batch, 1, d_model]
        return torch.cat([cls, patches], dim=1) + self.position_embedding           # [batch, 1 + patch, d_model]

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images [batch, 8, 8] -> (logits [batch, class], weights [batch, layer, head, query, key])."""
        stacked = run_layers(self.layers, self.embed(images))                      # the engine's one layer loop
        logits = self.classifier(self.final_norm(stacked.hidden[:, 0]))            # [CLS] alone speaks for the image
        return logits, torch.stack(stacked.weights, dim=1)                          # [batch, layer, head, query, key]


# --- data, training, cache --------------------------------------------------------------------------------------

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

    model = LogisticRegression(max_iter=5000)
    model.fit(data.train_images.reshape(len(data.train_images), -1), data.train_labels)
    return float(model.score(data.test_images.reshape(len(data.test_images), -1), data.test_labels))


def predict(model: VisionTransformer, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """images [n, 8, 8] in 0..1 -> (probabilities [n, class], weights [n, layer, head, query, key]), float32."""
    with COMPUTE_LOCK, torch.inference_mode():
        logits, weights = model(torch.as_tensor(np.asarray(images, dtype=np.float32)))
    return torch.softmax(logits, dim=-1).numpy(), weights.numpy()


def accuracy(model: VisionTransformer, images: np.ndarray, labels: np.ndarray) -> float:
    probabilities, _ = predict(model, images)
    return float((probabilities.argmax(-1) == labels).mean())


Progress = Callable[[float, str], None]


def train(config: VisionConfig = VisionConfig(), data: Digits | None = None, progress: Progress | None = None) -> VisionTransformer:
    """Train from a fixed seed on the CPU (AdamW, one-cycle learning rate, label smoothing).

    Runs on one CPU thread: for matrices this small, threads cost more in waiting than they save (measured on
    2 shared cores: 20 ms a step on one thread, 300 ms on two), and one thread keeps the result repeatable."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(config, data, progress)
    finally:
        torch.set_num_threads(threads)


def _train(config: VisionConfig, data: Digits | None, progress: Progress | None) -> VisionTransformer:
    data = data or load_digits_split(config)
    generator = torch.Generator().manual_seed(config.seed)
    with torch.random.fork_rng():                      # the seed sets the initial weights without touching the caller's RNG
        torch.manual_seed(config.seed)
        model = VisionTransformer(config)
    images, labels = torch.as_tensor(data.train_images), torch.as_tensor(data.train_labels)
    steps_per_epoch = -(-len(images) // config.batch_size)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, config.learning_rate,
                                                   total_steps=config.epochs * steps_per_epoch, pct_start=0.1)
    loss_function = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    model.train()
    for epoch in range(config.epochs):
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(images), config.batch_size):
            batch = order[start:start + config.batch_size]
            logits, _ = model(images[batch])
            loss = loss_function(logits, labels[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
        if progress:
            progress((epoch + 1) / config.epochs, f"Training the vision transformer: epoch {epoch + 1} of {config.epochs}")
    return model.eval()


class Trained(NamedTuple):
    """A trained ViT with its data split and scores: accuracies on the held-out images, training time in seconds."""

    model: VisionTransformer
    data: Digits
    vit_accuracy: float
    logistic_accuracy: float
    seconds: float
    notices: tuple[str, ...] = ()


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
        model = VisionTransformer(config)
        model.load_state_dict(saved["state"], strict=True)
        return Trained(model.eval(), data, float(saved["vit_accuracy"]), float(saved["logistic_accuracy"]), float(saved["seconds"]))

    def fresh(notices: tuple[str, ...]) -> tuple[Trained, dict]:
        started = time.perf_counter()
        model = train(config, data, progress)
        seconds = time.perf_counter() - started
        trained = Trained(model, data, accuracy(model, data.test_images, data.test_labels), logistic_accuracy(data), seconds, notices)
        return trained, {"state": model.state_dict(), "config": asdict(config), "seconds": seconds,
                         "vit_accuracy": trained.vit_accuracy, "logistic_accuracy": trained.logistic_accuracy}

    return store.load_or_train(cache_path(config), read, fresh, "vision model")


# --- attention of one image -------------------------------------------------------------------------------------

def attend_image(model: VisionTransformer, image: np.ndarray) -> Attention:
    """Run one image [8, 8] (values 0..1); tokens are [CLS] and the patches, weights [layer, head, query, key].

    meta: probabilities [class], prediction, grid (patches per side), patch_size, image_size."""
    image = np.asarray(image, dtype=np.float32)
    config = model.config
    if image.shape != (config.image_size, config.image_size):
        raise ValueError(f"The image must be {config.image_size}×{config.image_size} pixels; this one is {image.shape}.")
    if not np.isfinite(image).all():
        raise ValueError("The image holds values that are not numbers.")
    probabilities, weights = predict(model, np.clip(image, 0.0, 1.0)[None])
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
    probabilities, _ = predict(trained.model, trained.data.test_images)
    predicted = probabilities.argmax(-1)
    wrong = np.flatnonzero(predicted != trained.data.test_labels)
    return [(int(i), int(trained.data.test_labels[i]), int(predicted[i])) for i in wrong]


def mistake_rollouts(trained: Trained, wrong: list[tuple[int, int, int]]) -> list[tuple[int, int, int, np.ndarray]]:
    """Mistakes (from mistakes()) with the rollout map of each: (test index, true digit, predicted, [row, column])."""
    return [(i, true, said, rollout_map(attend_image(trained.model, trained.data.test_images[i]))) for i, true, said in wrong]


# --- drawn images in share links: 64 hex digits, one per pixel, row by row ----------------------------------------

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
