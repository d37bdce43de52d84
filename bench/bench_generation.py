"""Generation with a key/value cache against recomputing the whole prefix at every step, on gpt-mini's architecture.

    .venv/bin/python bench/bench_generation.py [--reps 5] [--new 32]

For each context (64 and 256 tokens of prompt) the same network — gpt-mini's layers (4 × 4 heads, d_model 128) with
seeded random weights and room for 512 positions (the timing does not depend on what the weights learned) — writes
`--new` tokens greedily twice, interleaved: (a) cache: the prompt once, then one token per step reading the stored
keys and values; (b) recompute: the whole prefix again at every step. One thread. Reported: median ms per generated
token over the repetitions and the paired median of per-repetition ratios recompute / cache; both give the same tokens
and weights (checked here each time).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from attention.domains.gpt_mini.model import GPTMini, GPTMiniConfig

CONTEXTS = (64, 256)


def write(network: GPTMini, prompt: torch.Tensor, new: int, cache: bool) -> tuple[list[int], list[torch.Tensor]]:
    """Greedy tokens and each step's newest attention row [layer, head, key]."""
    ids = prompt.tolist()
    rows = []
    if cache:
        passed = network.run(prompt[None], record=True)
        for _ in range(new):
            ids.append(int(network.next_token_logits(passed.hidden[:, -1:])[0, -1].argmax()))
            passed = network.run(torch.tensor([[ids[-1]]]), record=True, past=passed.cache())
            rows.append(torch.cat(passed.weights)[:, :, -1])
    else:
        passed = network.run(prompt[None])
        for _ in range(new):
            ids.append(int(network.next_token_logits(passed.hidden[:, -1:])[0, -1].argmax()))
            passed = network.run(torch.tensor([ids]))
            rows.append(torch.cat(passed.weights)[:, :, -1])
    return ids, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--new", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = GPTMiniConfig(context=512)
    generator = torch.Generator().manual_seed(0)
    network = GPTMini.initial(config.scratch(), torch.arange(30522), seed=0).eval()
    print(f"gpt-mini architecture (random weights), {args.new} new tokens, {args.reps} repetitions, 1 thread")
    print(f"{'context':>8} {'cache ms/token':>15} {'recompute ms/token':>19} {'ratio (paired median)':>22}")
    for context in CONTEXTS:
        cached, recomputed, ratios = [], [], []
        for rep in range(args.reps + 1):                                  # the first repetition warms up
            prompt = torch.randint(1000, 30000, (context,), generator=generator)
            timings = {}
            with torch.inference_mode():
                for cache in ((True, False) if rep % 2 else (False, True)):
                    started = time.perf_counter()
                    timings[cache] = (write(network, prompt, args.new, cache), (time.perf_counter() - started) / args.new * 1e3)
            (ids_a, rows_a), ms_cache = timings[True]
            (ids_b, rows_b), ms_full = timings[False]
            assert ids_a == ids_b and all(torch.allclose(a, b, atol=1e-5) for a, b in zip(rows_a, rows_b))
            if rep:
                cached.append(ms_cache)
                recomputed.append(ms_full)
                ratios.append(ms_full / ms_cache)
        print(f"{context:>8} {statistics.median(cached):>15.2f} {statistics.median(recomputed):>19.2f} "
              f"{statistics.median(ratios):>21.2f}×")


if __name__ == "__main__":
    main()
