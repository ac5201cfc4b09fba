"""ONNX variants: tf2onnx for TensorFlow sources, onnxruntime's quantizers for the int8 variants."""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from devicelab.convert.base import ConversionContext, Variant, captured_output, io_spec, private_tmp
from devicelab.errors import ConversionError, require

FORMAT = "onnx"
OPSET = 17
ALL_SOURCES = ("keras", "savedmodel", "onnx", "pt2")
VARIANTS = [
    Variant("onnx-fp32", FORMAT, "fp32", f"ONNX float32 (opset {OPSET})", "onnxruntime", sources=ALL_SOURCES),
    Variant("onnx-int8-dynamic", FORMAT, "dynamic-int8",
            "ONNX dynamic quantization: int8 weights, activations quantized at run time", "onnxruntime",
            sources=ALL_SOURCES),
    Variant("onnx-int8-static", FORMAT, "int8",
            "ONNX static QDQ quantization: int8 weights and activations, calibrated on real data", "onnxruntime",
            needs_calibration=True, sources=ALL_SOURCES),
]
MODEL_FILE = "model.onnx"


def versions() -> dict[str, str]:
    return {name: version(name) for name in ("tf2onnx", "onnx", "onnxruntime")}


def convert(ctx: ConversionContext, variant: Variant, out_dir: Path) -> dict[str, Any] | None:
    fp32 = _fp32_model(ctx)
    target = out_dir / MODEL_FILE
    if variant.quant == "fp32":
        shutil.copyfile(fp32, target)
        return None
    quantization = require("onnxruntime.quantization", "onnx", "ONNX quantization")
    prepared, preprocess = _preprocessed(ctx, fp32)
    with private_tmp(ctx), captured_output():
        if variant.quant == "dynamic-int8":
            quantization.quantize_dynamic(str(prepared), str(target), weight_type=quantization.QuantType.QInt8,
                                          nodes_to_exclude=_feeding_subgraphs(prepared))
        else:
            names = _input_names(prepared)
            feeds = [dict(zip(names, sample, strict=True)) for sample in ctx.calibration_feeds(variant)]
            only = _weight_ops_only(prepared)
            quantization.quantize_static(
                str(prepared), str(target), _Calibration(feeds),
                quant_format=quantization.QuantFormat.QDQ, activation_type=quantization.QuantType.QInt8,
                weight_type=quantization.QuantType.QInt8, per_channel=True, op_types_to_quantize=only,
            )
            return {"preprocess": preprocess, "quantized_op_types": only or "all"}
    return {"preprocess": preprocess}


# Inside a network (not as its last op), these carry values whose int8 range calibration cannot cover: an
# attention mask adds about -1e9 before a Softmax, normalisation divides by small variances. Quantizing their
# activations wrecks a transformer (a BERT-like encoder's embeddings fell to cosine 0.55 against float32).
_RANGE_SENSITIVE = {"Softmax", "LayerNormalization", "ReduceMean", "Erf", "Pow", "Sqrt"}
_WEIGHT_OPS = ["MatMul", "Gemm", "Conv", "ConvTranspose", "Gather"]


def _weight_ops_only(path: Path) -> list[str] | None:
    """The op types static quantization should touch: all (None), or only weight-bearing ones (transformers)."""
    import onnx

    graph = onnx.load(str(path)).graph
    outputs = {o.name for o in graph.output}
    inner = {n.op_type for n in graph.node if not set(n.output) & outputs}
    return list(_WEIGHT_OPS) if inner & _RANGE_SENSITIVE else None


def _preprocessed(ctx: ConversionContext, fp32: Path) -> tuple[Path, str]:
    """onnxruntime's quant_pre_process output, shared by the int8 variants; -> (model, which steps ran).

    Symbolic shape inference gives up on some dynamic shapes ("Incomplete symbolic shape inference"): then
    the ONNX shape inference and graph optimization still run; if even those fail, the model is quantized as it is.
    """
    prepared = ctx.scratch / "onnx-preprocessed.onnx"
    note = prepared.with_suffix(".txt")
    if prepared.exists() and note.exists():
        return prepared, note.read_text()
    quantization = require("onnxruntime.quantization", "onnx", "ONNX quantization")
    tmp = prepared.with_suffix(".tmp.onnx")
    steps = (("full", {}), ("without symbolic shape inference", {"skip_symbolic_shape": True}))
    done = "none (the model is quantized as exported)"
    for label, options in steps:
        try:
            with private_tmp(ctx), captured_output():  # it writes sym_shape_infer_temp.onnx into the cwd
                quantization.quant_pre_process(str(fp32), str(tmp), **options)
        except Exception:  # any failure here only means a less prepared model
            continue
        done = label
        break
    else:
        shutil.copyfile(fp32, tmp)
    tmp.replace(prepared)
    note.write_text(done)
    return prepared, done


