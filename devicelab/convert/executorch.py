"""ExecuTorch variants (.pte programs lowered to XNNPACK), made from torch.export programs (.pt2 sources).

fp32: the exported program as it is, every op XNNPACK takes delegated to it (the rest runs on ExecuTorch's
portable kernels). int8: PyTorch's PT2E flow with XNNPACK's quantizer (int8 weights per channel, symmetric;
int8 activations calibrated on real data), then the same lowering; inputs and outputs stay float32.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from devicelab.convert.base import ConversionContext, Variant, captured_output, io_spec
from devicelab.errors import CalibrationError, require

FORMAT = "executorch"
SOURCES = ("pt2",)
VARIANTS = [
    Variant("executorch-fp32", FORMAT, "fp32", "ExecuTorch .pte from a .pt2 program, float32, lowered to XNNPACK",
            "executorch", sources=SOURCES),
    Variant("executorch-int8", FORMAT, "int8",
            "ExecuTorch .pte from a .pt2 program, PT2E int8 (XNNPACKQuantizer: per-channel symmetric weights, "
            "int8 activations), float I/O, lowered to XNNPACK", "executorch", needs_calibration=True, sources=SOURCES),
]
MODEL_FILE = "model.pte"
XNNPACK = "XnnpackBackend"  # the backend id the XNNPACK partitioner writes into the program
# ExecuTorch's ScalarType codes (c10) as numpy dtype names, for what MethodMeta reports.
SCALAR_TYPES = {0: "uint8", 1: "int8", 2: "int16", 3: "int32", 4: "int64", 5: "float16", 6: "float32",
                7: "float64", 11: "bool"}


def versions() -> dict[str, str]:
    return {name: version(name) for name in ("executorch", "torch", "torchao")}


def convert(ctx: ConversionContext, variant: Variant, out_dir: Path) -> None:
    with captured_output():  # torchao and the exporter print warnings and C++ chatter on import and trace
        require("executorch.exir", "executorch", "ExecuTorch conversion")
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower

        program = ctx.source.torch_program()
        if variant.quant == "int8":
            program = _quantized(program, calibration_inputs(ctx, variant))
        elif _only_batch_is_dynamic(ctx.source.inputs):
            program = _batch_of_one(program, ctx.source.inputs)
        lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch()
    (out_dir / MODEL_FILE).write_bytes(lowered.buffer)


def calibration_inputs(ctx: ConversionContext, variant: Variant) -> list[tuple[Any, ...]]:
    """The calibration data as argument tuples of one sample each, in the program's input order and dtypes."""
    import torch

    arrays = ctx.require_calibration(variant)
    arrays = [arrays] if isinstance(arrays, np.ndarray) else list(arrays)  # one array per input (N, *sample)
    specs = ctx.source.inputs
    if len(arrays) != len(specs):
        raise CalibrationError(f"{variant.name}: the calibration data has {len(arrays)} input(s), "
                               f"the program takes {len(specs)}", hint="give one array per program input")
    count = min(len(a) for a in arrays)
    return [tuple(torch.from_numpy(np.ascontiguousarray(a[i : i + 1], dtype=spec.dtype))
                  for a, spec in zip(arrays, specs, strict=True)) for i in range(count)]


def _only_batch_is_dynamic(specs: list[Any]) -> bool:
    return any(s.shape and s.shape[0] is None for s in specs) and all(
        d is not None for s in specs for d in s.shape[1:])


def _batch_of_one(program: Any, specs: list[Any]) -> Any:
    """A program exported with a dynamic batch, exported again with a batch of one: what the apps feed, what
    int8 and Core ML variants get, and static shapes XNNPACK plans ahead for. (Kept dynamic, the .pte would be
    bounded by an upper size ExecuTorch picks itself, and report that size as its input shape.)"""
    import torch

    example = tuple(torch.zeros([1, *s.shape[1:]], dtype=getattr(torch, s.dtype)) for s in specs)
    return torch.export.export(program.module(), example)


def _quantized(program: Any, samples: list[tuple[Any, ...]]) -> Any:
    """PT2E: insert observers, run the calibration samples, fold them into quantize/dequantize pairs, re-export."""
    import torch
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    prepared = prepare_pt2e(program.module(), quantizer)
    with torch.no_grad():
        for sample in samples:
            prepared(*sample)
    converted = convert_pt2e(prepared)
    # One sample fixes the shapes: a batch of one, as the apps feed it.
    return torch.export.export(converted, samples[0])


def delegates(path: Path) -> list[str]:
    """The backends the program delegates to (empty when everything runs on the portable kernels)."""
    with captured_output():  # importing executorch.exir pulls in torchao, which prints about its CUDA kernels
        from executorch.exir._serialize._program import deserialize_pte_binary

        pte = deserialize_pte_binary(path.read_bytes())
    program = getattr(pte, "program", pte)
    return sorted({d.id for plan in program.execution_plan for d in plan.delegates})


def describe(out_dir: Path) -> dict[str, Any]:
    path = out_dir / MODEL_FILE
    with captured_output():  # the import pulls in torchao (CUDA kernel chatter); loading prints cpuinfo lines
        from executorch.runtime import Runtime

        meta = Runtime.get().load_program(path).metadata("forward")

    def spec(kind: str, index: int, info: Any) -> dict[str, Any]:
        return io_spec(f"{kind}_{index}", SCALAR_TYPES.get(int(info.dtype())), list(info.sizes()))

    return {"inputs": [spec("input", i, meta.input_tensor_meta(i)) for i in range(meta.num_inputs())],
            "outputs": [spec("output", i, meta.output_tensor_meta(i)) for i in range(meta.num_outputs())],
            "delegates": delegates(path)}
