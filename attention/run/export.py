"""Exports that work offline: an attention result as CSV, NPZ or JSON with loaders that give it back, and tables as CSV.
Every file carries the tokens, the weights [layer, head, query, key], the model and the options. (Figures are exported
on the app side: figures/export.py.)"""
from __future__ import annotations

import csv
import glob
import io
import json
import os
import secrets
from pathlib import Path
from typing import Any

import numpy as np

from attention.run.result import Attention

FORMAT = "attention-lens"
VERSION = 1
_FORMULA = ("=", "+", "-", "@", "\t", "\r", "'")   # a spreadsheet reads a cell starting so as a formula: prefix '


# ---------------------------------------------------------------- results

def _header(result: Attention) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "model": result.model, "options": result.options,
            "token_kind": result.token_kind, "notices": list(result.notices), "word_ids": result.word_ids,
            "meta": _plain(result.meta)}


def _plain(value: Any) -> Any:
    """Meta values as JSON can hold them (numpy numbers become Python numbers, anything odd its text)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)))


def _from(header: dict[str, Any], tokens: list[str], weights: np.ndarray) -> Attention:
    if header.get("format") != FORMAT:
        raise ValueError("This is not an Attention Lens export.")
    return Attention(tokens=list(tokens), weights=weights, model=header["model"], options=header.get("options") or {},
                     notices=header.get("notices") or [], token_kind=header.get("token_kind", "text"),
                     word_ids=header.get("word_ids"), meta=header.get("meta") or {})


def to_json(result: Attention) -> str:
    """The result as JSON: tokens, weights [layer][head][query][key] (float32 values written exactly), model, options."""
    return json.dumps({**_header(result), "tokens": result.tokens, "weights": result.weights.tolist()}, ensure_ascii=False)


def from_json(text: str | bytes) -> Attention:
    """A result back from to_json()."""
    data = json.loads(text)
    return _from(data, data["tokens"], np.asarray(data["weights"], dtype=np.float32))


def to_npz(result: Attention) -> bytes:
    """The result as a compressed NumPy archive: weights (float32), tokens, and a JSON header (model, options, ...)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, weights=result.weights, tokens=np.array(result.tokens, dtype=str),
                        header=np.array(json.dumps(_header(result))))
    return buffer.getvalue()


def from_npz(data: bytes | str | Path) -> Attention:
    """A result back from to_npz() (bytes or a path); nothing is unpickled."""
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    with np.load(source, allow_pickle=False) as archive:
        return _from(json.loads(str(archive["header"])), archive["tokens"].tolist(), archive["weights"])


def _cell(token: str) -> str:
    return "'" + token if token.startswith(_FORMULA) else token


def _uncell(cell: str) -> str:
    return cell[1:] if cell.startswith("'") else cell


def to_csv(result: Attention) -> str:
    """The result as CSV: a first line `# attention-lens {json header}`, then one row per layer, head and query:
    layer, head, query, query_token, and the weight on each key (columns k0, k1, ...; 9 significant digits, exact
    for float32). Tokens a spreadsheet would read as a formula start with an extra '."""
    buffer = io.StringIO()
    buffer.write(f"# {FORMAT} {json.dumps(_header(result), ensure_ascii=False)}\n")
    writer = csv.writer(buffer, lineterminator="\r\n")   # CRLF: a token holding a lone CR is then quoted, not a row end
    writer.writerow(["layer", "head", "query", "query_token", *(f"k{key}" for key in range(result.n_tokens))])
    tokens = [_cell(token) for token in result.tokens]
    for layer in range(result.n_layers):
        for head in range(result.n_heads):
            for query, row in enumerate(result.weights[layer, head]):
                writer.writerow([layer, head, query, tokens[query], *(format(float(w), ".9g") for w in row)])
    return buffer.getvalue()


def from_csv(text: str | bytes) -> Attention:
    """A result back from to_csv()."""
    text = text.decode("utf-8") if isinstance(text, bytes) else text
    first, _, body = text.partition("\n")
    if not first.startswith(f"# {FORMAT} "):
        raise ValueError("This is not an Attention Lens CSV export (its first line names the format).")
    header = json.loads(first[len(FORMAT) + 3:])
    rows = list(csv.reader(io.StringIO(body)))[1:]
    layers, heads, n = int(rows[-1][0]) + 1, int(rows[-1][1]) + 1, len(rows[0]) - 4
    weights = np.array([row[4:] for row in rows], dtype=np.float32).reshape(layers, heads, n, n)
    return _from(header, [_uncell(row[3]) for row in rows[:n]], weights)


