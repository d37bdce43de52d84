"""Activation patching's cost, side by side in one run: a full layer × head sweep (every head's output taken from the
clean run, one patched copy of the corrupted input per head) against one forward pass over the same input.

  * forward        one pass of the corrupted input, not recorded: as many passes as patches, one after the other,
                   divided by their number (a single short pass would dodge the shared machine's busy moments that
                   the sweep cannot; each time below is the fastest of interleaved repeats)
  * sweep batched  the layer × head sweep as patch() runs it: patched copies stacked along the batch axis
  * same batch     the same stacked batch without patches (what the swaps themselves cost)
  * sweep 1 by 1   the same patches, one pass each (what batching saves)
  * ratio          sweep batched ÷ (number of heads × forward); goal ≤ 1.2
  * patch()        the whole call (two traces, heads, residual at every layer and position, blocks), caches emptied

One thread, as the other benches. Models: scratch:minilm (MiniLM's weights, 6 × 12 heads), induction-mini (2 × 4),
translate-mini (encoder 2 × 4, decoder 1 × 4 self + 1 × 4 cross) and gpt-mini when it is on disk (it is not trained here).

    .venv/bin/python bench/bench_patching.py            # 16 and 64 tokens
    .venv/bin/python bench/bench_patching.py --quick    # 16 tokens, fewer repeats
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fresh_text, table, verdict  # noqa: E402

import torch  # noqa: E402

GOAL = 1.2


def _timed(function, repeats: int) -> float:
    """The fastest of `repeats` calls, in seconds: the machine is shared, and other work only ever adds time."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def _corrupt(text: str, model: str) -> str:
    """The same text with one token changed (its last word, or for character models its sixth character)."""
    if model == "induction-mini":
        return text[:5] + ("x" if text[5] != "x" else "y") + text[6:]
    words = text.split()
    return " ".join(words[:-1] + ["house" if words[-1] != "house" else "garden"])


def _inputs(model: str, n: int, rng: random.Random) -> tuple[str, str, dict]:
    """A clean text of about n tokens for `model`, its corrupted twin and patch()'s extra arguments."""
    if model == "induction-mini":
        letters = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n // 2))
        clean = (letters * 2)[:n - 1]
        return clean, _corrupt(clean, model), {}
    if model == "translate-mini":
        return ("the third of march, twenty twenty-one", "the fifth of march, twenty twenty-one",
                {"answer": "3", "wrong": "5", "prefix": "2021-03-0"})
    if model == "gpt-mini":                        # words it predicts (others read as [UNK]: a change could vanish)
        from attention.run.models import load_model

        backend = load_model(model)
        words = [w for w in backend.tokenizer.convert_ids_to_tokens(backend.network.vocabulary.tolist())
                 if w.isascii() and w.isalpha() and len(w) >= 3]
        chosen = rng.sample(words, n - 1)
        return " ".join(chosen[:-1]), " ".join(chosen[:n // 2 - 1] + chosen[-1:] + chosen[n // 2:-1]), {}
    clean = fresh_text(n, rng)
    return clean, _corrupt(clean, model), {"target": "similarity"}


def measure(model: str, n: int, repeats: int) -> dict:
    from attention.analyses import patching as P
    from attention.run.cache import clear_all
    from attention.run.trace import trace

    clean, corrupted, extra = _inputs(model, n, random.Random(n))
    found = P.patch(clean, corrupted, model, **extra)                   # loads the model, checks the inputs
    runs = [trace(text, found.model, **({"target": extra["prefix"]} if "prefix" in extra else {}))
            for text in (clean, corrupted)]
    prefix_ids = None
    sides = [P._Side.of("encoder", runs[0])]
    if "prefix" in extra:
        backend = P.load_model(found.model)
        prefix_ids, _ = P._decoder_prefix(backend.tokenizer, extra["prefix"], backend.network.decoder.config.max_positions)
        sides.append(P._Side.of("decoder", runs[0].decoder, runs[0].cross, len(prefix_ids)))
    heads = [p for p in P._patches(sides, runs[0].n_tokens) if p[1].endswith("heads")]
    by_name = {s.name: s for s in sides}
    value = lambda hidden: hidden[:, -1, 0]                             # any [batch] read-out: the cost is the passes
    prepared = P.Prepared(P.load_model(found.model), corrupted, list(runs[1].ids), runs[1].tokens, None, [], {}, runs[1].n_tokens)

    def forwards() -> None:                # as many plain passes as there are patches, one after the other
        with torch.inference_mode():
            for _ in heads:
                P.forward(prepared, None, False, None, prefix_ids)

    def one_by_one() -> None:
        for single in heads:
            P._run_patches(runs[1], found.model, [single], by_name, value, prefix_ids)

    def plain_batch() -> None:            # the same batch without patches: what the swaps themselves cost
        with torch.inference_mode():
            P.forward(prepared, None, False, None, prefix_ids, batch=len(heads))

    forward = batched = plain = float("inf")
    for _ in range(10 * repeats):          # interleaved, so that a busy moment of the shared machine hits all three
        forward = min(forward, _timed(forwards, 1) / len(heads))
        batched = min(batched, _timed(lambda: P._run_patches(runs[1], found.model, heads, by_name, value, prefix_ids), 1))
        plain = min(plain, _timed(plain_batch, 1))
    single = _timed(one_by_one, repeats)

    def whole() -> None:
        clear_all()
        P.patch(clean, corrupted, model, **extra)

    total = _timed(whole, repeats)
    return {"model": model, "tokens": runs[0].n_tokens, "heads": len(heads), "forward": forward, "batched": batched,
            "single": single, "ratio": batched / (len(heads) * forward), "patch": total, "patches": found.passes,
            "plain": plain}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from attention.domains import gpt_mini

    lengths = (16,) if args.quick else (16, 64)
    repeats = 1 if args.quick else 2
    models = ["scratch:minilm", "induction-mini", "translate-mini"] + (["gpt-mini"] if gpt_mini.is_cached() else [])
    rows = []
    for model in models:
        for n in (lengths if model != "translate-mini" else lengths[:1]):
            found = measure(model, n, repeats)
            rows.append([found["model"], found["tokens"], found["heads"], f"{1000 * found['forward']:.2f}",
                         f"{1000 * found['batched']:.1f}", f"{1000 * found['plain']:.1f}", f"{1000 * found['single']:.1f}",
                         f"{found['ratio']:.2f}",
                         verdict(found["ratio"] <= GOAL), f"{1000 * found['patch']:.0f}", found["patches"]])
    print(table(["model", "tokens", "heads", "forward ms", "sweep batched ms", "same batch unpatched ms", "sweep 1 by 1 ms",
                 f"ratio (goal ≤ {GOAL})", "", "patch() ms", "patches"], rows))
    if "gpt-mini" not in models:
        print("gpt-mini is not on disk: left out (train it with the Generation page or its bench).")


if __name__ == "__main__":
    main()
