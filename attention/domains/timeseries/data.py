"""The data: a synthetic series with known parts, Mauna Loa CO2 (statsmodels' copy) and a simulated fleet run to
failure; each dataset's recipe (Config) and its windows, split chronologically (series) or by machine (RUL)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


DATASETS = ("synthetic", "co2", "rul")
DATASET_TITLES = {"synthetic": "Synthetic: trend + two seasons + noise", "co2": "Mauna Loa CO2 (weekly, 1958–2001)",
                  "rul": "Machines run to failure (simulated, C-MAPSS-like)"}
WINDOWS = {"synthetic": (96, 192, 384), "co2": (104, 208, 416), "rul": (30, 60, 120)}  # multiples of the patch
RUL_CAP = 125                 # cycles: RUL is capped here, as is usual with C-MAPSS (early life looks healthy)
SYNTHETIC_PERIODS = (16, 64)  # the two seasons of the synthetic series, in steps
SYNTHETIC_STRENGTH = (0.1, 0.7)  # the long season's amplitude, drawn anew for each of its cycles


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


@dataclass(frozen=True)
class Config:
    """A dataset, its window and horizon, the network's sizes and the training recipe (all name the cache file)."""

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
    average: float = 0.99      # the network is a running average of the weights (this share of the old average kept per step)
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
