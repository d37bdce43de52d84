"""Bias probe: does attention treat swapped terms differently (he/she, John/Mary) in the same sentence?

Templates hold one swappable pair, written inline as {he/she} or as {name} (each pair of a names list),
and may hold {occupation} (each entry of an occupations list). Every expansion gives two sentences that
differ only in the term. For each, we read the attention *from* the term to every other token, per layer
and head, and measure how much of it moves between the two versions.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    from attention.run.result import Attention

DEFAULT_TEMPLATES = (
    "The doctor told the nurse that {he/she} would be late.\n"
    "The nurse told the doctor that {he/she} would be late.\n"
    "The {occupation} said that {he/she} was tired.\n"
    "{name} works as a {occupation}."
)
DEFAULT_OCCUPATIONS = "engineer, nurse, teacher, mechanic, secretary, scientist, receptionist, carpenter"
DEFAULT_NAMES = "John/Mary, James/Emma, Michael/Sarah"
MAX_PAIRS = 200        # sentence pairs per run (each is two forward passes)
TERM = "(itself)"      # key label for the swapped term itself
_SLOT = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class Probe:
    """Two sentences that differ only in the swapped term."""

    template: str
    filler: str     # the occupation filled in, or ""
    text_a: str
    text_b: str
    term_a: str
    term_b: str


def parse_list(text: str) -> list[str]:
    """Comma- or line-separated entries, stripped, empty ones dropped, duplicates dropped (order kept)."""
    return list(dict.fromkeys(part.strip() for part in re.split(r"[,\n]", text) if part.strip()))


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """'John/Mary, James/Emma' -> [('John', 'Mary'), ('James', 'Emma')]; raises ValueError on a malformed pair."""
    pairs = []
    for entry in parse_list(text):
        sides = [side.strip() for side in entry.split("/")]
        if len(sides) != 2 or not all(sides):
            raise ValueError(f"'{entry}' is not a pair: write two terms with a slash, e.g. John/Mary.")
        pairs.append((sides[0], sides[1]))
    return pairs


def expand(templates: str, occupations: str = DEFAULT_OCCUPATIONS, names: str = DEFAULT_NAMES,
           limit: int = MAX_PAIRS) -> tuple[list[Probe], list[str]]:
    """Templates (one a line) -> sentence pairs, and notices. Raises ValueError when a template is unusable."""
    jobs = parse_list(occupations)
    name_pairs = parse_pairs(names)
    probes: list[Probe] = []
    for line in (line.strip() for line in templates.splitlines()):
        if not line:
            continue
        slots = _SLOT.findall(line)
        inline = [slot for slot in slots if "/" in slot]
        unknown = sorted({slot for slot in slots if "/" not in slot and slot.strip() not in ("name", "occupation")})
        if unknown:
            raise ValueError(f"'{line}' has an unknown slot {{{unknown[0]}}}: use {{he/she}}, {{name}} or {{occupation}}.")
        n_pair_slots = len(inline) + sum(slot.strip() == "name" for slot in slots)
        if n_pair_slots != 1:
            raise ValueError(f"'{line}' needs exactly one swappable pair, written {{he/she}} or {{name}}; it has {n_pair_slots}.")
        if inline:
            pairs = parse_pairs(inline[0])
        else:
            pairs = name_pairs
            if not pairs:
                raise ValueError(f"'{line}' uses {{name}}, but the names list is empty.")
        has_job = any(slot.strip() == "occupation" for slot in slots)
        if has_job and not jobs:
            raise ValueError(f"'{line}' uses {{occupation}}, but the occupations list is empty.")
        for job in jobs if has_job else [""]:
            for term_a, term_b in pairs:
                probes.append(Probe(line, job, _fill(line, term_a, job), _fill(line, term_b, job), term_a, term_b))
    if not probes:
        raise ValueError("Write at least one template, e.g. The doctor said that {he/she} was late.")
    notices = []
    if len(probes) > limit:
        notices.append(f"The templates make {len(probes)} sentence pairs; the first {limit} are probed.")
        probes = probes[:limit]
    return probes, notices


def _fill(template: str, term: str, job: str) -> str:
    def slot(match: re.Match) -> str:
        inside = match[1].strip()
        return job if inside == "occupation" else term
    return _SLOT.sub(slot, template)


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
    """Every probed pair and the mean shift per head over them."""

    model: str
    pairs: list[PairAttention]
    notices: list[str] = field(default_factory=list)

    @property
    def scores(self) -> np.ndarray:
        """Mean share of the term's attention that moves, over all pairs: [layer, head]."""
        return np.mean([pair.shift for pair in self.pairs], axis=0).astype(np.float32)

    def top_heads(self, count: int = 3) -> list[tuple[int, int, float]]:
        """(layer, head, score) of the heads that move most, largest first."""
        scores = self.scores
        order = np.argsort(scores, axis=None)[::-1][:count]
        return [(int(l), int(h), float(scores[l, h])) for l, h in zip(*np.unravel_index(order, scores.shape))]

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
        """Plain-language sentences about the heads where the pair differs most."""
        side_a, side_b = self.sides()
        scores = self.scores
        lines = [
            f"Over {len(self.pairs)} sentence pairs and {scores.size} heads, swapping {side_a} for {side_b} moves "
            f"{100 * scores.mean():.1f}% of the term's attention on average (the most in one head: {100 * scores.max():.1f}%)."
        ]
        for layer, head, score in self.top_heads(count):
            shifts = self.key_shifts(layer, head)
            gain_a = max(shifts, key=lambda item: item[1])
            gain_b = min(shifts, key=lambda item: item[1])
            lines.append(
                f"Layer {layer} · Head {head} moves {100 * score:.1f}%: with {side_a} it looks more at {_named(gain_a[0])} "
                f"(+{gain_a[1]:.3f}); with {side_b} more at {_named(gain_b[0])} (+{-gain_b[1]:.3f})."
            )
        if scores.max() < 0.02:
            lines.append("No head moves more than 2% of its attention: by this measure the model attends to both terms alike.")
        return lines

    def rows(self) -> list[dict[str, object]]:
        """One row per sentence pair and head: the shift and the key whose weight changed most."""
        rows = []
        for pair in self.pairs:
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


def _named(key: str) -> str:
    return "itself" if key == TERM else f"‘{key}’"


def _inert(value: object) -> object:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def probe(probes: list[Probe], model: str, progress: Callable[[int, int], None] | None = None,
          attend: Callable[[str, str], Attention] | None = None) -> BiasReport:
    """Run every sentence of every pair through `attend(text, model)` and collect the term's attention.

    `progress(done, total)` is called after each sentence. Raises ValueError when no pair could be probed."""
    if attend is None:
        from attention.run.api import attend
    pairs: list[PairAttention] = []
    notices: list[str] = []
    total = 2 * len(probes)
    for index, item in enumerate(probes):
        result_a = attend(item.text_a, model)
        if progress:
            progress(2 * index + 1, total)
        result_b = attend(item.text_b, model)
        if progress:
            progress(2 * index + 2, total)
        notices += [n for n in (*result_a.notices, *result_b.notices) if n not in notices]
        found = term_attention(item, result_a, result_b)
        if found is None:
            notices.append(f"‘{item.text_a}’ and ‘{item.text_b}’ tokenise the same, so that pair was skipped.")
        else:
            pairs.append(found)
    if not pairs:
        raise ValueError("No sentence pair differed after tokenising: swap two different terms.")
    return BiasReport(model, pairs, notices)
