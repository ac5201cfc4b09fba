"""ONNX export of the twins with torch's dynamo exporter (it writes the graph through onnxscript)."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from devicelab.errors import ConversionError
from devicelab.quiet import captured_output

# 18 is the dynamo exporter's own lowest opset (17 goes through a fallback converter); onnxruntime 1.32 and
# onnxruntime-web 1.30 both run it.
OPSET = 18
INPUT, OUTPUT = "input", "probabilities"


def export_onnx(model: torch.nn.Module, input_shape: tuple[int, ...], path: Path) -> Path:
    """Write `model` as ONNX with input "input" (batch dimension dynamic) and output "probabilities"."""
    example = torch.zeros((2, *input_shape))  # batch 2, not 1: the exporter would specialise a batch of one
    try:
        with warnings.catch_warnings(), captured_output():  # the exporter prints its progress and warnings
            warnings.simplefilter("ignore")
            torch.onnx.export(model.eval(), (example,), str(path), input_names=[INPUT], output_names=[OUTPUT],
                              opset_version=OPSET, dynamo=True, external_data=False,
                              dynamic_shapes=({0: torch.export.Dim("batch")},))
    except Exception as exc:  # torch raises its own error types from export, tracing and translation alike
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConversionError(f"PyTorch ONNX export of {type(model).__name__} failed: {message}") from None
    return path