def _feeding_subgraphs(path: Path) -> list[str]:
    """Nodes whose outputs a Loop/If/Scan body reads from the outer scope, and the pass-through ops feeding them.

    onnxruntime's dynamic quantizer renames such an output to its int8 version without telling the subgraph
    ("Invalid model with unknown initializers/tensors": a GRU's time-major input, say). Kept in float, the
    body reads the tensor it expects; the recurrent weights in the body stay float.
    """
    import onnx

    graph = onnx.load(str(path)).graph
    referenced: set[str] = set()

    def scan(g: Any) -> None:
        for node in g.node:
            for attribute in node.attribute:
                for body in [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else attribute.graphs:
                    own = ({i.name for i in body.input} | {i.name for i in body.initializer}
                           | {o for n in body.node for o in n.output})
                    referenced.update(i for n in body.node for i in n.input if i and i not in own)
                    scan(body)

    scan(graph)
    producers = {o: n for n in graph.node for o in n.output}
    excluded: list[str] = []
    pending = [producers[name] for name in referenced if name in producers]
    while pending:
        node = pending.pop()
        if not node.name or node.name in excluded:
            continue
        excluded.append(node.name)
        if node.op_type in _PASS_THROUGH:  # it would carry int8 from upstream: keep its producers float too
            pending.extend(producers[i] for i in node.input if i in producers)
    return excluded


# Ops the quantizer runs directly on int8 tensors (they move values without arithmetic).
_PASS_THROUGH = {"Transpose", "Reshape", "Squeeze", "Unsqueeze", "Gather", "GatherElements", "Concat", "Slice",
                 "Split", "Flatten", "Identity", "Expand", "Tile", "Pad", "MaxPool", "Resize", "Cast"}


def _fp32_model(ctx: ConversionContext) -> Path:
    """The float32 ONNX model every ONNX variant starts from: the source itself or one tf2onnx export."""
    if ctx.source.format == "onnx":
        ctx.source.inputs  # noqa: B018 - reads the file: a corrupt source fails here with a ModelLoadError
        return ctx.source.path
    path = ctx.scratch / "fp32.onnx"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    if ctx.source.format == "pt2":
        _export_pt2(ctx.source.torch_program(), tmp)
    elif ctx.source.format == "keras":
        tf = require("tensorflow", "tensorflow", "ONNX export")
        tf2onnx = require("tf2onnx", "onnx", "ONNX export")
        model = ctx.source.keras_model()
        signature = [tf.TensorSpec(t.shape, t.dtype, name=t.name) for t in model.inputs]
        with private_tmp(ctx), captured_output():
            tf2onnx.convert.from_keras(model, input_signature=signature, opset=OPSET, output_path=str(tmp))
    else:
        require("tf2onnx", "onnx", "ONNX export")
        done = subprocess.run(
            [sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(ctx.saved_model()),
             "--opset", str(OPSET), "--output", str(tmp)], capture_output=True, text=True)
        if done.returncode != 0:
            lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
            raise ConversionError(f"tf2onnx failed: {lines[-1] if lines else 'no output'}",
                                  details=done.stderr[-20_000:])
    tmp.replace(path)
    return path


def _export_pt2(program: Any, target: Path) -> None:
    """A torch.export program through torch.onnx's exporter (the dynamo path takes the program as it is)."""
    torch = require("torch", "pytorch", "ONNX export")
    with captured_output():
        exported = torch.onnx.export(program, (), dynamo=True, opset_version=OPSET, verbose=False)
        exported.save(str(target))


def _input_names(path: Path) -> list[str]:
    import onnx

    graph = onnx.load(str(path)).graph
    initializers = {i.name for i in graph.initializer}
    return [i.name for i in graph.input if i.name not in initializers]


class _Calibration:
    """onnxruntime's CalibrationDataReader protocol: one feed dict (every input, batch 1) per call, None when done."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self._all = feeds
        self.rewind()

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)

    def rewind(self) -> None:
        self._feeds = iter(self._all)


def describe(out_dir: Path) -> dict[str, Any]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(out_dir / MODEL_FILE), providers=["CPUExecutionProvider"])

    def spec(arg: Any) -> dict[str, Any]:
        dtype = {"tensor(float)": "float32", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
                 "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(float16)": "float16",
                 "tensor(bool)": "bool", "tensor(double)": "float64"}.get(arg.type)
        return io_spec(arg.name, dtype, [d if isinstance(d, int) else None for d in arg.shape])

    return {"inputs": [spec(a) for a in session.get_inputs()], "outputs": [spec(a) for a in session.get_outputs()]}
