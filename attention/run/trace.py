"""`trace()`: one instrumented forward pass of the project's engine, every intermediate kept under a fixed name.

    text ──► prepare (clean, tokenise, truncate, check options: as attend() does) ──► engine, once, recording
         ──► Trace: weights, query, key, value, head_outputs, head_writes, attention_output, residual, result

Every analysis reads a trace instead of running the engine again. Interventions are options of the same pass:
`gate={(layer, head): 0.0}` removes a head, and the trace records what then happened. `forward()` is the same pass
as torch tensors, usable with autograd (gradient attributions call it outside inference mode); its `swaps` replace
activations by another run's (activation patching, attention/analyses/patching.py).

Axes (batch of one, so no batch axis), all numpy float32:
    weights [layer, head, query, key]            query, key, value, head_outputs [layer, head, token, d_head]
    head_writes [layer, head, token, d_model]    attention_output, attention_input [layer, token, d_model]
    residual [layer + 1, token, d_model]         (the stream entering each layer; the last row is the model's output)
    feed_forward_output [layer, token, d_model]  (each feed-forward block's output, before the residual)
"""
from __future__ import annotations

import copy
import threading
import warnings
import weakref
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import torch

from attention.engine.backends import COMPUTE_LOCK
from attention.run.models import BUNDLED, SCRATCH, load_model
from attention.engine.maths import causal_mask
from attention.engine.transformer import Pass, ScratchTransformer
from attention.run.api import RESULTS, Prepared, _result_key, build_result, prepare, with_target
from attention.run.cache import memory_cache
from attention.run.result import Attention, LayersAndHeads

LAZY = ("query", "key", "value", "head_outputs", "attention_input", "attention_output", "residual", "feed_forward_output")
TRACES = memory_cache("traces", lambda found: found.nbytes, "ATTENTION_LENS_TRACE_CACHE_MB", 256)
Gates = dict[tuple[int, int], float]


def _frozen(array: np.ndarray | None) -> np.ndarray | None:
    if array is not None:
        array.flags.writeable = False   # traces are cached and shared between sessions
    return array


