"""Recorded runs: any transformers model's attention, kept as what makes the weights instead of the weights.

transformers (5.x) looks up every attention layer's function by name in its `AttentionInterface`, and the masks it
builds in its `AttentionMaskInterface`. We register one name, RECORD, in both:

  - the mask function returns a `KeyMask`: the model's own mask rule (causal, sliding window, bidirectional, ...),
    its padding and offsets, evaluated block by block when asked, so no query × key mask is ever built;
  - the attention function keeps each layer's post-rotary queries and keys, the scaling, the soft-capping and how
    many query heads share a key/value head (a `LayerRecord`), then computes the layer's output with SDPA (chunked
    over queries when the mask is not plain causal or full; exactly, with a chunked softmax, when the model
    soft-caps its scores, which SDPA cannot do).

No model class is patched: a network loaded with `attn_implementation=RECORD` (or switched with
`set_attn_implementation(RECORD)`) runs through here, and outside `recording()` it simply computes its output.
The weights themselves are computed on demand from a record by attention/engine/tiles.py.
"""
from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F

RECORD = "attention_lens_record"
CHUNK_ELEMENTS = 1 << 24   # a query chunk's scores hold at most this many floats (64 MB), whatever the length


class NotRecordable(ValueError):
    """The model computes attention its own way, so a registered attention function cannot see it."""


@dataclass(frozen=True, eq=False)
class KeyMask:
    """Which keys each query may see, as the model's mask rule says: evaluated per block, never as a whole map.

    rule      -- transformers' mask function (batch, head, query position, key position) -> bool, broadcasting
    key_valid -- bool [batch, key]: False at padding (None: no padding)
    q_offset / kv_offset -- absolute position of the first query / key (0 without a cache)
    kind      -- "causal" (key <= query), "full" (every key) or "rule" (anything else: evaluated)
    """

    rule: Callable | None
    n_queries: int
    n_keys: int
    key_valid: torch.Tensor | None = None
    q_offset: int = 0
    kv_offset: int = 0
    kind: str = "rule"
    use_vmap: bool = False
    _bounds: dict = field(default_factory=dict, repr=False)

    def allowed(self, batch: int, queries: slice, keys: slice) -> torch.Tensor | None:
        """bool [query, key] for positions queries × keys of one sequence (None: everything is visible)."""
        if self.key_valid is None and (self.kind == "full" or (self.kind == "causal" and
                                                              keys.stop - 1 + self.kv_offset <= queries.start + self.q_offset)):
            return None                                       # every key of the block is visible to every query
        q = torch.arange(queries.start, queries.stop)
        k = torch.arange(keys.start, keys.stop)
        if self.kind == "causal":
            visible = k[None, :] + self.kv_offset <= q[:, None] + self.q_offset
        elif self.kind == "full":
            visible = torch.ones(len(q), len(k), dtype=torch.bool)
        else:
            visible = self._evaluate(batch, q + self.q_offset, k + self.kv_offset)
        if self.key_valid is not None:
            visible = visible & self.key_valid[batch, k].cpu()[None, :]
        return visible

    def _evaluate(self, batch: int, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        b, h = torch.tensor([batch]), torch.tensor([0])
        if self.use_vmap:   # rules transformers cannot promise are index-based go through its vmap expansion
            from torch._dynamo._trace_wrapped_higher_order_op import TransformGetItemToIndex
            from transformers.masking_utils import _vmap_expansion_sdpa

            with TransformGetItemToIndex():
                return _vmap_expansion_sdpa(self.rule)(b, h, q, k)[0, 0].cpu()
        out = self.rule(b[:, None, None, None], h[None, :, None, None], q[None, None, :, None], k[None, None, None, :])
        return torch.as_tensor(out).expand(1, 1, len(q), len(k))[0, 0].cpu()

    def key_bounds(self, batch: int, queries: slice) -> tuple[int, int]:
        """(first, stop): the keys any of these queries may see lie in first..stop-1 (for skipping the rest)."""
        if self.kind == "full":
            return 0, self.n_keys
        if self.kind == "causal":
            return 0, max(0, min(self.n_keys, queries.stop + self.q_offset - self.kv_offset))
        cached = self._bounds.get((batch, queries.start, queries.stop))
        if cached is None:
            visible = self.allowed(batch, queries, slice(0, self.n_keys)).any(dim=0)   # [key]
            where = visible.nonzero()
            cached = (int(where[0]), int(where[-1]) + 1) if len(where) else (0, 0)
            self._bounds[(batch, queries.start, queries.stop)] = cached   # the same mask serves every layer
        return cached


def record_mask(batch_size: int, q_length: int, kv_length: int, q_offset: int = 0, kv_offset: int = 0,
                mask_function: Callable | None = None, attention_mask: torch.Tensor | None = None,
                use_vmap: bool = False, **kwargs: Any) -> KeyMask:
    """transformers' mask hook for RECORD: the mask as a rule (KeyMask), not a [batch, 1, query, key] tensor."""
    from transformers.masking_utils import bidirectional_mask_function, causal_mask_function, prepare_padding_mask

    padding = prepare_padding_mask(attention_mask, kv_length, kv_offset)
    if padding is not None:
        padding = padding[:, kv_offset:kv_offset + kv_length].bool() if padding.shape[-1] > kv_length else padding.bool()
        if bool(padding.all()):
            padding = None
    kind = "rule"
    if mask_function is causal_mask_function and not use_vmap:
        kind = "causal"
    elif mask_function is bidirectional_mask_function and not use_vmap:
        kind = "full"
    return KeyMask(mask_function, int(q_length), int(kv_length), padding, int(q_offset) if not torch.is_tensor(q_offset) else
                   int(q_offset.item()), int(kv_offset), kind, use_vmap)


@dataclass(frozen=True, eq=False)
class LayerRecord:
    """What one attention layer's weights depend on, for a batch of sequences.

    queries  -- [batch, head, query, d_head], after rotary positions (fp32, or fp16/bf16 to save memory)
    keys     -- [batch, key/value head, key, d_head]; query head h reads key head h // groups
    scaling  -- scores are (query · key) × scaling
    softcap  -- scores pass through softcap · tanh(score / softcap) before the mask (Gemma 2), or None
    mask     -- which keys each query sees (KeyMask)
    bias     -- a float mask the model added to the scores itself [batch | 1, 1 | head, query, key], or None
    lse      -- each row's log-sum-exp of its scores, float32 [batch, head, query], when the run's own kernel gave it
                for the very queries and keys kept (CPU, plain causal or full mask, record in the model's dtype), else
                None (then found from the record when first needed)
    """

    queries: torch.Tensor
    keys: torch.Tensor
    scaling: float
    softcap: float | None
    mask: KeyMask
    bias: torch.Tensor | None = None
    lse: torch.Tensor | None = None

    @property
    def n_heads(self) -> int:
        return self.queries.shape[1]

    @property
    def groups(self) -> int:
        """Query heads per key/value head (1: multi-head; > 1: grouped-query)."""
        return self.queries.shape[1] // self.keys.shape[1]

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.queries, self.keys, self.lse) if t is not None)


