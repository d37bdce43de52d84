"""Recorded runs at long lengths, side by side in one run: a small-modern-LLM-shaped random model built from a config.

    .venv/bin/python bench/bench_long_context.py [--layers 4] [--lengths 2048 8192] [--tiles 20] [--exact 512 2048]

Model: Qwen2-like — hidden 896, 14 query / 2 key-value heads (head 64), MLP 4864, rotary — with --layers layers (Qwen2-0.5B
has 24; fewer here because this 2-core machine is shared) and a 1,024-word vocabulary (random weights; the vocabulary
changes only the embedding, not attention). Each measurement runs in a fresh process, so its peak resident memory
(ru_maxrss, after a warm-up at 64 tokens) is its own:
  sdpa     the same network's SDPA forward, nothing recorded (the baseline)
  record   the recorded run (attention/engine/record.py, fp16 record above 2,048 tokens), then the overview of three
           heads (1024 × 1024, mean) and --tiles random 128 × 128 tiles (each including its rows' log-sum-exp)
  eager    transformers' eager output_attentions, where its weights fit in memory (else computed: layers × heads × n² × 4)
Goals: record time ≤ 1.3 × sdpa time; record peak ≤ 1.2 × (sdpa peak + record bytes).
Exactness: the largest |tile − eager weights| over every layer and head of the tiny random models of tests/test_record.py
(Llama GQA, Qwen2, Mistral sliding window, Gemma 2 soft-capping, GPT-2, BERT, BART), at --exact lengths.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EAGER_FITS_MB = 3000   # eager output_attentions is measured only when its weights stay below this


SHAPE = {"hidden": 896, "heads": 14, "kv_heads": 2, "mlp": 4864}   # Qwen2-0.5B's; --shape small for 32k on a busy machine
SMALL = {"hidden": 128, "heads": 4, "kv_heads": 2, "mlp": 256}


def _qwen_like(layers: int):
    import transformers

    shape = SMALL if os.environ.get("BENCH_SHAPE") == "small" else SHAPE
    return transformers.Qwen2Config(vocab_size=1024, hidden_size=shape["hidden"], intermediate_size=shape["mlp"],
                                    num_hidden_layers=layers, num_attention_heads=shape["heads"],
                                    num_key_value_heads=shape["kv_heads"], max_position_embeddings=32768,
                                    tie_word_embeddings=True)


def measure(mode: str, n: int, layers: int, tiles: int) -> dict:
    """One measurement in this process (called in a fresh child)."""
    import random
    import resource
    import statistics

    import torch
    import transformers

    from attention.engine import record
    from attention.engine.record_backend import record_dtype
    from attention.run.weights import RecordedWeights, overview, tile

    transformers.utils.logging.set_verbosity_error()
    torch.manual_seed(0)
    network = transformers.AutoModel.from_config(_qwen_like(layers), attn_implementation="eager" if mode == "eager" else "sdpa").eval()
    if mode == "record":
        record.use_recording(network)
    ids = torch.randint(0, 1024, (1, n), generator=torch.Generator().manual_seed(1))
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # noqa: E731 (MB)
    with torch.inference_mode():
        network(input_ids=ids[:, :64], use_cache=False)                        # warm-up: kernels and imports loaded
    before = peak()
    out: dict = {"mode": mode, "n": n}
    start = time.perf_counter()
    with torch.inference_mode():
        if mode == "record":
            with record.recording(network, record_dtype(torch.float32, n)) as rec:
                network(input_ids=ids, use_cache=False)
        elif mode == "eager":
            network(input_ids=ids, use_cache=False, output_attentions=True)
        else:
            network(input_ids=ids, use_cache=False)
    out["seconds"] = time.perf_counter() - start
    out["peak_mb"] = peak() - before
    if mode == "record":
        out["record_mb"] = rec.nbytes / 2**20
        source = RecordedWeights(rec.stacks["weights"])
        timed = []
        heads = network.config.num_attention_heads
        for layer, head in ((0, 0), (layers // 2, heads // 2), (layers - 1, heads - 1)):
            t = time.perf_counter()
            overview(source, layer, head, 1024, "mean")
            timed.append(time.perf_counter() - t)
        out["overview_s"] = statistics.mean(timed)
        rng, latencies = random.Random(0), []
        for _ in range(tiles):
            q0, k0 = rng.randrange(0, n - 128), rng.randrange(0, n - 128)
            q0 = max(q0, k0)                                                   # a tile with visible keys (causal)
            t = time.perf_counter()
            tile(source, rng.randrange(layers), rng.randrange(heads), slice(q0, q0 + 128), slice(k0, k0 + 128))
            latencies.append(1000 * (time.perf_counter() - t))
        latencies.sort()
        out["tile_p50_ms"] = latencies[len(latencies) // 2]
        out["tile_p95_ms"] = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
        out["peak_after_reads_mb"] = peak() - before
    return out


def exactness(n: int) -> dict[str, float]:
    """Largest |tile − eager| per family at n tokens (tiny random models, fp32 record at ≤ 2,048 tokens)."""
    import torch
    import transformers

    sys.path.insert(0, str(ROOT / "tests"))
    import test_record as families

    from attention.engine import record, tiles
    from attention.engine.record_backend import record_dtype

    transformers.utils.logging.set_verbosity_error()
    found = {}
    for family, config in families._configs().items():
        for key in ("max_position_embeddings", "n_positions"):
            if hasattr(config, key):
                setattr(config, key, max(4096, n))
        torch.manual_seed(0)
        network = transformers.AutoModel.from_config(config, attn_implementation="eager").eval()
        ids = torch.randint(3, 100, (1, n), generator=torch.Generator().manual_seed(1))
        kwargs = {"decoder_input_ids": ids} if family == "bart" else {}
        with torch.no_grad():
            eager = network(input_ids=ids, output_attentions=True, **kwargs)
        record.use_recording(network)
        with torch.no_grad(), record.recording(network, record_dtype(torch.float32, n)) as rec:
            network(input_ids=ids, **kwargs)
        stacks = ({"weights": eager.encoder_attentions, "target_weights": eager.decoder_attentions,
                   "cross": eager.cross_attentions} if family == "bart" else {"weights": eager.attentions})
        worst = 0.0
        for stack, layers in stacks.items():
            for index, expected in enumerate(layers):
                layer = rec.stacks[stack][index]
                for head in range(expected.shape[1]):
                    lse = tiles.log_sum_exp(layer, 0, head, slice(0, n))
                    got = tiles.weights(layer, 0, head, slice(0, n), slice(0, n), lse)
                    worst = max(worst, (got - expected[0, head]).abs().max().item())
        found[family] = worst
    return found


def _child(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1][:200] if done.stderr.strip() else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--lengths", type=int, nargs="+", default=[2048, 8192])
    parser.add_argument("--tiles", type=int, default=20)
    parser.add_argument("--exact", type=int, nargs="*", default=[512, 2048])
    parser.add_argument("--shape", choices=("qwen", "small"), default="qwen",
                        help="qwen: hidden 896, 14 q / 2 kv heads, MLP 4864; small: hidden 128, 4 q / 2 kv heads, MLP 256")
    parser.add_argument("--child", nargs="+", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.shape == "small":
        os.environ["BENCH_SHAPE"] = "small"   # read by the children too
    if args.child:
        kind, *rest = args.child
        result = exactness(int(rest[0])) if kind == "exact" else measure(kind, int(rest[0]), int(rest[1]), int(rest[2]))
        print(json.dumps(result))
        return
    print(f"machine: {os.cpu_count()} cores (shared; load average {os.getloadavg()[0]:.1f} at start), torch threads "
          f"default; model: Qwen2-like, {args.layers} layers, {SMALL if args.shape == 'small' else SHAPE}")
    rows = []
    for n in args.lengths:
        sdpa = _child("sdpa", str(n), str(args.layers), "0")
        rec = _child("record", str(n), str(args.layers), str(args.tiles))
        eager_mb = args.layers * (SMALL if args.shape == "small" else SHAPE)["heads"] * n * n * 4 / 2**20
        eager = _child("eager", str(n), str(args.layers), "0") if eager_mb < EAGER_FITS_MB else {}
        row = {"n": n, "sdpa": sdpa, "record": rec, "eager": eager, "eager_weights_mb": eager_mb}
        if "seconds" in sdpa and "seconds" in rec:
            row["time_ratio"] = rec["seconds"] / sdpa["seconds"]
            row["memory_ratio"] = rec["peak_mb"] / (sdpa["peak_mb"] + rec["record_mb"])
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    for n in args.exact:
        print(json.dumps({"exactness_n": n, "max_abs_tile_minus_eager": _child("exact", str(n))}), flush=True)


if __name__ == "__main__":
    main()
