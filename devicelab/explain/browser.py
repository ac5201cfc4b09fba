"""Explain in the browser: the variant's intermediate tensors as the web runner page computes them.

The page runs one job of the shared protocol with ``capture`` set (devicelab.protocol.Capture): after the
accuracy pass (the model's outputs on every sample, for the agreement) it returns the named intermediate
tensors from an untimed pass per sample, as many samples as fit in ``CAPTURE_BYTES``.

- TF.js graph models: ``GraphModel.execute(inputs, [node names])`` returns any node's output. The nodes are
  read from model.json (the TensorFlow graph's node names, which carry the Keras layer path,
  'StatefulPartitionedCall/model/conv1/Relu'), weights and inputs left out, in topological order.
- ONNX on onnxruntime-web: Runtime fetches graph outputs only, so the page gets the model with every node
  output added as a graph output (the same rewrite as on the host, devicelab.explain.onnx.expose).
- TFLite in the page (LiteRT.js, tfjs-tflite) returns only the model's outputs: a clear error says so.

``BrowserCapture`` has the shape of the per-format modules (``RUNS_ON``, ``capture``), so explain and
``--fix`` use it where they use a host module.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from devicelab import protocol
from devicelab.errors import DevicelabError, ModelRunError, UsageError
from devicelab.explain.core import VariantTensor

CAPTURE_BYTES = 256 << 20  # intermediates kept per job; a 224x224 CNN's run to ~40 MB a sample
CAPTURE_RUNTIMES = {"tfjs": "tfjs", "onnx": "ort-web"}
_NOT_TENSORS = {"Const", "Placeholder", "NoOp"}


def runtime_for(fmt: str, runtime: str | None) -> str:
    """The web runtime that captures this format's intermediates, or the clear error of one that cannot."""
    wanted = CAPTURE_RUNTIMES.get(fmt)
    if wanted is None:
        raise UsageError(f"the browser runtimes of {fmt} variants (LiteRT.js, tfjs-tflite) return only the model's "
                         "outputs, so its layers cannot be compared in the page",
                         hint="explain it on the host (--target host), or explain the tfjs or onnx variant "
                              "in the browser")
    if runtime is not None and runtime != wanted:
        raise UsageError(f"explain reads {fmt} intermediates in the browser through {wanted}, not {runtime}",
                         hint=f"drop --runtime, or use --runtime {wanted}")
    return wanted


def tfjs_nodes(model_json: Path) -> list[str]:
    """The graph's computing nodes (weights and inputs left out), in topological order."""
    try:
        topology = json.loads(Path(model_json).read_text())["modelTopology"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelRunError(f"cannot read the TF.js graph of {model_json}: {exc}",
                            hint="the variant may be corrupt; rebuild it with `devicelab convert`") from None
    nodes = {n["name"]: n for n in topology.get("node", [])}
    order: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done
    for start in nodes:
        stack = [(start, False)]
        while stack:
            name, expanded = stack.pop()
            if expanded:
                state[name] = 2
                order.append(name)
                continue
            if state.get(name):
                continue
            state[name] = 1
            stack.append((name, True))
            for ref in reversed(nodes[name].get("input", [])):
                parent = ref.lstrip("^").split(":")[0]
                if parent in nodes and not state.get(parent):
                    stack.append((parent, False))
    return [n for n in order if nodes[n].get("op") not in _NOT_TENSORS]


class BrowserCapture:
    """Runs capture jobs in one browser session (``target``: a BrowserTarget, which its caller closes)."""

    def __init__(self, fmt: str, target: Any, runtime: str | None = None, backend: str | None = None,
                 timeout_seconds: float = 600.0) -> None:
        self.format = fmt
        self.runtime = runtime_for(fmt, runtime)
        self.target = target
        self.backend = backend
        self.timeout_seconds = timeout_seconds
        target.check(self.runtime, fmt)
        known = target.backends(self.runtime)
        if backend is not None and backend not in known:
            raise UsageError(f"{self.runtime} has no '{backend}' backend", hint=f"use one of {', '.join(known)}")
        self.kept: int | None = None  # samples the last capture kept

    @property
    def RUNS_ON(self) -> str:  # named like the per-format modules' constant
        backend = self.backend or self.target.backends(self.runtime)[0]
        return f"{self.runtime} ({backend}) in {self.target.name}"

    def capture(self, model_path: Path, x: list[np.ndarray], input_names: list[str]
                ) -> tuple[list[VariantTensor], list[VariantTensor]]:
        """(the captured float tensors in graph order, the model outputs on every sample)."""
        scratch = Path(tempfile.mkdtemp(prefix="devicelab-explain-"))
        try:
            if self.format == "onnx":
                from devicelab.explain import onnx

                exposed = onnx.expose(model_path)
                model_path = scratch / model_path.name
                model_path.write_bytes(exposed.model.SerializeToString())
                stacked, outputs = self._run(model_path, x, input_names, exposed.intermediates, scratch)
                tensors = exposed.tensors(stacked)
                return tensors, [VariantTensor(o.name, o.values, exposed.scales.get(o.name)) for o in outputs]
            names = tfjs_nodes(model_path)
            stacked, outputs = self._run(model_path, x, input_names, names, scratch)
            return [VariantTensor(n, stacked[n]) for n in names if n in stacked], outputs
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def outputs(self, model_path: Path, x: list[np.ndarray], input_names: list[str]) -> list[VariantTensor]:
        """The model outputs only, on every sample (what --fix needs of each candidate): no capture."""
        scratch = Path(tempfile.mkdtemp(prefix="devicelab-explain-"))
        try:
            return self._run(model_path, x, input_names, None, scratch)[1]
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _run(self, model_path: Path, x: list[np.ndarray], input_names: list[str], names: list[str] | None,
             scratch: Path) -> tuple[dict[str, np.ndarray], list[VariantTensor]]:
        from devicelab import api

        if names is not None and not names:
            raise ModelRunError(f"{model_path.name} has no intermediate tensor to compare")
        options = api.MeasureOptions(performance=False, threads=1, backend=self.backend,
                                     timeout_seconds=self.timeout_seconds)
        job_dir, result_dir = scratch / "job", scratch / "result"
        capture = protocol.Capture(names, CAPTURE_BYTES) if names else None
        api.build_job(job_dir, model_path, self.format, "explain", "0" * 64, x, self.runtime, options,
                      input_names=input_names, capture=capture)
        result = self.target.run(job_dir, result_dir)
        if not result.ok:
            err = result.error or {}
            exc = DevicelabError(f"{self.RUNS_ON}: {err.get('message', 'the capture job failed')}", err.get("hint"))
            exc.kind = err.get("kind", "error")
            raise exc
        stacked = {spec.name: protocol.read_tensor(result_dir, spec) for spec in result.intermediates}
        outputs = [VariantTensor(spec.name, protocol.read_tensor(result_dir, spec).astype(np.float32))
                   for spec in result.outputs]
        if names:  # an outputs-only job (a --fix candidate) leaves the count of the diagnosis alone
            self.kept = (result.extra.get("capture") or {}).get("samples")
        return stacked, outputs