@dataclass
class Record:
    """One recorded pass: per stack ("weights" = the self-attention of the input; encoder–decoders add
    "target_weights" and "cross"), one LayerRecord per layer in the order the model ran them."""

    stacks: dict[str, list[LayerRecord]] = field(default_factory=dict)
    dtype: torch.dtype | None = None
    progress: Callable[[int, int], None] | None = None
    n_layers_expected: int = 0
    _stack_of: dict[int, str] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        """Bytes the record holds (queries, keys and any log-sum-exps the run gave)."""
        return sum(layer.nbytes for layers in self.stacks.values() for layer in layers)


_ACTIVE: contextvars.ContextVar[Record | None] = contextvars.ContextVar("attention_lens_record", default=None)


def _stack_map(network: torch.nn.Module) -> dict[int, str]:
    """id(attention module) -> stack name, for encoder–decoders (everything else is "weights")."""
    config = getattr(network, "config", None)
    if not getattr(config, "is_encoder_decoder", False) or not hasattr(network, "get_encoder"):
        return {}
    encoder = {id(m) for m in network.get_encoder().modules()}
    out = {}
    for module in network.modules():
        if id(module) in encoder:
            out[id(module)] = "weights"
        elif getattr(module, "is_cross_attention", None) is True or getattr(module, "is_causal", None) is False:
            out[id(module)] = "cross"
        else:
            out[id(module)] = "target_weights"
    return out


def check_recordable(network: torch.nn.Module) -> None:
    """Raise NotRecordable when the network's attention does not go through transformers' AttentionInterface."""
    can_set = getattr(type(network), "_can_set_attn_implementation", None)   # transformers reads the model's source
    if can_set is None or not can_set():
        raise NotRecordable(
            f"{type(network).__name__} computes attention in its own code instead of through transformers' "
            "AttentionInterface, so its queries and keys cannot be recorded; it can be read only as far as its full "
            "weights fit in memory (eager attention).")


