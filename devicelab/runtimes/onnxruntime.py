"""ONNX Runtime on the CPU execution provider."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import numpy as np

from devicelab.errors import ModelRunError, RuntimeUnavailableError, require
from devicelab.runtimes.base import Runtime


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
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.names = [o.name for o in self.session.get_outputs()]

    def used(self) -> str:
        return f"onnxruntime-{self.session.get_providers()[0]}"

    def prepare(self, sample: list[np.ndarray]) -> dict[str, np.ndarray]:
        return {name: np.ascontiguousarray(x, dtype=np.float32)
                for name, x in zip(self.input_names, sample, strict=True)}

    def run(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(self.names, feed)

    def output_names(self) -> list[str]:
        return self.names
