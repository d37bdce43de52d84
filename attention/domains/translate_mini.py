"""`translate-mini`: a small encoder–decoder on the project's engine, trained here to turn dates written in words into
ISO dates, so that its cross-attention can be checked against alignments known in advance.

    "the third of march, twenty twenty-one" ──► encoder (2 layers) ──► decoder (2 layers, causal, cross-attention)
        ──► "2021-03-03", one character at a time (greedy)

The data come from a seeded generator (every date 1950-01-01 … 2049-12-31, written in seven formats); a tenth of the
dates never appear in training, in any format, and the scores are measured on them. Because the generator knows which
characters of the source hold the day, the month and the year, we know which source span each output digit depends on:
the *alignment score* is the share of output digits whose cross-attention (last decoder layer, mean over its heads)
peaks inside that span.

Tokenizer: a word-level vocabulary of our own (every word the generator writes, each digit on its own, punctuation),
not MiniLM's WordPiece: it keeps most years whole ("2021" is one piece) but splits others ("2043" -> "204", "##3") and
keeps "03" and "3rd" whole, so a digit would sit in pieces of different sizes and the output could not be written one
digit per token; its vocabulary of 30,522 pieces would also make this small model mostly embedding table.
"""
from __future__ import annotations

import datetime
import re
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
import torch
from torch import nn

from attention.domains import store
from attention.engine.config import ScratchConfig
from attention.engine.transformer import ScratchTransformer

