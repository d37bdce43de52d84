"""Train gpt-mini's recipe once and write the shipped file (attention/data/gpt-mini.pt), or to a path given:

    python -m attention.domains.gpt_mini.ship [path]

The file holds the packed weights, the recipe, the held-out scores, the training
seconds, every step's loss and the corpus's fingerprint (see cache.py)."""
from __future__ import annotations

import sys
from pathlib import Path

from attention.domains import store
from attention.domains.gpt_mini.cache import shipped_path, train_and_record
from attention.domains.gpt_mini.model import GPTMiniConfig


def ship(path: Path | None = None, config: GPTMiniConfig = GPTMiniConfig()) -> dict:
    """Train `config` and save what load_or_train reads to `path` (default: the package's shipped file)."""
    _, content = train_and_record(config, progress=lambda done, message: print(message, flush=True))
    store.save(path or shipped_path(), content)
    return content


if __name__ == "__main__":
    saved = ship(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    print({key: saved[key] for key in ("scores", "seconds", "corpus")})
