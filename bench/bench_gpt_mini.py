"""gpt-mini's recipe against a candidate recipe, side by side in one run: training time (one thread), held-out
perplexity against the add-k bigram, and the best previous-token, induction and sink heads (head_scores' definition:
4 draws of a start token, 50 random vocabulary tokens, the same 50 again).

    python bench/bench_gpt_mini.py                                   # the default candidate (issue 25's attempt)
    python bench/bench_gpt_mini.py --candidate '{"steps": 3000}'     # any GPTMiniConfig fields

Both recipes are trained through the same code (attention/domains/gpt_mini/train.py); only the config differs.
The candidate's heads and perplexity are also printed every --every steps, to see whether a phase change comes."""
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
CANDIDATE = {"steps": 1500, "repeat_share": 0.5, "repeat_length": 32, "docstrings": 800_000}   # tried for issue 25
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

        def watched(network, index, rows):            # the candidate's heads and perplexity as it trains
            seen[0] += 1
            if seen[0] % every == 0:
                network.eval()
                ratio = perplexity(network, corpus, config.context) / baselines["bigram"]
                print(f"  step {seen[0]}: perplexity / bigram {ratio:.3f}, best heads {best_heads(network)}", flush=True)
                network.train()
            return original(network, index, rows)

        training._loss = watched
    try:
        started = time.perf_counter()
        network = train(config, corpus)
        seconds = time.perf_counter() - started
    finally:
        if every:
            training._loss = original
    model = perplexity(network, corpus, config.context)
    return {"steps": config.steps, "seconds": round(seconds, 1), "perplexity": round(model, 2),
            "bigram": round(baselines["bigram"], 2), "ratio": round(model / baselines["bigram"], 3),
            "unigram": round(baselines["unigram"], 1), "train_tokens": int(len(corpus.train)),
            **{f"best_{kind}": round(score, 3) for kind, score in best_heads(network).items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidate", default=json.dumps(CANDIDATE), help="GPTMiniConfig fields as JSON")
    parser.add_argument("--every", type=int, default=300, help="print the candidate's heads every this many steps")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = {"current": measure(CURRENT), "candidate": measure(replace(CURRENT, **json.loads(args.candidate)), args.every)}
    print(f"{'':>22} {'current':>18} {'candidate':>18}")
    for key in rows["current"]:
        print(f"{key:>22} {str(rows['current'][key]):>18} {str(rows['candidate'][key]):>18}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
