"""The reference side for Keras sources: every top-level layer's output on the samples, in graph order."""

from __future__ import annotations

from typing import Any

import numpy as np

from devicelab.models import SourceModel


def layer_names(model: Any) -> list[str]:
    """Top-level layers with one output tensor, in graph order (input layers carry nothing to compare)."""
    import keras

    names = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        try:
            output = layer.output
        except (AttributeError, ValueError):  # a layer called several times has no single output
            continue
        if not isinstance(output, (list, tuple, dict)):
            names.append(layer.name)
    return names


def capture(source: SourceModel, x: list[np.ndarray], batch: int = 64) -> dict[str, np.ndarray]:
    """Each layer's output on every sample: a keras.Model over the source's layer outputs."""
    import keras

    model = source.keras_model()
    names = layer_names(model)
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    parts: list[list[np.ndarray]] = [[] for _ in names]
    for start in range(0, len(x[0]), batch):
        feed = [a[start:start + batch] for a in x]
        outputs = probe(feed, training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        for k, out in enumerate(outputs):
            parts[k].append(np.asarray(out, dtype=np.float32))
    return {name: np.concatenate(chunks) for name, chunks in zip(names, parts, strict=True)}


def output_layers(source: SourceModel) -> list[str | None]:
    """For each model output (in order), the layer that produces it, when it is a top-level layer."""
    model = source.keras_model()
    found: list[str | None] = []
    by_output = {id(layer.output): layer.name for layer in model.layers
                 if layer.name in set(layer_names(model))}
    for tensor in model.outputs:
        found.append(by_output.get(id(tensor)))
    return found
