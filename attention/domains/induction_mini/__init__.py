"""`induction-mini`: a two-layer attention-only decoder on the project's engine, trained here in about half a minute on
runs of random tokens repeated with a random period, so that an induction head forms while you watch (Olsson et al.,
2022): a previous-token head in layer 0 and, composed with it, heads in layer 1 that find the earlier copy of the
current token and predict the token that followed it.

    data.py    the 64-token character vocabulary and tokenizer, the repeated rows, the two parts of a row, the probe
    model.py   the decoder: a causal, pre-norm, attention-only ScratchTransformer with its own output layer
    train.py   training from a fixed seed on one CPU thread, with the history of losses and head scores
    scores.py  induction and previous-token scores, losses by part, K-composition, the phase change's step
    cache.py   train once, keep on disk, load (attention/domains/store.py); the backend the engine serves

A toy trained on synthetic data: it knows nothing of language. The mechanism it learns is the one found in large
language models (Olsson et al., 2022); nothing is downloaded.
"""
from attention.domains.induction_mini.data import (BOS, PROBE_LENGTH, SPACE, SPECIALS, SYMBOLS, UNK, parts, probe,
                                                   repeated_rows, tokenizer, vocabulary)
from attention.domains.induction_mini.model import MODEL_NAME, InductionConfig, InductionMini, count_parameters
from attention.domains.induction_mini.train import Progress, Watch, train
from attention.domains.induction_mini.scores import (HELD_OUT_ROWS, KINDS, Findings, Removal, best_head, composition,
                                                     findings, held_out_rows, part_losses, phase_change, probe_scores,
                                                     removal, score_weights)
from attention.domains.induction_mini.cache import (TRAINING_VERSION, Trained, backend, cache_path, is_cached,
                                                    load_or_train, network)

__all__ = ["BOS", "Findings", "HELD_OUT_ROWS", "InductionConfig", "InductionMini", "KINDS", "MODEL_NAME", "PROBE_LENGTH",
           "Progress", "Removal", "SPACE", "SPECIALS", "SYMBOLS", "TRAINING_VERSION", "Trained", "UNK", "Watch", "backend",
           "best_head", "cache_path", "composition", "count_parameters", "findings", "held_out_rows", "is_cached",
           "load_or_train", "network", "part_losses", "parts", "phase_change", "probe", "probe_scores", "removal",
           "repeated_rows", "score_weights", "tokenizer", "train", "vocabulary"]
