"""Core ML variants (ML Program .mlpackage) made with coremltools; conversion works anywhere, prediction on macOS."""

from __future__ import annotations

import logging
from importlib.metadata import version
from pathlib import Path
from typing import Any

from devicelab.convert.base import ConversionContext, Variant, captured_output, fixed_shapes_entry, io_spec
from devicelab.convert.tfgraph import recurrent_layers, unrolled
from devicelab.errors import ConversionError, require

FORMAT = "coreml"
VARIANTS = [
    Variant("coreml-fp32", FORMAT, "fp32", "Core ML ML Program, float32 compute", "coreml", sources=("keras",)),
    Variant("coreml-fp16", FORMAT, "fp16", "Core ML ML Program, float16 compute (the ANE's native type)", "coreml",
            sources=("keras",)),
    Variant("coreml-int8", FORMAT, "int8", "Core ML with int8 linear-quantized weights, fp16 compute", "coreml",
            sources=("keras",)),
]
MODEL_FILE = "model.mlpackage"
SHAPE_DEPENDENT = True  # free dimensions are fixed to the data's shapes when given: they key the cache


def versions() -> dict[str, str]:
    return {"coremltools": version("coremltools"), "tensorflow": version("tensorflow")}


def convert(ctx: ConversionContext, variant: Variant, out_dir: Path) -> dict[str, Any] | None:
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    ct = require("coremltools", "coreml", "Core ML conversion")
    if ctx.source.format != "keras":
        raise ConversionError(f"{variant.name} is made from Keras models only (coremltools 9 does not read "
                              f"{ctx.source.format} folders)", hint="give the .keras file instead")
    model = ctx.source.keras_model()
    fixed = False
    if recurrent_layers(model):
        # coremltools' TensorFlow frontend cannot convert Keras 3's recurrent while loop (its condition reads a
        # captured tensor: "list index out of range"); unrolled, the layer is plain ops. That needs fixed shapes.
        shapes = ctx.input_shapes(fixed=True, variant=variant)
        fixed = ctx.has_free_dims()
        model = unrolled(model, shapes)
    elif ctx.has_free_dims() and ctx.shapes is not None:
        shapes, fixed = ctx.input_shapes(fixed=True, variant=variant), True
    else:
        shapes = ctx.input_shapes()
    # A fixed batch of one: what an app feeds, and what lets Core ML plan memory ahead. Dimensions still free
    # (no data shapes given) become flexible ranges.
    inputs = [ct.TensorType(name=spec.name, dtype=_coreml_dtype(spec.dtype),
                            shape=ct.Shape([ct.RangeDim(1, 4096) if d is None else int(d) for d in shape]))
              for spec, shape in zip(ctx.source.inputs, shapes, strict=True)]
    precision = ct.precision.FLOAT32 if variant.quant == "fp32" else ct.precision.FLOAT16
    with captured_output():
        mlmodel = ct.convert(model, source="tensorflow", convert_to="mlprogram", inputs=inputs,
                             compute_precision=precision, minimum_deployment_target=ct.target.iOS16)
        if variant.quant == "int8":
            from coremltools.optimize import coreml as cto

            config = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(mode="linear_symmetric"))
            mlmodel = cto.linear_quantize_weights(mlmodel, config=config)
        mlmodel.save(str(out_dir / MODEL_FILE))
    return {"fixed_shapes": fixed_shapes_entry(ctx, shapes)} if fixed else None


def _coreml_dtype(name: str) -> Any:
    """Core ML inputs are float32 or int32: integer ids of any width are fed as int32."""
    import numpy as np

    kind = np.dtype(name).kind
    return np.int32 if kind in "iub" else np.float32


def describe(out_dir: Path) -> dict[str, Any]:
    ct = require("coremltools", "coreml")
    spec = ct.utils.load_spec(str(out_dir / MODEL_FILE))
    kinds = {0: None, 65568: "float32", 65552: "float16", 131104: "int32", 65600: "float64"}

    def entry(feature: Any) -> dict[str, Any]:
        array = feature.type.multiArrayType
        return io_spec(feature.name, kinds.get(array.dataType), list(array.shape))

    return {"inputs": [entry(f) for f in spec.description.input],
            "outputs": [entry(f) for f in spec.description.output]}
