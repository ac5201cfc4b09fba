"""ExecuTorch .pte programs through the PyPI package's ``executorch.runtime`` (XNNPACK and portable kernels).

Per-operator times come from ETDump read back by the devtools Inspector, in a short run of its own after the
timed ones: event tracing slows every call, and a long traced run fills ExecuTorch's buffers (a full debug
buffer aborts the process), so it runs ``PROFILE_RUNS`` inferences with the debug buffer off.
"""

from __future__ import annotations

import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from devicelab.errors import ModelRunError, RuntimeUnavailableError, require
from devicelab.runtimes.base import Runtime

PROFILE_RUNS = 20
# What MethodMeta reports as a tensor's dtype (c10 ScalarType codes), as numpy dtypes.
_DTYPES = {0: np.uint8, 1: np.int8, 3: np.int32, 4: np.int64, 5: np.float16, 6: np.float32, 11: np.bool_}


class ExecuTorchRuntime(Runtime):
    name = "executorch"
    formats = ("executorch",)
    # The program decides what runs: delegated subgraphs on XNNPACK, the rest on the portable kernels.
    delegates = ("xnnpack",)

    @classmethod
    def check_available(cls) -> None:
        require("executorch.runtime", "executorch", "running ExecuTorch programs")

    def version(self) -> str:
        return f"executorch {version('executorch')}"

    def load(self, model_path: Path) -> None:
        import executorch.extension.pybindings.portable_lib as lib
        from executorch.runtime import Runtime as ETRuntime

        delegate = self.spec.delegate or "xnnpack"
        if delegate not in self.delegates:
            raise RuntimeUnavailableError(
                f"ExecuTorch delegate '{delegate}' is not available here",
                hint="the PyPI build runs XNNPACK-lowered programs (and the portable kernels for the rest)")
        self._threads = self.spec.threads or 1
        lib._unsafe_reset_threadpool(self._threads)  # XNNPACK's pool; one process per job, so no one else shares it
        self._path = model_path
        try:
            self.program = ETRuntime.get().load_program(model_path)
            method = self.program.load_method("forward")
        except (RuntimeError, ValueError, KeyError) as exc:
            raise ModelRunError(f"ExecuTorch could not load the program: {str(exc).strip()[:300]}",
                                hint="the file may be corrupt, not a .pte, or need a backend this build lacks",
                                ) from None
        meta = method.metadata
        self._in_dtypes = [_DTYPES.get(int(meta.input_tensor_meta(i).dtype()), np.float32)
                           for i in range(meta.num_inputs())]
        self._outputs = meta.num_outputs()
        self._execute = method.execute  # looked up once: run() is timed

    def used(self) -> str:
        from devicelab.convert.executorch import XNNPACK, delegates

        backends = delegates(self._path)
        ran = "executorch-xnnpack" if XNNPACK in backends else "executorch-portable (no delegate in the program)"
        return f"{ran}, {self._threads} thread(s)"

    def prepare(self, sample: list[np.ndarray]) -> list[Any]:
        import torch

        return [torch.from_numpy(np.ascontiguousarray(x, dtype=dtype))
                for x, dtype in zip(sample, self._in_dtypes, strict=True)]

    def run(self, feed: list[Any]) -> Any:
        return self._execute(feed)

    def finish(self, raw: Any) -> list[np.ndarray]:
        return [np.asarray(o.numpy(), dtype=np.float32) for o in raw]

    def output_names(self) -> list[str]:
        return [f"output_{k}" for k in range(getattr(self, "_outputs", 0))]

    def profile(self, feeds: list[Any]) -> dict[str, Any]:
        from executorch.runtime import Runtime as ETRuntime

        devtools = require("executorch.devtools", "executorch", "ExecuTorch per-operator profiling")
        runs = PROFILE_RUNS
        with tempfile.TemporaryDirectory(prefix="devicelab-etdump-") as folder:
            etdump, debug = Path(folder) / "run.etdp", Path(folder) / "debug.bin"
            # A program of its own with event tracing on; debug buffer off (intermediate outputs are not needed).
            program = ETRuntime.get().load_program(self._path, enable_etdump=True, debug_buffer_size=0)
            method = program.load_method("forward")
            for i in range(runs):
                method.execute(feeds[i % len(feeds)])
            program.write_etdump_result_to_file(str(etdump), str(debug))
            inspector = devtools.Inspector(etdump_path=str(etdump))
            return {"method": f"ETDump + Inspector (executorch {version('executorch')})", "runs": runs,
                    "unit": "ms", "operators": operator_table(inspector)}


def operator_table(inspector: Any) -> list[dict[str, Any]]:
    """One row per event of the traced runs: XNNPACK's operators, portable kernels and the framework's own
    calls (Method::execute, DELEGATE_CALL), with statistics over the runs."""
    rows = []
    for block in inspector.event_blocks:
        if block.name != "Execute":  # the other block holds load-time events (Program::load_method)
            continue
        for event in block.events:
            times = list(event.perf_data.raw) if event.perf_data is not None else []
            if not times:
                continue
            rows.append({"name": event.name, "delegated": bool(event.is_delegated_op),
                         "backend": "XNNPACK" if event.is_delegated_op else "ExecuTorch",
                         "runs": len(times), "median_ms": float(np.median(times)), "mean_ms": float(np.mean(times)),
                         "min_ms": float(np.min(times)), "max_ms": float(np.max(times))})
    return rows
