"""Train once with a seed, keep on disk, load (attention/domains/store.py), with the held-out score table."""
from __future__ import annotations

import time
from dataclasses import asdict
from typing import NamedTuple

from attention.domains import store
from attention.domains.timeseries.baselines import baselines, scores
from attention.domains.timeseries.data import Config, Split, split
from attention.domains.timeseries.model import TimeSeriesTransformer, predict
from attention.domains.timeseries.train import Progress, train


TRAINING_VERSION = 3          # bump when a recipe changes: old cache files are then ignored


class Trained(NamedTuple):
    """A trained network with its data and held-out scores (network first, then baselines), training time in seconds."""

    network: TimeSeriesTransformer
    data: Split
    table: dict[str, dict[str, float]]
    seconds: float
    notices: tuple[str, ...] = ()

    @property
    def model(self) -> TimeSeriesTransformer:
        """`network` under its name before the naming rule (docs/architecture.md), for scripts that use it."""
        return self.network


MODEL_ROW = "Transformer (this page)"


def score_table(network: TimeSeriesTransformer, data: Split, config: Config) -> dict[str, dict[str, float]]:
    """Held-out scores of the transformer and the baselines, by row name."""
    predicted, _ = predict(network, data.test_x, keep_weights=False)
    rows = {MODEL_ROW: predicted, **baselines(data, config)}
    return {name: scores(values, data.test_y, config.forecasting) for name, values in rows.items()}


def cache_path(config: Config):
    return store.recipe_path(f"timeseries-{config.dataset}", {**asdict(config), "version": TRAINING_VERSION})


def is_cached(config: Config) -> bool:
    """True when load_or_train will not train (in memory or on disk)."""
    return store.is_ready(cache_path(config))


def load_or_train(config: Config, progress: Progress | None = None) -> Trained:
    """The trained network: from memory, else from disk, else trained now (`progress` hears how far) and saved."""
    data = split(config)

    def read(saved: dict) -> Trained:
        network = TimeSeriesTransformer(config, data.train_x.shape[-1])
        network.load_state_dict(saved["state"], strict=True)
        return Trained(network.eval(), data, score_table(network, data, config), float(saved["seconds"]))

    def fresh(notices: tuple[str, ...]) -> tuple[Trained, dict]:
        started = time.perf_counter()
        network = train(config, data, progress)
        seconds = time.perf_counter() - started
        trained = Trained(network, data, score_table(network, data, config), seconds, notices)
        return trained, {"state": network.state_dict(), "config": asdict(config), "seconds": seconds}

    return store.load_or_train(cache_path(config), read, fresh, f"{config.dataset} model")
