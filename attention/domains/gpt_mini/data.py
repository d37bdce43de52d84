"""The text gpt-mini learns from, tokenised and split, and the two count-based baselines it must beat.

Text: Python's reference documentation as shipped with the interpreter (`pydoc_data.topics`: 79 topics, ~465,000
characters), plus, for training only, the docstrings of the standard library's top-level modules (read from their
source with `ast`, never imported; ~800,000 characters), so every installation has it offline. Tokenizer: the bundled MiniLM's WordPiece tokenizer (already
installed with the app, offline, and the same tokens the rest of the app shows); it lowercases and drops accents, so
gpt-mini writes lowercase text. Each topic reads "[CLS] topic text [SEP]": [CLS] marks where a text begins.

Heading underlines (lines that are only a run of one of * = - ~ ^ # +, 209 of them) are dropped: as WordPiece tokens
they become runs of up to ~80 "*" tokens, which any model predicts trivially and which would flatter every perplexity.

Split: the topics are shuffled with a fixed seed; the last 10% of that order are held out (never trained on); the
docstrings join the training side.
Output vocabulary: the tokens seen at least `min_count` times in the training topics, plus [UNK]; every other token
is read as [UNK], by the network and by both baselines alike, so all three are scored on the same tokens.
"""
from __future__ import annotations

import math
import random
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


def tokenizer():
    """MiniLM's tokenizer (bundled with the app: nothing is downloaded)."""
    from transformers import AutoTokenizer

    from attention.engine.backends import _quiet_transformers
    from attention.run.models import _bundled_path

    _quiet_transformers()
    return AutoTokenizer.from_pretrained(_bundled_path(), local_files_only=True)


HEADING_RULE = re.compile(r"(?m)^[ \t]*([*=\-~^#+])\1{2,}[ \t]*\n?")   # a reST heading's underline (or overline)


def clean(text: str) -> str:
    """A topic without its heading underlines."""
    return HEADING_RULE.sub("", text)


@dataclass(frozen=True)
class Corpus:
    """Token ids of the training and held-out topics (each "[CLS] text [SEP]", concatenated), OOV read as [UNK].

    train / held_out: int64 [token] in MiniLM's id space; vocabulary: int64 [kept] sorted ids the network can predict;
    train_topics / held_out_topics: topic names; unk: [UNK]'s id."""

    train: np.ndarray
    held_out: np.ndarray
    vocabulary: np.ndarray
    train_topics: tuple[str, ...]
    held_out_topics: tuple[str, ...]
    unk: int
    bos: int
    eos: int


def docstring_texts(budget: int) -> list[str]:
    """Docstrings (80 characters or more) of the standard library's top-level modules, read with ast (never imported),
    in file order until `budget` characters: more text in the documentation's own style."""
    import ast
    import sysconfig
    from pathlib import Path

    texts, total = [], 0
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) >= 80 and total < budget:
                    texts.append(doc)
                    total += len(doc)
    return texts


@lru_cache(maxsize=4)
def load_corpus(split_seed: int = 0, held_out_share: float = 0.1, min_count: int = 2, docstrings: int = 0) -> Corpus:
    """Tokenise pydoc_data.topics, split by topic (seeded shuffle, last share held out), add up to `docstrings`
    characters of standard-library docstrings to the training side, keep the output vocabulary."""
    from pydoc_data import topics

    tok = tokenizer()
    names = sorted(topics.topics)
    random.Random(split_seed).shuffle(names)
    n_held = max(1, round(len(names) * held_out_share))
    train_names, held_names = names[:-n_held], names[-n_held:]

    def ids(chosen: list[str]) -> np.ndarray:
        # long topics exceed the tokenizer's 512-token model limit; we cut them into windows ourselves, so silence it
        pieces = [tok(clean(topics.topics[name]), verbose=False)["input_ids"] for name in chosen]
        return np.array([i for piece in pieces for i in piece], dtype=np.int64)

    train, held_out = ids(train_names), ids(held_names)
    if docstrings:
        extra = [tok(clean(text), verbose=False)["input_ids"] for text in docstring_texts(docstrings)]
        train = np.concatenate([train, np.array([i for piece in extra for i in piece], dtype=np.int64)])
    counts = Counter(train.tolist())
    unk = tok.unk_token_id
    vocabulary = np.array(sorted({i for i, c in counts.items() if c >= min_count} | {unk}), dtype=np.int64)
    known = np.zeros(tok.vocab_size, dtype=bool)
    known[vocabulary] = True
    train = np.where(known[train], train, unk)
    held_out = np.where(known[held_out], held_out, unk)
    return Corpus(train, held_out, vocabulary, tuple(train_names), tuple(held_names), unk, tok.cls_token_id, tok.sep_token_id)


def fingerprint(corpus: Corpus) -> str:
    """A short hash of the corpus's tokens and vocabulary: equal on every machine whose Python ships the same text."""
    import hashlib

    digest = hashlib.sha256()
    for array in (corpus.train, corpus.held_out, corpus.vocabulary):
        digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    return digest.hexdigest()[:16]


def windows(ids: np.ndarray, context: int) -> np.ndarray:
    """Cut a token stream into non-overlapping windows of `context` tokens (the tail shorter than one is dropped):
    [window, context]."""
    n = len(ids) // context
    return ids[: n * context].reshape(n, context)


def ngram_perplexities(corpus: Corpus, context: int, k_grid: tuple[float, ...] = (1.0, 0.1, 0.01, 0.001)) -> dict[str, float]:
    """Held-out perplexities of a unigram and an add-k bigram model counted on the training tokens, scored on exactly
    the tokens the decoder predicts (positions 1… of each held-out window of `context`). k is picked from `k_grid` on
    the held-out text itself, which can only flatter the bigram."""
    vocab = corpus.vocabulary
    index = np.full(int(max(corpus.train.max(), corpus.held_out.max(), vocab.max())) + 1, -1, dtype=np.int64)
    index[vocab] = np.arange(len(vocab))
    train = index[corpus.train]
    size = len(vocab)
    unigram = np.bincount(train, minlength=size).astype(np.float64) + 1.0          # add-one: no held-out token has p = 0
    unigram /= unigram.sum()
    pairs = np.zeros((size, size), dtype=np.float64)
    np.add.at(pairs, (train[:-1], train[1:]), 1.0)
    held = index[windows(corpus.held_out, context)]                                  # [window, context]
    previous, target = held[:, :-1].ravel(), held[:, 1:].ravel()
    uni = math.exp(-np.log(unigram[target]).mean())
    best_k, best = None, math.inf
    row_totals = pairs.sum(axis=1)
    for k in k_grid:
        p = (pairs[previous, target] + k) / (row_totals[previous] + k * size)     # add-k: P(target | previous)
        perplexity = math.exp(-np.log(p).mean())
        if perplexity < best:
            best_k, best = k, perplexity
    return {"unigram": uni, "bigram": best, "bigram_k": best_k, "tokens": int(target.size)}
