"""Trained weights kept on disk, one file per training recipe, so a model is trained once per machine.

The files hold weights that the code reproduces from a fixed seed, so they live in a cache folder, never in
the repository: $ATTENTION_LENS_CACHE, else ~/.cache/attention-lens.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import torch


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
