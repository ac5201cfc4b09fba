"""ONNX: every node output exposed as a graph output and read from ONNX Runtime; selectively quantized QDQ
variants through ``quantize_static(nodes_to_exclude=...)``.

tf2onnx keeps the TensorFlow names ('model_1/conv1_1/Relu:0', node 'model_1/conv1_1/Relu'), so tensors match
Keras layers by name; it computes convolutions channels-first, which ``core.align`` transposes back. In a
QDQ model the value a layer hands on is its output after QuantizeLinear -> DequantizeLinear: that tensor
comes last in execution order, so it is the one compared, with the QuantizeLinear's scale.
For ONNX sources the layers are the source's nodes, and tensors match by their exact names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from devicelab.errors import ModelRunError, require
from devicelab.explain.core import LayerNames, VariantTensor
from devicelab.runtimes.base import order_by_name

FORMAT = "onnx"
RUNS_ON = "ONNX Runtime's CPU provider"
_DQ_SUFFIX = "_DequantizeLinear_Output"


def capture(model_path: Path, x: list[np.ndarray], input_names: list[str]) -> tuple[list[VariantTensor],
                                                                                   list[VariantTensor]]:
    """(every float node output in execution order, the model outputs in order), on every sample."""
    ort = require("onnxruntime", "onnx", "explaining ONNX variants")

    exposed = expose(model_path)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(exposed.model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own types
        raise ModelRunError(f"ONNX Runtime could not load {model_path.name}: {str(exc).strip()[:300]}",
                            hint="the file may be corrupt") from None
    feeds_meta = session.get_inputs()
    order = order_by_name(input_names, [i.name for i in feeds_meta])
    feeds_meta = [feeds_meta[i] for i in order]
    names = [o.name for o in session.get_outputs()]
    rows: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for n in range(len(x[0])):
        feed = {meta.name: _cast(array[n:n + 1], meta.type) for meta, array in zip(feeds_meta, x, strict=True)}
        for name, value in zip(names, session.run(names, feed), strict=True):
            rows[name].append(np.asarray(value))
    stacked = {n: np.concatenate(v) for n, v in rows.items() if v and np.asarray(v[0]).dtype.kind == "f"}
    tensors = exposed.tensors(stacked)
    return tensors, exposed.outputs(stacked, tensors)


@dataclass
class Exposed:
    """A model whose graph outputs are its declared outputs followed by every node output (graph order)."""

    model: Any  # onnx.ModelProto
    produced: list[tuple[str, str]]  # (tensor, node) in graph order (ONNX graphs are topologically sorted)
    declared: list[str]
    scales: dict[str, float]

    @property
    def intermediates(self) -> list[str]:
        return [name for name, _ in self.produced if name not in self.declared]

    def tensors(self, stacked: dict[str, np.ndarray]) -> list[VariantTensor]:
        """Every float tensor read back, as VariantTensors in graph order (``stacked``: values by name)."""
        return [VariantTensor(name, stacked[name].astype(np.float32), self.scales.get(name), origin)
                for name, origin in self.produced if name in stacked]

    def outputs(self, stacked: dict[str, np.ndarray], tensors: list[VariantTensor]) -> list[VariantTensor]:
        """The declared outputs in order (the node outputs among ``tensors`` where they are one)."""
        by_name = {t.name: t for t in tensors}
        return [by_name.get(n) or VariantTensor(n, stacked[n].astype(np.float32)) for n in self.declared
                if n in stacked]


def expose(model_path: Path) -> Exposed:
    """The model with every node output also a graph output: ONNX Runtime fetches graph outputs only."""
    onnx = require("onnx", "onnx", "explaining ONNX variants")
    model = onnx.load(str(model_path))
    graph = model.graph
    declared = [o.name for o in graph.output]
    constant = {i.name for i in graph.initializer}
    produced: list[tuple[str, str]] = []
    for node in graph.node:
        if node.op_type == "Constant" or (node.input and all(i in constant for i in node.input if i)):
            # Weights (a DequantizeLinear of int8 weights, a folded constant): the same on every sample and no
            # layer's activation; fetching them would fill the capture with copies of the weights.
            constant.update(out for out in node.output if out)
            if not any(out in declared for out in node.output):
                continue
        if node.op_type == "QuantizeLinear":
            continue  # int8 codes: their DequantizeLinear twin carries the same values as floats
        produced.extend((out, node.name) for out in node.output if out)
    for name, _ in produced:
        if name not in declared:
            graph.output.append(onnx.ValueInfoProto(name=name))
    return Exposed(model, produced, declared, _qdq_scales(graph))


def reference_layers(model_path: Path, x: list[np.ndarray], input_names: list[str]) -> dict[str, np.ndarray]:
    """For an ONNX source: each node's first float output, by node output name, in graph order."""
    tensors, _ = capture(model_path, x, input_names)
    return {t.name: t.values for t in tensors}


