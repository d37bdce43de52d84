"""How much of the term's attention moves under the swap, per layer and head, against its controls: probe() and the
BiasReport it returns."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import cached_property
from typing import TYPE_CHECKING, Callable

import numpy as np

from attention.analyses.bias.probes import Probe, control_probes, control_term
from attention.analyses.bias.significance import ALPHA, PERMUTATIONS, benjamini_hochberg, sign_flip_p

if TYPE_CHECKING:
    import pandas as pd
    from attention.run.result import Attention


TERM = "(itself)"      # key label for the swapped term itself


@dataclass(frozen=True)
class PairAttention:
    """Attention from the swapped term to the tokens both sentences share: a and b are [layer, head, key]."""

    probe: Probe
    keys: list[str]
    a: np.ndarray
    b: np.ndarray

    @property
    def shift(self) -> np.ndarray:
        """Share of the term's attention that moves between the versions (total variation, 0–1): [layer, head]."""
        return 0.5 * np.abs(self.a - self.b).sum(axis=-1)


def term_span(tokens_a: list[str], tokens_b: list[str]) -> tuple[slice, slice] | None:
    """Where two token lists differ: the first to last differing position in each, or None if equal."""
    opcodes = [op for op in SequenceMatcher(a=tokens_a, b=tokens_b, autojunk=False).get_opcodes() if op[0] != "equal"]
    if not opcodes:
        return None
    return slice(opcodes[0][1], opcodes[-1][2]), slice(opcodes[0][3], opcodes[-1][4])


def term_attention(probe: Probe, result_a: Attention, result_b: Attention) -> PairAttention | None:
    """The term's attention in both sentences over shared keys (and the term itself, its pieces summed).

    The term's query pieces are averaged; returns None when the two sentences tokenise the same."""
    span = term_span(result_a.tokens, result_b.tokens)
    if span is None:
        return None
    span_a, span_b = span

    def from_term(result: Attention, term: slice) -> np.ndarray:
        rows = result.weights[:, :, term, :].mean(axis=2)                          # [layer, head, key]
        before, inside, after = rows[..., :term.start], rows[..., term], rows[..., term.stop:]
        return np.concatenate([before, inside.sum(axis=-1, keepdims=True), after], axis=-1)

    keys = [*result_a.tokens[:span_a.start], TERM, *result_a.tokens[span_a.stop:]]
    return PairAttention(probe, keys, from_term(result_a, span_a), from_term(result_b, span_b))


