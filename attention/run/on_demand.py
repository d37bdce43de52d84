"""How attend() turns a recorded run into a result: the full weights when they fit in the budget, the record
(weights on demand, attention/run/weights.py) beyond, with a notice saying so."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from attention.engine import tiles
from attention.engine.record import LayerRecord
from attention.run import limits
from attention.run.weights import RecordedWeights, full_weights_bytes

DEVICES = ("cpu", "cuda")


def check_device(device: str | None) -> str | None:
    """The device name checked: "cpu", "cuda" (or "cuda:N") when CUDA is present; None keeps the model's."""
    if device is None:
        return None
    import torch

    if not isinstance(device, str) or device.split(":")[0] not in DEVICES:
        raise ValueError(f"device must be 'cpu' or 'cuda'; got {device!r}.")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for, but this machine has no CUDA GPU that torch can use.")
    return device


def default_device() -> str:
    """CUDA when present, else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def run_options(backend: Any, progress: Callable[[int, int], None] | None, device: str | None) -> dict[str, Any]:
    """Extra options for a backend that records (others ignore them)."""
    if progress is not None and not callable(progress):
        raise ValueError("progress must be a function progress(tokens, total).")
    device = check_device(device)
    if not getattr(backend, "meta", {}).get("recorded"):
        if device not in (None, "cpu"):
            raise ValueError(f"'{backend.name}' runs on the CPU; device= applies to recorded transformers models.")
        return {}
    return {"keep_record": True, "progress": progress, "device": device or default_device()}


def from_record(layers: list[LayerRecord], family: str, notices: list[str]
                ) -> tuple[np.ndarray | None, dict[str, Any], list[str], dict[str, Any]]:
    """(weights or None, arrays, notices, meta) of a recorded run: weights when [layer, head, query, key] fits in
    the budget (limits.current().weights_mb), else None with arrays["record"] = RecordedWeights and a notice."""
    source = RecordedWeights(layers)
    n_layers, n_heads, n_q, n_k = source.shape
    needed = full_weights_bytes(n_layers, n_heads, n_q, n_k)
    budget = limits.current().weights_mb * 2**20
    extra = {"causal": family == "decoder", "kv_groups": source.groups, "record_dtype": str(layers[0].queries.dtype)
             .removeprefix("torch."), "record_bytes": source.nbytes, "full_weights_bytes": needed}
    if needed <= budget:
        weights = tiles.dense(layers).numpy()
        weights.flags.writeable = False
        return weights, {"weights": weights}, notices, extra
    notice = (f"Every weight of {n_layers} layers × {n_heads} heads over {n_q:,} tokens would take "
              f"{needed / 2**20:,.0f} MB (the budget is {budget / 2**20:,.0f} MB), so this result keeps the queries and "
              f"keys ({source.nbytes / 2**20:,.1f} MB) and computes rows, tiles and overviews exactly when asked.")
    return None, {"record": source}, [*notices, notice], extra


FILE_OVERVIEW_SIZE = 256   # cells per side of each head's overview in a file of a long result


def overview_npz(result: Any, size: int = FILE_OVERVIEW_SIZE) -> bytes:
    """A long result as an NPZ file: tokens, every head's mean overview float32 [layer, head, ≤ size, ≤ size] (rows sum
    to 1) and what the model was; the full weights are not in it (they would not fit), and the file says so."""
    import io
    import json

    heads = [[result.overview(layer, head, size, "mean") for head in range(result.n_heads)] for layer in range(result.n_layers)]
    header = {"model": result.model, "n_tokens": result.n_tokens, "pool": "mean", "size": size,
              "meta": {k: v for k, v in result.meta.items() if isinstance(v, (str, int, float, bool))},
              "notices": [*result.notices, f"This file holds each head's {size} × {size} overview (mean pooling: a cell "
                          "is the average over its queries of the weight summed over its keys), not every weight; "
                          "the record it came from computes any tile exactly."]}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, overviews=np.asarray(heads, dtype=np.float32),
                        tokens=np.array(json.dumps(result.tokens)), header=np.array(json.dumps(header)))
    return buffer.getvalue()


def read_text_file(argument: str) -> str | None:
    """The text of `argument` when it names an existing .txt file (UTF-8, undecodable bytes replaced), else None."""
    from pathlib import Path

    if not argument.lower().endswith(".txt") or "\n" in argument or len(argument) > 4096:
        return None
    path = Path(argument).expanduser()
    if not path.is_file():
        return None
    return path.read_bytes().decode("utf-8", errors="replace")
