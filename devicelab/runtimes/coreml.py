"""Core ML through coremltools: prediction exists only on macOS; everywhere else it says so up front."""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from devicelab.errors import RuntimeUnavailableError, require
from devicelab.runtimes.base import Runtime, order_by_name

COMPUTE_UNITS = {"all": "ALL", "cpu": "CPU_ONLY", "cpu-gpu": "CPU_AND_GPU", "cpu-ane": "CPU_AND_NE"}


class CoreMLRuntime(Runtime):
    name = "coreml"
    formats = ("coreml",)
    delegates = tuple(COMPUTE_UNITS)

    @classmethod
    def check_available(cls) -> None:
        if sys.platform != "darwin":
            raise RuntimeUnavailableError(
                f"Core ML prediction needs macOS (this is {sys.platform}); Core ML variants convert here "
                "but cannot run",
                hint="run them on a Mac with --runtime coreml, or on an iPhone with `devicelab deploy --device iphone`")
        require("coremltools", "coreml", "running Core ML models")

    def version(self) -> str:
        return f"coremltools {version('coremltools')}"

    def load(self, model_path: Path) -> None:  # pragma: no cover - macOS only
        import coremltools as ct

        units = self.spec.compute_units or self.spec.delegate or "all"
        self._units = units
        self.model = ct.models.MLModel(str(model_path), compute_units=getattr(ct.ComputeUnit, COMPUTE_UNITS[units]))
        description = self.model.get_spec().description
        self.input_names = [i.name for i in description.input]
        if self.job_inputs:
            order = order_by_name([t.name for t in self.job_inputs], self.input_names)
            self.input_names = [self.input_names[i] for i in order]
        self.names = [o.name for o in description.output]

    def used(self) -> str:  # pragma: no cover - macOS only
        return f"coreml ({self._units} requested; Core ML decides per layer)"

    def prepare(self, sample: list[np.ndarray]) -> dict[str, np.ndarray]:  # pragma: no cover
        return dict(zip(self.input_names, sample, strict=True))

    def run(self, feed: dict[str, np.ndarray]) -> Any:  # pragma: no cover - macOS only
        out = self.model.predict(feed)
        return [out[name] for name in self.names]

    def output_names(self) -> list[str]:
        return getattr(self, "names", [])
