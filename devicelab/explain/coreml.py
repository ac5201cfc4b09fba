"""Core ML (ML Program .mlpackage): every op's output through coremltools' own MLModelInspector, on macOS.

MLModelInspector (coremltools.models.ml_program.experimental.debugging_utils) copies the program with the
requested op outputs added as model outputs and predicts with it. Prediction exists only on macOS: off a Mac
``capture`` says so (explain stops earlier, in ``devicelab.explain._module``); reading the program (op names,
types, order) works anywhere, and is what matches tensors to layers.

Names: coremltools' TensorFlow frontend keeps the TF op names, but its name sanitizer writes every character
outside [A-Za-z0-9_] as '_', so 'tiny_1/conv1_1/Relu' is the MIL var 'tiny_1_conv1_1_Relu' (plus
'_cast_fp16' in float16 programs). '/' cannot be told from an '_' inside a layer name without the layers:
``source_path`` rebuilds the path from the layer names, and ``core.LayerNames`` then reads it as it reads
TFLite and ONNX names (model scope, Keras 3's '_N' suffixes). Ops the compiler made itself ('max_pool_0',
'transpose_1': their op type and a counter) belong to no layer. From .pt2 sources the vars are the torch op
names, matched to modules as ONNX tensors are (``known``). Core ML computes convolutions channels-first:
``core.align`` transposes back. Nothing is dequantized: coreml-int8 has int8 weights only, and its
activations are float16 like coreml-fp16's.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from devicelab.errors import ModelRunError, require
from devicelab.explain.core import LayerNames, VariantTensor
from devicelab.runtimes.base import order_by_name

FORMAT = "coreml"
RUNS_ON = ("Core ML on the CPU only (ComputeUnit.CPU_ONLY, through coremltools' MLModelInspector): the GPU and "
           "Neural Engine are left out, so where Core ML places an op does not change its numbers; float16 "
           "programs (coreml-fp16, -int8) are compared as typed")
PER_PREDICTION = 256  # op outputs exposed by one inspected copy of the program (a big net gets several copies)
_FLOAT_TYPES = {10: "float16", 11: "float32", 12: "float64"}  # MIL_pb2.DataType: what a layer output is
_ARRAY_TYPES = {65568: np.float32, 65552: np.float16, 131104: np.int32, 65600: np.float64}  # inputs
_CAST = re.compile(r"_cast_fp(16|32)$")  # what coremltools appends to a var computed in another precision
_MADE_BY_MIL = re.compile(r"^(?P<type>[a-z_0-9]+?)_\d+(_cast_fp(16|32))?$")


@dataclass(frozen=True)
class MilOp:
    """One op output of the program's main function: its var name, the op's type and name, its dtype."""

    output: str
    type: str
    op: str
    dtype: str | None  # float16/float32/float64, None for anything else (ints, bools, strings)
    inputs: tuple[str, ...] = ()  # the vars the op reads

    @property
    def is_const(self) -> bool:
        return self.type == "const" or self.type.startswith("constexpr_")


def program_outputs(spec: Any) -> list[MilOp]:
    """Every op output of the main function, in program order (``spec``: an ML Program's Model proto,
    e.g. ``ct.models.MLModel(path, skip_model_load=True).get_spec()``)."""
    if spec.WhichOneof("Type") != "mlProgram":
        raise ModelRunError("the Core ML model is not an ML Program (a neural network .mlmodel has no op "
                            "outputs to inspect)", hint="convert it again with devicelab (coreml-* variants)")
    function = spec.mlProgram.functions["main"]
    block = function.block_specializations[function.opset]
    found = []
    for op in block.operations:
        name = op.attributes["name"].immediateValue.tensor.strings.values[0] if "name" in op.attributes else ""
        inputs = tuple(a.name for argument in op.inputs.values() for a in argument.arguments if a.name)
        for output in op.outputs:
            tensor = output.type.tensorType if output.type.WhichOneof("type") == "tensorType" else None
            dtype = _FLOAT_TYPES.get(tensor.dataType) if tensor is not None else None
            found.append(MilOp(output.name, op.type, name, dtype, inputs))
    return found


def made_by_mil(name: str, op_type: str) -> bool:
    """A name the compiler gave (the op's type and a counter: 'transpose_1', 'max_pool_0_cast_fp16')."""
    match = _MADE_BY_MIL.match(name)
    return bool(match) and match.group("type") == op_type


# --- names -> layers ---------------------------------------------------------------------------------


def source_path(name: str, layers: Sequence[str]) -> str:
    """The TF path a sanitized MIL name came from, as far as the layers tell: each run of '_'-separated
    tokens that spells a layer name (sanitized as coremltools does), with the '_N' after it, becomes one
    component; the tokens between them another. 'tiny_1_conv1_1_Relu' -> 'tiny_1/conv1_1/Relu'."""
    spelled = sorted(((_sanitize(layer).split("_"), layer) for layer in layers), key=lambda s: -len(s[0]))
    tokens = name.split("_")
    parts: list[str] = []
    other: list[str] = []
    at = 0
    while at < len(tokens):
        best: tuple[int, str] | None = None
        for pieces, layer in spelled:
            if tokens[at:at + len(pieces)] != pieces:
                continue
            end = at + len(pieces)
            suffix = end < len(tokens) and tokens[end].isdigit()
            component = f"{layer}_{tokens[end]}" if suffix else layer
            if best is None or end + suffix > best[0]:
                best = (end + suffix, component)
        if best is None:
            other.append(tokens[at])
            at += 1
            continue
        if other:
            parts.append("_".join(other))
            other = []
        parts.append(best[1])
        at = best[0]
    if other:
        parts.append("_".join(other))
    return "/".join(parts)


def owners(ops: Iterable[MilOp], layers: Sequence[str], known: dict[str, str] | None = None
           ) -> dict[str, str | None]:
    """The layer each op output belongs to (None: none, or an op the compiler made), by var name.

    ``known`` names layers by exact source tensor names (a .pt2 source's op names, which coremltools keeps as
    var names, plus '_cast_fp16' in float16 programs); other names are read as Keras paths."""
    ops = list(ops)
    known = known or {}
    # The op's name too: a model output's var is the output's name ('Identity'), its op keeps the TF one.
    paths = {op.output: ";".join(source_path(_CAST.sub("", n), layers) for n in dict.fromkeys((op.output, op.op))
                                 if n and not made_by_mil(n, op.type)) for op in ops}
    names = LayerNames(layers, [p for p in paths.values() if p])
    return {name: known.get(_CAST.sub("", name)) or (names.owner(path) if path else None)
            for name, path in paths.items()}


def aliases(tensors: Iterable[VariantTensor], layers: Sequence[str], known: dict[str, str] | None = None
            ) -> dict[str, str | None]:
    """For ``core.compare``: the layer of every captured tensor (its origin is '<op type> <op name>')."""
    ops = []
    for tensor in tensors:
        op_type, _, op_name = tensor.origin.partition(" ")
        ops.append(MilOp(tensor.name, op_type, op_name, "float32"))
    return owners(ops, layers, known)


def _sanitize(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


# --- capture (macOS) ---------------------------------------------------------------------------------


def capture(model_path: Path, x: list[np.ndarray], input_names: list[str]) -> tuple[list[VariantTensor],
                                                                                   list[VariantTensor]]:
    """(every float op output in program order, the model outputs in order), on every sample."""
    from devicelab.runtimes.coreml import CoreMLRuntime

    CoreMLRuntime.check_available()  # macOS and coremltools, or the clear error
    ct = require("coremltools", "coreml", "explaining Core ML variants")
    try:
        model = ct.models.MLModel(str(model_path), skip_model_load=True, compute_units=ct.ComputeUnit.CPU_ONLY)
        spec = model.get_spec()
    except Exception as exc:  # coremltools raises its own types
        raise ModelRunError(f"coremltools could not read {model_path.name}: {str(exc).strip()[:300]}",
                            hint="the package may be corrupt") from None
    declared = [o.name for o in spec.description.output]
    ops = [op for op in program_outputs(spec) if not op.is_const and (op.dtype or op.output in declared)]
    feeds = _feeds(spec, x, input_names)
    inspector = inspector_class()(model, compute_units=ct.ComputeUnit.CPU_ONLY)
    try:
        rows = asyncio.run(_inspect(inspector, feeds, [op.output for op in ops]))
    except Exception as exc:  # Core ML's prediction errors come through coremltools as plain exceptions
        raise ModelRunError(f"Core ML could not run {model_path.name} with its op outputs exposed: "
                            f"{str(exc).strip()[:300]}",
                            hint="check that `devicelab measure --runtime coreml` runs the variant") from None
    finally:
        inspector.clear_cached_models()
    tensors = [VariantTensor(op.output, np.concatenate(rows[op.output]), None, f"{op.type} {op.op}")
               for op in ops if len(rows[op.output]) == len(feeds)]
    by_name = {t.name: t for t in tensors}
    missing = [n for n in declared if n not in by_name]
    if missing:
        raise ModelRunError(f"Core ML gave no value for output(s) {', '.join(missing)}",
                            hint="run `devicelab measure --runtime coreml` on the variant to see its error")
    return tensors, [by_name[n] for n in declared]


def _feeds(spec: Any, x: list[np.ndarray], input_names: list[str]) -> list[dict[str, np.ndarray]]:
    """One input dict per sample, each array of the dtype the model declares (batch of one)."""
    described = list(spec.description.input)
    order = order_by_name(input_names, [d.name for d in described])
    described = [described[i] for i in order]
    return [{d.name: np.ascontiguousarray(a[n:n + 1], dtype=_ARRAY_TYPES.get(d.type.multiArrayType.dataType,
                                                                             np.float32))
             for d, a in zip(described, x, strict=True)} for n in range(len(x[0]))]


async def _inspect(inspector: Any, feeds: list[dict[str, np.ndarray]], names: list[str]
                   ) -> dict[str, list[np.ndarray]]:
    rows: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for feed in feeds:
        async for name, value in inspector.inspect(inputs=feed, output_names=names,
                                                   num_predict_intermediate_outputs=PER_PREDICTION):
            if value is not None:  # an output Core ML could not expose (the inspector logs why)
                rows[name].append(np.asarray(value, dtype=np.float32))
    return rows


_INSPECTOR: Any = None


def inspector_class() -> Any:
    """MLModelInspector whose cache of inspected program copies works.

    coremltools 9.0 looks a copy up with ``frozenset(names) in cached_key`` (a set as an element of a set of
    names: never true), so every ``inspect`` call (one per sample) would compile and load the program again.
    """
    global _INSPECTOR
    if _INSPECTOR is None:
        from coremltools.models.ml_program.experimental.debugging_utils import MLModelInspector

        class CachingInspector(MLModelInspector):  # type: ignore[misc]
            async def _create_model_with_outputs(self, output_names: list[str], ignore_const_ops: bool) -> Any:
                cached = self._cached_models.get(frozenset(output_names))
                if cached is not None:
                    return cached
                return await super()._create_model_with_outputs(output_names, ignore_const_ops)

        _INSPECTOR = CachingInspector
    return _INSPECTOR


# --- selective quantization (explain --fix) ----------------------------------------------------------


def float_ops(spec: Any, keep_float: Sequence[str], layers: Sequence[str]) -> list[str]:
    """The const ops holding the weights of ``keep_float`` layers: the consts their ops read (a conv's weight
    is often a compiler-named 'transpose_0_to_fp16') and those named after them. Naming the consts themselves
    keeps a weight another layer shares float too, where leaving only the layer's ops unconfigured would
    make coremltools refuse the two configs of one const."""
    ops = program_outputs(spec)
    owner = owners(ops, layers)
    consts = {op.output: op for op in ops if op.is_const}
    kept = [op for op in ops if owner[op.output] in keep_float]
    if not kept:
        raise ModelRunError(f"none of the Core ML ops belongs to layer(s) {', '.join(keep_float)}",
                            hint="name layers as `devicelab explain` lists them")
    read = [consts[name] for op in kept if not op.is_const for name in op.inputs if name in consts]
    return list(dict.fromkeys(op.op for op in [*read, *(op for op in kept if op.is_const)] if op.op))


def convert_selective(ctx: Any, variant: Any, keep_float: list[str], layers: list[str], out_dir: Path
                      ) -> tuple[list[str], dict[str, Any] | None]:
    """coreml-int8 except the weights of ``keep_float`` layers, which stay float16 (the program computes in
    float16 either way): the same conversion, with those ops given no config in ``op_name_configs``.
    Returns (the ops kept float, the conversion's metadata)."""
    from devicelab.convert import coreml as converter

    kept: list[str] = []

    def choose(mlmodel: Any) -> list[str]:
        kept.extend(float_ops(mlmodel.get_spec(), keep_float, layers))
        return kept

    return kept, converter.convert(ctx, variant, out_dir, keep_float=choose)
