"""TensorFlow Lite variants, made with TFLiteConverter (builtin ops only, so phones need no Flex delegate)."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

from devicelab.convert.base import ConversionContext, Variant, captured_output, io_spec
from devicelab.errors import require

FORMAT = "tflite"
VARIANTS = [
    Variant("tflite-fp32", FORMAT, "fp32", "TFLite float32, no quantization", "tflite"),
    Variant("tflite-fp16", FORMAT, "fp16", "TFLite float16 weights (dequantized to fp32 on CPU)", "tflite"),
    Variant("tflite-dynamic-int8", FORMAT, "dynamic-int8",
            "TFLite dynamic-range: int8 weights, activations quantized on the fly", "tflite"),
    Variant("tflite-int8", FORMAT, "int8",
            "TFLite full integer: int8 weights and activations, int8 I/O, calibrated on real data", "tflite",
            needs_calibration=True),
]
MODEL_FILE = "model.tflite"


def versions() -> dict[str, str]:
    return {"tensorflow": version("tensorflow")}


def convert(ctx: ConversionContext, variant: Variant, out_dir: Path) -> None:
    tf = require("tensorflow", "tensorflow", "TFLite conversion")
    if ctx.source.format == "keras":
        converter = tf.lite.TFLiteConverter.from_keras_model(ctx.source.keras_model())
    else:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(ctx.saved_model()))
    if variant.quant != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant.quant == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    elif variant.quant == "int8":
        samples = ctx.require_calibration(variant)

        def representative() -> Any:
            for sample in samples:
                yield [sample[None, ...]]

        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with captured_output():
        flatbuffer = converter.convert()
    (out_dir / MODEL_FILE).write_bytes(flatbuffer)


def describe(out_dir: Path) -> dict[str, Any]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(out_dir / MODEL_FILE))

    def spec(detail: dict[str, Any]) -> dict[str, Any]:
        entry = io_spec(detail["name"], detail["dtype"], detail["shape_signature"])
        scale, zero_point = detail["quantization"]
        if scale:
            entry["quantization"] = {"scale": float(scale), "zero_point": int(zero_point)}
        return entry

    return {"inputs": [spec(d) for d in interpreter.get_input_details()],
            "outputs": [spec(d) for d in interpreter.get_output_details()]}
