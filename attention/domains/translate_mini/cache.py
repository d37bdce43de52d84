"""Train once with a seed, keep on disk, load (attention/domains/store.py), with the held-out figures; the backends
the engine serves as `translate-mini` and `scratch:random-translate-mini`."""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

from attention.domains import store
from attention.domains.translate_mini.data import Example, all_dates, generate, split_dates, tokenizer
from attention.domains.translate_mini.model import MODEL_NAME, RANDOM_NAME, TranslateConfig, Translator, untrained
from attention.domains.translate_mini.scores import alignment, exact_match
from attention.domains.translate_mini.train import Progress, train


TRAINING_VERSION = 1   # bump when the recipe or the generator changes: old cache files are then ignored


class Trained(NamedTuple):
    """The trained translator and its held-out figures (exact match, alignment score of it and of its untrained start)."""

    network: Translator
    config: TranslateConfig
    accuracy: float
    alignment: dict[str, Any]
    random_alignment: dict[str, Any]
    seconds: float
    notices: tuple[str, ...] = ()

    @property
    def model(self) -> Translator:
        """`network` under its name before the naming rule (docs/architecture.md), for scripts that use it."""
        return self.network


def held_out(config: TranslateConfig = TranslateConfig()) -> list[Example]:
    """The held-out examples the figures are measured on (dates never seen in training)."""
    _, test_dates = split_dates(config.data_seed, config.held_out)
    return generate(test_dates, config.test_examples, config.data_seed + 1)


def cache_path(config: TranslateConfig = TranslateConfig()) -> Path:
    """One file per recipe: its name carries a hash of the config and of TRAINING_VERSION."""
    return store.recipe_path(MODEL_NAME, {**asdict(config), "version": TRAINING_VERSION})


def is_cached(config: TranslateConfig = TranslateConfig()) -> bool:
    """True when load_or_train will not need to train (in memory or on disk)."""
    return store.is_ready(cache_path(config))


def load_or_train(config: TranslateConfig = TranslateConfig(), progress: Progress | None = None) -> Trained:
    """The trained translator: from memory, else the disk cache, else trained now (`progress(fraction, message)`) and saved."""
    def read(saved: dict) -> Trained:
        network = Translator(config.engine())
        network.load_state_dict(saved["state"], strict=True)
        return Trained(network.eval(), config, float(saved["accuracy"]), saved["alignment"], saved["random_alignment"],
                       float(saved["seconds"]))

    def fresh(notices: tuple[str, ...]) -> tuple[Trained, dict]:
        started = time.perf_counter()
        network = train(config, progress)
        seconds = time.perf_counter() - started
        test = held_out(config)
        trained = Trained(network, config, exact_match(network, test), alignment(network, test), alignment(untrained(config), test),
                          seconds, notices)
        return trained, {"state": network.state_dict(), "config": asdict(config), "seconds": seconds,
                         "accuracy": trained.accuracy, "alignment": trained.alignment,
                         "random_alignment": trained.random_alignment}

    return store.load_or_train(cache_path(config), read, fresh, "date translator")


def alignment_report(config: TranslateConfig = TranslateConfig(), progress: Progress | None = None) -> dict[str, Any]:
    """The figures the Masks page and README show: held-out exact match, and the alignment score (with its share per
    field and the chance level) of the trained network and of the same architecture with its untrained random weights."""
    trained = load_or_train(config, progress)
    return {"accuracy": trained.accuracy, "trained": trained.alignment, "random": trained.random_alignment,
            "examples": config.test_examples, "held_out_dates": round(config.held_out * len(all_dates())),
            "train_seconds": trained.seconds, "model": MODEL_NAME, "random_model": RANDOM_NAME}


def example(index: int = 0, config: TranslateConfig = TranslateConfig()) -> Example:
    """A held-out example (a date never seen in training): its source, ISO date and field spans."""
    examples = held_out(config)
    if not 0 <= index < len(examples):
        raise ValueError(f"There are {len(examples)} held-out examples: pick 0–{len(examples) - 1}.")
    return examples[index]


def backend(name: str) -> Any:
    """The backend for `translate-mini` (trained, cached) or `scratch:random-translate-mini` (its untrained weights)."""
    from attention.engine.backends import _scratch_backend

    config = TranslateConfig()
    network = load_or_train(config).network if name == MODEL_NAME else untrained(config)
    return _scratch_backend(name, tokenizer(), network, "encoder-decoder", config.max_positions, {"target"})
