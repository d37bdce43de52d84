"""Self-attention over time: forecasting a series and estimating remaining useful life (RUL), on the project's engine.

    window of past values ──► one token per patch of steps (RUL: per cycle): value embedding + position vector
        ──► one output token per future patch, as in Informer's decoder input, holding the linear forecast of its
            steps (RUL: one [RUL] token holding the linear estimate)
        ──► layers of attention/engine/transformer.py (MultiHeadAttention from attention/engine/maths.py), any pattern of patterns.py
        ──► each output token's final vector ──► a correction to that linear forecast

The linear forecast is the linear-regression baseline itself (the same least-squares fit, kept fixed), so the model
starts exactly at the baseline and attention learns what a fixed linear map misses. "Which past steps does the
forecast for step t + h use?" is one row of the attention matrix: the row of the output token for t + h.
Data: a synthetic series whose parts are known, the Mauna Loa CO2 record (bundled with statsmodels: nothing is
downloaded) and a simulated fleet of machines run to failure, shaped like NASA's C-MAPSS. Models train from fixed
seeds on the CPU, choose their checkpoint on the last part of the training data (never on the test part) and are
kept on disk (attention/store.py).
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Callable, NamedTuple

import numpy as np
import torch
from torch import nn

from attention.domains import store
from attention.engine.backends import COMPUTE_LOCK
from attention.engine.patterns import Pattern, make_pattern
from attention.run.result import Attention
from attention.engine import ScratchConfig, TransformerLayer, run_layers, sinusoidal_positions

if TYPE_CHECKING:
    from sklearn.linear_model import LinearRegression

DATASETS = ("synthetic", "co2", "rul")
DATASET_TITLES = {"synthetic": "Synthetic: trend + two seasons + noise", "co2": "Mauna Loa CO2 (weekly, 1958–2001)",
                  "rul": "Machines run to failure (simulated, C-MAPSS-like)"}
WINDOWS = {"synthetic": (96, 192, 384), "co2": (104, 208, 416), "rul": (30, 60, 120)}  # multiples of the patch
TRAINING_VERSION = 3          # bump when a recipe changes: old cache files are then ignored
RUL_CAP = 125                 # cycles: RUL is capped here, as is usual with C-MAPSS (early life looks healthy)
SYNTHETIC_PERIODS = (16, 64)  # the two seasons of the synthetic series, in steps
SYNTHETIC_STRENGTH = (0.1, 0.7)  # the long season's amplitude, drawn anew for each of its cycles


# --- data --------------------------------------------------------------------------------------------------------

class Synthetic(NamedTuple):
    """A series with known parts: values = trend · (1 + season_short + season_long) + noise, each float64 [step].

    `strength` [cycle] is the long season's amplitude in each of its cycles (cycle k covers steps 64k … 64k + 63)."""

    values: np.ndarray
    trend: np.ndarray
    season_short: np.ndarray
    season_long: np.ndarray
    noise: np.ndarray
    strength: np.ndarray


