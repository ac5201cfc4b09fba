"""Host runtimes, one module each; the registry maps a runtime name to its adapter class."""

from __future__ import annotations

from devicelab.errors import UsageError
from devicelab.runtimes.base import Runtime
from devicelab.runtimes.coreml import CoreMLRuntime
from devicelab.runtimes.executorch import ExecuTorchRuntime
from devicelab.runtimes.keras import KerasRuntime
from devicelab.runtimes.onnxruntime import OnnxRuntime
from devicelab.runtimes.pytorch import TorchRuntime
from devicelab.runtimes.tflite import TFLiteRuntime

RUNTIMES: dict[str, type[Runtime]] = {r.name: r for r in (KerasRuntime, TFLiteRuntime, OnnxRuntime, CoreMLRuntime,
                                                            ExecuTorchRuntime, TorchRuntime)}


def get(name: str) -> type[Runtime]:
    try:
        return RUNTIMES[name]
    except KeyError:
        raise UsageError(f"unknown host runtime '{name}'", hint=f"host runtimes: {', '.join(RUNTIMES)}") from None


def for_format(fmt: str) -> type[Runtime]:
    for runtime in RUNTIMES.values():
        if fmt in runtime.formats:
            return runtime
    raise UsageError(f"no runtime on this PC runs {fmt} models",
                     hint="TF.js variants run in a browser (`devicelab measure MODEL --browser chrome`)")
