"""ONNX Runtime on the CPU execution provider (or another provider this build has, with the CPU as fallback).

Profiling (job runtime.profile) runs ``PROFILE_RUNS`` inferences in a second session with ORT's session
profiling on, after the timed runs: per node its op type, the provider that ran it and its time, and the
share of ops and of op time on the requested provider (devicelab.explain.profile.summarize_ort).
"""

from __future__ import annotations

import json
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from devicelab.errors import ModelRunError, RuntimeUnavailableError, require
from devicelab.runtimes.base import Runtime, order_by_name

_ONNX_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
               "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(int16)": np.int16,
               "tensor(int32)": np.int32, "tensor(int64)": np.int64, "tensor(bool)": np.bool_}
PROFILE_RUNS = 20
# Providers a job may ask for by delegate name, when this onnxruntime build has them. 'azure' (in every PC
# wheel) implements no op: ORT places every node on the CPU, a fallback the profile's share shows.
_PROVIDERS = {"cpu": "CPUExecutionProvider", "azure": "AzureExecutionProvider",
              "xnnpack": "XnnpackExecutionProvider", "cuda": "CUDAExecutionProvider",
              "openvino": "OpenVINOExecutionProvider", "dml": "DmlExecutionProvider"}


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

        self._provider = _PROVIDERS.get(self.spec.delegate or "cpu", "")
        if self._provider not in ort.get_available_providers():
            here = [name for name, provider in _PROVIDERS.items() if provider in ort.get_available_providers()]
            raise RuntimeUnavailableError(f"ONNX Runtime provider '{self.spec.delegate}' is not available here",
                                          hint=f"this onnxruntime build has: {', '.join(here)}")
        self._path = model_path
        try:
            self.session = self._session(model_path)
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

    def _session(self, model_path: Path, profile_prefix: str | None = None) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.spec.threads or 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        if profile_prefix:
            options.enable_profiling = True
            options.profile_file_prefix = profile_prefix
        providers = list(dict.fromkeys([self._provider, "CPUExecutionProvider"]))
        return ort.InferenceSession(str(model_path), options, providers=providers)

    def profile(self, feeds: list[Any]) -> dict[str, Any]:
        """Per-node times and providers from a profiled session of its own (the timed one stays unprofiled)."""
        from devicelab.explain.profile import summarize_ort

        with tempfile.TemporaryDirectory(prefix="devicelab-ort-profile-") as folder:
            session = self._session(self._path, str(Path(folder) / "ort"))
            for i in range(PROFILE_RUNS):
                session.run(self.names, feeds[i % len(feeds)])
            events = json.loads(Path(session.end_profiling()).read_text())
        table = summarize_ort(events, self._provider)
        return {"method": f"onnxruntime session profiling (onnxruntime {version('onnxruntime')})",
                "runs": table["runs"], "unit": "ms", **table}

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
