"""ONNX variants: tf2onnx for TensorFlow sources, onnxruntime's quantizers for the int8 variants."""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from devicelab.convert.base import ConversionContext, Variant, captured_output, io_spec
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


def convert(ctx: ConversionContext, variant: Variant, out_dir: Path) -> None:
    fp32 = _fp32_model(ctx)
    target = out_dir / MODEL_FILE
    if variant.quant == "fp32":
        shutil.copyfile(fp32, target)
        return
    quantization = require("onnxruntime.quantization", "onnx", "ONNX quantization")
    prepared = ctx.scratch / "onnx-preprocessed.onnx"
    if not prepared.exists():
        with captured_output():
            quantization.quant_pre_process(str(fp32), str(prepared))
    with captured_output():
        if variant.quant == "dynamic-int8":
            quantization.quantize_dynamic(str(prepared), str(target), weight_type=quantization.QuantType.QInt8)
        else:
            samples = ctx.require_calibration(variant)
            quantization.quantize_static(
                str(prepared), str(target), _Calibration(_input_name(prepared), samples),
                quant_format=quantization.QuantFormat.QDQ, activation_type=quantization.QuantType.QInt8,
                weight_type=quantization.QuantType.QInt8, per_channel=True,
            )


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
        with captured_output():
            tf2onnx.convert.from_keras(model, input_signature=signature, opset=OPSET, output_path=str(tmp))
    else:
        require("tf2onnx", "onnx", "ONNX export")
        done = subprocess.run(
            [sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(ctx.saved_model()),
             "--opset", str(OPSET), "--output", str(tmp)], capture_output=True, text=True)
        if done.returncode != 0:
            raise ConversionError(f"tf2onnx failed: {done.stderr.strip().splitlines()[-1:]}")
    tmp.replace(path)
    return path


def _export_pt2(program: Any, target: Path) -> None:
    """A torch.export program through torch.onnx's exporter (the dynamo path takes the program as it is)."""
    torch = require("torch", "pytorch", "ONNX export")
    with captured_output():
        exported = torch.onnx.export(program, (), dynamo=True, opset_version=OPSET, verbose=False)
        exported.save(str(target))


def _input_name(path: Path) -> str:
    import onnx

    graph = onnx.load(str(path)).graph
    initializers = {i.name for i in graph.initializer}
    return next(i.name for i in graph.input if i.name not in initializers)


class _Calibration:
    """onnxruntime's CalibrationDataReader protocol: one feed dict per call, None when done."""

    def __init__(self, input_name: str, samples: np.ndarray) -> None:
        self._all = [{input_name: s[None, ...].astype(np.float32)} for s in samples]
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
                 "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(float16)": "float16"}.get(arg.type)
        return io_spec(arg.name, dtype, [d if isinstance(d, int) else None for d in arg.shape])

    return {"inputs": [spec(a) for a in session.get_inputs()], "outputs": [spec(a) for a in session.get_outputs()]}
