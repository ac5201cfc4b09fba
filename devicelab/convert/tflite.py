"""TensorFlow Lite variants, made with TFLiteConverter (builtin ops only, so phones need no Flex delegate).

Every artifact has a fixed batch of one; other free dimensions stay free (runtimes resize them from the data)
unless the converter needs them fixed, and then the manifest's `fixed_shapes` says to what. Recurrent layers
become a builtin WHILE loop (fp32, fp16, dynamic-int8) or are unrolled for full-integer int8, whose calibration
crashes the converter on a loop.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

from devicelab.convert.base import (
    ConversionContext,
    Variant,
    captured_output,
    fixed_shapes_entry,
    io_spec,
)
from devicelab.convert.tfgraph import frozen_function, has_loop, recurrent_layers, unrolled
from devicelab.errors import UnsupportedOpError, require

FORMAT = "tflite"
SHAPE_DEPENDENT = True  # an artifact may be made for the data's shapes: they key the cache
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


def convert(ctx: ConversionContext, variant: Variant, out_dir: Path) -> dict[str, Any] | None:
    require("tensorflow", "tensorflow", "TFLite conversion")
    model = None
    fixed = False
    if variant.quant == "int8" and ctx.source.format == "keras" and recurrent_layers(ctx.source.keras_model()):
        # Full-integer calibration of a WHILE loop crashes the converter (a segfault, not an exception):
        # unroll the recurrent layers instead, which needs a fixed sequence length.
        shapes = ctx.input_shapes(fixed=True, variant=variant)
        fixed = ctx.has_free_dims()
        model = unrolled(ctx.source.keras_model(), shapes)
    else:
        shapes = ctx.input_shapes()
    try:
        flatbuffer = _convert(ctx, variant, shapes, model)
    except Exception:
        if not ctx.has_free_dims() or ctx.shapes is None or fixed:
            raise
        # Some graphs only lower to builtin ops with static shapes: make the variant for the data's shapes.
        shapes = ctx.input_shapes(fixed=True, variant=variant)
        fixed = True
        flatbuffer = _convert(ctx, variant, shapes, model)
    (out_dir / MODEL_FILE).write_bytes(flatbuffer)
    return {**_named_io(ctx, out_dir), "fixed_shapes": fixed_shapes_entry(ctx, shapes) if fixed else None}


def _convert(ctx: ConversionContext, variant: Variant, shapes: list[list[int | None]], model: Any) -> bytes:
    import tensorflow as tf

    with captured_output():
        function, owner = frozen_function(ctx, shapes, model)
    if variant.quant == "int8" and has_loop(function):
        raise UnsupportedOpError(
            f"{variant.name}: the model has a while loop (a recurrent layer or tf.while_loop); the TFLite "
            "converter's full-integer calibration cannot handle loops (it crashes)",
            hint="give the Keras model (.keras) so devicelab can unroll its recurrent layers, or use "
                 "tflite-dynamic-int8")
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], owner)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if variant.quant != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant.quant == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    elif variant.quant == "int8":
        names = [spec.name for spec in ctx.source.inputs]
        # Keyed by signature input name: the converter orders a model's inputs by name, not as the model does.
        feeds = [dict(zip(names, sample, strict=True)) for sample in ctx.calibration_feeds(variant)]

        def representative() -> Any:
            yield from feeds

        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8  # float inputs and outputs only; integer ids stay as they are
        converter.inference_output_type = tf.int8
    with captured_output():
        return converter.convert()


def _named_io(ctx: ConversionContext, out_dir: Path) -> dict[str, Any]:
    """describe(), with each tensor named after the source input or output it stands for.

    The converter sorts inputs by name (a model taking `image` then `meta` gets `meta` first) and names tensors
    `serving_default_<name>:0` / `PartitionedCall:<k>`; the listing keeps the artifact's own order (what an
    index-based runtime uses) and gives each entry the source's name, plus the flatbuffer's own as `tensor`.
    """
    from ai_edge_litert.interpreter import Interpreter

    listed = describe(out_dir)
    interpreter = Interpreter(model_path=str(out_dir / MODEL_FILE))
    signature = next(iter(interpreter._get_full_signature_list().values()), {"inputs": {}, "outputs": {}})
    by_index: dict[int, str] = {index: key for key, index in signature["inputs"].items()}
    outputs = [spec.name for spec in ctx.source.outputs]
    for key, index in signature["outputs"].items():  # keys output_0, output_1... in the model's order
        position = int(key.rsplit("_", 1)[-1]) if key.rsplit("_", 1)[-1].isdigit() else -1
        by_index[index] = outputs[position] if 0 <= position < len(outputs) else key
    for part, details in (("inputs", interpreter.get_input_details()), ("outputs", interpreter.get_output_details())):
        for entry, detail in zip(listed[part], details, strict=True):
            entry["tensor"] = entry["name"]
            entry["name"] = by_index.get(detail["index"], entry["name"])
    return listed


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
