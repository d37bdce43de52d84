"""Self-attention over time: forecasting a series and estimating remaining useful life (RUL), on the project's engine.

    window of past values ──► one token per patch of steps (RUL: per cycle): value embedding + position vector
        ──► one output token per future patch, as in Informer's decoder input, holding the linear forecast of its
            steps (RUL: one [RUL] token holding the linear estimate)
        ──► layers of attention/engine/layers.py (MultiHeadAttention from attention/engine/maths.py), any pattern of patterns.py
        ──► each output token's final vector ──► a correction to that linear forecast

The linear forecast is the linear-regression baseline itself (the same least-squares fit, kept fixed), so the network
starts exactly at the baseline and attention learns what a fixed linear map misses. "Which past steps does the
forecast for step t + h use?" is one row of the attention matrix: the row of the output token for t + h.
Data: a synthetic series whose parts are known, the Mauna Loa CO2 record (bundled with statsmodels: nothing is
downloaded) and a simulated fleet of machines run to failure, shaped like NASA's C-MAPSS. Models train from fixed
seeds on the CPU, choose their checkpoint on the last part of the training data (never on the test part) and are
kept on disk (attention/domains/store.py).

Read in this order:
    data.py       the three datasets, each one's recipe (Config) and its windows and splits
    baselines.py  seasonal naive and linear regression, and the held-out scores
    model.py      the linear baseline plus transformers' corrections (TimeSeriesTransformer), predict()
    train.py      training from fixed seeds, the checkpoint chosen on held-back training windows
    cache.py      train once, keep on disk, load (store.py), with the score table
    weights.py    one prediction's attention as an Attention result; full vs ProbSparse; a machine's life
Every name is importable from `attention.domains.timeseries` itself.
"""
from attention.domains.timeseries.baselines import (baselines, fit_linear, linear_inputs, out_of_fold_linear, scores,
                                                    seasonal_naive, window_features)
from attention.domains.timeseries.cache import (MODEL_ROW, TRAINING_VERSION, Trained, cache_path, is_cached, load_or_train,
                                                score_table)
from attention.domains.timeseries.data import (DATASET_TITLES, DATASETS, RUL_CAP, SENSOR_NAMES, SYNTHETIC_PERIODS,
                                               SYNTHETIC_STRENGTH, WINDOWS, Config, Fleet, Split, Synthetic, co2_series,
                                               make_config, nasa_score, series_for, simulate_fleet, split,
                                               synthetic_series, validation_split)
from attention.domains.timeseries.model import Member, TimeSeriesTransformer, predict
from attention.domains.timeseries.train import Progress, train
from attention.domains.timeseries.weights import (GRADIENT_CHECKED, attention_gradient_agreement, compare_patterns, explain, forecast_gradient, machine_life, past_attention, pattern_for,
                                                  token_labels)

__all__ = [
    "DATASETS", "DATASET_TITLES", "MODEL_ROW", "RUL_CAP", "SENSOR_NAMES", "SYNTHETIC_PERIODS", "SYNTHETIC_STRENGTH",
    "TRAINING_VERSION", "WINDOWS", "Config", "Fleet", "Member", "Progress", "Split", "Synthetic", "TimeSeriesTransformer",
    "Trained", "baselines", "cache_path", "co2_series", "GRADIENT_CHECKED", "attention_gradient_agreement", "compare_patterns", "forecast_gradient", "explain", "fit_linear", "is_cached",
    "linear_inputs", "load_or_train", "machine_life", "make_config", "nasa_score", "out_of_fold_linear", "past_attention",
    "pattern_for", "predict", "scores", "score_table", "seasonal_naive", "series_for", "simulate_fleet", "split",
    "synthetic_series", "token_labels", "train", "validation_split", "window_features",
]
