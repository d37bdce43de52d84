"""induction-mini trained once with a seed and kept on disk (attention/domains/store.py) with its training history;
the backend the engine serves as `induction-mini`."""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from attention.domains import store
from attention.domains.induction_mini.data import tokenizer
from attention.domains.induction_mini.model import MODEL_NAME, InductionConfig, InductionMini
from attention.domains.induction_mini.train import Progress, Watch, train

TRAINING_VERSION = 2   # bump when the recipe or the data change: old cache files are then ignored


class Trained(NamedTuple):
    """The trained network, its recipe, its training history (train.train) as numpy arrays, and the training's seconds:
    on the clock (`seconds`; longer on a busy machine) and of processor time in its one thread (`cpu_seconds`)."""

    network: InductionMini
    config: InductionConfig
    history: dict[str, np.ndarray]
    seconds: float
    cpu_seconds: float
    notices: tuple[str, ...] = ()

    @property
    def model(self) -> InductionMini:
        """`network` under its name before the naming rule (docs/architecture.md), for scripts that use it."""
        return self.network


def cache_path(config: InductionConfig = InductionConfig()) -> Path:
    """One file per recipe: its name carries a hash of the config and of TRAINING_VERSION."""
    return store.recipe_path(MODEL_NAME, {**asdict(config), "version": TRAINING_VERSION})


def is_cached(config: InductionConfig = InductionConfig()) -> bool:
    """True when load_or_train will not need to train (in memory or on disk)."""
    return store.is_ready(cache_path(config))


def load_or_train(config: InductionConfig = InductionConfig(), progress: Progress | None = None,
                  watch: Watch | None = None) -> Trained:
    """The trained induction-mini: from memory, else the disk cache, else trained now (`progress` and `watch`, the
    history so far, hear every recorded step: a page draws the phase change as it happens) and saved."""
    def read(saved: dict) -> Trained:
        network = InductionMini(config.scratch())
        network.load_state_dict(saved["state"], strict=True)
        history = {name: value.numpy() for name, value in saved["history"].items()}
        return Trained(network.eval(), config, history, float(saved["seconds"]), float(saved["cpu_seconds"]))

    def fresh(notices: tuple[str, ...]) -> tuple[Trained, dict]:
        started, cpu = time.perf_counter(), time.thread_time()     # training runs in this thread (store.one_thread)
        network, history = train(config, progress, watch)
        seconds, cpu_seconds = time.perf_counter() - started, time.thread_time() - cpu
        trained = Trained(network, config, {name: value.numpy() for name, value in history.items()}, seconds, cpu_seconds,
                          notices)
        return trained, {"state": network.state_dict(), "config": asdict(config), "seconds": seconds,
                         "cpu_seconds": cpu_seconds, "history": history}

    return store.load_or_train(cache_path(config), read, fresh, "induction-mini model")


def network(name: str = MODEL_NAME) -> tuple[Any, InductionMini]:
    """(the character tokenizer, the trained network) for 'induction-mini'."""
    if name != MODEL_NAME:
        raise ValueError(f"'{str(name)[:80]}' is not {MODEL_NAME}.")
    return tokenizer(), load_or_train().network


def backend(name: str = MODEL_NAME) -> Any:
    """The engine's backend for `induction-mini` (trained on first use, about half a minute, then read from disk)."""
    from attention.engine.backends import _scratch_backend
    from attention.engine.patterns import ATTEND_OPTIONS

    tok, trained = network(name)
    return _scratch_backend(name, tok, trained, "decoder", trained.config.max_positions, {"causal", *ATTEND_OPTIONS})
