"""gpt-mini: a small GPT-style decoder on the project's own engine, trained here on Python's own documentation.

    data.py    the text (pydoc_data.topics, shipped with the interpreter), MiniLM's tokenizer, the held-out split,
               the output vocabulary and the unigram / bigram baselines
    model.py   the decoder: a causal, pre-norm ScratchTransformer with learned positions and tied output weights
    train.py   training from a fixed seed on one CPU thread, held-out perplexity
    cache.py   train once, keep on disk, load (attention/domains/store.py); held-out scores and continuations

Nothing is downloaded: the text ships with Python, the tokenizer with the bundled MiniLM package.
"""
from attention.domains.gpt_mini.data import Corpus, load_corpus
from attention.domains.gpt_mini.model import GPTMini, GPTMiniConfig
from attention.domains.gpt_mini.cache import (MODEL_NAME, RANDOM_NAME, Trained, cache_path, evaluate_lm, is_cached, is_shipped,
                                              load_or_train, held_out_continuations, head_roles, network)

__all__ = ["Corpus", "load_corpus", "GPTMini", "GPTMiniConfig", "MODEL_NAME", "RANDOM_NAME", "Trained", "cache_path",
           "evaluate_lm", "is_cached", "is_shipped", "load_or_train", "network", "held_out_continuations", "head_roles"]
