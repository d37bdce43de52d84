"""Models trained here, on data every installation already has (the project's engine, and for long_mini a transformers Llama): nothing is downloaded.

    store.py        train once with a seed, keep on disk, load (one helper for every domain)
    vision/         a small vision transformer on 8×8 digits (model, data, train, cache, weights)
    timeseries/     transformers for forecasting and remaining useful life (data, baselines, model, train, cache, weights)
    gpt_mini/       a small GPT-style decoder trained on Python's documentation (data, model, train)
    translate_mini/ an encoder–decoder that turns dates in words into ISO dates (cross-attention with known alignments;
                    data, model, train, scores, cache)
    induction_mini/ a 2-layer attention-only decoder trained on repeated random characters until an induction head
                    forms (data, model, train, scores, cache)
    long_mini/      a small Llama-architecture decoder (rotary, grouped-query) trained on repeated random word runs, whose
                    induction head reaches back across long texts (data, model, train, cache)
"""
from attention.domains import names as _names  # noqa: E402,F401  (registers the demos' model names with run/models.py)
