"""TFLite through ai-edge-litert (the successor of tflite-runtime), XNNPACK or the builtin CPU kernels."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import numpy as np

from devicelab.errors import ModelRunError, RuntimeUnavailableError, require
from devicelab.runtimes.base import Runtime, dequantize, quantize


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
            for detail in self.interpreter.get_input_details():
                if any(d < 0 for d in detail["shape_signature"]):  # dynamic batch: run one sample at a time
                    shape = [1 if d < 0 else int(d) for d in detail["shape_signature"]]
                    self.interpreter.resize_tensor_input(detail["index"], shape)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise _load_failure(exc, self.version()) from None
        self._delegate = delegate
        self.inputs = self.interpreter.get_input_details()
        self.outputs = self.interpreter.get_output_details()
        # Bound methods and plain index lists, looked up once: run() is timed, and at 20 us per inference
        # a dict lookup per tensor is measurable (benchmarks/host_tflite_overhead.py).
        self._set, self._invoke, self._get = (self.interpreter.set_tensor, self.interpreter.invoke,
                                              self.interpreter.get_tensor)
        self._in = [d["index"] for d in self.inputs]
        self._out = [d["index"] for d in self.outputs]

    def used(self) -> str:
        return "tflite-xnnpack" if self._delegate == "xnnpack" else "tflite-cpu (builtin kernels)"

    def prepare(self, sample: list[np.ndarray]) -> list[np.ndarray]:
        feed = []
        for detail, x in zip(self.inputs, sample, strict=True):
            scale, zero_point = detail["quantization"]
            if detail["dtype"] in (np.int8, np.uint8) and scale:
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
        return [d["name"] for d in self.outputs]


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


