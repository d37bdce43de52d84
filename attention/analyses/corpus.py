"""Head statistics over many sentences: read a corpus, run it in padded batches, one row per sentence × layer × head.

    python -m attention.analyses.corpus data/sample_corpus.txt --model minilm --out stats.parquet
    python -m attention.analyses.corpus reviews.csv --column text --out stats.csv --ray auto     # on a running Ray cluster

Local by default; `--ray auto` (or a cluster address, or `local` for a Ray instance started just for the job)
runs the same batches as Ray tasks. Each worker loads the model itself, so a cluster's machines need this
package's requirements installed (the `attention` package itself is shipped with the job).
"""
from __future__ import annotations

import argparse
import codecs
import csv
import hashlib
import io
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from attention.run import limits
from attention.run.api import attend
from attention.run.export import table_csv, writable, write_whole
from attention.analyses.batch import attend_padded
from attention.run.cache import memory_cache
from attention.analyses.stats import STATS, head_stats

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample_corpus.txt"   # package data
PADDED = 8            # sentences per forward pass (a padded batch)
MAX_TOKENS = 128      # tokens read per sentence
_CACHE = memory_cache("corpus", lambda table: int(table.memory_usage(deep=True).sum()), "ATTENTION_LENS_CORPUS_CACHE_MB", 64)
Progress = Callable[[int, int], None]   # (sentences done, sentences in all)


def read_sentences(data: bytes | str | Path, name: str = "", column: str | None = None) -> list[str]:
    """Sentences from a .txt file (one a line) or a .csv file (the named column; the first column if none is named).

    `data` is a path or the file's bytes/text (then `name` tells its kind). Blank lines are dropped."""
    if isinstance(data, Path) or (isinstance(data, str) and not name):
        path = Path(data)
        if not path.is_file():
            raise ValueError(f"No such file: {str(data)[:200]}")
        name, data = path.name, path.read_bytes()
    text = decode(data, name or "The file") if isinstance(data, bytes) else data
    if name.lower().endswith(".csv"):
        rows = list(csv.DictReader(io.StringIO(text)))
        columns = list(rows[0]) if rows else []
        if not columns:
            raise ValueError("The CSV file has no rows.")
        column = column or columns[0]
        if column not in columns:
            raise ValueError(f"The CSV file has no column '{column[:60]}'; its columns are: {', '.join(c[:40] for c in columns[:20])}.")
        lines = [row[column] or "" for row in rows]
    elif name.lower().endswith(".txt") or not name:
        lines = text.splitlines()
    else:
        raise ValueError("Give a .txt file (one sentence a line) or a .csv file with a column of sentences.")
    sentences = [line.strip() for line in lines if line and line.strip()]
    if not sentences:
        raise ValueError("The file holds no sentences.")
    return sentences

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))   # UTF-32 LE's mark starts like UTF-16 LE's


def decode(data: bytes, name: str = "The file") -> str:
    """A corpus file's text by one stated rule, never guessed silently: a byte-order mark names the encoding (UTF-8,
    UTF-16, UTF-32); UTF-16 without a mark is recognised by its zero bytes (every other byte, as English text in
    UTF-16 has); anything else must be UTF-8. ValueError naming the first line that is not (e.g. Latin-1's é)."""
    for mark, codec in _BOMS:
        if data.startswith(mark):
            return _strict(data, codec, name)
    sample = data[:4096]
    if len(sample) >= 4 and len(data) % 2 == 0:
        even, odd = sample[0::2].count(0) / (len(sample) / 2), sample[1::2].count(0) / (len(sample) / 2)
        if odd > 0.3 and even < 0.05:
            return _strict(data, "utf-16-le", name)
        if even > 0.3 and odd < 0.05:
            return _strict(data, "utf-16-be", name)
    return _strict(data, "utf-8", name)


