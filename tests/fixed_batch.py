"""Fixed-batch (batch 1) TFLite files for the browser tests: LiteRT.js refuses a -1 batch dimension.

Until the converters on main make every TFLite artifact fixed-batch, the LiteRT.js tests convert a Keras model
themselves, with the same converter settings as devicelab/convert/tflite.py, and write the artifact's manifest
(I/O names, dtypes, shapes and int8 quantization parameters) beside the file as the cache does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def convert(keras_model: Any, quant: str, out_dir: Path, calibration: np.ndarray | None = None,
            fixed: bool = True) -> Path:
    """model.tflite (+ manifest.json), every input's batch fixed to 1 (or left -1 with fixed=False);
    quant: fp32|fp16|dynamic-int8|int8."""
    import keras
    import tensorflow as tf

    from devicelab.convert.tflite import describe

    inputs = [keras.Input(batch_shape=(1, *t.shape[1:]), dtype=t.dtype, name=t.name.split(":")[0])
              for t in keras_model.inputs]
    model = keras.Model(inputs, keras_model(inputs if len(inputs) > 1 else inputs[0])) if fixed else keras_model
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quant != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quant == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    elif quant == "int8":
        assert calibration is not None
        converter.representative_dataset = lambda: ([sample[None, ...]] for sample in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "model.tflite").write_bytes(converter.convert())
    (out_dir / "manifest.json").write_text(json.dumps({"variant": f"tflite-{quant}", **describe(out_dir)}, indent=2))
    return out_dir / "model.tflite"
