"""gpt-mini before and after issue 25, side by side in one run: training time (one thread), held-out perplexity
against the add-k bigram, and the best previous-token, induction and sink heads (head_scores' definition: 4 draws of
a start token, 50 random vocabulary tokens, the same 50 again).

    python bench/bench_gpt_mini.py                                   # recipe v5 (before) against the default (after)
    python bench/bench_gpt_mini.py --candidate '{"steps": 3000}'     # the default with any GPTMiniConfig fields changed

Both recipes are trained through the same code (attention/domains/gpt_mini/train.py); only the config differs.
The candidate's heads and perplexity are also printed every --every steps, to see when the phase change comes."""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from attention.analyses.generation import score_weights
from attention.domains.gpt_mini.data import ngram_perplexities, tokenizer
from attention.domains.gpt_mini.model import GPTMiniConfig
from attention.domains.gpt_mini.train import corpus_for, perplexity, train

CURRENT = GPTMiniConfig()
# recipe v5, before issue 25: 4 layers, learned positions, output tied to the token embeddings, no mixed stage, 500 steps
BEFORE = GPTMiniConfig(n_layers=4, positional="learned", untied=False, mix_steps=0, steps=500, learning_rate=3e-3,
                       weight_decay=0.1, warmup=100, repeat_share=0.125, sinusoidal_start=0.02, docstrings=0)
RESULTS = Path(__file__).resolve().parent / "results" / "gpt_mini.json"


def best_heads(network, seed: int = 0) -> dict[str, float]:
    """head_scores() on a network in hand: 4 draws of [CLS] + 50 random vocabulary tokens + the same 50 again."""
    tok = tokenizer()
    specials = set(tok.all_special_ids)
    pool = np.array([i for i in network.vocabulary.tolist() if i not in specials])
    draws = np.random.default_rng(seed).choice(pool, size=(4, 50))
    sequences = np.concatenate([np.full((4, 1), tok.cls_token_id), draws, draws], axis=1)
    with torch.inference_mode():
        weights = torch.stack(network.run(torch.as_tensor(sequences)).weights, 1).numpy()   # [seq, layer, head, q, k]
    return {kind: float(score_weights(weights, 50, kind).max()) for kind in ("previous", "induction", "sink")}


def measure(config: GPTMiniConfig, every: int = 0) -> dict:
    corpus = corpus_for(config)
    baselines = ngram_perplexities(corpus, config.context)
    if every:
        import attention.domains.gpt_mini.train as training

        original, seen = training._loss, [0]

        def watched(network, index, rows, positions=None):     # the candidate's heads and perplexity as it trains
            seen[0] += 1
            if seen[0] % every == 0:
                network.eval()
                ratio = perplexity(network, corpus, config.context) / baselines["bigram"]
                print(f"  step {seen[0]}: perplexity / bigram {ratio:.3f}, best heads {best_heads(network)}", flush=True)
                network.train()
            return original(network, index, rows, positions)

        training._loss = watched
    try:
        started = time.perf_counter()
        network = train(config, corpus)
        seconds = time.perf_counter() - started
    finally:
        if every:
            training._loss = original
    model = perplexity(network, corpus, config.context)
    return {"steps": config.mix_steps + config.steps, "seconds": round(seconds, 1), "perplexity": round(model, 2),
            "bigram": round(baselines["bigram"], 2), "ratio": round(model / baselines["bigram"], 3),
            "unigram": round(baselines["unigram"], 1), "train_tokens": int(len(corpus.train)),
            **{f"best_{kind}": round(score, 3) for kind, score in best_heads(network).items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidate", default="{}", help="GPTMiniConfig fields changed from the default, as JSON")
    parser.add_argument("--every", type=int, default=300, help="print the candidate's heads every this many steps")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = {"before": measure(BEFORE), "after": measure(replace(CURRENT, **json.loads(args.candidate)), args.every)}
    print(f"{'':>22} {'before (v5)':>18} {'after':>18}")
    for key in rows["before"]:
        print(f"{key:>22} {str(rows['before'][key]):>18} {str(rows['after'][key]):>18}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
