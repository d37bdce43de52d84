"""A transformers model read through the recorder (record.py) instead of eager attention's full weights.

The network stays loaded as it was (eager); for one run it is switched to the registered RECORD implementation
and back, under the compute lock, so other readers of the same network (generation, contributions) still get
output_attentions. `run` returns {"record": RecordedWeights}: queries and keys, not weights; attention/run decides
whether the full weights fit and are worth materialising.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterator

import torch

from attention.engine import record as recorder
from attention.engine import tiles
from attention.engine.backends import COMPUTE_LOCK, TransformersBackend
from attention.engine.patterns import Pattern

FP32_RECORD_TOKENS = 2048   # up to this many tokens an fp32 model's queries and keys are kept in fp32, beyond in fp16
FP32_RECORD_MB = 256        # ... unless the fp32 record would take at most this many MB: then fp32 at any length


def record_dtype(model_dtype: torch.dtype, n_tokens: int, fp32_bytes: int | None = None) -> torch.dtype:
    """How queries and keys are kept: a 16-bit model's own dtype (lossless); fp32 for short inputs, or at any length
    while the fp32 record (`fp32_bytes`, when known) takes at most FP32_RECORD_MB; fp16 beyond. A record in the
    model's own dtype also keeps the log-sum-exp its kernel gave (record.LayerRecord.lse)."""
    if model_dtype in (torch.float16, torch.bfloat16):
        return model_dtype
    small = fp32_bytes is not None and fp32_bytes <= FP32_RECORD_MB * 2**20
    return torch.float32 if n_tokens <= FP32_RECORD_TOKENS or small else torch.float16


def fp32_record_bytes(config: Any, n_tokens: int) -> int | None:
    """Bytes of an fp32 record of `n_tokens` for a transformers config (queries and keys of every layer), or None
    when the config does not say its sizes."""
    layers = getattr(config, "num_hidden_layers", None)
    heads = getattr(config, "num_attention_heads", None)
    hidden = getattr(config, "hidden_size", None)
    if not all(isinstance(v, int) and v > 0 for v in (layers, heads)):
        return None
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or (hidden // heads if isinstance(hidden, int) else None)
    if not isinstance(head_dim, int):
        return None
    return layers * n_tokens * (heads + kv_heads) * head_dim * 4


@contextmanager
def recorded_attention(network: torch.nn.Module) -> Iterator[None]:
    """Run the block with the network's attention switched to RECORD, then switch it back."""
    before = network.config._attn_implementation
    recorder.use_recording(network)
    try:
        yield
    finally:
        network.set_attn_implementation(before)


@dataclass
class RecordingBackend(TransformersBackend):
    """An encoder or decoder from transformers whose attention is recorded (any length up to its own limit)."""

    kind: ClassVar[str] = "transformers"
    device: str = "cpu"

    def record(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
               progress: Callable[[int, int], None] | None = None, device: str | None = None) -> recorder.Record:
        """One recorded pass over ids [batch, token] (padding in attention_mask [batch, token]).

        progress(tokens, total) is called after each layer: the pass moves all tokens through a layer at once, so
        `tokens` is the input's tokens times the share of layers done. Raising from it cancels the run."""
        device = device or self.device
        dtype = next(self.network.parameters()).dtype
        n_layers = int(getattr(self.network.config, "num_hidden_layers", 0) or 0)
        kwargs: dict[str, Any] = {"use_cache": False} if self.family == "decoder" else {}
        if attention_mask is not None:
            kwargs["attention_mask"] = attention_mask.to(device)
        n_tokens = ids.shape[1]
        layers_done = None if progress is None else (lambda done, total: progress(n_tokens * done // total, n_tokens))
        with COMPUTE_LOCK, torch.inference_mode(), recorded_attention(self.network):
            if str(next(self.network.parameters()).device) != str(torch.device(device)):
                self.network.to(device)
            kept = record_dtype(dtype, n_tokens, fp32_record_bytes(self.network.config, n_tokens))
            with recorder.recording(self.network, kept, layers_done, n_layers) as rec:
                self.network(input_ids=ids.to(device), **kwargs)
        return rec

    def run(self, input_ids: list[int], options: dict[str, Any], pattern: Pattern | None = None) -> dict[str, Any]:
        """Record one sequence. With options["keep_record"]: {"record": [LayerRecord per layer]} (attention/run
        turns it into weights on demand); otherwise {"weights": float32 [layer, head, query, key]} as every backend."""
        rec = self.record(torch.tensor([input_ids]), progress=options.get("progress"), device=options.get("device"))
        if options.get("keep_record"):
            return {"record": rec.stacks["weights"]}
        weights = tiles.dense(rec.stacks["weights"]).numpy()
        weights.flags.writeable = False
        return {"weights": weights}

    def _padded(self, ids: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        rec = self.record(ids, attention_mask=mask[:, 0, 0].long())
        return [torch.stack([tiles.dense([layer], batch)[0] for batch in range(ids.shape[0])])
                for layer in rec.stacks["weights"]]                                   # per layer [batch, head, q, k]


def recordable(network: torch.nn.Module) -> bool:
    """True when the network's attention goes through transformers' AttentionInterface (so it can be recorded)."""
    try:
        recorder.check_recordable(network)
    except recorder.NotRecordable:
        return False
    return True