@dataclass
class BiasReport:
    """Every probed pair and the mean shift per head over them; with controls, the excess over the control swaps and
    its permutation test. `controls[i]` holds pair i's two control swaps (A's term, B's term for a control word: the
    same gender, or for a pronoun the neuter one)
    or None; an empty list means no controls were run."""

    model: str
    pairs: list[PairAttention]
    notices: list[str] = field(default_factory=list)
    controls: list[tuple[PairAttention, PairAttention] | None] = field(default_factory=list)
    permutations: int = PERMUTATIONS
    seed: int = 0

    @property
    def controlled(self) -> list[int]:
        """Indices of the pairs that have both control swaps."""
        return [i for i, pair in enumerate(self.controls) if pair is not None]

    @property
    def has_controls(self) -> bool:
        return bool(self.controlled)

    def _nan(self) -> np.ndarray:
        return np.full(self.pairs[0].shift.shape, np.nan, dtype=np.float32)

    @cached_property
    def differences(self) -> np.ndarray:
        """Per controlled pair: gender-swap shift minus the mean of its two control shifts: [pair, layer, head]."""
        rows = [self.pairs[i].shift - 0.5 * (self.controls[i][0].shift + self.controls[i][1].shift) for i in self.controlled]
        return np.array(rows, dtype=np.float64).reshape(len(rows), *self.pairs[0].shift.shape)

    @property
    def control(self) -> np.ndarray:
        """Mean shift of the control swaps (another word, not of the other gender): [layer, head] float32 (NaN without
        controls)."""
        if not self.has_controls:
            return self._nan()
        shifts = [0.5 * (self.controls[i][0].shift + self.controls[i][1].shift) for i in self.controlled]
        return np.mean(shifts, axis=0).astype(np.float32)

    @property
    def excess(self) -> np.ndarray:
        """Gender-swap shift minus control shift, mean over the controlled pairs: [layer, head] float32 (NaN without)."""
        return self.differences.mean(axis=0).astype(np.float32) if self.has_controls else self._nan()

    @cached_property
    def p_values(self) -> np.ndarray:
        """Per head, the sign-flip permutation test's two-sided p-value that the excess is 0 (units: the sentence pairs):
        [layer, head], uncorrected (NaN without controls; see `adjusted_p`)."""
        return sign_flip_p(self.differences, self.permutations, self.seed) if self.has_controls else self._nan()

    @property
    def adjusted_p(self) -> np.ndarray:
        """p_values after Benjamini–Hochberg's correction over every layer and head: [layer, head]."""
        return benjamini_hochberg(self.p_values) if self.has_controls else self._nan()

    def surviving(self, alpha: float = ALPHA) -> list[tuple[int, int, float, float]]:
        """(layer, head, excess, adjusted p) of the heads whose excess survives the test at false discovery rate
        `alpha`, largest excess first."""
        if not self.has_controls:
            return []
        excess, adjusted = self.excess, self.adjusted_p
        found = [(int(l), int(h), float(excess[l, h]), float(adjusted[l, h])) for l, h in zip(*np.nonzero(adjusted <= alpha))]
        return sorted(found, key=lambda item: -abs(item[2]))

    @property
    def scores(self) -> np.ndarray:
        """Mean share of the term's attention that moves, over all pairs: [layer, head]."""
        return np.mean([pair.shift for pair in self.pairs], axis=0).astype(np.float32)

    def top_heads(self, count: int = 3) -> list[tuple[int, int, float]]:
        """(layer, head, score) of the heads that move most, largest first."""
        scores = self.scores
        order = np.argsort(scores, axis=None)[::-1][:count]
        return [(int(l), int(h), float(scores[l, h])) for l, h in zip(*np.unravel_index(order, scores.shape))]

    def opening_head(self, alpha: float = ALPHA) -> tuple[int, int]:
        """The head a view opens on: with controls, the surviving head of largest excess, else the head of largest
        |excess|; without controls, the head that moves most."""
        if not self.has_controls:
            return self.top_heads(1)[0][:2]
        surviving = self.surviving(alpha)
        if surviving:
            return surviving[0][0], surviving[0][1]
        strongest = np.unravel_index(np.nanargmax(np.abs(self.excess)), self.excess.shape)
        return int(strongest[0]), int(strongest[1])

    def table(self) -> "pd.DataFrame":
        """rows() as a table, largest shift first (a stable sort: ties keep their order)."""
        import pandas as pd   # only the tables need pandas

        return pd.DataFrame(self.rows()).sort_values("shift", ascending=False, kind="stable")

    def key_shifts(self, layer: int, head: int) -> list[tuple[str, float]]:
        """Per key word: mean over pairs of (A − B) attention from the term, largest |shift| first."""
        totals: dict[str, list[float]] = {}
        for pair in self.pairs:
            within: dict[str, float] = {}
            for key, value in zip(pair.keys, pair.a[layer, head] - pair.b[layer, head]):
                within[key] = within.get(key, 0.0) + float(value)   # a word twice in a sentence counts once, summed
            for key, value in within.items():
                totals.setdefault(key, []).append(value)
        means = [(key, float(np.mean(values))) for key, values in totals.items()]
        return sorted(means, key=lambda item: -abs(item[1]))

    def sides(self) -> tuple[str, str]:
        """Short names for the A and B sides: their terms, a few of them."""
        def names(terms: list[str]) -> str:
            unique = list(dict.fromkeys(terms))
            return ", ".join(f"‘{t}’" for t in unique[:3]) + (", …" if len(unique) > 3 else "")
        return names([p.probe.term_a for p in self.pairs]), names([p.probe.term_b for p in self.pairs])

    def summary(self, count: int = 3) -> list[str]:
        """Plain-language sentences: with controls, only about excess shifts that survive the test (and plainly when
        none does); without, about the heads where the pair differs most."""
        side_a, side_b = self.sides()
        scores = self.scores
        lines = [
            f"Over {len(self.pairs)} sentence pairs and {scores.size} heads, swapping {side_a} for {side_b} moves "
            f"{100 * scores.mean():.1f}% of the term's attention on average (the most in one head: {100 * scores.max():.1f}%)."
        ]
        if self.has_controls:
            return lines + self._controlled_summary(count)
        for layer, head, score in self.top_heads(count):
            gain_a, gain_b = self._largest_gains(layer, head)
            lines.append(
                f"Layer {layer} · Head {head} moves {100 * score:.1f}%: with {side_a} it looks more at {_named(gain_a[0])} "
                f"(+{gain_a[1]:.3f}); with {side_b} more at {_named(gain_b[0])} (+{-gain_b[1]:.3f})."
            )
        if scores.max() < 0.02:
            lines.append("No head moves more than 2% of its attention: by this measure the model attends to both terms alike.")
        return lines

    def _largest_gains(self, layer: int, head: int) -> tuple[tuple[str, float], tuple[str, float]]:
        """The key gaining most attention under term A and the one gaining most under term B: (key, shift) each."""
        shifts = self.key_shifts(layer, head)
        return max(shifts, key=lambda item: item[1]), min(shifts, key=lambda item: item[1])

    def _controlled_summary(self, count: int) -> list[str]:
        side_a, side_b = self.sides()
        n, heads = len(self.controlled), self.excess.size
        examples = ", ".join(dict.fromkeys(f"{side.probe.term_a}/{side.probe.term_b}" for c in self.controls if c for side in c))
        lines = [f"Control swaps that change the word but not to the other gender ({_shorten(examples)}) move "
                 f"{100 * float(self.control.mean()):.1f}% on average, so the gender swap's excess over them is "
                 f"{100 * float(self.excess.mean()):+.1f} points on average ({n} pairs with controls)."]
        test = (f"sign-flip permutation test over the {n} sentence pairs, Benjamini–Hochberg over {heads} heads, "
                f"false discovery rate {ALPHA:.0%}")
        found = self.surviving()
        if n < 2:
            return lines + ["Too few pairs have controls to test the excess; add templates or pairs."]
        if not found:
            return lines + [f"No head's excess survives the test ({test}): no head's excess is detectable at FDR "
                            f"{ALPHA:.0%}. A test that finds nothing does not show that the two swaps move attention "
                            "equally; with more pairs a smaller excess could be detected."]
        more = sum(item[2] > 0 for item in found)
        lines.append(f"The excess survives the test ({test}) in {len(found)} of {heads} heads: {more} move more of the "
                     f"term's attention under the gender swap than under the controls, {len(found) - more} move less.")
        for layer, head, excess, adjusted in found[:count]:
            gain_a, gain_b = self._largest_gains(layer, head)
            lines.append(
                f"Layer {layer} · Head {head}: {100 * abs(excess):.1f} points {'more' if excess > 0 else 'less'} than the "
                f"controls (adjusted p = {adjusted:.3f}); "
                f"with {side_a} it looks more at {_named(gain_a[0])} (+{gain_a[1]:.3f}), with {side_b} more at "
                f"{_named(gain_b[0])} (+{-gain_b[1]:.3f})."
            )
        return lines

    def rows(self) -> list[dict[str, object]]:
        """One row per sentence pair and head: the shift and the key whose weight changed most."""
        rows = []
        controls = self.controls if self.has_controls else [None] * len(self.pairs)
        for pair, control in zip(self.pairs, controls):
            control_shift = None if control is None else 0.5 * (control[0].shift + control[1].shift)
            diff = pair.a - pair.b                                        # [layer, head, key]
            biggest = np.abs(diff).argmax(axis=-1)                        # [layer, head]
            shift = pair.shift
            for layer in range(diff.shape[0]):
                for head in range(diff.shape[1]):
                    key = int(biggest[layer, head])
                    rows.append({
                        "template": pair.probe.template, "occupation": pair.probe.filler,
                        "sentence_a": pair.probe.text_a, "sentence_b": pair.probe.text_b,
                        "term_a": pair.probe.term_a, "term_b": pair.probe.term_b, "layer": layer, "head": head,
                        "shift": round(float(shift[layer, head]), 5), "key_most_changed": pair.keys[key],
                        "weight_a": round(float(pair.a[layer, head, key]), 5), "weight_b": round(float(pair.b[layer, head, key]), 5),
                    })
                    if self.has_controls:
                        rows[-1]["control_shift"] = "" if control_shift is None else round(float(control_shift[layer, head]), 5)
        return rows

    def csv(self) -> str:
        """The rows as CSV text; cells that a spreadsheet would read as a formula are quoted with '."""
        rows = self.rows()
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["template"])
        writer.writeheader()
        for row in rows:
            writer.writerow({name: _inert(value) for name, value in row.items()})
        return buffer.getvalue()


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _named(key: str) -> str:
    return "itself" if key == TERM else f"‘{key}’"


