"""Core ML variants (ML Program .mlpackage) made with coremltools from Keras models or torch.export programs;
conversion works anywhere, prediction on macOS."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from devicelab.convert.base import ConversionContext, Variant, captured_output, fixed_shapes_entry, io_spec
from devicelab.convert.tfgraph import recurrent_layers, unrolled
from devicelab.errors import ConversionError, require

FORMAT = "coreml"
SOURCES = ("keras", "pt2")
VARIANTS = [
    Variant("coreml-fp32", FORMAT, "fp32", "Core ML ML Program, float32 compute", "coreml", sources=SOURCES),
    Variant("coreml-fp16", FORMAT, "fp16", "Core ML ML Program, float16 compute (the ANE's native type)", "coreml",
            sources=SOURCES),
    Variant("coreml-int8", FORMAT, "int8", "Core ML with int8 linear-quantized weights, fp16 compute", "coreml",
            sources=SOURCES),
]
MODEL_FILE = "model.mlpackage"
SHAPE_DEPENDENT = True  # free dimensions are fixed to the data's shapes when given: they key the cache


def versions() -> dict[str, str]:
    return {"coremltools": version("coremltools"), "tensorflow": version("tensorflow")}


def convert(ctx: ConversionContext, variant: Variant, out_dir: Path,
            keep_float: Callable[[Any], Iterable[str]] | None = None) -> dict[str, Any] | None:
    """``keep_float`` (int8 only; explain --fix): given the float16 program, the names of the weight consts
    that stay float16."""
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    ct = require("coremltools", "coreml", "Core ML conversion")
    if ctx.source.format == "pt2":
        return _convert_pt2(ct, ctx.source.torch_program(), variant, out_dir)
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
            mlmodel = quantize_weights(mlmodel, keep_float)
        mlmodel.save(str(out_dir / MODEL_FILE))
    return {"fixed_shapes": fixed_shapes_entry(ctx, shapes)} if fixed else None


def quantize_weights(mlmodel: Any, keep_float: Callable[[Any], Iterable[str]] | None = None) -> Any:
    """int8 linear-symmetric weights (coreml-int8), except the const ops ``keep_float`` names: a None config
    in ``op_name_configs`` leaves those weights float16."""
    from coremltools.optimize import coreml as cto

    skip: dict[str, Any] = {name: None for name in keep_float(mlmodel)} if keep_float else {}
    config = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(mode="linear_symmetric"),
                                    op_name_configs=skip)
    return cto.linear_quantize_weights(mlmodel, config=config)


def _coreml_dtype(name: str) -> Any:
    """Core ML inputs are float32 or int32: integer ids of any width are fed as int32."""
    import numpy as np

    kind = np.dtype(name).kind
    return np.int32 if kind in "iub" else np.float32


def _convert_pt2(ct: Any, program: Any, variant: Variant, out_dir: Path) -> None:
    """A torch.export program: its shapes are the ones it was exported with (export with a batch of one)."""
    precision = ct.precision.FLOAT32 if variant.quant == "fp32" else ct.precision.FLOAT16
    with captured_output():
        mlmodel = ct.convert(pt2_program(program), convert_to="mlprogram", compute_precision=precision,
                             minimum_deployment_target=ct.target.iOS16)
        if variant.quant == "int8":
            mlmodel = quantize_weights(mlmodel)
        mlmodel.save(str(out_dir / MODEL_FILE))


def pt2_program(program: Any) -> Any:
    """The exported program as coremltools 9 reads it: ATen ops (it refuses the TRAINING dialect) with every
    positional argument written out. torch.export leaves defaults implicit (max_pool2d's stride), and
    coremltools' op converters read arguments by position, so they fail on e.g. `F.max_pool2d(x, 2)`."""
    import torch

    program = program.run_decompositions({})  # a new program: the source's stays as it was
    for node in program.graph.nodes:
        if node.op != "call_function" or not isinstance(node.target, torch._ops.OpOverload):
            continue
        args = list(node.args)
        for argument in [a for a in node.target._schema.arguments if not a.kwarg_only][len(args):]:
            if argument.name in node.kwargs or not argument.has_default_value():
                break
            args.append(argument.default_value)
        node.args = tuple(args)
    program.graph_module.recompile()
    return program


def describe(out_dir: Path) -> dict[str, Any]:
    ct = require("coremltools", "coreml")
    spec = ct.utils.load_spec(str(out_dir / MODEL_FILE))
    kinds = {0: None, 65568: "float32", 65552: "float16", 131104: "int32", 65600: "float64"}

    def entry(feature: Any) -> dict[str, Any]:
        array = feature.type.multiArrayType
        return io_spec(feature.name, kinds.get(array.dataType), list(array.shape))

    return {"inputs": [entry(f) for f in spec.description.input],
            "outputs": [entry(f) for f in spec.description.output]}