MODEL_NAME = "translate-mini"
RANDOM_NAME = "scratch:random-translate-mini"
TRAINING_VERSION = 1   # bump when the recipe or the generator changes: old cache files are then ignored
FIELDS = ("year", "month", "day")
ISO_FIELDS = ("year",) * 4 + (None,) + ("month",) * 2 + (None,) + ("day",) * 2   # what each character of YYYY-MM-DD copies
SPECIALS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")
FIRST_DATE, LAST_DATE = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
_ONES = ("", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINAL_ONES = ("", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
                 "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
                 "eighteenth", "nineteenth")
_ORDINAL_TENS = {20: "twentieth", 30: "thirtieth"}

# The seven ways of writing a date. Slots: day_words ("third"), day ("3"), day_th ("3rd"), month ("march"),
# year_words ("twenty twenty-one"), year ("2021"). Each slot belongs to one field (day, month or year).
FORMATS = (
    "the {day_words} of {month}, {year_words}",
    "{month} {day_th} {year}",
    "{day} {month} {year}",
    "{month} the {day_words}, {year_words}",
    "{day_words} of {month} {year}",
    "{month} {day}, {year}",
    "{day_th} {month} {year_words}",
)
_SLOT_FIELD = {"day_words": "day", "day": "day", "day_th": "day", "month": "month", "year_words": "year", "year": "year"}
_SLOT = re.compile(r"\{(\w+)\}")

Progress = Callable[[float, str], None]


# --- the data ------------------------------------------------------------------------------------------------------

def number_words(n: int) -> str:
    """1–99 in words: 21 -> 'twenty-one'."""
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")


def ordinal_words(n: int) -> str:
    """1–31 as an ordinal in words: 3 -> 'third', 21 -> 'twenty-first'."""
    if n < 20:
        return _ORDINAL_ONES[n]
    tens, ones = divmod(n, 10)
    return f"{_TENS[tens]}-{_ORDINAL_ONES[ones]}" if ones else _ORDINAL_TENS[n]


def ordinal_digits(n: int) -> str:
    """3 -> '3rd', 11 -> '11th', 22 -> '22nd'."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def year_words(year: int) -> str:
    """1950–2049 as spoken: 1999 -> 'nineteen ninety-nine', 2005 -> 'two thousand and five', 2021 -> 'twenty twenty-one'."""
    if not FIRST_DATE.year <= year <= LAST_DATE.year:
        raise ValueError(f"The generator writes years {FIRST_DATE.year}–{LAST_DATE.year}; {year} is outside.")
    if year < 2000:
        return f"nineteen {number_words(year - 1900)}"
    if year < 2010:
        return "two thousand" + (f" and {_ONES[year - 2000]}" if year > 2000 else "")
    return f"twenty {number_words(year - 2000)}"


class Example(NamedTuple):
    """One generated pair: the source text, its ISO date, and the character span [start, end) of each field in the source."""

    source: str
    target: str
    spans: dict[str, tuple[int, int]]
    format: int


def write_date(date: datetime.date, form: int) -> Example:
    """A date in words in format `form` (an index of FORMATS), with the source span of its day, month and year."""
    values = {"day_words": ordinal_words(date.day), "day": str(date.day), "day_th": ordinal_digits(date.day),
              "month": MONTHS[date.month - 1], "year_words": year_words(date.year), "year": str(date.year)}
    text, spans, last = "", {}, 0
    template = FORMATS[form]
    for match in _SLOT.finditer(template):
        text += template[last:match.start()]
        value = values[match[1]]
        spans[_SLOT_FIELD[match[1]]] = (len(text), len(text) + len(value))
        text += value
        last = match.end()
    return Example(text + template[last:], date.isoformat(), spans, form)


def all_dates() -> list[datetime.date]:
    """Every date the generator writes, in order: 36,525 days from 1950-01-01 to 2049-12-31."""
    first = FIRST_DATE.toordinal()
    return [datetime.date.fromordinal(day) for day in range(first, LAST_DATE.toordinal() + 1)]


def split_dates(seed: int, held_out: float) -> tuple[list[datetime.date], list[datetime.date]]:
    """(training dates, held-out dates): a seeded shuffle; held-out dates never appear in training, in any format."""
    dates = all_dates()
    order = np.random.default_rng(seed).permutation(len(dates))
    cut = int(round(held_out * len(dates)))
    return [dates[i] for i in order[cut:]], [dates[i] for i in order[:cut]]


def generate(dates: list[datetime.date], count: int, seed: int) -> list[Example]:
    """`count` examples: dates drawn (with replacement) from `dates`, each in a format drawn uniformly."""
    rng = np.random.default_rng(seed)
    picks, forms = rng.integers(len(dates), size=count), rng.integers(len(FORMATS), size=count)
    return [write_date(dates[p], int(f)) for p, f in zip(picks, forms)]


# --- the tokenizer -------------------------------------------------------------------------------------------------

def vocabulary() -> list[str]:
    """Every token: the special ones, then digits and punctuation, then every word the generator writes (sorted)."""
    words = set(MONTHS) | {"the", "of", "and", "thousand", "st", "nd", "rd", "th"}
    for n in range(1, 100):
        words.update(number_words(n).split("-"))
    for n in range(1, 32):
        words.update(ordinal_words(n).split("-"))
    return [*SPECIALS, *"0123456789", ",", "-", *sorted(words - {""})]


@lru_cache(maxsize=1)
def tokenizer() -> Any:
    """A transformers fast tokenizer over `vocabulary()`: lower-cased, split at spaces and punctuation, one token per
    digit, wrapped as [BOS] … [EOS]. Words outside the vocabulary become [UNK]."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate(vocabulary())}
    inner = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    inner.normalizer = normalizers.Lowercase()
    inner.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(),
                                                   pre_tokenizers.Digits(individual_digits=True)])
    inner.post_processor = processors.TemplateProcessing(single="[BOS] $A [EOS]",
                                                         special_tokens=[("[BOS]", vocab["[BOS]"]), ("[EOS]", vocab["[EOS]"])])
    return PreTrainedTokenizerFast(tokenizer_object=inner, pad_token="[PAD]", unk_token="[UNK]", bos_token="[BOS]",
                                   eos_token="[EOS]", model_max_length=64)


def field_tokens(example: Example) -> dict[str, np.ndarray]:
    """For each field, which source tokens (with [BOS]/[EOS]) lie inside its span: {field: bool [source token]}."""
    offsets = tokenizer()(example.source, return_offsets_mapping=True)["offset_mapping"]
    starts = np.array([s for s, _ in offsets])
    ends = np.array([e for _, e in offsets])
    real = ends > starts                                                  # special tokens have the empty span (0, 0)
    return {name: real & (starts >= lo) & (ends <= hi) for name, (lo, hi) in example.spans.items()}


