"""The one result type that crosses from the core to the views."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from attention.run.weights import OnDemand, RecordedWeights, WeightsNotKept
from attention.run.words import merge_pieces, word_groups


def _frozen(array: np.ndarray | None) -> np.ndarray | None:
    """A read-only float32 array the result owns: a read-only float32 array is taken as it is (its
    producer gave it up, e.g. attend()); anything else is copied, so no caller can change a cached result."""
    if array is None:
        return None
    if isinstance(array, np.ndarray) and not array.flags.writeable and array.dtype == np.float32 and array.flags.c_contiguous:
        return array
    array = np.array(array, dtype=np.float32, order="C", copy=True)
    array.flags.writeable = False  # results are cached and shared between sessions
    return array


class LayersAndHeads:
    """n_layers and n_heads of anything holding `weights` [layer, head, query, key]."""

    weights: np.ndarray

    @property
    def n_layers(self) -> int:
        return self.weights.shape[0]

    @property
    def n_heads(self) -> int:
        return self.weights.shape[1]


@dataclass(frozen=True, eq=False)
class Attention(OnDemand):
    """Per-head attention of one input.

    tokens   -- what each query/key position is: word pieces (special tokens included),
                time steps or image patches (see `token_kind`)
    weights  -- float32 [layer, head, query, key]; every row sums to 1
    model    -- the model name given to `attend()`
    options  -- the options it ran with
    notices  -- things the user should know (truncation, ...), written for people
    cross    -- encoder–decoder only: float32 [layer, head, target, source]
    target_tokens / target_weights -- the decoder side: tokens and self-attention [layer, head, target, target]
    word_ids -- index of the word each token belongs to (None for special tokens), for word-level views
    meta     -- facts about the model (family, causal, sizes, ...)
    record   -- long inputs: the recorded queries and keys that answer row/tile/overview/summary/grouped
                (attention/run/weights.py); `weights` is then None and reading it raises WeightsNotKept
    """

    tokens: list[str]
    weights: np.ndarray = field(repr=False)   # long results: None, see `record`
    model: str
    options: dict[str, Any] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    token_kind: str = "text"
    cross: np.ndarray | None = None
    target_tokens: list[str] | None = None
    target_weights: np.ndarray | None = None
    word_ids: list[int | None] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    record: RecordedWeights | None = None

    def __post_init__(self) -> None:
        if self.weights is None and self.record is not None:   # a long run: weights on demand from the record
            object.__delattr__(self, "weights")
            if self.record.shape[2:] != (len(self.tokens), len(self.tokens)):
                raise ValueError(f"the record {self.record.shape} does not match {len(self.tokens)} tokens")
            return
        object.__setattr__(self, "weights", _frozen(self.weights))
        object.__setattr__(self, "cross", _frozen(self.cross))
        object.__setattr__(self, "target_weights", _frozen(self.target_weights))
        if self.weights.ndim != 4 or self.weights.shape[2:] != (len(self.tokens), len(self.tokens)):
            raise ValueError(f"weights {self.weights.shape} do not match [layer, head, {len(self.tokens)}, {len(self.tokens)}]")
        n_target = len(self.target_tokens or [])
        if self.cross is not None and (self.cross.ndim != 4 or self.cross.shape[2:] != (n_target, len(self.tokens))):
            raise ValueError(f"cross {self.cross.shape} does not match [layer, head, {n_target}, {len(self.tokens)}]")
        if self.target_weights is not None and (self.target_weights.ndim != 4 or self.target_weights.shape[2:] != (n_target, n_target)):
            raise ValueError(f"target_weights {self.target_weights.shape} do not match [layer, head, {n_target}, {n_target}]")

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays (for bounded caches)."""
        if self.record is not None:
            return self.record.nbytes
        return sum(a.nbytes for a in (self.weights, self.cross, self.target_weights) if a is not None)

    def __getattr__(self, name: str) -> Any:
        if name == "weights":   # only reached when a long result dropped its weights
            raise WeightsNotKept(
                f"This result covers {len(self.tokens):,} tokens, too many to keep every weight; read them with "
                "row(layer, head, query), tile(layer, head, queries, keys), overview(layer, head), "
                "summary(layer, head) or grouped(layer, head, by=...).")
        raise AttributeError(name)

    def clamp(self, layer: int, head: int) -> tuple[int, int]:
        """The nearest valid (layer, head)."""
        return min(max(int(layer), 0), self.n_layers - 1), min(max(int(head), 0), self.n_heads - 1)

    def clamp_target(self, layer: int, head: int) -> tuple[int, int]:
        """(layer, head) kept inside the decoder's stack (encoder–decoders: cross and target_weights)."""
        if self.cross is None:
            raise ValueError("This result has no decoder side; give a target text to an encoder–decoder.")
        return min(layer, self.cross.shape[0] - 1), min(head, self.cross.shape[1] - 1)

    def target_head(self, layer: int, head: int) -> np.ndarray:
        """One head of the decoder's own (causal) self-attention [target query, target key]."""
        if self.target_weights is None:
            raise ValueError("This result has no decoder side; give a target text to an encoder–decoder.")
        return self.target_weights[layer, head]

    def last_cross_mean(self) -> tuple[int, np.ndarray]:
        """The decoder's last layer and its cross-attention averaged over heads: (layer, [target, source])."""
        if self.cross is None:
            raise ValueError("This result has no decoder side; give a target text to an encoder–decoder.")
        return self.cross.shape[0] - 1, self.cross[-1].mean(axis=0)

    def head(self, layer: int, head: int) -> np.ndarray:
        """One head's matrix: [query, key]."""
        return self.weights[layer, head]

    def over_patches(self, query: int) -> np.ndarray:
        """Image models: where `query` looks, laid out like the picture: [layer, head, patch row, patch column].

        The key [CLS] (token 0) is left out, so a map sums to 1 minus the query's weight on [CLS]."""
        if self.token_kind != "patch":
            raise ValueError("Only image models have patches to lay out on the picture.")
        grid = int(self.meta["grid"])
        return self.weights[:, :, query, 1:].reshape(self.n_layers, self.n_heads, grid, grid)

    def thumbnails(self, size: int = 24) -> np.ndarray:
        """Every head shrunk to at most size×size by averaging blocks: [layer, head, size, size], float32."""
        n = self.n_tokens
        if n <= size:
            return self.weights
        edges = np.linspace(0, n, size + 1).round().astype(int)[:-1]  # start of each block
        sums = np.add.reduceat(np.add.reduceat(self.weights, edges, axis=2), edges, axis=3)
        counts = np.diff(np.append(edges, n))
        return (sums / np.outer(counts, counts)).astype(np.float32)

    def by_word(self) -> "Attention":
        """The same attention over words instead of word pieces: weights [layer, head, query word, key word].

        A word's attention to another is the sum over the key word's pieces, averaged over its own query
        pieces (rows still sum to 1). Special tokens stay words of their own. Needs the tokenizer's word ids."""
        if self.word_ids is None or self.token_kind != "text":
            raise ValueError("This model's tokenizer does not say where words begin, so pieces cannot be merged into words.")
        groups = word_groups(self.tokens, self.word_ids)
        return Attention(
            tokens=groups.labels, weights=merge_pieces(self.weights, groups), model=self.model, options=self.options,
            notices=self.notices, token_kind=self.token_kind, word_ids=groups.word_ids,
            meta={**self.meta, "level": "word", "pieces": groups.sizes.tolist()},
        )

    def __repr__(self) -> str:
        """A short text (a notebook's plain-text fallback, print()): model, sizes, the first tokens, no weights."""
        shown = ", ".join(repr(token[:20]) for token in self.tokens[:6]) + (", …" if self.n_tokens > 6 else "")
        parts = [f"{self.model!r}", f"{self.n_tokens} tokens [{shown}]", f"{self.n_layers} layers × {self.n_heads} heads"]
        if self.target_tokens is not None:
            parts.append(f"decoder: {len(self.target_tokens)} tokens, cross-attention")
        if "sentence_b_start" in self.meta:
            parts.append(f"pair: B from token {self.meta['sentence_b_start']}")
        parts += [f"{len(self.notices)} notice(s)"] if self.notices else []
        return f"Attention({'; '.join(parts)})"

    def _repr_html_(self) -> str:
        """Jupyter's rich display: the layers × heads grid and the open head (click a square; hover for the weight)."""
        return self.show("grid")._repr_html_()   # a long result: the zoomable view of the heads that fit

    def show(self, view: str = "grid", layer: int = 0, head: int = 0, threshold: float = 0.1, **options: Any) -> Any:
        """A notebook view that displays itself: "grid" (layers × heads + the open head), "head", "links" (one layer's
        token links above `threshold`) or "all"; options: bits (8 or 16), text (for the share-link parameters).

        Plain HTML with the app's own view scripts inlined (views/standalone.py), not a widget: it needs no kernel once
        drawn, so saved notebooks, nbconvert's HTML and offline viewers show it, with no CDN. The views package draws
        it (attention/run/display.py), so `import attention` imports neither streamlit nor plotly."""
        from attention.run.display import drawer

        return drawer("show")(self, view, layer=layer, head=head, threshold=threshold, **options)
