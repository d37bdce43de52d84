"""The attention of one prediction as an Attention result, and full attention against ProbSparse."""
from __future__ import annotations

import math
import time

import numpy as np

from attention.domains.timeseries.baselines import scores
from attention.domains.timeseries.cache import Trained
from attention.domains.timeseries.data import RUL_CAP, Config, simulate_fleet
from attention.domains.timeseries.model import predict
from attention.engine.backends import COMPUTE_LOCK
from attention.engine.patterns import Pattern, make_pattern
from attention.run.result import Attention


def pattern_for(name: str) -> Pattern | None:
    """The page's attention choice: "full" (None: maths.py's dense attention) or "probsparse" (Informer, default u)."""
    if name == "full":
        return None
    return make_pattern(name)


def token_labels(config: Config) -> list[str]:
    """Each token's steps: t−95…t−88, …, t−7…t−0 (t−0 is the latest) for the window, then t+1…t+8, … (or RUL)."""
    p = config.patch
    past = [f"t−{config.window - 1 - i}" + (f"…t−{config.window - i - p}" if p > 1 else "") for i in range(0, config.window, p)]
    future = [f"t+{h + 1}…t+{h + p}" for h in range(0, config.horizon, p)] if config.forecasting else ["RUL"]
    return past + future


def explain(trained: Trained, index: int, pattern: str = "full") -> Attention:
    """Run one held-out window; tokens are time steps then output tokens (token_kind "time"), weights [layer, head, query, key].

    meta: window [step, feature], prediction [output], truth [output], end (where the window ends), n_outputs."""
    data, config = trained.data, trained.network.config
    if not 0 <= index < len(data.test_x):
        raise ValueError(f"There are {len(data.test_x)} held-out windows (0–{len(data.test_x) - 1}); {index} is not one.")
    predicted, weights = predict(trained.network, data.test_x[index:index + 1], pattern_for(pattern))
    return Attention(
        tokens=token_labels(config), weights=weights[0], model=f"timeseries-{config.dataset}", token_kind="time",
        options={"pattern": pattern, "window": config.window},
        meta={"window": data.test_x[index].tolist(), "prediction": predicted[0].tolist(), "truth": data.test_y[index].tolist(),
              "end": data.test_ends[index].tolist(), "n_outputs": config.n_outputs, "patch": config.patch, "dataset": config.dataset},
    )


def past_attention(result: Attention, output: int, layer: int, head: int | None) -> np.ndarray:
    """How much output token `output` (0 = the first forecast step, or RUL) weighs each past step: [window].

    `head` None averages the heads. Weight on the other output tokens is left out, so the sum can be below 1."""
    n_past = result.n_tokens - int(result.meta["n_outputs"])
    row = result.weights[layer, :, n_past + output, :n_past]                  # [head, key patch]
    row = row.mean(0) if head is None else row[head]
    return np.repeat(row, int(result.meta["patch"]))                           # one value per time step of the window


def compare_patterns(trained: Trained, repeats: int = 3) -> dict[str, dict[str, float]]:
    """Full vs ProbSparse on the held-out windows, same trained weights: scores and the best of `repeats` timings (ms)."""
    data, config = trained.data, trained.network.config
    rows = {}
    for name in ("full", "probsparse"):
        pattern = pattern_for(name)
        best = math.inf
        for _ in range(repeats):
            started = time.perf_counter()
            predicted, _ = predict(trained.network, data.test_x, pattern, keep_weights=False)
            best = min(best, time.perf_counter() - started)
        n_tokens = config.n_past + config.n_outputs
        active = n_tokens if pattern is None else pattern.active_queries(n_tokens)
        rows[name] = {**scores(predicted, data.test_y, config.forecasting), "ms for all test windows": best * 1000,
                      "queries that attend": active}
    return rows


def machine_life(trained: Trained, machine: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RUL along one held-out machine's life: (cycles [n], true RUL [n], predicted RUL [n]) for every full window."""
    readings = simulate_fleet().sensors[machine]
    w = trained.network.config.window
    cycles = np.arange(w, len(readings) + 1)
    windows = np.stack([readings[c - w:c] for c in cycles])
    predicted, _ = predict(trained.network, windows, keep_weights=False)
    return cycles, np.minimum(len(readings) - cycles, RUL_CAP), predicted[:, 0]


def forecast_gradient(trained: Trained, index: int, output: int) -> np.ndarray:
    """|∂ forecast / ∂ x| of forecast token `output` (the sum of its patch of forecast steps) with respect to each past
    step of held-out window `index`, summed over features: [window]. What the whole model's output is locally
    sensitive to: the linear baseline and the attention correction together."""
    import torch

    data, network = trained.data, trained.network
    config = network.config
    if not config.forecasting:
        raise ValueError("The gradient view is for forecasting models (the RUL model has one output per machine).")
    if not 0 <= index < len(data.test_x):
        raise ValueError(f"There are {len(data.test_x)} held-out windows (0–{len(data.test_x) - 1}); {index} is not one.")
    x = torch.tensor(np.asarray(data.test_x[index:index + 1], dtype=np.float32), requires_grad=True)
    with COMPUTE_LOCK, torch.enable_grad():
        y, _ = network(x)
        (gradient,) = torch.autograd.grad(y[0, output * config.patch:(output + 1) * config.patch].sum(), x)
    return gradient[0].abs().sum(-1).numpy()                                    # [window]


GRADIENT_CHECKED = 40   # held-out windows over which the attention row is compared with the gradient


def attention_gradient_agreement(trained: Trained, layer: int = -1, n: int = GRADIENT_CHECKED) -> float:
    """Median over the first n held-out windows (first forecast token, heads averaged) of the Spearman correlation, per
    8-step patch token, between the shaded attention row and |∂forecast/∂x| summed over the patch's steps."""
    from scipy.stats import spearmanr

    config = trained.network.config
    layer = layer % config.n_layers
    key = (id(trained.network), layer, n)
    if key in _AGREEMENT:
        return _AGREEMENT[key]
    found = []
    for index in range(min(n, len(trained.data.test_x))):
        weight = past_attention(explain(trained, index), 0, layer, None)[::config.patch]          # [patch token]
        gradient = forecast_gradient(trained, index, 0).reshape(-1, config.patch).sum(-1)      # [patch token]
        if np.ptp(weight) > 0 and np.ptp(gradient) > 0:
            found.append(float(spearmanr(weight, gradient).statistic))
    _AGREEMENT[key] = float(np.median(found))
    return _AGREEMENT[key]


_AGREEMENT: dict[tuple[int, int, int], float] = {}   # per loaded network, layer and n: computed once per process