def node_outputs(model_path: Path) -> list[str]:
    """The layers of an ONNX source: every node's outputs, in graph order."""
    onnx = require("onnx", "onnx", "explaining ONNX models")
    return [out for node in onnx.load(str(model_path)).graph.node for out in node.output if out]


def _cast(array: np.ndarray, onnx_type: str) -> np.ndarray:
    dtypes = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int64)": np.int64,
              "tensor(int32)": np.int32, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8,
              "tensor(bool)": np.bool_}
    return np.ascontiguousarray(array, dtype=dtypes.get(onnx_type, array.dtype))


def _qdq_scales(graph: Any) -> dict[str, float]:
    """The activation scale of each DequantizeLinear output fed by a QuantizeLinear (per-tensor ones)."""
    from onnx import numpy_helper

    constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute:
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    quantized = {n.output[0]: n for n in graph.node if n.op_type == "QuantizeLinear"}
    scales = {}
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in quantized:
            scale = constants.get(node.input[1])
            if scale is not None and np.size(scale) == 1:
                scales[node.output[0]] = float(np.asarray(scale).ravel()[0])
    return scales


# --- selective quantization (explain --fix) ----------------------------------------------------------


def convert_selective(fp32_model: Path, calibration: list[np.ndarray], keep_float: list[str], layers: list[str],
                      out_file: Path, scratch: Path, aliases: dict[str, str] | None = None) -> list[str]:
    """Static QDQ int8 like onnx-int8-static, except the nodes of ``keep_float`` layers (nodes_to_exclude).

    ``aliases`` maps tensor names to layers outright (a .pt2 source: torch.onnx names outputs after the ops).
    Returns the excluded node names.
    """
    onnx = require("onnx", "onnx", "ONNX quantization")
    quantization = require("onnxruntime.quantization", "onnx", "ONNX quantization")
    from devicelab.quiet import captured_output

    prepared = scratch / "explain-preprocessed.onnx"
    if not prepared.exists():
        with captured_output():
            quantization.quant_pre_process(str(fp32_model), str(prepared))
    graph = onnx.load(str(prepared)).graph
    names = LayerNames(layers, [";".join([n.name, *n.output]) for n in graph.node])
    aliases = aliases or {}
    exclude = [node.name for node in graph.node
               if names.owner(";".join([node.name, *node.output])) in keep_float
               or any(out in keep_float for out in node.output)  # ONNX sources: layers are output names
               or any(aliases.get(out) in keep_float for out in node.output)]
    if not exclude:
        raise ModelRunError(f"none of the ONNX nodes belongs to layer(s) {', '.join(keep_float)}",
                            hint="name layers as `devicelab explain` lists them")
    initializers = {i.name for i in graph.initializer}
    inputs = [i.name for i in graph.input if i.name not in initializers]
    with captured_output():
        quantization.quantize_static(
            str(prepared), str(out_file), _Calibration(inputs, calibration),
            quant_format=quantization.QuantFormat.QDQ, activation_type=quantization.QuantType.QInt8,
            weight_type=quantization.QuantType.QInt8, per_channel=True, nodes_to_exclude=exclude)
    return exclude


class _Calibration:
    """onnxruntime's CalibrationDataReader: one feed dict (every input, one sample) per call."""

    def __init__(self, names: list[str], arrays: list[np.ndarray]) -> None:
        self._all = [{name: a[n:n + 1] for name, a in zip(names, arrays, strict=True)}
                     for n in range(len(arrays[0]))]
        self.rewind()

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)

    def rewind(self) -> None:
        self._feeds = iter(self._all)
