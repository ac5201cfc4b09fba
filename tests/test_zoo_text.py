"""The recurrent zoo models train on the offline synthetic token task and beat chance clearly; the task is
deterministic, learnable, and shaped like padded IMDb."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from devicelab.data import load_dataset
from devicelab.data.text import SEQUENCE_LENGTH, VOCAB, load_text, synthetic_text
from devicelab.errors import DataError
from devicelab.models import zoo


def test_synthetic_text_is_deterministic_and_shaped_like_imdb() -> None:
    x, y, classes = synthetic_text("train")
    again, y_again, _ = synthetic_text("train")
    assert x.dtype == np.int32 and x.shape == (4000, SEQUENCE_LENGTH) and y.dtype == np.int64 and classes == 2
    assert np.array_equal(x, again) and np.array_equal(y, y_again)
    assert x.min() >= 0 and x.max() < VOCAB and (x[:, 0] == 0).any()  # front padding, like pad_sequences
    assert 0.45 < y.mean() < 0.55
    test, _, _ = synthetic_text("test")
    assert not np.array_equal(x[:1000], test)
    # The signal is real: the label is exactly "positive markers outnumber negative ones".
    positive = np.isin(x, np.arange(10, 15)).sum(1)
    negative = np.isin(x, np.arange(15, 20)).sum(1)
    assert np.array_equal(positive > negative, y == 1)


def test_text_builtins_are_registered() -> None:
    data = load_dataset("synthetic-text", split="test", limit=10)
    assert data.x.shape == (10, SEQUENCE_LENGTH) and data.num_classes == 2
    with pytest.raises(DataError, match="unknown text dataset"):
        load_text("keras:nothing", "test")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_recurrent_zoo_model_learns_the_offline_task(name: str, session_cache: Path) -> None:
    config = zoo.default_config(name, epochs=1)
    path, info = zoo.build(config, session_cache)
    assert info["trained"] and info["config"]["dataset"] == "synthetic-text"
    assert info["test_accuracy"] > 0.8, info  # chance is 0.5
    import keras

    model = keras.models.load_model(path)
    assert str(model.inputs[0].dtype) == "int32" and tuple(model.inputs[0].shape) == (None, SEQUENCE_LENGTH)
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "Embedding", name.upper(), "Dense"]
