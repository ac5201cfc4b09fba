"""TensorFlow sources as one frozen, batch-1 graph: what the TFLite and Core ML converters are fed.

Why not `TFLiteConverter.from_keras_model`: it keeps a free batch dimension (LiteRT.js refuses it, tfjs-tflite's
first inference on it is wrong, and every runtime runs batch 1 anyway), and on Keras 3 recurrent layers it keeps
resource variables inside the loop body, so the loop's TensorList ops cannot be lowered to builtin ops. A frozen
concrete function with a fixed batch of one converts the same loop to a builtin WHILE op.
"""

from __future__ import annotations

import copy
from typing import Any

from devicelab.convert.base import ConversionContext

RECURRENT = ("LSTM", "GRU", "SimpleRNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")
_LOOP_OPS = {"While", "StatelessWhile"}


def recurrent_layers(model: Any) -> list[str]:
    """Names of the recurrent layers in a Keras model (nested models and Bidirectional wrappers included)."""
    import keras

    found: list[str] = []

    def walk(layer: Any) -> None:
        if isinstance(layer, keras.layers.RNN) or type(layer).__name__ in RECURRENT:
            found.append(layer.name)
            return
        for attribute in ("layers", "forward_layer", "backward_layer", "layer"):
            inner = getattr(layer, attribute, None)
            for item in inner if isinstance(inner, list) else [inner] if inner is not None else []:
                if hasattr(item, "name") and item is not layer:
                    walk(item)

    for layer in model.layers:
        walk(layer)
    return found


def unrolled(model: Any, shapes: list[list[int | None]]) -> Any:
    """A copy of a Keras model with every recurrent layer unrolled and the inputs fixed to `shapes`.

    Unrolled, a recurrent layer is plain matrix ops repeated per time step: no loop, so full-integer TFLite
    calibration (which crashes on a WHILE loop) and Core ML (whose TensorFlow frontend cannot read Keras 3's
    loop condition) both work. It needs a fixed sequence length.
    """
    import keras

    def patch(config: Any) -> None:
        if isinstance(config, dict):
            if config.get("class_name") in RECURRENT and isinstance(config.get("config"), dict):
                config["config"]["unroll"] = True
            for value in config.values():
                patch(value)
        elif isinstance(config, list):
            for value in config:
                patch(value)

    def clone(layer: Any) -> Any:
        config = {"class_name": type(layer).__name__, "config": copy.deepcopy(layer.get_config())}
        patch(config)
        return type(layer).from_config(config["config"])

    inputs = [keras.Input(batch_shape=tuple(shape), dtype=tensor.dtype, name=tensor.name)
              for shape, tensor in zip(shapes, model.inputs, strict=True)]
    copy_ = keras.models.clone_model(model, input_tensors=keras.tree.pack_sequence_as(model.input, inputs),
                                     clone_function=clone)
    copy_.set_weights(model.get_weights())
    return copy_


def frozen_function(ctx: ConversionContext, shapes: list[list[int | None]], model: Any = None) -> tuple[Any, Any]:
    """(frozen concrete function, object keeping its graph alive) taking one tensor per source input."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    specs = [tf.TensorSpec(shape, _tf_dtype(spec.dtype), name=spec.name)
             for shape, spec in zip(shapes, ctx.source.inputs, strict=True)]
    if ctx.source.format == "keras" or model is not None:
        import keras

        model = model if model is not None else ctx.source.keras_model()
        owner = model

        def call(*args: Any) -> Any:
            return keras.tree.flatten(model(keras.tree.pack_sequence_as(model.input, list(args)), training=False))
    else:
        owner = tf.saved_model.load(str(ctx.saved_model()))
        signature = owner.signatures["serving_default"]
        names = [spec.name for spec in ctx.source.inputs]
        outputs = [spec.name for spec in ctx.source.outputs]

        def call(*args: Any) -> Any:
            result = signature(**dict(zip(names, args, strict=True)))
            return [result[name] for name in outputs]

    concrete = tf.function(call, input_signature=specs).get_concrete_function()
    return convert_variables_to_constants_v2(concrete), owner


def has_loop(frozen: Any) -> bool:
    """True when the frozen graph holds a while loop (in the graph or in one of its functions)."""
    graph_def = frozen.graph.as_graph_def()
    if any(node.op in _LOOP_OPS for node in graph_def.node):
        return True
    return any(node.op in _LOOP_OPS for fn in graph_def.library.function for node in fn.node_def)


def _tf_dtype(name: str) -> Any:
    import tensorflow as tf

    return tf.dtypes.as_dtype(name)
