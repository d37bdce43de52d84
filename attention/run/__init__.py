"""The run: text in, a result out.

    api.py      attend(): clean the text, tokenise, truncate, check options, run the engine, cache the result
    trace.py    trace(): the same run with every intermediate kept (the Trace), and gates to remove heads
    result.py   Attention: the result type (tokens, weights [layer, head, query, key], meta)
    cache.py    the bounded, byte-counted cache results and traces live in
    limits.py   hosted-mode limits (ATTENTION_LENS_HOSTED)
    export.py   results to and from NPZ, JSON and CSV; figures to PNG, SVG and offline HTML
"""
