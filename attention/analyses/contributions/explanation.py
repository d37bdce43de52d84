"""Explanation: every method's answer for one target, as explain() returns it."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False, kw_only=True)
class Explanation:
    """Every method's answer for one target. Contract fields first; the rest serve the page and exports."""

    tokens: list[str]                                  # text's tokens, then text_b's (each with its special tokens)
    target_value: float                                # the target on the input as given
    scores: dict[str, np.ndarray]                      # method -> float32 [token]
    head_importance: np.ndarray                        # float32 [layer, head]: target − target with the head removed
    completeness_gap: float                            # integrated gradients: |Σ scores − (f(x) − f(baseline))| / |f(x) − f(baseline)|
    faithfulness: dict[str, dict[str, float]]          # method and "random" -> {"comprehensiveness", "sufficiency",
                                                       # their "_vs_random" and "_spread", "tau_abs", "tau_signed"},
                                                       # the mean over the directions
    notices: list[str]
    head_mean_ablation: np.ndarray                     # float32 [layer, head]: target − target with the head's output
                                                       # replaced by its mean over tokens
    head_scores: dict[str, np.ndarray] = field(default_factory=dict)   # "value_norm", "attention_gradient" -> [layer, head]
    curves: dict[str, dict[str, dict[str, np.ndarray]]] = field(default_factory=dict)  # direction -> method/"random" ->
                                                       # {"fraction", "deletion", "insertion"}
    faithfulness_by_direction: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # "A"/"B" or "all"
    removal: str = "delete"                            # how the faithfulness test takes tokens away (REMOVALS)
    leave_one_out: np.ndarray | None = None            # float32 [token]: f(x) − f(x without the token); NaN if never removed
    f_baselines: list[float] = field(default_factory=list)   # integrated gradients' f(baseline) per direction
    segments: np.ndarray | None = None                 # int [token]: 0 for text, 1 for text_b
    special: np.ndarray | None = None                  # bool [token]: special tokens (kept by deletions and the baseline)
    model: str = ""                                    # the engine's model name that ran
    target: str = ""
    target_label: str = ""                             # the target in words, e.g. "cosine similarity of A and B"
    baseline: str = ""                                 # integrated gradients' baseline, in words
    replacement: str = ""                              # what deleted tokens are replaced by, in words
    f_baseline: float = float("nan")                   # the target at the integrated-gradients baseline
    head_layers: list[str] = field(default_factory=list)   # what each row of the [layer, head] maps is: "layer 0", …;
                                                           # encoder–decoders: "encoder 0", …, "decoder self 0", …,
                                                           # "decoder cross 0", … (NaN where a stack has fewer heads)
    unavailable: list[str] = field(default_factory=list)   # methods asked for that this model cannot give (named in notices)

    @property
    def methods(self) -> list[str]:
        return list(self.scores)

    @property
    def nbytes(self) -> int:
        """Bytes of its arrays (what the explanations cache counts)."""
        arrays = [*self.scores.values(), self.head_importance, self.head_mean_ablation, *self.head_scores.values(),
                  *(a for side in self.curves.values() for curve in side.values() for a in curve.values())]
        return sum(np.asarray(a).nbytes for a in arrays) + 64 * len(self.tokens)

    def rows(self) -> list[dict]:
        """One dict per token: position, sentence, token and every method's score (for tables and CSV)."""
        sides = ("source", "decoder") if self.target == "next_token" and self.segments is not None and \
            int(self.segments.max(initial=0)) == 1 else ("A", "B")
        return [{"position": i, "sentence": sides[int(self.segments[i])] if self.segments is not None else "A",
                 "token": token, **{name: float(values[i]) for name, values in self.scores.items()}}
                for i, token in enumerate(self.tokens)]

    @property
    def layer_names(self) -> list[str]:
        """What each row of the [layer, head] maps is: head_layers, or "layer 0", … when the model has one stack."""
        return self.head_layers or [f"layer {l}" for l in range(self.head_importance.shape[0])]

    def head_name(self, layer: int, head: int) -> str:
        """A head in words: "L1 H2" in a one-stack model, e.g. "decoder cross 0 · H3" in an encoder–decoder."""
        row = self.layer_names[layer]
        return f"L{layer} H{head}" if row == f"layer {layer}" else f"{row} · H{head}"

    def head_rows(self) -> list[dict]:
        """One dict per head: layer, head, removal and mean-ablation changes, per-head method scores."""
        layers, heads = self.head_importance.shape
        names = self.layer_names
        return [{"layer": l, "stack": names[l], "head": h, "removed": float(self.head_importance[l, h]),
                 "mean_ablated": float(self.head_mean_ablation[l, h]),
                 **{name: float(v[l, h]) for name, v in self.head_scores.items()}}
                for l in range(layers) for h in range(heads)]

    @property
    def directions(self) -> list[str]:
        """What was explained in turn: ["A", "B"] for a pair's similarity, else ["all"]."""
        return list(self.faithfulness_by_direction) or ["all"]

    def faithfulness_rows(self, direction: str | None = None) -> list[dict]:
        """One dict per method and the random order: AOPC, AOPC minus random with the shuffles' spread, Kendall τ with
        the leave-one-out effects; the mean over the directions, or one direction's."""
        table = self.faithfulness if direction is None else self.faithfulness_by_direction[direction]
        return [{"method": name, **values} for name, values in table.items()]

    def most_comprehensive(self) -> dict:
        """The faithfulness row (method, comprehensiveness, sufficiency) of the method whose top tokens, taken away,
        change the target most on this input (the random order left out)."""
        return max((r for r in self.faithfulness_rows() if r["method"] != "random"), key=lambda r: r["comprehensiveness"])

    def to_json(self) -> dict:
        """Everything as plain JSON types."""
        return {"tokens": self.tokens, "target": self.target, "target_label": self.target_label, "model": self.model,
                "target_value": self.target_value, "f_baseline": self.f_baseline, "baseline": self.baseline,
                "completeness_gap": self.completeness_gap, "replacement": self.replacement,
                "scores": {k: v.tolist() for k, v in self.scores.items()},
                "head_importance": self.head_importance.tolist(), "head_mean_ablation": self.head_mean_ablation.tolist(),
                "head_scores": {k: v.tolist() for k, v in self.head_scores.items()},
                "faithfulness": self.faithfulness, "head_layers": self.head_layers, "unavailable": self.unavailable,
                "faithfulness_by_direction": self.faithfulness_by_direction, "removal": self.removal,
                "leave_one_out": None if self.leave_one_out is None else
                [None if np.isnan(v) else float(v) for v in self.leave_one_out], "f_baselines": self.f_baselines,
                "curves": {d: {k: {n: v.tolist() for n, v in c.items()} for k, c in side.items()}
                           for d, side in self.curves.items()},
                "notices": self.notices}
