"""ExecuTorch: the reference side of .pt2 sources, and what an XNNPACK-lowered program lets us see.

devicelab lowers every ExecuTorch variant to XNNPACK: the delegate computes its whole partition inside one call
and writes no intermediate tensors (ETDump's debug buffer records only ops outside delegates, and a full one
aborts the process here). So the variant gives its model outputs only: they are compared with the source's,
and every other layer is listed as unmatched, inside the delegate. The layers of a .pt2 source are its
modules (the innermost ``nn_module_stack`` entry of each op; ops of the root module are layers of their own),
each one's output the last op it computes, read with torch.fx's Interpreter on the exported program.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from devicelab.errors import ModelRunError, require
from devicelab.explain.core import VariantTensor

FORMAT = "executorch"
RUNS_ON = "ExecuTorch with XNNPACK (ops inside the delegate write no intermediate tensors: outputs only)"
DELEGATED_NOTE = ("inside the XNNPACK delegate, which writes no intermediate tensors; only the model outputs "
                  "can be compared")


def _layer(node: Any) -> str:
    stack = list((node.meta.get("nn_module_stack") or {}).values())
    path = stack[-1][0] if stack else ""
    return path or node.name  # ops of the root module (flatten, add) are layers of their own


def op_layers(source: Any) -> tuple[list[str], dict[str, str]]:
    """(the source's layers in graph order, {op name: layer} for every op): torch.onnx names each ONNX node's
    output after its op, so the ONNX nodes of a layer are found by name (explain --fix for .pt2 sources)."""
    nodes = [n for n in source.torch_program().module().graph.nodes if n.op == "call_function"]
    by_op = {n.name: _layer(n) for n in nodes}
    return list(dict.fromkeys(by_op.values())), by_op


def reference(source: Any, x: list[np.ndarray]) -> tuple[dict[str, np.ndarray], list[np.ndarray], list[str],
                                                          dict[str, str]]:
    """(each layer's output on every sample, the model outputs, the layer of each output, {op name: layer}:
    torch.onnx names tensors after the ops, so ONNX variants of the source match by them)."""
    torch = require("torch", "pytorch", "explaining .pt2 models")


    module = source.torch_program().module()
    nodes = [n for n in module.graph.nodes if n.op == "call_function"]
    last = {}
    for node in nodes:
        last[_layer(node)] = node.name  # graph order: the last op of a layer is its output
    wanted = set(last.values())
    rows: dict[str, list[np.ndarray]] = {name: [] for name in wanted}
    outputs: list[list[np.ndarray]] = []

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n: Any) -> Any:
            value = super().run_node(n)
            if n.name in wanted and isinstance(value, torch.Tensor):
                rows[n.name].append(value.detach().float().numpy())
            return value

    with torch.no_grad():
        for i in range(len(x[0])):
            result = Recorder(module).run(*[torch.from_numpy(np.ascontiguousarray(a[i:i + 1])) for a in x])
            result = result if isinstance(result, (list, tuple)) else [result]
            outputs.append([r.detach().float().numpy() for r in result])
    layers = {layer: np.concatenate(rows[name]) for layer, name in last.items() if rows.get(name)}
    output_node = next(n for n in module.graph.nodes if n.op == "output")
    feeding = output_node.args[0] if isinstance(output_node.args[0], (list, tuple)) else [output_node.args[0]]
    by_name = {n.name: n for n in nodes}
    output_layers = [_layer(by_name[a.name]) if getattr(a, "name", None) in by_name else None for a in feeding]
    stacked = [np.concatenate([o[k] for o in outputs]) for k in range(len(outputs[0]))]
    return layers, stacked, output_layers, {name: layer for layer, name in last.items()}  # type: ignore[return-value]


def capture(model_path: Path, x: list[np.ndarray], input_names: list[str]) -> tuple[list[VariantTensor],
                                                                                   list[VariantTensor]]:
    """No intermediate tensors (see the module doc); the model outputs on every sample."""
    torch = require("torch", "pytorch", "explaining ExecuTorch variants")
    require("executorch.runtime", "executorch", "explaining ExecuTorch variants")
    from executorch.runtime import Runtime as ETRuntime

    try:
        method = ETRuntime.get().load_program(model_path).load_method("forward")
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ModelRunError(f"ExecuTorch could not load {model_path.name}: {str(exc).strip()[:300]}",
                            hint="the file may be corrupt") from None
    rows: list[list[np.ndarray]] = []
    for i in range(len(x[0])):
        result = method.execute([torch.from_numpy(np.ascontiguousarray(a[i:i + 1])) for a in x])
        rows.append([np.asarray(r.numpy(), dtype=np.float32) for r in result])
    outputs = [VariantTensor(f"output_{k}", np.concatenate([r[k] for r in rows])) for k in range(len(rows[0]))]
    return [], outputs
