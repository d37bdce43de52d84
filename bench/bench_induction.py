"""induction-mini's training over three seeds: time, the step of the phase change and the scores it ends with.

    .venv/bin/python bench/bench_induction.py [--seeds 0 1 2] [--steps N]

Each seed trains the full recipe (attention/domains/induction_mini, InductionConfig) from scratch on one thread, in
this process, one after another: nothing is read from or written to the disk cache. Reported per seed: wall seconds and
CPU seconds of the training (on a shared machine the wall time grows with the load; the CPU time of one thread does
not), the phase change (scores.phase_change: the first recorded step at which the loss on the repeated part is below
the midpoint of its first and last values), the final losses on the first and the repeated part (held-out rows), the
best induction score in layer 1 and the best previous-token score in layer 0 (targets: both >= 0.6), and what removing
that previous-token head does to the best induction score and to the repeated-part loss.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import table, verdict  # noqa: E402

from attention.domains import induction_mini as im  # noqa: E402


def one_seed(seed: int, steps: int | None) -> dict:
    """Train one seed and measure it."""
    config = im.InductionConfig(seed=seed, **({"steps": steps} if steps else {}))
    wall, cpu = time.perf_counter(), time.process_time()
    network, history = im.train(config)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    history = {name: value.numpy() for name, value in history.items()}
    scores = im.probe_scores(network)
    previous = im.best_head(scores["previous"], range(0, 1))
    induction = im.best_head(scores["induction"], range(1, config.n_layers))
    removed = im.removal(network, config, {previous: 0.0})
    return {"seed": seed, "wall": wall, "cpu": cpu, "phase": im.phase_change(history),
            "first": removed.loss_first_before, "repeated": removed.loss_repeated_before,
            "induction": float(scores["induction"][induction]), "induction_head": induction,
            "previous": float(scores["previous"][previous]), "previous_head": previous,
            "induction_removed": float(removed.induction_after[induction]), "repeated_removed": removed.loss_repeated_after}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the recipe's)")
    args = parser.parse_args()
    config = im.InductionConfig(**({"steps": args.steps} if args.steps else {}))
    print(f"induction-mini: {config.n_layers} layers x {config.n_heads} heads, d_model {config.d_model}, attention-only, "
          f"vocabulary {config.vocab_size}, context {config.context}, periods {config.min_period}-{config.max_period}, "
          f"batch {config.batch_size}, {config.steps} steps, AdamW {config.learning_rate:g}, one thread\n")
    runs = [one_seed(seed, args.steps) for seed in args.seeds]
    rows = [[r["seed"], f"{r['wall']:.1f}", f"{r['cpu']:.1f}", r["phase"], f"{r['first']:.2f}", f"{r['repeated']:.3f}",
             f"{r['induction']:.2f} L{r['induction_head'][0]}H{r['induction_head'][1]}",
             f"{r['previous']:.2f} L{r['previous_head'][0]}H{r['previous_head'][1]}",
             f"{r['induction_removed']:.2f}", f"{r['repeated_removed']:.2f}",
             verdict(r["induction"] >= 0.6 and r["previous"] >= 0.6 and r["cpu"] <= 60)] for r in runs]
    print(table(["seed", "wall s", "cpu s", "phase step", "loss first", "loss repeated", "best induction",
                 "best previous", "induction, prev. removed", "loss rep., prev. removed", "targets"], rows))
    print(f"\nmedian: cpu {statistics.median(r['cpu'] for r in runs):.1f} s, wall {statistics.median(r['wall'] for r in runs):.1f} s, "
          f"phase change at step {statistics.median(r['phase'] for r in runs):.0f}")


if __name__ == "__main__":
    main()
