"""Analyses: each reads a result or a trace and computes; none draws or runs the engine on its own.

    stats.py      per-head statistics, pattern types, rollout and flow, head similarity
    words.py      word pieces grouped into words       links.py    token links above a threshold
    compare.py    two results aligned and subtracted   bias/       the bias probe
    corpus.py     statistics over many sentences (locally or on Ray)   batch.py   padded batches
    steps.py  multihead.py  positions.py  efficient.py   the Learn pages' computations, on a trace
"""
