"""Models trained here, on data every installation already has, with the project's engine: nothing is downloaded.

    store.py        train once with a seed, keep on disk, load (one helper for every domain)
    vision.py       a small vision transformer on 8×8 digits
    timeseries.py   transformers for forecasting and remaining useful life
    translate_mini.py  an encoder–decoder that turns dates in words into ISO dates (cross-attention with known alignments)
"""