# --- the model -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TranslateConfig:
    """Sizes, data and training recipe (all part of the cache file's name)."""

    d_model: int = 64
    n_heads: int = 4
    encoder_layers: int = 2
    decoder_layers: int = 1
    d_ff: int = 128
    max_positions: int = 64
    train_examples: int = 30_000
    steps: int = 1_500
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 0.01
    seed: int = 0            # initial weights and batch order
    data_seed: int = 0       # which dates are held out, and the examples drawn
    held_out: float = 0.1    # share of the dates never seen in training
    test_examples: int = 1_000

    def engine(self) -> ScratchConfig:
        """The engine's config: an encoder stack holding a causal decoder stack with cross-attention."""
        vocab = len(vocabulary())
        sizes = dict(vocab_size=vocab, d_model=self.d_model, n_heads=self.n_heads, d_ff=self.d_ff,
                     max_positions=self.max_positions, type_vocab_size=0)
        decoder = ScratchConfig(**sizes, n_layers=self.decoder_layers, causal=True, cross_attention=True)
        return ScratchConfig(**sizes, n_layers=self.encoder_layers, decoder=decoder)


class Translator(ScratchTransformer):
    """The engine's encoder–decoder plus a linear read-out from the decoder's output to next-token scores."""

    def __init__(self, config: ScratchConfig):
        super().__init__(config)
        self.read_out = nn.Linear(config.decoder.d_model, config.decoder.vocab_size)

    def logits(self, source_ids: torch.Tensor, target_ids: torch.Tensor) -> torch.Tensor:
        """source_ids [batch, source], target_ids [batch, target] -> next-token scores [batch, target, vocab]."""
        _, decoded = self.encode_decode(source_ids, target_ids)
        return self.read_out(decoded.hidden)


def untrained(config: TranslateConfig = TranslateConfig()) -> Translator:
    """The weights training starts from (seeded): the same architecture, random weights."""
    with torch.random.fork_rng():                      # the seed sets the weights without touching the caller's RNG
        torch.manual_seed(config.seed)
        return Translator(config.engine()).eval()


