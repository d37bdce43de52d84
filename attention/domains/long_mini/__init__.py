"""long-mini: a small Llama (transformers' LlamaForCausalLM: 2 layers, 4 query heads sharing 2 key/value heads,
rotary positions, 32,768 positions) trained here on repeated random words so that its induction head finds an earlier
copy of a passage far back, not only nearby; a long-context model to open without downloading one.

    data.py    the words it is trained on (MiniLM's tokenizer), training rows, the ~20,000-token demo text
    model.py   the Llama config and the network
    train.py   training from a fixed seed on one CPU thread; the induction score
    cache.py   train once, keep on disk (store.py), write the transformers folder the app reads
"""
from attention.domains.long_mini.cache import Trained, cache_path, folder, is_cached, load_or_train
from attention.domains.long_mini.data import PASSAGE, demo_text, passage_positions
from attention.domains.long_mini.model import MODEL_NAME, LongMiniConfig

__all__ = ["Trained", "cache_path", "folder", "is_cached", "load_or_train", "PASSAGE", "demo_text", "passage_positions",
           "MODEL_NAME", "LongMiniConfig"]