def _tensor(array: np.ndarray) -> torch.Tensor:
    """A torch view of a read-only trace array, for reading only (torch warns that it could write to it; it won't)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(np.ascontiguousarray(array))


@dataclass(frozen=True, eq=False, kw_only=True)
class StackTrace(LayersAndHeads):
    """The recorded intermediates of one attention kind in one stack (the encoder's or a decoder's self-attention, or a
    decoder's cross-attention). For cross-attention, key and value run over the source tokens and there is no residual."""

    weights: np.ndarray            # [layer, head, query, key]
    output_weights: np.ndarray     # [layer, head, d_head, d_model] each head's slice of the output projection W_O
    output_bias: np.ndarray        # [layer, d_model] the output projection's bias
    # The fields below are stacked from the pass's per-layer tensors the first time they are read (see Collector):
    query: np.ndarray = None       # [layer, head, query token, d_head]
    key: np.ndarray = None         # [layer, head, key token, d_head]
    value: np.ndarray = None       # [layer, head, key token, d_head]
    head_outputs: np.ndarray = None      # [layer, head, query token, d_head] = weights @ value (after any gate)
    attention_input: np.ndarray = None   # [layer, token, d_model] what each layer's attention read (normalised first in pre-norm models)
    attention_output: np.ndarray = None  # [layer, token, d_model] the attention block's output, bias included, before the residual
    residual: np.ndarray | None = None   # [layer + 1, token, d_model] the stream entering each layer, then the output
    feed_forward_output: np.ndarray | None = None   # [layer, token, d_model] the feed-forward block's output, before the residual
    source: Any = field(default=None, repr=False)    # the Collector holding the pass's per-layer tensors
    side: str = field(default="self", repr=False)    # which of its attentions this is: "self" or "cross"

    def __post_init__(self) -> None:
        for name in ("weights", "output_weights", "output_bias"):
            _frozen(getattr(self, name))
        for name in LAZY:
            if self.source is not None and self.__dict__[name] is None:
                object.__delattr__(self, name)    # read through __getattr__ below, stacked on first use
            else:
                _frozen(self.__dict__[name])

    def __getattr__(self, name: str) -> Any:
        """A lazy field, stacked by the Collector on first read and then kept as a plain attribute."""
        source = self.__dict__.get("source")
        if name not in LAZY or source is None:
            raise AttributeError(name)
        value = source.field(self.__dict__.get("side", "self"), name)
        object.__setattr__(self, name, value)
        return value

    @cached_property
    def head_writes(self) -> np.ndarray:
        """[layer, head, token, d_model]: each head's head_outputs through its slice of W_O, without the bias; summed over
        heads plus output_bias it equals attention_output. Computed on first use (it is the largest field)."""
        writes = _tensor(self.head_outputs) @ _tensor(self.output_weights)
        return _frozen(writes.numpy())   # [layer, head, token, d_head] @ [layer, head, d_head, d_model] (torch: threaded BLAS)

    def value_writes(self, layer: int) -> np.ndarray:
        """[head, key token, d_model]: what each key token's value would write through each head's W_O slice, f(x_key)
        (Kobayashi et al., 2020); a head's write is the weighted sum of these, with the attention weights."""
        return (_tensor(self.value[layer]) @ _tensor(self.output_weights[layer])).numpy()

    @property
    def nbytes(self) -> int:
        """Bytes held, lazy fields counted whether or not they have been stacked yet (they are the same bytes)."""
        held = sum(a.nbytes for a in (self.weights, self.output_weights, self.output_bias))
        if self.source is not None:
            held += self.source.nbytes(self.side)
        else:
            held += sum(self.__dict__[name].nbytes for name in LAZY if self.__dict__.get(name) is not None)
        writes = self.__dict__.get("head_writes")
        return held + (writes.nbytes if writes is not None else 0)


for _name in LAZY:       # the dataclass left each default (None) on the class, where it would hide __getattr__
    delattr(StackTrace, _name)


@dataclass(frozen=True, eq=False, kw_only=True)
class Trace(StackTrace):
    """One run of the project's engine with every intermediate: the encoder's (or decoder-only model's) fields at the top
    level, an encoder–decoder's decoder side in `decoder` and its cross-attention in `cross`."""

    tokens: list[str]
    notices: list[str]
    meta: dict[str, Any]
    result: Attention              # what attend() returns for the same call (equal weights)
    model: str                     # the engine's model name that ran (e.g. "scratch:minilm")
    text: str                      # the text as given (trace() cleans it as attend() does)
    ids: list[int]                 # token ids
    options: dict[str, Any] = field(default_factory=dict)
    gates: dict[tuple[int, int], float] = field(default_factory=dict)
    target_tokens: list[str] | None = None
    decoder: StackTrace | None = None
    cross: StackTrace | None = None

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    @property
    def output(self) -> np.ndarray:
        """The model's output vectors [token, d_model] (the last residual row)."""
        return self.residual[-1]

    @property
    def nbytes(self) -> int:
        sides = [side.nbytes for side in (self.decoder, self.cross) if side is not None]
        return super().nbytes + sum(sides)

    def head(self, layer: int, head: int) -> np.ndarray:
        """One head's weights [query, key]."""
        return self.weights[layer, head]

    def check_layer(self, layer: int, head: int | None = None) -> None:
        """ValueError (for people) when the model has no such layer or head."""
        if not 0 <= layer < self.n_layers:
            raise ValueError(f"{self.model} has layers 0–{self.n_layers - 1}; layer {layer} does not exist.")
        if head is not None and not 0 <= head < self.n_heads:
            raise ValueError(f"{self.model} has heads 0–{self.n_heads - 1}; head {head} does not exist.")


def engine_model(model: str) -> tuple[str, list[str]]:
    """The name of the project's engine that runs `model`'s weights, and a notice when it is not `model` itself:
    minilm -> scratch:minilm (the same weights; its attention equals transformers' to 1e-6)."""
    if not isinstance(model, str) or not model.strip():
        raise ValueError("Pick a model: minilm, scratch, scratch:minilm, or a Hugging Face id / local folder.")
    name = model.strip()
    if name == BUNDLED:
        name = f"{SCRATCH}:{BUNDLED}"
        return name, [f"Traced on the project's own engine with MiniLM's weights ({name}): the same attention, every step visible."]
    if name == SCRATCH or name.startswith(SCRATCH + ":") or load_model(name).kind == "scratch":
        return name, []
    engine = f"{SCRATCH}:{name}"
    return engine, [f"Traced on the project's own engine with {name}'s weights ({engine}): the same attention, every step visible."]


def check_gates(gate: Any, n_layers: int, n_heads: int) -> Gates:
    """A checked gate dict {(layer, head): factor}; ValueError written for people."""
    if gate is None:
        return {}
    if not isinstance(gate, dict):
        raise ValueError("gate must be a dict {(layer, head): factor}, e.g. {(0, 3): 0.0} removes head 3 of layer 0.")
    checked = {}
    for where, factor in gate.items():
        if (not isinstance(where, tuple) or len(where) != 2
                or not all(isinstance(i, int) and not isinstance(i, bool) for i in where)):
            raise ValueError(f"gate keys are (layer, head) pairs of whole numbers; got {str(where)[:40]}.")
        layer, head = where
        if not (0 <= layer < n_layers and 0 <= head < n_heads):
            raise ValueError(f"gate {where}: the model has layers 0–{n_layers - 1} and heads 0–{n_heads - 1}.")
        if not isinstance(factor, (int, float)) or isinstance(factor, bool) or not np.isfinite(factor):
            raise ValueError(f"gate {where}: the factor must be a finite number (0 removes the head).")
        checked[(layer, head)] = float(factor)
    return checked


def gate_tensors(gates: Gates, n_heads: int) -> dict[int, torch.Tensor]:
    """{(layer, head): factor} -> {layer: [head] factors} for the engine."""
    per_layer: dict[int, torch.Tensor] = {}
    for (layer, head), factor in gates.items():
        per_layer.setdefault(layer, torch.ones(n_heads))[head] = factor
    return per_layer


def forward(prepared: Prepared, gates: dict[int, torch.Tensor] | None = None, record: bool = True,
            token_vectors: torch.Tensor | None = None, target_ids: list[int] | None = None, swaps: dict | None = None,
            decoder_swaps: dict | None = None, batch: int = 1) -> tuple[Pass, Pass | None]:
    """The traced pass as torch tensors: (encoder or decoder-only pass, decoder pass or None). Runs under the caller's
    grad mode: call it inside torch.inference_mode() for speed, or with gradients on for attributions. `gates` {layer:
    [head]} may hold tensors that require grad; `token_vectors` [1, token, d_model] replaces the token embeddings.
    `swaps` / `decoder_swaps` {layer: {name: Swap}} patch activations with another run's (engine/layers.run_layers),
    over `batch` copies of the input (one patch per copy: activation patching)."""
    network: ScratchTransformer = prepared.backend.network
    ids = torch.tensor([prepared.ids]).expand(batch, -1)
    mask = causal_mask(len(prepared.ids)) if prepared.options.get("causal") else None
    if target_ids is not None:
        encoded = network.run(ids, mask, head_gates=gates, record=record, token_vectors=token_vectors, swaps=swaps)
        return encoded, network.decoder.run(torch.tensor([target_ids]).expand(batch, -1), memory=encoded.hidden,
                                            record=record, swaps=decoder_swaps)
    return network.run(ids, mask, head_gates=gates, pattern=prepared.pattern, record=record, token_vectors=token_vectors,
                       swaps=swaps), None


_PROJECTIONS: dict[tuple, tuple[tuple, np.ndarray, np.ndarray]] = {}


def _output_projections(modules: list) -> tuple[np.ndarray, np.ndarray]:
    """Each layer's W_O cut by heads [layer, head, d_head, d_model] and its bias [layer, d_model], as read-only numpy,
    made once per set of weights (keyed by the tensors and their version counters, so training makes them anew)."""
    key = tuple((id(m.output.weight), m.output.weight._version) for m in modules)
    found = _PROJECTIONS.get(key)
    if found is None or any(ref() is not m.output.weight for ref, m in zip(found[0], modules)):   # the very tensors, alive
        with torch.no_grad():
            weights = torch.stack([m.output.weight.T.reshape(m.n_heads, -1, m.output.weight.shape[0]) for m in modules])
            biases = torch.stack([m.output.bias if m.output.bias is not None else torch.zeros(m.output.weight.shape[0])
                                  for m in modules])
        if len(_PROJECTIONS) > 32:
            _PROJECTIONS.clear()
        refs = tuple(weakref.ref(m.output.weight) for m in modules)
        found = _PROJECTIONS[key] = (refs, _frozen(weights.float().numpy().copy()), _frozen(biases.float().numpy().copy()))
    return found[1], found[2]


class Collector:
    """Keeps what the trace needs of a recorded pass (references to each layer's tensors, no copies) and stacks a field
    into its [layer, ...] numpy array the first time a trace's field is read.

    Why lazily: stacking every intermediate into new arrays during the pass cost about a quarter of the pass itself at
    128 tokens (mostly first touches of fresh memory), and most readers of a trace (the views) read only the weights,
    which are stacked at once because the result needs them."""

    _RECORDED = ("query", "key", "value", "weights", "head_outputs", "output", "input")

    def __init__(self, passed: Pass, sides: tuple[str, ...] = ("self",)) -> None:
        self.sides = sides
        self.layers: list[dict] = [{"input": entry["input"], "feed_forward": entry["feed_forward"],
                                    **{side: {name: entry[side][name] for name in self._RECORDED} for side in sides}}
                                   for entry in passed.records]
        self.hidden: torch.Tensor | None = passed.hidden
        self._stacked: dict[tuple[str, str], np.ndarray | None] = {}
        self._lock = threading.RLock()          # traces are shared between sessions: one stacking per field

    def field(self, side: str, name: str) -> np.ndarray | None:
        """One field of `side` ("self" or "cross") as read-only float32 numpy [layer, ...], stacked once."""
        with self._lock:
            if (side, name) not in self._stacked:
                self._stacked[(side, name)] = self._stack(side, name)
                if all((s, n) in self._stacked for s in self.sides for n in LAZY):
                    self.layers = []            # every field stacked: the per-layer tensors are no longer needed
            return self._stacked[(side, name)]

    def _stack(self, side: str, name: str) -> np.ndarray | None:
        records = [entry[side] for entry in self.layers]
        with torch.inference_mode():
            if name == "residual":              # the stream entering each layer, then the stack's output
                if side != "self":
                    return None                 # cross-attention has no residual stream of its own
                return _frozen(torch.cat([entry["input"] for entry in self.layers] + [self.hidden]).float().numpy())
            if name == "feed_forward_output":       # one feed-forward block per layer, after all of its attentions
                if side != "self":
                    return None
                return _frozen(torch.cat([entry["feed_forward"] for entry in self.layers]).float().numpy())
            if name in ("query", "key", "value"):
                # views of the [1, token, head, d_head] projections: copied in their own memory order, viewed heads-first
                stacked = torch.cat([r[name].transpose(1, 2) for r in records]).float().numpy()
                return _frozen(stacked.transpose(0, 2, 1, 3))
            if name == "attention_input" and side == "self" and all(
                    r["input"] is entry["input"] for r, entry in zip(records, self.layers)):
                return self.field(side, "residual")[:-1]      # post-norm: each attention read the stream itself
            source = {"attention_output": "output", "attention_input": "input"}.get(name, name)
            return _frozen(torch.cat([r[source] for r in records]).float().numpy())

    def __getstate__(self) -> dict:
        """Pickled (a trace saved or sent to another process): every field stacked, no tensors, no lock."""
        for side in self.sides:
            for name in LAZY:
                self.field(side, name)
        return {**self.__dict__, "_lock": None, "layers": [], "hidden": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _lock=threading.RLock())

    def nbytes(self, side: str) -> int:
        """Bytes of `side`'s lazy fields, stacked or not."""
        if not self.layers:
            return sum(a.nbytes for (s, _), a in self._stacked.items() if s == side and a is not None)
        first = self.layers[0][side]
        per_layer = sum(first[name].numel() for name in ("query", "key", "value", "head_outputs", "output", "input"))
        rows = len(self.layers)
        residual = (2 * rows + 1) * self.layers[0]["input"].numel() if side == "self" else 0   # and the feed-forward outputs
        return 4 * (per_layer * rows + residual)


def _eager_fields(collect: Collector, side: str, layers: Any) -> dict[str, Any]:
    """What a StackTrace holds from the start: the weights (the result needs them), W_O by heads and its bias, and the
    Collector the other fields are stacked from when read."""
    modules = [getattr(layer, "self_attention" if side == "self" else "cross_attention") for layer in layers]
    output_weights, output_bias = _output_projections(modules)
    return {"weights": collect.field(side, "weights"), "output_weights": output_weights, "output_bias": output_bias,
            "source": collect, "side": side}


def trace(text: str, model: str = "scratch:minilm", gate: Gates | None = None, **options: Any) -> Trace:
    """One instrumented forward pass of the project's engine over `text` (the same models, options, text cleaning,
    truncation notices and errors as attend()). `gate` {(layer, head): factor} scales heads' contributions
    (0 removes a head). Models that run through transformers are traced on the engine with the same weights
    (minilm -> scratch:minilm), with a notice. Raises ValueError with a message for people."""
    name, engine_notices = engine_model(model)
    key = (*_result_key(text, name, options), tuple(sorted((gate or {}).items())) if isinstance(gate, dict) else repr(gate))
    found = TRACES.get(key) if isinstance(text, str) else None
    if found is None:
        found = _trace(text, name, gate, options, key)
    if not engine_notices:
        return found
    result = replace(found.result, notices=engine_notices + found.result.notices)   # asked for minilm: say where it ran
    named = copy.copy(found)          # not dataclasses.replace: that would read (so stack) every lazy field
    object.__setattr__(named, "notices", result.notices)
    object.__setattr__(named, "result", result)
    return named


def _trace(text: str, name: str, gate: Gates | None, options: dict[str, Any], key: tuple) -> Trace:
    prepared = prepare(text, name, **options)
    network: ScratchTransformer = prepared.backend.network
    gates = check_gates(gate, len(network.layers), network.config.n_heads)
    run_options, target_tokens, notices = with_target(prepared)
    target_ids = run_options.get("target_ids")
    with COMPUTE_LOCK, torch.inference_mode():
        encoded, decoded = forward(prepared, gate_tensors(gates, network.config.n_heads), True, None, target_ids)
        main = _eager_fields(Collector(encoded), "self", network.layers)
        decoder = cross = None
        if decoded is not None:
            collected = Collector(decoded, ("self", "cross"))
            decoder = StackTrace(**_eager_fields(collected, "self", network.decoder.layers))
            cross = StackTrace(**_eager_fields(collected, "cross", network.decoder.layers))
    arrays = {"weights": main["weights"]}
    if decoder is not None:
        arrays.update(target_weights=decoder.weights, cross=cross.weights)
    result = build_result(prepared, name, arrays, target_tokens, notices)
    if not gates:
        RESULTS.put(_result_key(text, name, options), result)   # attend() on the same call answers from it
    else:
        result = Attention(**{**result.__dict__, "meta": {**result.meta, "gates": {f"{l},{h}": f for (l, h), f in gates.items()}}})
    found = Trace(**main, tokens=prepared.tokens, notices=result.notices, meta=result.meta, result=result, model=name, text=text,
                  ids=list(prepared.ids), options=dict(prepared.options), gates=gates, target_tokens=target_tokens,
                  decoder=decoder, cross=cross)
    TRACES.put(key, found)
    return found


def gated(run: Trace, gate: Gates) -> Trace:
    """The same call as `run` with heads gated ({(layer, head): factor}; 0 removes a head): a trace of its own."""
    return trace(run.text, run.model, gate={**run.gates, **gate}, **run.options)


def rerun_layer(run: Trace, layer: int, gate: dict[int, float]) -> np.ndarray:
    """One layer run again from the trace's stream entering it, with heads gated {head: factor}: its output
    [token, d_model]. Equal to that layer's output in a trace gated the same way (the layers before are unchanged)."""
    run.check_layer(layer)
    network: ScratchTransformer = load_model(run.model).network
    block = network.layers[layer]
    factors = gate_tensors({(layer, head): factor for head, factor in gate.items()}, run.n_heads).get(layer)
    mask = causal_mask(run.n_tokens) if run.meta.get("causal") else None
    with COMPUTE_LOCK, torch.inference_mode():
        hidden = block(torch.from_numpy(np.array(run.residual[layer]))[None], mask, head_gate=factors)[0]
        if layer == run.n_layers - 1 and network.final_norm is not None:
            hidden = network.final_norm(hidden)       # the last residual row is after the final norm (pre-norm models)
    return hidden[0].numpy()