def _groups(examples: list[Example]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Examples tokenised once and grouped by source length (so no padding reaches the cross-attention):
    [(source ids [n, length], target ids [n, 12])]."""
    encode = tokenizer()
    sources = encode([e.source for e in examples])["input_ids"]
    targets = encode([e.target for e in examples])["input_ids"]        # every ISO date: [BOS] + 10 characters + [EOS]
    by_length: dict[int, list[int]] = {}
    for index, ids in enumerate(sources):
        by_length.setdefault(len(ids), []).append(index)
    return [(torch.tensor([sources[i] for i in members]), torch.tensor([targets[i] for i in members]))
            for _, members in sorted(by_length.items())]


def _batches(groups: list[tuple[torch.Tensor, torch.Tensor]], batch_size: int,
             generator: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch: each length group shuffled and cut into batches, the batches shuffled."""
    batches = []
    for source, target in groups:
        order = torch.randperm(len(source), generator=generator)
        batches += [(source[chunk], target[chunk]) for chunk in order.split(batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def train(config: TranslateConfig = TranslateConfig(), progress: Progress | None = None) -> Translator:
    """Train from a fixed seed on one CPU thread (AdamW, one-cycle learning rate, teacher forcing, cross-entropy)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # small matrices: threads wait more than they work, and one thread keeps runs repeatable
    try:
        return _train(config, progress)
    finally:
        torch.set_num_threads(threads)


def _train(config: TranslateConfig, progress: Progress | None) -> Translator:
    train_dates, _ = split_dates(config.data_seed, config.held_out)
    groups = _groups(generate(train_dates, config.train_examples, config.data_seed))
    generator = torch.Generator().manual_seed(config.seed)
    model = untrained(config).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, config.learning_rate, total_steps=config.steps, pct_start=0.1)
    loss_function = nn.CrossEntropyLoss()
    step = 0
    while step < config.steps:
        for source, target in _batches(groups, config.batch_size, generator):
            logits = model.logits(source, target[:, :-1])                          # [batch, target, vocab]
            loss = loss_function(logits.reshape(-1, logits.shape[-1]), target[:, 1:].reshape(-1))
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            step += 1
            if progress and (step % 50 == 0 or step == config.steps):
                progress(step / config.steps, f"Training translate-mini: step {step:,} of {config.steps:,} (loss {loss.item():.3f})")
            if step == config.steps:
                break
    return model.eval()


# --- decoding and scores -------------------------------------------------------------------------------------------

def decode(model: Translator, source_ids: torch.Tensor, max_length: int = 12) -> list[list[int]]:
    """Greedy decoding: source_ids [batch, source] -> each row's output ids (without [BOS], up to [EOS])."""
    encode = tokenizer()
    bos, eos = encode.bos_token_id, encode.eos_token_id
    with torch.inference_mode():
        memory = model.run(source_ids).hidden
        written = torch.full((source_ids.shape[0], 1), bos)
        for _ in range(max_length):
            hidden = model.decoder.run(written, memory=memory).hidden
            written = torch.cat([written, model.read_out(hidden[:, -1]).argmax(-1, keepdim=True)], dim=1)
            if (written == eos).any(dim=1).all():
                break
    outputs = []
    for row in written[:, 1:].tolist():
        outputs.append(row[:row.index(eos)] if eos in row else row)
    return outputs


def _text(ids: list[int]) -> str:
    return "".join(tokenizer().convert_ids_to_tokens(ids))


def translate(source: str, model: str = MODEL_NAME) -> str:
    """The model's ISO date for `source` (greedy decoding), e.g. 'march 3rd 2021' -> '2021-03-03'."""
    from attention.engine.backends import COMPUTE_LOCK, load_model
    from attention.run.api import clean_text

    source, _ = clean_text(source)
    backend = load_model(model)
    if not isinstance(backend.network, Translator):
        raise ValueError(f"'{model}' is not a date translator: pick {MODEL_NAME} or {RANDOM_NAME}.")
    ids = tokenizer()(source, truncation=True, max_length=backend.max_tokens)["input_ids"]
    with COMPUTE_LOCK:
        return _text(decode(backend.network, torch.tensor([ids]))[0])


def _grouped(examples: list[Example]) -> list[list[int]]:
    """Indices of examples grouped by tokenised source length (batches without padding)."""
    groups: dict[int, list[int]] = {}
    for index, ids in enumerate(tokenizer()([e.source for e in examples])["input_ids"]):
        groups.setdefault(len(ids), []).append(index)
    return list(groups.values())


def exact_match(model: Translator, examples: list[Example]) -> float:
    """Share of examples whose greedy output equals the ISO date exactly."""
    encode, right = tokenizer(), 0
    for group in _grouped(examples):
        ids = torch.tensor(encode([examples[i].source for i in group])["input_ids"])
        right += sum(_text(out) == examples[i].target for i, out in zip(group, decode(model, ids)))
    return right / len(examples)


def alignment(model: Translator, examples: list[Example]) -> dict[str, Any]:
    """How often cross-attention finds the right source span: for every output digit (teacher-forced on the reference
    date), the source token where the last decoder layer's cross-attention, averaged over its heads, peaks; a hit when
    that token lies inside the span of the field (day, month, year) the digit copies. Returns the overall share, the
    share per field, and `chance`: the share a peak drawn uniformly over the source tokens would reach."""
    encode = tokenizer()
    hits = {name: 0 for name in FIELDS}
    counts = {name: 0 for name in FIELDS}
    chance = 0.0
    for group in _grouped(examples):
        source = torch.tensor(encode([examples[i].source for i in group])["input_ids"])
        target = torch.tensor(encode([examples[i].target for i in group])["input_ids"])
        with torch.inference_mode():
            _, decoded = model.encode_decode(source, target[:, :-1])
        peaks = decoded.cross[-1].mean(dim=1).argmax(dim=-1).numpy()       # [batch, target] from [batch, head, target, source]
        for row, index in enumerate(group):
            inside = field_tokens(examples[index])
            for position, name in enumerate(ISO_FIELDS):                    # query `position` writes character `position`
                if name is None:
                    continue
                counts[name] += 1
                hits[name] += bool(inside[name][peaks[row, position]])
                chance += inside[name].mean()
    total = sum(counts.values())
    return {"score": sum(hits.values()) / total, "per_field": {n: hits[n] / counts[n] for n in FIELDS},
            "chance": float(chance / total), "outputs": total}


class Trained(NamedTuple):
    """The trained translator and its held-out figures (exact match, alignment score of it and of its untrained start)."""

    model: Translator
    config: TranslateConfig
    accuracy: float
    alignment: dict[str, Any]
    random_alignment: dict[str, Any]
    seconds: float
    notices: tuple[str, ...] = ()


def held_out(config: TranslateConfig = TranslateConfig()) -> list[Example]:
    """The held-out examples the figures are measured on (dates never seen in training)."""
    _, test_dates = split_dates(config.data_seed, config.held_out)
    return generate(test_dates, config.test_examples, config.data_seed + 1)


def cache_path(config: TranslateConfig = TranslateConfig()) -> Path:
    """One file per recipe: its name carries a hash of the config and of TRAINING_VERSION."""
    return store.recipe_path(MODEL_NAME, {**asdict(config), "version": TRAINING_VERSION})


def is_cached(config: TranslateConfig = TranslateConfig()) -> bool:
    """True when load_or_train will not need to train (in memory or on disk)."""
    return store.is_ready(cache_path(config))


def load_or_train(config: TranslateConfig = TranslateConfig(), progress: Progress | None = None) -> Trained:
    """The trained translator: from memory, else the disk cache, else trained now (`progress(fraction, message)`) and saved."""
    def read(saved: dict) -> Trained:
        model = Translator(config.engine())
        model.load_state_dict(saved["state"], strict=True)
        return Trained(model.eval(), config, float(saved["accuracy"]), saved["alignment"], saved["random_alignment"],
                       float(saved["seconds"]))

    def fresh(notices: tuple[str, ...]) -> tuple[Trained, dict]:
        started = time.perf_counter()
        model = train(config, progress)
        seconds = time.perf_counter() - started
        test = held_out(config)
        trained = Trained(model, config, exact_match(model, test), alignment(model, test), alignment(untrained(config), test),
                          seconds, notices)
        return trained, {"state": model.state_dict(), "config": asdict(config), "seconds": seconds,
                         "accuracy": trained.accuracy, "alignment": trained.alignment,
                         "random_alignment": trained.random_alignment}

    return store.load_or_train(cache_path(config), read, fresh, "date translator")


def alignment_report(config: TranslateConfig = TranslateConfig(), progress: Progress | None = None) -> dict[str, Any]:
    """The figures the Masks page and README show: held-out exact match, and the alignment score (with its share per
    field and the chance level) of the trained model and of the same architecture with its untrained random weights."""
    trained = load_or_train(config, progress)
    return {"accuracy": trained.accuracy, "trained": trained.alignment, "random": trained.random_alignment,
            "examples": config.test_examples, "held_out_dates": round(config.held_out * len(all_dates())),
            "train_seconds": trained.seconds, "model": MODEL_NAME, "random_model": RANDOM_NAME}


def example(index: int = 0, config: TranslateConfig = TranslateConfig()) -> Example:
    """A held-out example (a date never seen in training): its source, ISO date and field spans."""
    examples = held_out(config)
    if not 0 <= index < len(examples):
        raise ValueError(f"There are {len(examples)} held-out examples: pick 0–{len(examples) - 1}.")
    return examples[index]


def backend(name: str) -> Any:
    """The backend for `translate-mini` (trained, cached) or `scratch:random-translate-mini` (its untrained weights)."""
    from attention.engine.backends import _scratch_backend

    config = TranslateConfig()
    network = load_or_train(config).model if name == MODEL_NAME else untrained(config)
    return _scratch_backend(name, tokenizer(), network, "encoder-decoder", config.max_positions, {"target"})