def register() -> None:
    """Register RECORD with transformers (attention and mask functions); safe to call again."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(RECORD, record_attention)
    AttentionMaskInterface.register(RECORD, record_mask)


def use_recording(network: torch.nn.Module) -> None:
    """Switch a loaded transformers network to RECORD (raises NotRecordable when it cannot be switched)."""
    check_recordable(network)
    register()
    network.set_attn_implementation(RECORD)
    if network.config._attn_implementation != RECORD:
        raise NotRecordable(f"{type(network).__name__} kept its attention implementation, so it cannot be recorded.")


@contextmanager
def recording(network: torch.nn.Module, dtype: torch.dtype | None = None,
              progress: Callable[[int, int], None] | None = None, n_layers: int = 0) -> Iterator[Record]:
    """Keep every attention layer's queries and keys while the block runs: `with recording(net) as record: net(...)`.

    dtype: how queries and keys are kept (None: as the model computes them). progress(done, total) is called after
    each layer with the layers done; raising from it stops the run (nothing of it is kept by the caller)."""
    record = Record(dtype=dtype, progress=progress, n_layers_expected=n_layers, _stack_of=_stack_map(network))
    token = _ACTIVE.set(record)
    try:
        yield record
    finally:
        _ACTIVE.reset(token)
    if not record.stacks:
        raise NotRecordable(f"{type(network).__name__} ran without calling the registered attention function, so "
                            "nothing was recorded: its attention is computed in its own code.")


def _as_mask(attention_mask: Any, module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor,
             is_causal: bool | None) -> tuple[KeyMask, torch.Tensor | None]:
    """Whatever reached the attention function as a KeyMask (+ a float bias the model built itself)."""
    n_q, n_k = query.shape[2], key.shape[2]
    if isinstance(attention_mask, KeyMask):
        return attention_mask, None
    if attention_mask is None:   # transformers' own rule for a missing mask (sdpa_attention_forward)
        causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
        return KeyMask(None, n_q, n_k, kind="causal" if (causal and n_q > 1) else "full"), None
    if attention_mask.dtype == torch.bool:   # a dense mask the model built itself: read it as a rule
        dense = attention_mask
        rule = lambda b, h, q, k: dense[b, 0, q, k]   # noqa: E731 (indices broadcast like transformers' rules)
        return KeyMask(rule, n_q, n_k, kind="rule"), None
    return KeyMask(None, n_q, n_k, kind="full"), attention_mask


def _kept(tensor: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """A detached copy in the record's dtype (values out of fp16's range keep fp32)."""
    tensor = tensor.detach()
    if dtype is None or tensor.dtype == dtype:
        return tensor.clone()
    if dtype == torch.float16 and tensor.abs().max() > torch.finfo(torch.float16).max:
        return tensor.float().clone()
    return tensor.to(dtype)


def _expand_groups(tensor: torch.Tensor, groups: int) -> torch.Tensor:
    """[batch, kv head, key, d] -> [batch, kv head × groups, key, d] (a view where possible)."""
    if groups == 1:
        return tensor
    b, kv, n, d = tensor.shape
    return tensor[:, :, None].expand(b, kv, groups, n, d).reshape(b, kv * groups, n, d)


def _query_chunk(n_heads: int, n_keys: int) -> int:
    return max(16, CHUNK_ELEMENTS // max(1, n_heads * n_keys))


def _plain(mask: KeyMask, n_q: int, softcap: float | None, bias: torch.Tensor | None) -> bool:
    """True when one fused kernel call computes the layer exactly: no soft-capping, no bias, a plain full mask or a
    causal one over the same positions, no padding."""
    return softcap is None and bias is None and mask.key_valid is None and (
        mask.kind == "full" or mask.kind == "causal" and n_q == mask.n_keys and mask.q_offset == mask.kv_offset)


def _fused_with_lse(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, causal: bool,
                    scaling: float) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(output [batch, head, query, d_value], log-sum-exp float32 [batch, head, query]) from the CPU flash kernel that
    SDPA itself dispatches to (grouped-query heads included), or None where that kernel is not the one (other devices,
    other dtypes)."""
    if query.device.type != "cpu" or query.dtype not in (torch.float32, torch.bfloat16, torch.float16) \
            or query.requires_grad or not hasattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu"):
        return None
    try:
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(query, key, value, 0.0, causal, scale=scaling)
    except RuntimeError:
        return None
    return out, lse.float()


def layer_output(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: KeyMask, scaling: float,
                 softcap: float | None = None, bias: torch.Tensor | None = None) -> torch.Tensor:
    """The attention layer's output [batch, query, head, d_value] with SDPA, chunked over queries so no
    [query, key] buffer of the whole input is built."""
    return layer_output_and_lse(query, key, value, mask, scaling, softcap, bias)[0]