def synthetic_series(n: int = 4000, seed: int = 0, noise: float = 0.03) -> Synthetic:
    """Rising trend (1 → 3) times two seasons (periods 16 and 64 steps, multiplicative, as in sales data) plus noise.

    season_short = 0.25·sin(2πt/16); season_long = A_k·sin³(2πt/64), a sharper, non-sinusoidal shape whose strength
    A_k ~ U(0.1, 0.7) is drawn anew for each 64-step cycle k (a strong year, then a weak one); noise ~ N(0, σ²).
    The strength changes where sin³ is flat at 0, so the series stays smooth. A fixed linear map over the window
    cannot tell which of its steps belong to the current cycle; a forecast that reads the current cycle's strength
    from its part already seen (and expects the average strength for the next cycle) can."""
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64)
    trend = 1.0 + 2.0 * t / n
    short = 0.25 * np.sin(2 * math.pi * t / SYNTHETIC_PERIODS[0])
    strength = rng.uniform(*SYNTHETIC_STRENGTH, -(-n // SYNTHETIC_PERIODS[1]))                   # [cycle]
    long = strength[(t // SYNTHETIC_PERIODS[1]).astype(int)] * np.sin(2 * math.pi * t / SYNTHETIC_PERIODS[1]) ** 3
    eps = rng.normal(0.0, noise, n)
    return Synthetic(trend * (1 + short + long) + eps, trend, short, long, eps, strength)


def co2_series() -> tuple[np.ndarray, np.ndarray]:
    """Mauna Loa CO2, weekly, in ppm (statsmodels' bundled copy): values float64 [week], dates (numpy datetime64)."""
    from statsmodels.datasets import co2

    frame = co2.load_pandas().data["co2"].interpolate(limit_direction="both")   # 59 missing weeks filled linearly
    return frame.to_numpy(dtype=np.float64), frame.index.to_numpy()


class Fleet(NamedTuple):
    """Run-to-failure histories: sensors float32 [cycle, sensor] per machine, with the wear that drove them."""

    sensors: list[np.ndarray]
    wear: list[np.ndarray]
    sensor_names: tuple[str, ...]


SENSOR_NAMES = ("T24 temp", "T30 temp", "T50 temp", "P30 pressure", "Nf fan speed", "Nc core speed", "phi fuel ratio",
                "BPR bypass", "P2 inlet", "T2 inlet")


def simulate_fleet(n_machines: int = 160, seed: int = 0) -> Fleet:
    """Simulated C-MAPSS-like fleet: wear rises ever faster to failure; 8 of 10 sensors follow it through noise.

    Each machine i lives T_i ~ U(130, 330) cycles and starts with some wear w0 ~ U(0, 0.15) (manufacturing
    spread). Wear at cycle t is w0 + (1 − w0)·(e^{k·t/T} − 1)/(e^k − 1) with k ~ U(3, 6): flat for long, then
    accelerating, reaching 1 at failure. Sensor s reads base_s + gain_s·wear + noise (σ_s); two sensors
    (P2, T2: inlet conditions) carry no wear at all, like C-MAPSS's constant channels."""
    rng = np.random.default_rng(seed)
    gains = np.array([0.8, 1.2, 1.5, -1.0, 0.6, 0.9, -1.1, 0.7, 0.0, 0.0])
    noise = np.array([0.15, 0.18, 0.2, 0.18, 0.12, 0.18, 0.18, 0.15, 0.18, 0.18])
    sensors, wear = [], []
    for _ in range(n_machines):
        life = int(rng.integers(130, 331))
        w0, k = rng.uniform(0, 0.15), rng.uniform(3, 6)
        t = np.arange(1, life + 1) / life
        w = w0 + (1 - w0) * np.expm1(k * t) / np.expm1(k)
        readings = gains * w[:, None] + rng.normal(0, 1, (life, len(gains))) * noise
        sensors.append(readings.astype(np.float32))
        wear.append(w.astype(np.float32))
    return Fleet(sensors, wear, SENSOR_NAMES)


def nasa_score(predicted: np.ndarray, true: np.ndarray) -> float:
    """The PHM08 / C-MAPSS score: Σ e^(−d/13) − 1 for early predictions (d < 0), e^(d/10) − 1 for late ones (d = predicted − true)."""
    d = np.asarray(predicted, dtype=np.float64) - np.asarray(true, dtype=np.float64)
    return float(np.where(d < 0, np.exp(-d / 13) - 1, np.exp(d / 10) - 1).sum())


# --- windows and splits ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Config:
    """A dataset, its window and horizon, the model's sizes and the training recipe (all name the cache file)."""

    dataset: str = "synthetic"
    window: int = 96
    horizon: int = 24          # forecasting: steps ahead (RUL: 1 value)
    patch: int = 8             # time steps per token (forecasting); RUL reads one cycle per token
    linear_path: bool = True   # start from the linear-regression baseline itself (fixed); attention learns corrections
    d_model: int = 32
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 64
    steps: int = 700
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    validation: float = 0.2    # the last 20% of the training period (RUL: of the training machines) picks the checkpoint
    check_every: int = 100     # steps between validation checks
    jitter: float = 0.0        # training inputs get Gaussian noise of this many standard deviations (no memorising)
    members: int = 1           # transformers trained from seeds members·seed + 0, 1, …; their corrections are averaged
    average: float = 0.99      # the model is a running average of the weights (this share of the old average kept per step)
    late_weight: float = 0.0   # RUL: squared errors of late predictions (more life than there is) count 1 + this much
    seed: int = 0

    @property
    def forecasting(self) -> bool:
        return self.dataset != "rul"

    @property
    def n_outputs(self) -> int:
        """Query tokens after the window: one per future patch, or the single [RUL] token."""
        return self.horizon // self.patch if self.forecasting else 1

    @property
    def all_heads(self) -> int:
        """Heads per layer over all members (the attention weights list them member after member)."""
        return self.n_heads * self.members

    def head_name(self, head: int | None) -> str:
        """A head as a picker shows it (None: the average); with several members, whose head it is."""
        if head is None:
            return "all heads, averaged"
        return f"head {head}" + (f" (member {head // self.n_heads + 1})" if self.members > 1 else "")

    def output_name(self, output: int) -> str:
        """The future steps forecast token `output` covers, e.g. "t+1…t+8" (forecasting only)."""
        return f"t+{output * self.patch + 1}…t+{(output + 1) * self.patch}"

    @property
    def n_past(self) -> int:
        """Tokens for the window: one per patch of `patch` steps."""
        return self.window // self.patch


def make_config(dataset: str, window: int | None = None) -> Config:
    """The recipe for a dataset and window; ValueError for names or windows the page does not offer."""
    if dataset not in DATASETS:
        raise ValueError(f"Unknown dataset '{str(dataset)[:30]}'; choose one of {', '.join(DATASETS)}.")
    window = WINDOWS[dataset][0] if window is None else window
    if window not in WINDOWS[dataset]:
        raise ValueError(f"The {dataset} models read windows of {', '.join(map(str, WINDOWS[dataset]))} steps, not {window}.")
    if dataset == "rul":
        return Config(dataset, window, horizon=1, patch=1, steps=1500, batch_size=64, jitter=1.0, late_weight=1.0)
    return Config(dataset, window, steps=1500, jitter=0.3, members=3 if dataset == "co2" else 1)


class Split(NamedTuple):
    """Windows for training and held-out testing: inputs float32 [n, window, feature], targets float32 [n, output].

    `test_ends` / `train_ends` say where each window ends (index into the series, or (machine, cycle) for RUL)."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    test_ends: np.ndarray
    period: int            # forecasting: the season used by seasonal-naive (RUL: 0)
    series: np.ndarray     # forecasting: the whole series [step]; RUL: empty
    train_ends: np.ndarray = np.empty(0)


def series_for(dataset: str) -> np.ndarray:
    return synthetic_series().values if dataset == "synthetic" else co2_series()[0]


def split(config: Config) -> Split:
    """Chronological for series (test windows forecast the last 20%), by machine for RUL (the last quarter of the fleet)."""
    if not config.forecasting:
        return _rul_split(config)
    series = series_for(config.dataset)
    w, h = config.window, config.horizon
    starts = np.arange(0, len(series) - w - h + 1)
    windows = np.lib.stride_tricks.sliding_window_view(series, w + h)[starts]
    test_start = int(len(series) * 0.8)
    is_test = starts + w >= test_start
    is_train = starts + w + h <= test_start                         # training targets end before the test period
    test = windows[is_test][::h // 4]                               # test windows every h/4 steps
    period = SYNTHETIC_PERIODS[1] if config.dataset == "synthetic" else 52
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)      # noqa: E731
    return Split(f32(windows[is_train, :w, None]), f32(windows[is_train, w:]), f32(test[:, :w, None]), f32(test[:, w:]),
                 starts[is_test][::h // 4] + w, period, series, starts[is_train] + w)


def _rul_split(config: Config) -> Split:
    fleet = simulate_fleet()
    n_train = len(fleet.sensors) * 3 // 4
    rng = np.random.default_rng(1)
    xs, ys, ends = [[], []], [[], []], [[], []]
    for machine, readings in enumerate(fleet.sensors):
        life = len(readings)
        is_test = machine >= n_train
        cuts = np.sort(rng.choice(np.arange(config.window, life + 1), 4, replace=False)) if is_test else np.arange(config.window, life + 1)
        for cut in cuts:
            xs[is_test].append(readings[cut - config.window:cut])
            ys[is_test].append([min(life - cut, RUL_CAP)])
            ends[is_test].append((machine, cut))
    return Split(np.array(xs[0]), np.array(ys[0], dtype=np.float32), np.array(xs[1]), np.array(ys[1], dtype=np.float32),
                 np.array(ends[1]), 0, np.empty(0), np.array(ends[0]))


def validation_split(config: Config, data: Split) -> tuple[np.ndarray, np.ndarray]:
    """Training windows split in two, never touching the test data: (fit, check) indices into train_x.

    Series: `check` forecasts the last `validation` share of the training period, and `fit` windows' targets end before
    it starts. RUL: `check` is every window of the last `validation` share of the training machines."""
    if config.forecasting:
        ends = data.train_ends
        start = ends[int(len(ends) * (1 - config.validation))]
        return np.flatnonzero(ends + config.horizon <= start), np.flatnonzero(ends >= start)
    machines = data.train_ends[:, 0]
    first = np.unique(machines)[int(len(np.unique(machines)) * (1 - config.validation))]
    return np.flatnonzero(machines < first), np.flatnonzero(machines >= first)


# --- baselines ---------------------------------------------------------------------------------------------------

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


# --- the model ---------------------------------------------------------------------------------------------------

class Member(nn.Module):
    """One transformer: value embedding + positions for the window's tokens, output tokens that start from the linear
    forecast, pre-norm layers of attention/engine/transformer.py, and a read-out of corrections (zero at the start)."""

    def __init__(self, config: Config, n_features: int):
        super().__init__()
        self.config = config
        n_tokens = config.n_past + config.n_outputs
        layer = ScratchConfig(d_model=config.d_model, n_heads=config.n_heads, d_ff=config.d_ff, layer_norm_eps=1e-5,
                              norm_first=True, activation="gelu")
        self.value_embedding = nn.Linear(config.patch * n_features, config.d_model)   # a patch of steps -> one token
        self.output_token = nn.Parameter(torch.zeros(1, 1, config.d_model))     # what an output token holds before attention
        self.forecast_embedding = nn.Linear(config.patch, config.d_model)       # ... plus the linear forecast for its steps
        self.position_embedding = nn.Parameter(sinusoidal_positions(n_tokens, config.d_model)[None].clone())
        self.layers = nn.ModuleList(TransformerLayer(layer) for _ in range(config.n_layers))
        self.final_norm = nn.LayerNorm(config.d_model, eps=1e-5)
        self.read_out = nn.Linear(config.d_model, config.patch)                       # one token -> a patch of corrections
        nn.init.zeros_(self.read_out.weight)   # the model starts as the linear baseline; attention learns what it misses
        nn.init.zeros_(self.read_out.bias)

    def forward(self, scaled: torch.Tensor, guess: torch.Tensor,
                pattern: Pattern | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """scaled [batch, window, feature], guess [batch, output] (the linear forecast, scaled) ->
        (correction [batch, output], weights [batch, layer, head, query, key] or None)."""
        batch = scaled.shape[0]
        steps = self.value_embedding(scaled.reshape(batch, self.config.n_past, -1))          # [batch, patch, d_model]
        outputs = self.output_token + self.forecast_embedding(guess.reshape(batch, self.config.n_outputs, -1))
        h = torch.cat([steps, outputs], dim=1) + self.position_embedding                     # [batch, token, d_model]
        stacked = run_layers(self.layers, h, pattern=pattern)                                # the engine's one layer loop
        correction = self.read_out(self.final_norm(stacked.hidden[:, -self.config.n_outputs:])).flatten(1)  # [batch, output]
        weights = stacked.weights
        return correction, (torch.stack(weights, dim=1) if weights[0] is not None else None)


class TimeSeriesTransformer(nn.Module):
    """The linear-regression baseline, fixed, plus the mean correction of `members` transformers (Member).

    Windows are scaled first: forecasting windows each on their own mean and spread (RevIN-style: shapes, not levels),
    RUL sensors on the training fleet's. Corrections are in those units (forecasting) or in RUL_CAP cycles (RUL)."""

    def __init__(self, config: Config, n_features: int):
        super().__init__()
        self.config = config
        members = []
        for member in range(config.members):
            with torch.random.fork_rng():
                torch.manual_seed(config.seed * config.members + member)
                members.append(Member(config, n_features))
        self.members = nn.ModuleList(members)
        n_linear = config.window if config.forecasting else 3 * n_features
        # the baseline's coefficients, fixed and in float64 (CO2's raw levels ~350 ppm need the precision)
        self.register_buffer("linear_weight", torch.zeros(n_linear, config.horizon, dtype=torch.float64))
        self.register_buffer("linear_bias", torch.zeros(config.horizon, dtype=torch.float64))
        self.register_buffer("feature_mean", torch.zeros(n_features))
        self.register_buffer("feature_std", torch.ones(n_features))
        self.register_buffer("chosen_steps", torch.zeros(config.members, dtype=torch.long))   # kept by the validation check

    def linear_forecast(self, x: torch.Tensor) -> torch.Tensor:
        """The linear-regression baseline's prediction: x [batch, window, feature] -> [batch, output] (0 without the path)."""
        if not self.config.linear_path:
            return x.new_zeros(x.shape[0], self.config.horizon)
        return (linear_inputs(x.double(), self.config.forecasting) @ self.linear_weight + self.linear_bias).float()

    def prepare(self, x: torch.Tensor, linear: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """x [batch, window, feature] -> (x scaled, linear forecast [batch, output], the same scaled, unit of the output)."""
        if self.config.forecasting:   # each window on its own scale: the model sees shapes, not levels (RevIN-style)
            mean, std = x.mean(1, keepdim=True), x.std(1, keepdim=True) + 1e-3
            centre, unit = mean[..., 0], std[..., 0]                                         # [batch, 1]
        else:                         # RUL: the level of the sensors is the message, so one scale for the fleet
            mean, std = self.feature_mean, self.feature_std
            centre, unit = torch.zeros(()), torch.tensor(float(RUL_CAP))
        linear = self.linear_forecast(x) if linear is None else linear                      # [batch, output]
        return (x - mean) / std, linear, (linear - centre) / unit, unit

    def combine(self, linear: torch.Tensor, correction: torch.Tensor, unit: torch.Tensor) -> torch.Tensor:
        """The prediction: the linear forecast plus the correction in the data's units [batch, output]."""
        y = linear + correction * unit
        return y if self.config.forecasting else y.clamp(min=0.0)   # as the baseline: no negative life

    def forward(self, x: torch.Tensor, pattern: Pattern | None = None,
                linear: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x [batch, window, feature] -> (outputs [batch, output], weights [batch, layer, member·head, query, key]).

        The heads of all members are listed one member after the other. `linear` [batch, output] replaces the linear
        forecast (in training: what a baseline that never saw x predicts)."""
        scaled, linear, guess, unit = self.prepare(x, linear)
        parts = [member(scaled, guess, pattern) for member in self.members]
        correction = torch.stack([c for c, _ in parts]).mean(0)                              # [batch, output]
        weights = torch.cat([w for _, w in parts], dim=2) if parts[0][1] is not None else torch.empty(0)
        return self.combine(linear, correction, unit), weights


Progress = Callable[[float, str], None]


def train(config: Config, data: Split, progress: Progress | None = None) -> TimeSeriesTransformer:
    """AdamW with a one-cycle schedule from fixed seeds, on one CPU thread (small matrices: threads only wait).

    The linear path is the baseline's own least-squares fit on all training windows, kept fixed. Each member learns to
    correct it on the `fit` windows of validation_split, from what a baseline that never saw the window predicts
    (out_of_fold_linear), as on test windows. Every `check_every` steps the running average of its weights is scored on
    the `check` windows (whose linear forecast comes from the `fit` windows only); the best one is kept, step 0 (the
    baseline itself) included. The test windows are never looked at."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = TimeSeriesTransformer(config, data.train_x.shape[-1])
        x, y = torch.as_tensor(data.train_x), torch.as_tensor(data.train_y)
        if not config.forecasting:
            model.feature_mean.copy_(x.mean((0, 1)))
            model.feature_std.copy_(x.std((0, 1)))
        fit, check = validation_split(config, data)
        guess = torch.zeros_like(y)                        # the linear forecast of each training window, made without it
        if config.linear_path:
            linear = fit_linear(data.train_x, data.train_y, config.forecasting)
            model.linear_weight.copy_(torch.as_tensor(linear.coef_.T))
            model.linear_bias.copy_(torch.as_tensor(linear.intercept_))
            guess[fit] = torch.as_tensor(out_of_fold_linear(config, data, fit), dtype=torch.float32)
            unseen = fit_linear(data.train_x[fit], data.train_y[fit], config.forecasting).predict(
                linear_inputs(data.train_x[check].astype(np.float64), config.forecasting))
            guess[check] = torch.as_tensor(unseen if config.forecasting else np.clip(unseen, 0, None), dtype=torch.float32)
        for index in range(config.members):
            _train_member(model, index, x, y, guess, torch.as_tensor(fit), torch.as_tensor(check), progress)
        return model.eval()
    finally:
        torch.set_num_threads(threads)


def _train_member(model: TimeSeriesTransformer, index: int, x: torch.Tensor, y: torch.Tensor, guess: torch.Tensor,
                  fit: torch.Tensor, check: torch.Tensor, progress: Progress | None) -> None:
    """Train model.members[index] in place: x [n, window, feature], y and guess [n, output], fit/check window indices."""
    config, member = model.config, model.members[index]
    scale = y.std() if config.forecasting else torch.tensor(float(RUL_CAP))
    average = torch.optim.swa_utils.get_ema_multi_avg_fn(config.average)
    averaged = torch.optim.swa_utils.AveragedModel(member, multi_avg_fn=average)           # what is checked and kept

    def predicted(net: nn.Module, rows: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        scaled, linear, scaled_linear, unit = model.prepare(inputs, guess[rows])
        return model.combine(linear, net(scaled, scaled_linear)[0], unit)

    def check_error() -> float:
        averaged.module.eval()
        with torch.no_grad():
            return sum(((predicted(averaged.module, rows, x[rows]) - y[rows]) ** 2).sum().item()
                       for rows in check.split(2048)) / len(check)

    generator = torch.Generator().manual_seed(config.seed * config.members + index)
    optimiser = torch.optim.AdamW(member.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, config.learning_rate, total_steps=config.steps, pct_start=0.1)
    best = (check_error(), 0, copy.deepcopy(averaged.module.state_dict()))
    member.train()
    for step in range(1, config.steps + 1):
        rows = fit[torch.randint(len(fit), (config.batch_size,), generator=generator)]
        inputs = x[rows]
        if config.jitter:      # fresh noise on every visit: the model cannot learn a window by heart
            spread = inputs.std(1, keepdim=True) if config.forecasting else model.feature_std
            inputs = inputs + config.jitter * spread * torch.randn(inputs.shape, generator=generator)
        error = (predicted(member, rows, inputs) - y[rows]) / scale
        loss = (error**2 * (1 + config.late_weight * (error > 0))).mean()   # RUL: a late prediction costs more (NASA score)
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(member.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        averaged.update_parameters(member)
        if step % config.check_every == 0 or step == config.steps:
            checked = check_error()
            if checked < best[0]:
                best = (checked, step, copy.deepcopy(averaged.module.state_dict()))
        if progress and step % 25 == 0:
            done = (index * config.steps + step) / (config.members * config.steps)
            which = f", member {index + 1} of {config.members}" if config.members > 1 else ""
            progress(done, f"Training the {config.dataset} model{which}: step {step} of {config.steps}")
    member.load_state_dict(best[2])
    model.chosen_steps[index] = best[1]
    member.eval()


def predict(model: TimeSeriesTransformer, x: np.ndarray, pattern: Pattern | None = None,
            keep_weights: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """x [n, window, feature] -> (predictions [n, output], weights [n, layer, head, query, key] or empty), float32.

    With several members, `head` runs over all their heads (config.all_heads), member after member."""
    if pattern is not None and not keep_weights:
        pattern = replace(pattern, keep_weights=False)
    with COMPUTE_LOCK, torch.inference_mode():
        y, weights = model(torch.as_tensor(np.asarray(x, dtype=np.float32)), pattern)
    return y.numpy(), (weights.numpy() if keep_weights else np.empty(0, np.float32))


class Trained(NamedTuple):
    """A trained model with its data and held-out scores (model first, then baselines), training time in seconds."""

    model: TimeSeriesTransformer
    data: Split
    table: dict[str, dict[str, float]]
    seconds: float
    notices: tuple[str, ...] = ()


MODEL_ROW = "Transformer (this page)"


def score_table(model: TimeSeriesTransformer, data: Split, config: Config) -> dict[str, dict[str, float]]:
    """Held-out scores of the transformer and the baselines, by row name."""
    predicted, _ = predict(model, data.test_x, keep_weights=False)
    rows = {MODEL_ROW: predicted, **baselines(data, config)}
    return {name: scores(values, data.test_y, config.forecasting) for name, values in rows.items()}


def cache_path(config: Config):
    return store.recipe_path(f"timeseries-{config.dataset}", {**asdict(config), "version": TRAINING_VERSION})


def is_cached(config: Config) -> bool:
    """True when load_or_train will not train (in memory or on disk)."""
    return store.is_ready(cache_path(config))


def load_or_train(config: Config, progress: Progress | None = None) -> Trained:
    """The trained model: from memory, else from disk, else trained now (`progress` hears how far) and saved."""
    data = split(config)

    def read(saved: dict) -> Trained:
        model = TimeSeriesTransformer(config, data.train_x.shape[-1])
        model.load_state_dict(saved["state"], strict=True)
        return Trained(model.eval(), data, score_table(model, data, config), float(saved["seconds"]))

    def fresh(notices: tuple[str, ...]) -> tuple[Trained, dict]:
        started = time.perf_counter()
        model = train(config, data, progress)
        seconds = time.perf_counter() - started
        trained = Trained(model, data, score_table(model, data, config), seconds, notices)
        return trained, {"state": model.state_dict(), "config": asdict(config), "seconds": seconds}

    return store.load_or_train(cache_path(config), read, fresh, f"{config.dataset} model")


# --- attention of one prediction, and full vs ProbSparse -----------------------------------------------------------

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
    data, config = trained.data, trained.model.config
    if not 0 <= index < len(data.test_x):
        raise ValueError(f"There are {len(data.test_x)} held-out windows (0–{len(data.test_x) - 1}); {index} is not one.")
    predicted, weights = predict(trained.model, data.test_x[index:index + 1], pattern_for(pattern))
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
    data, config = trained.data, trained.model.config
    rows = {}
    for name in ("full", "probsparse"):
        pattern = pattern_for(name)
        best = math.inf
        for _ in range(repeats):
            started = time.perf_counter()
            predicted, _ = predict(trained.model, data.test_x, pattern, keep_weights=False)
            best = min(best, time.perf_counter() - started)
        n_tokens = config.n_past + config.n_outputs
        active = n_tokens if pattern is None else pattern.active_queries(n_tokens)
        rows[name] = {**scores(predicted, data.test_y, config.forecasting), "ms for all test windows": best * 1000,
                      "queries that attend": active}
    return rows


def machine_life(trained: Trained, machine: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RUL along one held-out machine's life: (cycles [n], true RUL [n], predicted RUL [n]) for every full window."""
    readings = simulate_fleet().sensors[machine]
    w = trained.model.config.window
    cycles = np.arange(w, len(readings) + 1)
    windows = np.stack([readings[c - w:c] for c in cycles])
    predicted, _ = predict(trained.model, windows, keep_weights=False)
    return cycles, np.minimum(len(readings) - cycles, RUL_CAP), predicted[:, 0]
