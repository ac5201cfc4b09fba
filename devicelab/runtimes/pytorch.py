"""The PC reference for .pt2 sources: the torch.export program itself, eager on PyTorch's CPU kernels."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from devicelab.errors import require
from devicelab.runtimes.base import Runtime


class TorchRuntime(Runtime):
    name = "torch"
    formats = ("pt2",)
    delegates = ("cpu",)

    @classmethod
    def check_available(cls) -> None:
        require("torch", "pytorch", "running torch.export programs")

    def version(self) -> str:
        return f"torch {version('torch')}"

    def load(self, model_path: Path) -> None:
        import torch

        from devicelab.models import _load_pt2, _pt2_signature

        torch.set_num_threads(self.spec.threads or 1)
        program = _load_pt2(model_path)
        inputs, outputs = _pt2_signature(program)
        self._dtypes = [getattr(torch, spec.dtype) for spec in inputs]
        self.names = [spec.name for spec in outputs]
        self._module = program.module()
        self._grad = torch.no_grad

    def used(self) -> str:
        return "torch-cpu (ExportedProgram.module(), eager)"

    def prepare(self, sample: list[np.ndarray]) -> list[Any]:
        import torch

        return [torch.from_numpy(np.ascontiguousarray(x)).to(dtype) for x, dtype in zip(sample, self._dtypes,
                                                                                          strict=True)]

    def run(self, feed: list[Any]) -> Any:
        with self._grad():
            out = self._module(*feed)
        return out if isinstance(out, list | tuple) else [out]

    def finish(self, raw: Any) -> list[np.ndarray]:
        return [np.asarray(o.numpy(), dtype=np.float32) for o in raw]

    def output_names(self) -> list[str]:
        return self.names