def table_csv(rows: Any) -> str:
    """A table (a DataFrame or a list of dicts) as CSV; text cells a spreadsheet would read as a formula start with '."""
    import pandas as pd

    table = pd.DataFrame(rows).copy()
    for name in table.columns:
        if table[name].dtype == object or isinstance(table[name].dtype, (pd.StringDtype, pd.CategoricalDtype)):
            table[name] = table[name].astype(str).map(_cell)
    return table.to_csv(index=False, lineterminator="\r\n")   # CRLF: a cell holding a lone CR is then quoted


# ---------------------------------------------------------------- files

PARTIAL = ".partial-"   # an unfinished write's name: .<file>.partial-<pid>-<random>, beside the file


def writable(out: str | os.PathLike) -> Path:
    """The output path, checked before any work: its folder exists, is a folder and is writable; ValueError otherwise."""
    target = Path(out).expanduser()
    if target.is_dir():
        raise ValueError(f"--out {out} is a folder; give a file name.")
    if not target.parent.is_dir():
        raise ValueError(f"Cannot write {out}: the folder {target.parent} does not exist.")
    if not os.access(target.parent, os.W_OK):
        raise ValueError(f"Cannot write {out}: the folder {target.parent} is not writable.")
    return target


def _sweep(folder: Path, name: str) -> None:
    """Remove unfinished writes of `name` left by processes that are gone (killed between naming and renaming)."""
    for left in folder.glob(f".{glob.escape(name)}{PARTIAL}*"):
        pid = left.name[len(name) + 1 + len(PARTIAL):].split("-")[0]
        try:
            if pid.isdigit():
                os.kill(int(pid), 0)
                continue          # its process still runs: maybe writing now
        except ProcessLookupError:
            pass
        except PermissionError:
            continue              # someone else's live process
        left.unlink(missing_ok=True)


def write_whole(target: Path, data: bytes) -> None:
    """`data` to `target` whole or not at all, with the mode the user's umask gives a new file; renamed over any older
    file only once complete. On Linux the bytes go first to an unnamed file (O_TMPFILE), named only when complete, so
    a kill at any moment, even SIGKILL, leaves no partial file (save in the instant between naming and renaming);
    elsewhere to `.<name>.partial-<pid>-…` beside it. Either name, left by a process that is gone, is removed by the
    next write of that file. ValueError, for people, when the folder cannot be written."""
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    temporary = folder / f".{target.name}{PARTIAL}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        _sweep(folder, target.name)
        if not _write_unnamed(folder, temporary, data):
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)   # the umask applies
            with os.fdopen(handle, "wb") as out:
                out.write(data)
        os.replace(temporary, target)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise ValueError(f"Cannot write {target}: {error.strerror or error}.") from error
        raise


def _write_unnamed(folder: Path, name: Path, data: bytes) -> bool:
    """Linux: `data` in an unnamed file of `folder` (O_TMPFILE), then given `name`; False where that is not possible
    (no O_TMPFILE, a file system without it, or no /proc link), and nothing is left behind then."""
    try:
        handle = os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o666)   # the umask applies
    except (AttributeError, OSError):
        return False
    try:
        with os.fdopen(handle, "wb", closefd=False) as out:
            out.write(data)
        try:
            os.link(f"/proc/self/fd/{handle}", name, follow_symlinks=True)
        except OSError:   # some kernels and sandboxes refuse that link; linkat(AT_EMPTY_PATH) may still name it
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.linkat(handle, b"", -100, os.fsencode(name), 0x1000) != 0:   # AT_FDCWD, AT_EMPTY_PATH
                return False
        return True
    except OSError:
        return False
    finally:
        os.close(handle)


# ---------------------------------------------------------------- views

def view_file(result: Attention, path: str | os.PathLike, text: str | None = None, layer: int = 0, head: int = 0,
              threshold: float = 0.1, bits: int | None = None) -> Path:
    """One interactive HTML file that works offline (an e-mail attachment opens it): the layers × heads grid, any head on
    click with its weights on hover, token links of every layer above `threshold`, and the share-link parameters (text,
    model, layer, head). Weights as 8-bit levels of each head's maximum (16 bits for small results, or `bits`=16).
    Written whole or not at all. Raises ValueError for a path that cannot be written."""
    from attention.run.display import drawer   # the views package draws it (no streamlit, no plotly)

    return drawer("write_file")(result, path, text=text, layer=layer, head=head, threshold=threshold, bits=bits)
