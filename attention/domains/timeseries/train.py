"""Training: from fixed seeds on one CPU thread, the checkpoint chosen on the training period's last part."""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from attention.domains import store
from attention.domains.store import Progress
from attention.domains.timeseries.baselines import fit_linear, linear_inputs, out_of_fold_linear
from attention.domains.timeseries.data import RUL_CAP, Config, Split, validation_split
from attention.domains.timeseries.model import TimeSeriesTransformer


def train(config: Config, data: Split, progress: Progress | None = None) -> TimeSeriesTransformer:
    """AdamW with a one-cycle schedule from fixed seeds, on one CPU thread (small matrices: threads only wait).

    The linear path is the baseline's own least-squares fit on all training windows, kept fixed. Each member learns to
    correct it on the `fit` windows of validation_split, from what a baseline that never saw the window predicts
    (out_of_fold_linear), as on test windows. Every `check_every` steps the running average of its weights is scored on
    the `check` windows (whose linear forecast comes from the `fit` windows only); the best one is kept, step 0 (the
    baseline itself) included. The test windows are never looked at."""
    with store.one_thread():
        network = TimeSeriesTransformer(config, data.train_x.shape[-1])
        x, y = torch.as_tensor(data.train_x), torch.as_tensor(data.train_y)
        if not config.forecasting:
            network.feature_mean.copy_(x.mean((0, 1)))
            network.feature_std.copy_(x.std((0, 1)))
        fit, check = validation_split(config, data)
        guess = torch.zeros_like(y)                        # the linear forecast of each training window, made without it
        if config.linear_path:
            linear = fit_linear(data.train_x, data.train_y, config.forecasting)
            network.linear_weight.copy_(torch.as_tensor(linear.coef_.T))
            network.linear_bias.copy_(torch.as_tensor(linear.intercept_))
            guess[fit] = torch.as_tensor(out_of_fold_linear(config, data, fit), dtype=torch.float32)
            unseen = fit_linear(data.train_x[fit], data.train_y[fit], config.forecasting).predict(
                linear_inputs(data.train_x[check].astype(np.float64), config.forecasting))
            guess[check] = torch.as_tensor(unseen if config.forecasting else np.clip(unseen, 0, None), dtype=torch.float32)
        for index in range(config.members):
            _train_member(network, index, x, y, guess, torch.as_tensor(fit), torch.as_tensor(check), progress)
        return network.eval()


def _train_member(network: TimeSeriesTransformer, index: int, x: torch.Tensor, y: torch.Tensor, guess: torch.Tensor,
                  fit: torch.Tensor, check: torch.Tensor, progress: Progress | None) -> None:
    """Train network.members[index] in place: x [n, window, feature], y and guess [n, output], fit/check window indices."""
    config, member = network.config, network.members[index]
    scale = y.std() if config.forecasting else torch.tensor(float(RUL_CAP))
    average = torch.optim.swa_utils.get_ema_multi_avg_fn(config.average)
    averaged = torch.optim.swa_utils.AveragedModel(member, multi_avg_fn=average)           # what is checked and kept

    def predicted(net: nn.Module, rows: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        scaled, linear, scaled_linear, unit = network.prepare(inputs, guess[rows])
        return network.combine(linear, net(scaled, scaled_linear)[0], unit)

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
        if config.jitter:      # fresh noise on every visit: the network cannot learn a window by heart
            spread = inputs.std(1, keepdim=True) if config.forecasting else network.feature_std
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
    network.chosen_steps[index] = best[1]
    member.eval()