def _inert(value: object) -> object:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def probe(probes: list[Probe], model: str, progress: Callable[[int, int], None] | None = None,
          attend: Callable[[str, str], Attention] | None = None, controls: bool = True,
          permutations: int = PERMUTATIONS, seed: int = 0) -> BiasReport:
    """Run every sentence of every pair through `attend(text, model)` and collect the term's attention; with
    `controls`, also each pair's two control swaps (see control_term), for the report's control, excess and p_values.

    `progress(done, total)` is called after each sentence. Raises ValueError when no pair could be probed."""
    if attend is None:
        from attention.run.api import attend
    pairs: list[PairAttention] = []
    found_controls: list[tuple[PairAttention, PairAttention] | None] = []
    notices: list[str] = []
    per_pair = 4 if controls else 2
    total, done = per_pair * len(probes), 0
    side_a = [item.term_a for item in probes]
    side_b = [item.term_b for item in probes]
    without: list[str] = []

    def run(text: str) -> Attention:
        nonlocal done
        result = attend(text, model)
        done += 1
        if progress:
            progress(done, total)
        notices.extend(n for n in result.notices if n not in notices)
        return result

    for index, item in enumerate(probes):
        result_a, result_b = run(item.text_a), run(item.text_b)
        found = term_attention(item, result_a, result_b)
        if found is None:
            notices.append(f"‘{item.text_a}’ and ‘{item.text_b}’ tokenise the same, so that pair was skipped.")
        else:
            pairs.append(found)
        swaps = control_probes(item, side_a, side_b) if controls and found is not None else None
        pair_controls = None
        if swaps is not None:
            control_a = term_attention(swaps[0], result_a, run(swaps[0].text_b))
            control_b = term_attention(swaps[1], result_b, run(swaps[1].text_b))
            if control_a is not None and control_b is not None:
                pair_controls = (control_a, control_b)
        elif controls and found is not None:
            without += [term for term, side in ((item.term_a, side_a), (item.term_b, side_b)) if control_term(term, side) is None]
        done = per_pair * (index + 1)            # a pair without controls skips its two control sentences
        if progress and controls and swaps is None:
            progress(done, total)
        if found is not None:
            found_controls.append(pair_controls)
    if not pairs:
        raise ValueError("No sentence pair differed after tokenising: swap two different terms.")
    if without:
        notices.append(f"No same-gender control word for {', '.join(f'‘{t}’' for t in dict.fromkeys(without))}: "
                       "those pairs count in the shift but not in the excess.")
    return BiasReport(model, pairs, notices, found_controls if controls else [], permutations, seed)
