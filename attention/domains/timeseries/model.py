"""The model: the fixed linear baseline plus the corrections of transformers built from the engine's layers."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch import nn

from attention.domains.timeseries.baselines import linear_inputs
from attention.domains.timeseries.data import RUL_CAP, Config
from attention.engine import ScratchConfig, TransformerLayer, run_layers, sinusoidal_positions
from attention.engine.backends import COMPUTE_LOCK
from attention.engine.patterns import Pattern


class Member(nn.Module):
    """One transformer: value embedding + positions for the window's tokens, output tokens that start from the linear
    forecast, pre-norm layers of attention/engine/layers.py, and a read-out of corrections (zero at the start)."""

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
        nn.init.zeros_(self.read_out.weight)   # the network starts as the linear baseline; attention learns what it misses
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
        if self.config.forecasting:   # each window on its own scale: the network sees shapes, not levels (RevIN-style)
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


def predict(network: TimeSeriesTransformer, x: np.ndarray, pattern: Pattern | None = None,
            keep_weights: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """x [n, window, feature] -> (predictions [n, output], weights [n, layer, head, query, key] or empty), float32.

    With several members, `head` runs over all their heads (config.all_heads), member after member."""
    if pattern is not None and not keep_weights:
        pattern = replace(pattern, keep_weights=False)
    with COMPUTE_LOCK, torch.inference_mode():
        y, weights = network(torch.as_tensor(np.asarray(x, dtype=np.float32)), pattern)
    return y.numpy(), (weights.numpy() if keep_weights else np.empty(0, np.float32))
