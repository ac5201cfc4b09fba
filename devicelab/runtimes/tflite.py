"""TFLite through ai-edge-litert (the successor of tflite-runtime), XNNPACK or the builtin CPU kernels."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from devicelab.errors import ModelRunError, RuntimeUnavailableError, require
from devicelab.runtimes.base import Runtime, dequantize, order_by_name, quantize


class TFLiteRuntime(Runtime):
    name = "tflite"
    formats = ("tflite",)
    delegates = ("xnnpack", "cpu")

    @classmethod
    def check_available(cls) -> None:
        require("ai_edge_litert.interpreter", "tflite", "running TFLite models")

    def version(self) -> str:
        return f"ai-edge-litert {version('ai-edge-litert')}"

    def load(self, model_path: Path) -> None:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        delegate = self.spec.delegate or "xnnpack"
        if delegate not in self.delegates:
            raise RuntimeUnavailableError(
                f"TFLite delegate '{delegate}' is not available on this machine",
                hint="gpu and nnapi run on Android (devicelab deploy); on the PC use xnnpack or cpu")
        # AUTO applies XNNPACK (TFLite's default CPU delegate); the other resolver keeps the builtin kernels.
        resolver = OpResolverType.AUTO if delegate == "xnnpack" else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            self.interpreter = Interpreter(model_path=str(model_path), num_threads=self.spec.threads or 1,
                                           experimental_op_resolver_type=resolver)
        except (ValueError, RuntimeError) as exc:
            raise _load_failure(exc, self.version()) from None
        inputs, outputs = _signature_order(self.interpreter)
        if self.job_inputs:  # feed the job's inputs by name: TFLite orders its inputs its own way
            order = order_by_name([t.name for t in self.job_inputs], [d["name"] for d in inputs])
            inputs = [inputs[i] for i in order]
        self._resize(inputs)
        self._delegate = delegate
        self.inputs = [self._details(d["index"], self.interpreter.get_input_details()) for d in inputs]
        self.outputs = [self._details(d["index"], self.interpreter.get_output_details()) for d in outputs]
        self._names = [d["name"] for d in outputs]
        # Bound methods and plain index lists, looked up once: run() is timed, and at 20 us per inference
        # a dict lookup per tensor is measurable (benchmarks/host_tflite_overhead.py).
        self._set, self._invoke, self._get = (self.interpreter.set_tensor, self.interpreter.invoke,
                                              self.interpreter.get_tensor)
        self._in = [d["index"] for d in self.inputs]
        self._out = [d["index"] for d in self.outputs]

    @staticmethod
    def _details(index: int, details: list[dict]) -> dict:
        return next(d for d in details if d["index"] == index)

    def _resize(self, inputs: list[dict]) -> None:
        """Size free dimensions (batch included) from the data, one sample per inference, then allocate."""
        shapes = self.sample_shapes() if self.job_inputs else [[1 if d < 0 else int(d) for d in x["shape_signature"]]
                                                               for x in inputs]
        for detail, shape in zip(inputs, shapes, strict=False):
            signature = [int(d) for d in detail["shape_signature"]]
            if list(detail["shape"]) == shape:
                continue
            fits = len(signature) == len(shape) and all(s < 0 or s == d for s, d in zip(signature, shape,
                                                                                        strict=True))
            if not fits:
                raise ModelRunError(
                    f"input '{detail['name']}' of this TFLite model has shape {_fmt(signature)}; the data gives "
                    f"one sample of shape {shape}",
                    hint="this variant was made for another input shape: convert it for this data, or give "
                    "data shaped like the model's input")
            self.interpreter.resize_tensor_input(detail["index"], shape, strict=True)
        try:
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            if "Didn't find op" in str(exc) or not self.job_inputs:
                raise _load_failure(exc, self.version()) from None
            raise ModelRunError(f"TFLite could not size the model for inputs {shapes}: "
                                f"{str(exc).strip().splitlines()[0][:300]}",
                                hint="a dimension the model treats as free may be fixed inside the graph; "
                                "convert the variant for this data's shape") from None

    def used(self) -> str:
        return "tflite-xnnpack" if self._delegate == "xnnpack" else "tflite-cpu (builtin kernels)"

    def prepare(self, sample: list[np.ndarray]) -> list[np.ndarray]:
        feed = []
        for detail, x in zip(self.inputs, sample, strict=True):
            scale, zero_point = detail["quantization"]
            # Float data into an int8-I/O model is quantized here, untimed; integer data (ids) is fed as it is.
            if detail["dtype"] in (np.int8, np.uint8) and scale and x.dtype.kind == "f":
                x = quantize(x, scale, zero_point, detail["dtype"])
            feed.append(np.ascontiguousarray(x, dtype=detail["dtype"]))
        return feed

    def run(self, feed: list[np.ndarray]) -> list[np.ndarray]:
        set_tensor, get_tensor = self._set, self._get
        if len(self._in) == 1 and len(self._out) == 1:  # the common case, without loop overhead
            set_tensor(self._in[0], feed[0])
            self._invoke()
            return [get_tensor(self._out[0])]
        for index, x in zip(self._in, feed, strict=True):
            set_tensor(index, x)
        self._invoke()
        return [get_tensor(index) for index in self._out]

    def finish(self, raw: list[np.ndarray]) -> list[np.ndarray]:
        result = []
        for detail, y in zip(self.outputs, raw, strict=True):
            scale, zero_point = detail["quantization"]
            result.append(dequantize(y, scale, zero_point) if scale and y.dtype != np.float32
                          else np.asarray(y, dtype=np.float32))
        return result

    def output_names(self) -> list[str]:
        return self._names


def _signature_order(interpreter: Any) -> tuple[list[dict], list[dict]]:
    """Inputs and outputs named and ordered by the model's serving signature when it has one.

    get_output_details() lists outputs in tensor order, which is not the model's output order: the
    signature's output_0, output_1 ... (or the source's output names) are.
    """
    in_details, out_details = interpreter.get_input_details(), interpreter.get_output_details()
    signatures = interpreter.get_signature_list()
    if len(signatures) != 1:
        return in_details, out_details
    key = next(iter(signatures))
    runner = interpreter.get_signature_runner(key)
    ins, outs = runner.get_input_details(), runner.get_output_details()
    by_index = {d["index"]: d for d in in_details}
    by_out = {d["index"]: d for d in out_details}
    inputs = [{**by_index[d["index"]], "name": name} for name, d in ins.items() if d["index"] in by_index]
    outputs = [{**by_out[d["index"]], "name": name} for name, d in sorted(outs.items(), key=lambda kv:
                                                                            _natural(kv[0]))
               if d["index"] in by_out]
    if len(inputs) != len(in_details) or len(outputs) != len(out_details):
        return in_details, out_details
    return inputs, outputs


def _natural(name: str) -> list[tuple[int, int, str]]:
    """output_2 before output_10."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", name)]


def _fmt(shape: list[int]) -> str:
    return "(" + ", ".join("any" if d < 0 else str(d) for d in shape) + ")"


def _load_failure(exc: Exception, runtime_version: str) -> Exception:
    text = str(exc)
    op = re.search(r"Didn't find op for builtin opcode '(\w+)' version '(\d+)'", text)
    if op:
        return ModelRunError(
            f"this TFLite runtime ({runtime_version}) cannot run op {op.group(1)} version {op.group(2)}: "
            "the model was converted by a newer TensorFlow than the runtime supports",
            hint="update the runtime, or convert with the TensorFlow version the runtime was built with")
    return ModelRunError(f"TFLite could not load the model: {text.strip().splitlines()[0][:300]}",
                         hint="the file may be corrupt or not a TFLite flatbuffer")


