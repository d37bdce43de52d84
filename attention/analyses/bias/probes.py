"""The probes: templates expanded into sentence pairs that differ only in the swapped term, and each gendered swap's
control swaps (a word of the same kind and the same gender)."""
from __future__ import annotations

import re
from dataclasses import dataclass


DEFAULT_TEMPLATES = (
    "The doctor told the nurse that {he/she} would be late.\n"
    "The nurse told the doctor that {he/she} would be late.\n"
    "The {occupation} said that {he/she} was tired.\n"
    "{name} works as a {occupation}."
)
DEFAULT_OCCUPATIONS = "engineer, nurse, teacher, mechanic, secretary, scientist, receptionist, carpenter"
DEFAULT_NAMES = "John/Mary, James/Emma, Michael/Sarah"
MAX_PAIRS = 200        # sentence pairs per run (each is two forward passes, four with controls)
# Control swaps: a word of the same kind and the same grammatical gender. English pronouns have no same-gender
# alternative, so a pronoun's control is the neuter one with the same agreement ("he was" -> "it was"). "her" (object
# or possessive) has none that fits both uses, so it has no control. Frequencies were not matched by a corpus count
# (no frequency list ships offline); these are all common words, each a single WordPiece in MiniLM's vocabulary.
CONTROL_WORDS = {
    "he": "it", "she": "it", "him": "it", "his": "its", "hers": "its", "himself": "itself", "herself": "itself",
    "man": "guy", "woman": "lady", "men": "guys", "women": "ladies", "boy": "lad", "girl": "lass",
    "father": "dad", "mother": "mom", "son": "nephew", "daughter": "niece", "brother": "uncle", "sister": "aunt",
    "husband": "groom", "wife": "bride", "king": "prince", "queen": "princess", "gentleman": "sir", "lady": "madam",
}
# Names: a name's control is the next name of its own list (same gender, all common English first names).
CONTROL_NAMES = (
    ("John", "James", "Michael", "David", "Robert", "William", "Thomas", "Daniel"),
    ("Mary", "Emma", "Sarah", "Linda", "Susan", "Emily", "Laura", "Anna"),
)
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


def _cased(word: str, like: str) -> str:
    return word.capitalize() if like[:1].isupper() else word


def control_term(term: str, same_side: list[str] = ()) -> str | None:
    """A word that swaps `term` for another of the same gender: CONTROL_WORDS, else the next name of its CONTROL_NAMES
    list, else another term from the same side of the probed pairs (`same_side`: e.g. every A-side name); None if none."""
    low = term.lower()
    if low in CONTROL_WORDS:
        return _cased(CONTROL_WORDS[low], term)
    for names in CONTROL_NAMES:
        lowered = [name.lower() for name in names]
        if low in lowered:
            return _cased(lowered[(lowered.index(low) + 1) % len(names)], term)
    others = [other for other in dict.fromkeys(same_side) if other.lower() != low]
    return others[0] if others else None


def control_probes(item: Probe, side_a: list[str] = (), side_b: list[str] = ()) -> tuple[Probe, Probe] | None:
    """The two control swaps of a gendered probe: A's term for a same-gender word, and B's; None when either has none."""
    control_a, control_b = control_term(item.term_a, side_a), control_term(item.term_b, side_b)
    if control_a is None or control_b is None:
        return None
    return (Probe(item.template, item.filler, item.text_a, _fill(item.template, control_a, item.filler), item.term_a, control_a),
            Probe(item.template, item.filler, item.text_b, _fill(item.template, control_b, item.filler), item.term_b, control_b))
