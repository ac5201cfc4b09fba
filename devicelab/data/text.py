"""Text datasets for the recurrent zoo models: token ids (int32) and class labels, as plain arrays.

- ``keras:imdb``: the IMDb movie-review sentiment set (Maas et al. 2011) through ``keras.datasets.imdb``
  (needs network on first use), the words ranked by frequency and cut to ``VOCAB`` ids, each review padded or
  truncated at the front to ``SEQUENCE_LENGTH`` tokens, as in the seed study's LSTM/GRU runs.
- ``synthetic-text``: no real text corpus ships offline under a licence that allows it, so this is a small,
  deterministic, learnable token task of the same shape. Each sequence is 20-80 filler ids (front-padded with 0
  like IMDb) in which a few "positive" and "negative" marker ids are scattered; the label is 1 when positive
  markers outnumber negative ones (never tied). A model must find the markers anywhere in the sequence and
  count them, so chance is 50% and a trained LSTM/GRU reaches well above 90%. Same seed, same data, everywhere.
"""

from __future__ import annotations

import contextlib
import sys

import numpy as np

from devicelab.errors import DataError, MissingDependencyError

VOCAB = 5000  # ids 0 (padding), 1 (start), 2 (out of vocabulary) as in keras.datasets.imdb
SEQUENCE_LENGTH = 80
BUILTINS = {
    "synthetic-text": f"synthetic token task (offline): int32 ids ({SEQUENCE_LENGTH},), vocabulary {VOCAB}, "
                      "label = do positive marker tokens outnumber negative ones; 4000 train / 1000 test",
    "keras:imdb": f"IMDb reviews via keras.datasets (needs network): 25000 / 25000, ids cut to {VOCAB} words, "
                  f"padded to {SEQUENCE_LENGTH} tokens, 2 classes",
}
_SIZES = {"train": 4000, "test": 1000}
_POSITIVE = np.arange(10, 15)  # marker ids: frequent-word range, like "great"/"awful" in IMDb's ranking
_NEGATIVE = np.arange(15, 20)
_FILLER = (50, VOCAB)

Text = tuple[np.ndarray, np.ndarray, int]  # x int32 (N, T), y int64 (N,), number of classes


def load_text(name: str, split: str) -> Text:
    if name == "synthetic-text":
        return synthetic_text(split)
    if name == "keras:imdb":
        return imdb(split)
    raise DataError(f"unknown text dataset '{name}'", hint=f"choose one of: {', '.join(BUILTINS)}")


def synthetic_text(split: str, samples: int | None = None, length: int = SEQUENCE_LENGTH) -> Text:
    count = samples or _SIZES[split]
    rng = np.random.default_rng({"train": 11, "test": 12}[split])
    x = np.zeros((count, length), dtype=np.int32)
    y = rng.integers(0, 2, count).astype(np.int64)
    for i in range(count):
        size = int(rng.integers(length // 4, length + 1))
        tokens = rng.integers(*_FILLER, size)
        winner, loser = (_POSITIVE, _NEGATIVE) if y[i] == 1 else (_NEGATIVE, _POSITIVE)
        few = int(rng.integers(0, 3))
        many = few + int(rng.integers(2, 4))
        markers = np.concatenate([rng.choice(winner, many), rng.choice(loser, few)])
        places = rng.choice(size, len(markers), replace=False)
        tokens[places] = markers
        x[i, length - size:] = tokens  # front padding with 0, as keras.utils.pad_sequences does by default
    return x, y, 2


def imdb(split: str, length: int = SEQUENCE_LENGTH) -> Text:
    try:
        import keras
    except ImportError as exc:
        raise MissingDependencyError(f"Python package 'keras' is not installed (needed for keras:imdb): {exc}",
                                     hint="install it with: pip install keras, or use synthetic-text") from None
    try:
        with contextlib.redirect_stdout(sys.stderr):  # download progress must not reach machine-readable stdout
            (x_train, y_train), (x_test, y_test) = keras.datasets.imdb.load_data(num_words=VOCAB)
    except Exception as exc:  # any failure here is a failed download
        raise DataError(f"could not download keras:imdb: it needs network access ({type(exc).__name__}: {exc})",
                        hint="use the offline synthetic-text task, or a local .npz of token ids") from None
    sequences, labels = (x_train, y_train) if split == "train" else (x_test, y_test)
    x = keras.utils.pad_sequences(sequences, maxlen=length, dtype="int32")
    return x.astype(np.int32), np.asarray(labels, dtype=np.int64), 2
