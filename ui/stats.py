"""The Head stats page's pieces: the corpus it reads (the sample or an uploaded file) and its downloads."""
from __future__ import annotations

from typing import Any, Callable

import streamlit as st

from attention.analyses import corpus
from attention.analyses.stats import STATS
from attention.run import limits
from attention.run.export import table_csv
from ui.messages import md_escape, warn
from ui.run import stop_with_share
from ui.views import download

SOURCES = {"sample": "The sample corpus", "upload": "Upload a .txt or .csv file"}


def stat_help() -> str:
    """What each statistic the grid can be coloured by means (the options show their short names)."""
    return "  \n".join([*(f"**{name}**: {md_escape(meaning)}" for name, (meaning, _) in STATS.items()),
                        "**pattern**: the head's pattern type (see the rule below)"])


def corpus_sentences(column: Any, source: str, params: dict[str, Any]) -> list[str]:
    """The sentences of the sample corpus or of an uploaded .txt/.csv (its column picked in `column`), at most the
    deployment's batch size (with a notice); a message and the share box, then stop, when there are none."""
    try:
        if source == "sample":
            sentences = corpus.read_sentences(corpus.SAMPLE)
        else:
            upload = column.file_uploader("Corpus file", type=["txt", "csv"], key="stats_upload",
                                          help=".txt: one sentence a line. .csv: pick the column that holds the sentences.")
            if upload is None:
                st.info("Upload a file to see its statistics; the link cannot carry an uploaded file.")
                stop_with_share(params, "")
            data = upload.getvalue()
            picked = (column.selectbox("Column", corpus.csv_columns(data), key="stats_column")
                      if upload.name.lower().endswith(".csv") else None)
            sentences = corpus.read_sentences(data, upload.name, picked)
    except ValueError as error:
        st.error(md_escape(str(error)))
        stop_with_share(params, "")
    sentences, notice = corpus.first(sentences, limits.current().max_batch)
    if notice:
        warn(notice)
    return sentences


def stats_downloads(rows: Any, table: Any, view: Callable[[], bytes]) -> None:
    """The statistics as CSV (and Parquet for a corpus) and the whole view as one HTML file, each made on its click."""
    with st.container(horizontal=True, gap="small"):
        download("Statistics CSV", lambda: table_csv(rows), "head-stats.csv", "text/csv", key="export_stats_csv")
        if table is not None:
            download("Statistics Parquet", lambda: table.to_parquet(index=False), "head-stats.parquet", key="export_parquet")
        download("This view (HTML)", view, "head-stats-view.html", "text/html", key="export_view",
                 help="Every figure of this page in one file that opens offline.")
