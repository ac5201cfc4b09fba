"""TFLite: every intermediate tensor through ai-edge-litert, and selectively quantized variants through TF's
QuantizationDebugger.

``Interpreter(..., experimental_preserve_all_tensors=True)`` keeps every op output readable after invoke();
the builtin kernels are used (not XNNPACK) because a delegate computes its partition inside one opaque op
whose intermediate tensors are never written. Tensor names carry the Keras layer path
('model_1/conv1_1/Relu;model_1/conv1_1/BiasAdd'), several layers when TFLite fused their ops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from devicelab.errors import ModelRunError, require
from devicelab.explain.core import LayerNames, VariantTensor
from devicelab.runtimes.base import dequantize, order_by_name, quantize

FORMAT = "tflite"
RUNS_ON = "the builtin TFLite kernels (XNNPACK computes its partition inside one op, whose intermediates are "\
          "never written)"


def capture(model_path: Path, x: list[np.ndarray], input_names: list[str]) -> tuple[list[VariantTensor],
                                                                                   list[VariantTensor]]:
    """(every op output in execution order, the model outputs in signature order), on every sample."""
    require("ai_edge_litert.interpreter", "tflite", "explaining TFLite variants")
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from devicelab.runtimes.tflite import _signature_order

    try:
        interpreter = Interpreter(model_path=str(model_path), experimental_preserve_all_tensors=True,
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    except (ValueError, RuntimeError) as exc:
        raise ModelRunError(f"TFLite could not load {model_path.name}: {str(exc).strip()[:300]}",
                            hint="the file may be corrupt") from None
    inputs, outputs = _signature_order(interpreter)
    inputs = [inputs[i] for i in order_by_name(input_names, [d["name"] for d in inputs])]
    for detail, array in zip(inputs, x, strict=True):
        shape = [1, *array.shape[1:]]
        if list(detail["shape"]) != shape:
            interpreter.resize_tensor_input(detail["index"], shape, strict=False)
    interpreter.allocate_tensors()
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    produced: list[int] = []
    for op in interpreter._get_ops_details():  # execution order; the only listing of op outputs there is
        produced.extend(int(i) for i in op["outputs"] if i >= 0 and int(i) not in produced)
    wanted = [i for i in produced if np.dtype(details[i]["dtype"]).kind in "fiu"]
    rows: dict[int, list[np.ndarray]] = {i: [] for i in wanted}
    for n in range(len(x[0])):
        for detail, array in zip(inputs, x, strict=True):
            sample = array[n:n + 1]
            scale, zero_point = detail["quantization"]
            if np.dtype(detail["dtype"]) in (np.int8, np.uint8) and scale and sample.dtype.kind == "f":
                sample = quantize(sample, scale, zero_point, detail["dtype"])
            interpreter.set_tensor(detail["index"], np.ascontiguousarray(sample, dtype=detail["dtype"]))
        interpreter.invoke()
        for i in wanted:
            rows[i].append(_as_float(interpreter.get_tensor(i), details[i]))
    tensors = [VariantTensor(details[i]["name"], np.concatenate(rows[i]), _scale(details[i])) for i in wanted]
    by_index = {i: t for i, t in zip(wanted, tensors, strict=True)}
    return tensors, [by_index[d["index"]] for d in outputs if d["index"] in by_index]


def _scale(detail: dict[str, Any]) -> float | None:
    scale, _ = detail["quantization"]
    return float(scale) if scale and np.dtype(detail["dtype"]).kind in "iu" else None


def _as_float(value: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if scale and value.dtype.kind in "iu":
        return dequantize(value, scale, zero_point)
    return np.asarray(value, dtype=np.float32)


# --- selective quantization (explain --fix) ----------------------------------------------------------


def convert_selective(ctx: Any, variant: Any, keep_float: list[str], layers: list[str],
                      output_layers: list[str | None], out_file: Path) -> list[str]:
    """Full-integer quantization except the ops of ``keep_float`` layers, which stay float32.

    The graph is the one the tflite-int8 variant is made from (devicelab.convert.tfgraph: a frozen batch-1
    function, recurrent layers unrolled), so tensor names and ops match the full int8 variant. TF's
    QuantizationDebugger names what to keep by the quantized model's tensor names: a first plain calibrated
    conversion lists them, then the debugger converts again with those denylisted. Its model has float32
    inputs and outputs. Returns the denylisted tensor names.
    """
    tf = require("tensorflow", "tensorflow", "TFLite conversion")
    from devicelab.convert.tfgraph import frozen_function, recurrent_layers, unrolled
    from devicelab.quiet import captured_output

    model = None
    if recurrent_layers(ctx.source.keras_model()):  # as tflite-int8 does: calibrating a loop crashes
        shapes = ctx.input_shapes(fixed=True, variant=variant)
        model = unrolled(ctx.source.keras_model(), shapes)
    else:
        shapes = ctx.input_shapes()
    with captured_output():
        function, owner = frozen_function(ctx, shapes, model)
    feeds = ctx.calibration_feeds(variant)

    def representative() -> Any:
        yield from feeds

    def converter() -> Any:
        conv = tf.lite.TFLiteConverter.from_concrete_functions([function], owner)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        return conv

    with captured_output():
        plain = converter().convert()
    from ai_edge_litert.interpreter import Interpreter

    from devicelab.runtimes.tflite import _signature_order

    interpreter = Interpreter(model_content=plain)
    # Model outputs lose their layer's name ('StatefulPartitionedCall:0'): they belong to the output layers.
    outputs = {d["index"]: layer for d, layer in zip(_signature_order(interpreter)[1], output_layers,
                                                      strict=False)}
    denylist = []
    produced = [int(i) for op in interpreter._get_ops_details() for i in op["outputs"] if i >= 0]
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    names = LayerNames(layers, [d["name"] for d in details.values()])
    for index in dict.fromkeys(produced):
        name = details[index]["name"]
        owner_layer = names.owner(name) or outputs.get(index)
        if owner_layer in keep_float:
            denylist.append(name)
    if not denylist:
        raise ModelRunError(f"none of the TFLite ops belongs to layer(s) {', '.join(keep_float)}",
                            hint="name layers as `devicelab explain` lists them")
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=denylist)
    with captured_output():
        debugger = tf.lite.experimental.QuantizationDebugger(converter=converter(), debug_dataset=representative,
                                                             debug_options=options)
        out_file.write_bytes(debugger.get_nondebug_quantized_model())
    return denylist