def _strict(data: bytes, codec: str, name: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1 if codec.startswith("utf-8") else None
        where = f"line {line} has the byte 0x{data[error.start]:02x}" if line else f"byte {error.start:,} is not valid"
        shown = data.splitlines()[line - 1].decode(codec, errors="replace")[:80] if line else ""
        label = "UTF-8" if codec.startswith("utf-8") else codec.upper().replace("-LE", "").replace("-BE", "")
        hint = (" (it may be Latin-1 or Windows-1252)" if codec.startswith("utf-8") else "")
        raise ValueError(f"{name[:120]} is not {label} text: {where}{hint}"
                         + (f": “{shown}”" if shown else "") + ". Save it as UTF-8 (or UTF-16 with a byte-order mark) "
                         "and try again.") from error


def first(sentences: list[str], cap: int) -> tuple[list[str], str | None]:
    """The first `cap` sentences, with a notice when the corpus had more (a deployment's batch limit)."""
    if len(sentences) <= cap:
        return sentences, None
    return sentences[:cap], (f"The corpus has {len(sentences):,} sentences; this deployment reads the first {cap:,}. "
                             "For more, run `python -m attention.analyses.corpus FILE` (locally or on Ray).")


def csv_columns(data: bytes) -> list[str]:
    """The header of a CSV file (for picking the sentence column)."""
    first = decode(data, "The CSV file").splitlines()[:1]
    return next(csv.reader(first), []) if first else []


def batch_rows(items: list[tuple[int, str]], model: str, max_tokens: int = MAX_TOKENS) -> pd.DataFrame:
    """Statistics of (index, sentence) pairs: padded batches of PADDED sentences (one by one where a model cannot
    pad, e.g. encoder–decoders): one row per sentence × layer × head."""
    frames = []
    for start in range(0, len(items), PADDED):
        chunk = items[start:start + PADDED]
        try:
            batch = attend_padded([text for _, text in chunk], model, max_tokens=max_tokens) if len(chunk) > 1 else None
            found = [(batch.sentence(i), batch.tokens[i][:batch.lengths[i]]) for i in range(len(chunk))] if batch else None
        except ValueError:
            found = None  # cannot pad this model (or one text is unusable): run the texts one by one, which says why
        if found is None:
            found = [_one(text, model, max_tokens) for _, text in chunk]
        for (index, text), (weights, tokens) in zip(chunk, found):
            if weights is None:
                continue  # a line the model cannot read (e.g. only control characters): no rows
            table = pd.DataFrame(head_stats(weights, tokens).rows())
            table.insert(0, "sentence", index)
            table.insert(1, "text", text)
            table.insert(2, "tokens", len(tokens))
            frames.append(table)
    return pd.concat(frames, ignore_index=True)


def _one(text: str, model: str, max_tokens: int) -> tuple[np.ndarray | None, list[str]]:
    try:
        result = attend(text, model, max_tokens=max_tokens)
    except ValueError:
        if not text.strip() or not any(ch.isprintable() and not ch.isspace() for ch in text):
            return None, []   # nothing readable in this line
        raise                 # the model or options are wrong: the whole job should say so
    return result.weights, result.tokens


def _batches(sentences: list[str], size: int) -> list[list[tuple[int, str]]]:
    """Sentences of about the same length together (less padding), in batches of `size`."""
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    items = [(i, sentences[i]) for i in order]
    return [items[start:start + size] for start in range(0, len(items), size)]


def _finish(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    table = pd.concat(list(frames), ignore_index=True).sort_values(["sentence", "layer", "head"], kind="stable")
    table["pattern"] = table["pattern"].astype("category")
    return table.reset_index(drop=True)


def _checked(sentences: list[str], batch_size: int) -> list[str]:
    if not sentences or not all(isinstance(s, str) for s in sentences):
        raise ValueError("Give at least one sentence.")
    if batch_size < 1:
        raise ValueError("The batch size must be at least 1.")
    return list(sentences)


def run(sentences: list[str], model: str = "minilm", batch_size: int = 32, max_tokens: int = MAX_TOKENS,
        progress: Progress | None = None) -> pd.DataFrame:
    """Statistics of every sentence in this process, `batch_size` sentences between progress reports; cached by
    (sentences, model, max_tokens). One row per sentence × layer × head: sentence, text, tokens, STATS…, pattern."""
    sentences = _checked(sentences, batch_size)
    digest = hashlib.sha256("\n".join(sentences).encode("utf-8", "surrogatepass")).hexdigest()
    key = (digest, model, max_tokens, limits.current())
    cached = _CACHE.get(key)
    if cached is not None:
        if progress:
            progress(len(sentences), len(sentences))
        return cached.copy()
    frames, done = [], 0
    for batch in _batches(sentences, batch_size):
        frames.append(batch_rows(batch, model, max_tokens))
        done += len(batch)
        if progress:
            progress(done, len(sentences))
    table = _finish(frames)
    _CACHE.put(key, table)
    return table.copy()


def run_ray(sentences: list[str], model: str = "minilm", address: str = "auto", batch_size: int = 32,
            max_tokens: int = MAX_TOKENS, progress: Progress | None = None) -> pd.DataFrame:
    """The same job as run(), each batch a Ray task: `address` is "auto" (the running cluster), a cluster address
    (host:port or ray://host:port) or "local" (start a Ray instance in this process for the job)."""
    try:
        import ray
    except ImportError as error:
        raise ValueError("Ray is not installed: pip install ray (or run without --ray).") from error
    sentences = _checked(sentences, batch_size)
    started_here = not ray.is_initialized()
    if started_here:
        _check_reachable(address)
        package = str(Path(__file__).resolve().parent.parent)   # the whole attention package travels with the job
        try:
            ray.init(address=None if address == "local" else address, runtime_env={"py_modules": [package]},
                     include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        except (ConnectionError, RuntimeError) as error:
            raise ValueError(f"Could not reach a Ray cluster at '{address}': {error}") from error
    try:
        task = ray.remote(batch_rows)
        pending = {task.remote(batch, model, max_tokens): len(batch) for batch in _batches(sentences, batch_size)}
        frames, done = [], 0
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            frames.append(ray.get(ready[0]))
            done += pending.pop(ready[0])
            if progress:
                progress(done, len(sentences))
        return _finish(frames)
    finally:
        if started_here:
            ray.shutdown()


def _check_reachable(address: str) -> None:
    """Fail fast on a host:port nobody answers at (Ray itself retries for minutes)."""
    import socket

    host, _, port = address.rpartition(":")
    if address in ("auto", "local") or "://" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except OSError as error:
        raise ValueError(f"Could not reach a Ray cluster at '{address}': {error}") from error


def summary(table: pd.DataFrame) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per-head means over the sentences of each statistic ([layer, head]) and each head's most frequent pattern type."""
    layers, heads = int(table["layer"].max()) + 1, int(table["head"].max()) + 1
    grouped = table.groupby(["layer", "head"], observed=True)
    means = grouped[list(STATS)].mean().reindex(pd.MultiIndex.from_product([range(layers), range(heads)]))
    values = {name: means[name].to_numpy(np.float32).reshape(layers, heads) for name in STATS}
    common = grouped["pattern"].agg(lambda p: p.astype(str).value_counts().index[0])
    pattern = common.reindex(means.index).to_numpy(object).reshape(layers, heads)
    return values, pattern


FORMATS = ("parquet", "csv")


def output_format(out: str | Path, chosen: str | None = None) -> str:
    """The table's format: `chosen` (--format) or the file's suffix; ValueError when they disagree or neither says."""
    suffix = Path(out).suffix.lower().lstrip(".")
    if chosen is not None and chosen not in FORMATS:
        raise ValueError(f"--format must be {' or '.join(FORMATS)}, not {chosen[:20]!r}.")
    if chosen and suffix in FORMATS and suffix != chosen:
        raise ValueError(f"--format {chosen} does not match --out {str(out)[:200]} (a .{suffix} file): "
                         f"give --out with the .{chosen} suffix, or leave out --format.")
    if chosen:
        return chosen
    if suffix not in FORMATS:
        raise ValueError(f"Cannot tell the format from --out {str(out)[:200]}: end it with .parquet or .csv, "
                         "or give --format parquet or csv.")
    return suffix


def table_bytes(table: pd.DataFrame, kind: str) -> bytes:
    """The table as a .parquet or .csv file's bytes; in CSV, text a spreadsheet would run as a formula starts with '."""
    if kind == "csv":
        return table_csv(table).encode("utf-8")
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    return buffer.getvalue()


def write(table: pd.DataFrame, out: str | Path, kind: str | None = None) -> Path:
    """Save the table as .parquet or .csv (from `kind` or the suffix), whole or not at all; returns the path written."""
    out = Path(out).expanduser()
    write_whole(out, table_bytes(table, output_format(out, kind)))
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The corpus job's arguments (here and in `attention-lens corpus`): any order, `--out=x` or `--out x`."""
    parser.add_argument("file", help=".txt (one sentence a line) or .csv (see --column); 'sample' for the shipped "
                                     "sample corpus. Encoding: a byte-order mark (UTF-8/16/32), UTF-16 without one, or "
                                     "else UTF-8; any other bytes stop the job with the first line that is not UTF-8")
    parser.add_argument("--model", default="minilm", help="model name as attend() takes it (default: minilm)")
    parser.add_argument("--out", default="stats.parquet", help="output file: .parquet (default stats.parquet) or .csv; "
                                                              "written whole (renamed into place when complete)")
    parser.add_argument("--format", choices=FORMATS, default=None, help="parquet or csv (default: from --out's suffix; "
                                                                        "a different suffix is an error)")
    parser.add_argument("--column", default=None, help="CSV only: the column holding the sentences (default: the first)")
    parser.add_argument("--batch-size", type=int, default=32, help="sentences per task / progress step (default 32)")
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS, help=f"tokens read per sentence (default {MAX_TOKENS})")
    parser.add_argument("--limit", type=int, default=None, help="read only the first N sentences")
    parser.add_argument("--ray", default=None, metavar="ADDRESS", help="run on Ray: 'auto', host:port, ray://host:port, or 'local'")


def run_command(args: argparse.Namespace) -> int:
    """The job of `add_arguments`' arguments: read, run (locally or on Ray), write; 0, or 2 with a message."""
    try:
        kind = output_format(args.out, args.format)
        target = writable(args.out)
        if args.limit is not None and args.limit < 1:
            raise ValueError("--limit must be at least 1.")
        sentences = read_sentences(SAMPLE if args.file == "sample" else Path(args.file), column=args.column)[:args.limit]
        report = lambda done, total: print(f"\r{done}/{total} sentences", end="", file=sys.stderr, flush=True)  # noqa: E731
        started = time.perf_counter()
        if args.ray:
            table = run_ray(sentences, args.model, args.ray, args.batch_size, args.max_tokens, report)
        else:
            table = run(sentences, args.model, args.batch_size, args.max_tokens, report)
        seconds = time.perf_counter() - started
        out = write(table, target, kind)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    where = f"Ray ({args.ray})" if args.ray else "locally"
    print(f"\n{len(sentences)} sentences {where} in {seconds:.1f} s ({len(sentences) / seconds:.1f} sentences/s); "
          f"{len(table)} rows written to {out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attention.analyses.corpus", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
