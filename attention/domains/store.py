"""Trained weights kept on disk, one file per training recipe, so a model is trained once per machine.

The files hold weights that the code reproduces from a fixed seed, so they live in a cache folder, never in
the repository: $ATTENTION_LENS_CACHE, else ~/.cache/attention-lens.
"""
from __future__ import annotations

import hashlib
import json
import os
import contextlib
import fcntl
import pickle
import threading
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch

T = TypeVar("T")
Progress = Callable[[float, str], None]   # what a training run reports: (fraction done, message)


@contextlib.contextmanager
def one_thread():
    """Train on one CPU thread, then give torch back its thread count: the demos' matrices are small, so a second
    thread waits more than it works on a shared machine, and one thread keeps a seeded run repeatable."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def seeded_start(network: torch.nn.Module, seed: int, query_key_std: float) -> torch.nn.Module:
    """GPT-2's starting weights, drawn from `seed`: normal with std 0.02 (the query and key weights `query_key_std`),
    biases 0, layer norms left as built (identity). The demos' decoders start training here."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in network.named_parameters():
            if "norm" in name:
                continue
            if name.endswith("bias"):
                parameter.zero_()
            else:
                std = query_key_std if name.endswith(("query.weight", "key.weight")) else 0.02
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)
    return network


def cache_dir() -> Path:
    """Where trained weights are kept: $ATTENTION_LENS_CACHE, else ~/.cache/attention-lens."""
    return Path(os.environ.get("ATTENTION_LENS_CACHE") or Path.home() / ".cache" / "attention-lens")


def recipe_path(name: str, recipe: dict[str, Any]) -> Path:
    """The file for one recipe: `name` plus a hash of the recipe (sizes, seed, data, version)."""
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return cache_dir() / f"{name}-{digest}.pt"


def save(path: Path, content: dict[str, Any]) -> None:
    """Write atomically: another process never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    torch.save(content, partial)
    os.replace(partial, path)


def load(path: Path) -> dict[str, Any]:
    """Read tensors and plain numbers only (weights_only: no code in the file can run)."""
    return torch.load(path, map_location="cpu", weights_only=True)


@contextlib.contextmanager
def _file_lock(path: Path):
    """Hold an exclusive lock on `<path>.lock` across processes: one trains, the others wait and then read its file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_MEMORY: dict[Path, Any] = {}          # what load_or_train gave, by file: each model is read or trained once per process
_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def is_ready(path: Path) -> bool:
    """True when load_or_train(path, ...) will not need to train (in memory or on disk)."""
    return path in _MEMORY or path.exists()


def load_or_train(path: Path, read: Callable[[dict[str, Any]], T], train: Callable[[tuple[str, ...]], tuple[T, dict[str, Any]]],
                  what: str) -> T:
    """A model once per process: from memory, else `read` of the file at `path`, else `train(notices)`, which returns the
    model and what to save. One training per file at a time; other callers wait for its result. A damaged or foreign
    file is trained again, with a notice (naming `what`) passed to `train`."""
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(path, threading.Lock())
    with lock:
        if path in _MEMORY:
            return _MEMORY[path]
        with _file_lock(path):   # another process (an app replica, a pretraining job) may be training it right now
            return _read_or_train(path, read, train, what)


def _read_or_train(path: Path, read: Callable[[dict[str, Any]], T], train: Callable[[tuple[str, ...]], tuple[T, dict[str, Any]]],
                   what: str) -> T:
    """load_or_train's work, under both locks."""
    notices: tuple[str, ...] = ()
    value = None
    if path.exists():
        try:
            value = read(load(path))
        except (OSError, EOFError, pickle.UnpicklingError, RuntimeError, KeyError, ValueError) as error:  # damaged or foreign
            notices = (f"The saved {what} could not be read ({type(error).__name__}), so it was trained again.",)
    if value is None:
        value, content = train(notices)
        save(path, content)
    _MEMORY[path] = value
    return value
