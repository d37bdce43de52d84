"""Exports that work offline: an attention result as CSV, NPZ or JSON with loaders that give it back, and tables as CSV.
Every file carries the tokens, the weights [layer, head, query, key], the model and the options. (Figures are exported
on the app side: figures/export.py.)"""
from __future__ import annotations

import csv
import io
import json
import os
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
    writer = csv.writer(buffer, lineterminator="\n")
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
    return table.to_csv(index=False)


# ---------------------------------------------------------------- files

def write_whole(target: Path, data: bytes) -> None:
    """`data` to `target` whole or not at all: a temporary file in the same folder, then renamed over it (a failed write
    leaves any older file as it was). ValueError, for people, when the folder cannot be written."""
    import tempfile

    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as error:
        raise ValueError(f"Cannot write {target}: {error.strerror or error}.") from error
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- views

def view_file(result: Attention, path: str | os.PathLike, text: str | None = None, layer: int = 0, head: int = 0,
              threshold: float = 0.1, bits: int | None = None) -> Path:
    """One interactive HTML file that works offline (an e-mail attachment opens it): the layers × heads grid, any head on
    click with its weights on hover, token links of every layer above `threshold`, and the share-link parameters (text,
    model, layer, head). Weights as 8-bit levels of each head's maximum (16 bits for small results, or `bits`=16).
    Written whole or not at all. Raises ValueError for a path that cannot be written."""
    try:   # the views' JavaScript ships with the app's components/ folder; imported only here (no streamlit, no plotly)
        from components.standalone import write_file
    except ImportError as error:
        raise ImportError("The HTML view needs the Attention Lens components/ folder: install the project "
                          "(pip install -e .) or run from its folder.") from error
    return write_file(result, path, text=text, layer=layer, head=head, threshold=threshold, bits=bits)
