"""long-mini trained once with a seed and kept on disk (attention/domains/store.py), then written out as an ordinary
transformers folder (config.json, safetensors, MiniLM's tokenizer) beside the cache file, which the app reads through
the same recorded path as any Llama checkpoint (attention/run/models.py names it `long-mini`)."""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

from attention.domains import store
from attention.domains.long_mini.data import tokenizer
from attention.domains.long_mini.model import MODEL_NAME, LongMiniConfig, build
from attention.domains.long_mini.train import Progress, evaluate, train

TRAINING_VERSION = 1   # bump when the training recipe changes: old cache files are then ignored


class Trained(NamedTuple):
    """The trained network (a transformers LlamaForCausalLM), its folder, held-out scores and training seconds."""

    network: Any
    folder: Path
    scores: dict
    seconds: float
    notices: tuple[str, ...] = ()


def cache_path(config: LongMiniConfig = LongMiniConfig()) -> Path:
    """One file per recipe: its name carries a hash of the config and of TRAINING_VERSION."""
    return store.recipe_path(MODEL_NAME, {**asdict(config), "version": TRAINING_VERSION})


def is_cached(config: LongMiniConfig = LongMiniConfig()) -> bool:
    """True when load_or_train will not need to train (in memory or on disk)."""
    return store.is_ready(cache_path(config))


def _write_folder(network: Any, folder: Path) -> Path:
    """save_pretrained into `folder` (written beside it, then renamed: a reader never sees half a folder)."""
    if (folder / "config.json").is_file():
        return folder
    partial = folder.with_name(f"{folder.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    network.save_pretrained(partial)
    tokenizer().save_pretrained(partial)
    try:
        os.replace(partial, folder)
    except OSError:   # another process wrote it first
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def load_or_train(config: LongMiniConfig = LongMiniConfig(), progress: Progress | None = None) -> Trained:
    """The trained long-mini: from memory, else the disk cache, else trained now and saved; its folder written."""
    path = cache_path(config)
    folder = path.with_suffix("")

    def read(saved: dict) -> Trained:
        network = build(config)
        network.load_state_dict(saved["state"], strict=True)
        network.eval()
        return Trained(network, _write_folder(network, folder), dict(saved["scores"]), float(saved["seconds"]))

    def fresh(notices: tuple[str, ...]) -> tuple[Trained, dict]:
        started = time.perf_counter()
        network = train(config, progress)
        seconds = time.perf_counter() - started
        scores = evaluate(network, config)
        shutil.rmtree(folder, ignore_errors=True)   # a folder of an older training of the same recipe
        return (Trained(network, _write_folder(network, folder), scores, seconds, notices),
                {"state": network.state_dict(), "config": asdict(config), "seconds": seconds, "scores": scores})

    return store.load_or_train(path, read, fresh, "long-mini model")


def folder() -> str:
    """The trained long-mini's transformers folder (trained first if this machine has none)."""
    return str(load_or_train().folder)
