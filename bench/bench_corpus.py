"""Corpus mode throughput: sentences per second for head statistics, locally and through Ray.

    .venv/bin/python bench/bench_corpus.py [--sentences 554] [--model minilm] [--workers 2]

The shipped sample corpus (data/sample_corpus.txt, repeated if more sentences are asked for), MiniLM, padded batches
of 8 sentences, 32 sentences per task. Local: this process (torch on every core), the model already loaded, the
result cache cleared before each run. Ray: a Ray instance started here with --workers CPUs; "cold" counts starting
Ray's workers and each loading the model, "warm" reruns on the same workers. Wall-clock time, the best of --reps
runs: on a shared machine it swings with other processes' load.
"""
from __future__ import annotations

import argparse
import os
import secrets
import time

from common import table

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "token")                 # a token for this run only: nothing written to ~/.ray
os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=554)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()

    from attention import attend

    from attention.analyses import corpus

    sample = corpus.read_sentences(corpus.SAMPLE)
    sentences = (sample * (args.sentences // len(sample) + 1))[:args.sentences]
    sentences = [f"{text} ({index})" if index >= len(sample) else text for index, text in enumerate(sentences)]  # no repeats
    attend("Warm up.", args.model)                                        # the model loaded: time the job, not the load
    rows = []

    def best(job) -> tuple[float, object]:
        times, out = [], None
        for _ in range(args.reps):
            corpus._CACHE.clear()
            started = time.perf_counter()
            out = job()
            times.append(time.perf_counter() - started)
        return min(times), out

    seconds, local = best(lambda: corpus.run(sentences, args.model))
    rows.append(["local (this process)", f"{seconds:.1f}", f"{len(sentences) / seconds:.1f}"])

    try:
        import ray
    except ImportError:
        rows.append(["Ray", "not installed", "-"])
    else:
        started = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                 runtime_env={"py_modules": [str(corpus.SAMPLE.parent.parent / "attention")]})
        up = time.perf_counter() - started
        started = time.perf_counter()
        corpus.run_ray(sentences, args.model)
        seconds = time.perf_counter() - started
        rows.append([f"Ray, {args.workers} workers, cold: new workers load the model", f"{seconds:.1f}", f"{len(sentences) / seconds:.1f}"])
        seconds, remote = best(lambda: corpus.run_ray(sentences, args.model))
        rows.append([f"Ray, {args.workers} workers, warm: the same workers again", f"{seconds:.1f}", f"{len(sentences) / seconds:.1f}"])
        ray.shutdown()
        same = (remote[["sentence", "layer", "head"]].values == local[["sentence", "layer", "head"]].values).all()
        gap = float((remote["entropy"] - local["entropy"]).abs().max())
        rows.append([f"(Ray start-up {up:.1f} s; same rows as local: {same}; largest entropy difference {gap:.1e})", "", ""])
    print(f"Head statistics of {len(sentences)} sentences, {args.model}, on {os.cpu_count()} CPUs\n")
    print(table(["run", "seconds", "sentences/s"], rows))


if __name__ == "__main__":
    main()
