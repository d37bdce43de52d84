"""Train every model of attention/domains that is not on disk yet, a few at a time, each on one thread.

    python -m attention.domains.pretrain [--jobs 2]

A fresh machine (a new CI runner, a new Docker image) would otherwise train each model the first time its page or test
asks for it, one after another. Run ahead of time (the test session starts it in the background), the models train side
by side while other work goes on; whoever asks for one meanwhile waits on its file lock (domains/store.py) and then reads
the file. Each model trains from its fixed seed, so the files are the same whichever process writes them.
"""
from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Callable


def _jobs() -> dict[str, tuple[Callable[[], bool], Callable[[], object]]]:
    """name -> (is it on disk already?, train or load it)."""
    from attention.domains import gpt_mini, induction_mini, long_mini, translate_mini, vision
    from attention.domains import timeseries as ts

    jobs = {
        "gpt-mini": (gpt_mini.is_cached, gpt_mini.load_or_train),
        "translate-mini": (translate_mini.is_cached, translate_mini.load_or_train),
        "vit-digits": (vision.is_cached, vision.load_or_train),
        "induction-mini": (induction_mini.is_cached, induction_mini.load_or_train),
        "long-mini": (long_mini.is_cached, long_mini.load_or_train),
    }
    for dataset in ts.DATASETS:
        config = ts.make_config(dataset)
        jobs[f"timeseries-{dataset}"] = (lambda c=config: ts.is_cached(c), lambda c=config: ts.load_or_train(c))
    return jobs


def _train(name: str) -> str:
    import torch

    torch.set_num_threads(1)
    _jobs()[name][1]()
    return name


def missing() -> list[str]:
    """The models not on disk yet, longest first (so the longest start at once)."""
    return [name for name, (ready, _) in _jobs().items() if not ready()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="models trained at the same time (default 2)")
    args = parser.parse_args(argv)
    todo = missing()
    if not todo:
        print("Every model is trained already.")
        return 0
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for name in pool.map(_train, todo):
            print(f"trained {name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