def layer_output_and_lse(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: KeyMask, scaling: float,
                         softcap: float | None = None,
                         bias: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """layer_output, and each row's log-sum-exp float32 [batch, head, query] when the fused kernel gave it for free
    (a plain mask on CPU), else None."""
    batch, n_heads, n_q, _ = query.shape
    groups = n_heads // key.shape[1]
    if _plain(mask, n_q, softcap, bias):
        fused = _fused_with_lse(query, key, value, mask.kind == "causal", scaling)
        if fused is not None:
            return fused[0].transpose(1, 2).contiguous(), fused[1]
        out = F.scaled_dot_product_attention(query, key, value, is_causal=mask.kind == "causal", scale=scaling,
                                             enable_gqa=groups > 1)
        return out.transpose(1, 2).contiguous(), None
    out = query.new_zeros(batch, n_heads, n_q, value.shape[-1])
    step = _query_chunk(n_heads, mask.n_keys)
    for b in range(batch):
        for start in range(0, n_q, step):
            rows = slice(start, min(n_q, start + step))
            first, stop = mask.key_bounds(b, rows)
            if stop <= first:
                continue   # queries that see no key (padding): output 0
            keys = slice(first, stop)
            visible = mask.allowed(b, rows, keys)
            q = query[b:b + 1, :, rows]
            k, v = _expand_groups(key[b:b + 1, :, keys], groups), _expand_groups(value[b:b + 1, :, keys], groups)
            extra = None if bias is None else bias[b if bias.shape[0] > 1 else 0][None, :, rows, keys]
            if softcap is None:
                attn_mask = None if visible is None else visible.to(q.device)[None, None]
                if extra is not None:
                    extra = extra.to(q.dtype)
                    attn_mask = extra if attn_mask is None else extra.masked_fill(~attn_mask, float("-inf"))
                if attn_mask is not None and attn_mask.dtype == torch.bool:
                    seen = attn_mask.any(-1, keepdim=True)   # rows that see nothing stay 0 (SDPA would give NaN)
                    attn_mask = attn_mask | ~seen
                out[b:b + 1, :, rows] = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, scale=scaling)
                if visible is not None:
                    out[b:b + 1, :, rows] *= visible.any(-1).to(out.dtype)[None, None, :, None]
            else:
                scores = (q @ k.transpose(-1, -2)).float() * scaling                # [1, head, query, key]
                scores = softcap * torch.tanh(scores / softcap)
                if extra is not None:
                    scores = scores + extra.float()
                if visible is not None:
                    scores = scores.masked_fill(~visible.to(q.device)[None, None], float("-inf"))
                weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)
                out[b:b + 1, :, rows] = (weights.to(v.dtype) @ v)
    return out.transpose(1, 2).contiguous(), None


def record_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                     attention_mask: Any, dropout: float = 0.0, scaling: float | None = None,
                     is_causal: bool | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """transformers' attention hook for RECORD: keep queries and keys (when recording), compute the output."""
    if kwargs.get("position_bias") is not None or kwargs.get("s_aux") is not None:
        raise NotRecordable("This model adds its own position bias or attention sinks to the scores, which the "
                            "recorder does not keep.")
    if dropout and module.training:
        raise ValueError("Recorded runs are for inference: put the network in eval() mode.")
    scaling = float(scaling) if scaling is not None else query.shape[-1] ** -0.5
    softcap = kwargs.get("softcap")
    mask, bias = _as_mask(attention_mask, module, query, key, is_causal)
    record = _ACTIVE.get()
    if record is None:
        return layer_output(query, key, value, mask, scaling, softcap, bias), None
    out, lse = layer_output_and_lse(query, key, value, mask, scaling, softcap, bias)
    kept_query, kept_key = _kept(query, record.dtype), _kept(key, record.dtype)
    if kept_query.dtype != query.dtype or kept_key.dtype != key.dtype:
        lse = None   # the kernel's log-sum-exp is of scores the kept (rounded) queries and keys would not give
    stack = record._stack_of.get(id(module), "weights")
    layers = record.stacks.setdefault(stack, [])
    layers.append(LayerRecord(kept_query, kept_key, scaling, None if softcap is None else float(softcap), mask,
                              None if bias is None else bias.detach(), lse))
    if record.progress is not None:
        done = sum(len(v) for v in record.stacks.values())
        record.progress(done, max(done, record.n_layers_expected))
    return out, None
