"""The baselines the transformer must beat (seasonal naive, linear regression) and the held-out scores."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from attention.domains.timeseries.data import Config, Split, nasa_score

if TYPE_CHECKING:
    from sklearn.linear_model import LinearRegression


def seasonal_naive(x: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """Each future step repeats the value one season earlier: x [n, window, 1] -> [n, horizon]."""
    steps = np.arange(horizon)
    back = period * (steps // period + 1) - steps                     # how far behind the window's end that value is
    return x[:, -back, 0]


def window_features(x: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """RUL baseline features per sensor: mean, last value and slope over the window: [n, window, sensor] -> [n, 3·sensor]."""
    t = np.arange(x.shape[1]) - (x.shape[1] - 1) / 2
    t = torch.as_tensor(t, dtype=x.dtype) if isinstance(x, torch.Tensor) else t
    slope = (x * t[:, None]).sum(1) / (t**2).sum()
    parts = [x.mean(1), x[:, -1], slope]
    return torch.cat(parts, dim=1) if isinstance(x, torch.Tensor) else np.concatenate(parts, axis=1)


def linear_inputs(x: np.ndarray | torch.Tensor, forecasting: bool) -> np.ndarray | torch.Tensor:
    """What the linear-regression baseline reads: the raw window (forecasting) or its features (RUL): [n, input]."""
    return x[..., 0] if forecasting else window_features(x)


def fit_linear(x: np.ndarray, y: np.ndarray, forecasting: bool) -> LinearRegression:
    """The linear-regression baseline: sklearn's least squares of y [n, output] on linear_inputs(x [n, window, feature])."""
    from sklearn.linear_model import LinearRegression

    return LinearRegression().fit(linear_inputs(np.asarray(x, np.float64), forecasting), np.asarray(y, np.float64))


def out_of_fold_linear(config: Config, data: Split, windows: np.ndarray, folds: int = 5) -> np.ndarray:
    """The baseline's prediction for each of the training `windows` (indices) from a fit that never saw it: [n, output].

    The windows go in `folds` blocks (stretches of time, or groups of machines); each block is predicted by a fit on
    the other blocks' windows that share no step with it."""
    ends = data.train_ends[windows]
    found = np.zeros((len(windows), data.train_y.shape[1]))
    if config.forecasting:
        order = np.argsort(ends)
        blocks = np.array_split(order, folds)
        first, last = ends - config.window, ends + config.horizon        # the steps each window covers: [first, last)
        keep = [(last <= first[b].min()) | (first >= last[b].max()) for b in blocks]
    else:
        groups = np.array_split(np.unique(ends[:, 0]), folds)
        blocks = [np.flatnonzero(np.isin(ends[:, 0], g)) for g in groups]
        keep = [~np.isin(ends[:, 0], g) for g in groups]
    for block, others in zip(blocks, keep):
        other = windows[others]
        linear = fit_linear(data.train_x[other], data.train_y[other], config.forecasting)
        found[block] = linear.predict(linear_inputs(data.train_x[windows[block]].astype(np.float64), config.forecasting))
    return found if config.forecasting else np.clip(found, 0, None)


def baselines(data: Split, config: Config) -> dict[str, np.ndarray]:
    """Held-out predictions of the simple baselines, by name: [n_test, output]."""
    inputs = linear_inputs(data.test_x.astype(np.float64), config.forecasting)
    linear = fit_linear(data.train_x, data.train_y, config.forecasting).predict(inputs)
    if config.forecasting:
        return {"Seasonal naive": seasonal_naive(data.test_x, config.horizon, data.period), "Linear regression": linear}
    return {"Linear regression (window features)": np.clip(linear, 0, None)}


def scores(predicted: np.ndarray, true: np.ndarray, forecasting: bool) -> dict[str, float]:
    """RMSE and MAE (forecasting) or RMSE and NASA score (RUL) on held-out windows."""
    error = np.asarray(predicted, dtype=np.float64) - true
    found = {"RMSE": float(np.sqrt((error**2).mean()))}
    if forecasting:
        found["MAE"] = float(np.abs(error).mean())
    else:
        found["NASA score"] = nasa_score(predicted, true)
    return found
