"""ONNX Runtime on the CPU execution provider."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import numpy as np

from devicelab.errors import ModelRunError, RuntimeUnavailableError, require
from devicelab.runtimes.base import Runtime, order_by_name

_ONNX_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
               "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(int16)": np.int16,
               "tensor(int32)": np.int32, "tensor(int64)": np.int64, "tensor(bool)": np.bool_}


class OnnxRuntime(Runtime):
    name = "onnxruntime"
    formats = ("onnx",)
    delegates = ("cpu",)

    @classmethod
    def check_available(cls) -> None:
        require("onnxruntime", "onnx", "running ONNX models")

    def version(self) -> str:
        return f"onnxruntime {version('onnxruntime')}"

    def load(self, model_path: Path) -> None:
        import onnxruntime as ort

        if (self.spec.delegate or "cpu") != "cpu":
            raise RuntimeUnavailableError(f"ONNX Runtime provider '{self.spec.delegate}' is not available here",
                                          hint="the PC build of onnxruntime has the cpu provider")
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.spec.threads or 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types per failure
            raise ModelRunError(f"ONNX Runtime could not load the model: {str(exc).strip()[:300]}",
                                hint="the file may be corrupt, or use an opset this onnxruntime lacks") from None
        inputs = self.session.get_inputs()
        if self.job_inputs:  # the job's inputs by name (tf2onnx and torch.onnx keep the source's names)
            order = order_by_name([t.name for t in self.job_inputs], [i.name for i in inputs])
            inputs = [inputs[i] for i in order]
        self.input_names = [i.name for i in inputs]
        self._dtypes = [_ONNX_TYPES.get(i.type) for i in inputs]
        unknown = [f"{i.name} ({i.type})" for i, d in zip(inputs, self._dtypes, strict=True) if d is None]
        if unknown:
            raise ModelRunError(f"the model has input(s) of a type devicelab cannot feed: {', '.join(unknown)}",
                                hint="the job protocol carries float32/16, int8/uint8, int32/int64 and bool")
        self.names = [o.name for o in self.session.get_outputs()]

    def used(self) -> str:
        return f"onnxruntime-{self.session.get_providers()[0]}"

    def prepare(self, sample: list[np.ndarray]) -> dict[str, np.ndarray]:
        # Each input in the type the graph declares: int64 ids and bool masks are not float32.
        return {name: np.ascontiguousarray(x, dtype=dtype)
                for name, x, dtype in zip(self.input_names, sample, self._dtypes, strict=True)}

    def run(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(self.names, feed)

    def output_names(self) -> list[str]:
        return self.names
