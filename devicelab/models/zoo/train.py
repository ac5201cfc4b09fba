"""Reproducible training of zoo models: fixed seeds, deterministic ops, the same recipe every time."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from devicelab.data import fit_to_shape, load_dataset


def train(item: Any, config: Any, progress: Callable[[int, int], None] | None = None) -> tuple[Any, dict]:
    from devicelab.quiet import import_tensorflow

    tf = import_tensorflow()
    import keras

    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    model = item.build(item.input_shape)
    info: dict[str, Any] = {"config": asdict(config), "parameters": int(model.count_params()), "trained": False}
    if not config.dataset or config.epochs == 0:
        return model, info

    train_set = load_dataset(config.dataset, split="train")
    test_set = load_dataset(config.dataset, split="test")
    # Token ids are fed as the integers the model takes (int32), not as the loader's float copy.
    dtype = str(model.inputs[0].dtype)
    x_train = fit_to_shape(train_set.x, (None, *item.input_shape)).astype(dtype)
    x_test = fit_to_shape(test_set.x, (None, *item.input_shape)).astype(dtype)
    model.compile(optimizer=keras.optimizers.Adam(item.learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if progress:
                progress(epoch + 1, config.epochs)

    start = time.perf_counter()
    model.fit(x_train, train_set.y, epochs=config.epochs, batch_size=config.batch_size, shuffle=True,
              verbose=0, callbacks=[Report()])
    _, accuracy = model.evaluate(x_test, test_set.y, verbose=0)
    info.update(trained=True, train_seconds=round(time.perf_counter() - start, 2), train_samples=len(train_set),
                test_accuracy=float(accuracy), test_samples=len(test_set), dataset_sha256=test_set.sha256)
    return model, info
