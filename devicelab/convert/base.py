"""What every converter shares: the Variant record, the context a converter gets, log capture, op errors."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from devicelab.errors import CalibrationError, ConversionError, UnsupportedOpError
from devicelab.models import SourceModel
from devicelab.quiet import captured_output


@dataclass(frozen=True)
class Variant:
    name: str  # "tflite-int8"
    format: str  # the artifact format: tflite | coreml | tfjs | onnx
    quant: str  # fp32 | fp16 | dynamic-int8 | int8 | uint8
    description: str
    runtime: str  # the host runtime that runs it ("" when none runs on a PC)
    needs_calibration: bool = False
    sources: tuple[str, ...] = ("keras", "savedmodel")  # source formats this variant can be made from


@dataclass
class ConversionContext:
    source: SourceModel
    calibration: np.ndarray | None  # float32 samples shaped like the model input, when the variant needs them
    scratch: Path  # per-source folder for intermediates several variants share (a SavedModel export)

    def require_calibration(self, variant: Variant) -> np.ndarray:
        if self.calibration is None:
            raise CalibrationError(
                f"{variant.name} needs calibration data for full-integer quantization",
                hint="pass --calibration DATA (a dataset name, .npz, IDX file or image folder)",
            )
        return self.calibration

    def saved_model(self) -> Path:
        """The source as a SavedModel folder (exported once per source, shared by TF.js and friends)."""
        if self.source.format == "savedmodel":
            return self.source.path
        folder = self.scratch / "saved_model"
        if not (folder / "saved_model.pb").exists():
            tmp = Path(tempfile.mkdtemp(dir=self.scratch))
            with captured_output():
                self.source.keras_model().export(str(tmp / "sm"), verbose=False)
            (tmp / "sm").replace(folder)
        return folder


_OP_PATTERNS = [
    re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op"),
    re.compile(r"Conversion for TF op '(\w+)' not implemented"),
    re.compile(r"Unsupported Ops in the model[^:]*:\s*([\w ,]+)"),
    re.compile(r"No conversion function registered for op type (\w+)"),
    re.compile(r"Tensorflow op \[[^\]]*: (\w+)\] is not supported"),
]


def conversion_failure(variant: Variant, exc: BaseException) -> ConversionError:
    """Turn a converter's exception into one readable error, naming unsupported ops when it can."""
    text = f"{type(exc).__name__}: {exc}"
    ops = sorted({op.strip() for pattern in _OP_PATTERNS for match in pattern.finditer(text)
                  for op in match.group(1).split(",") if op.strip()})
    if ops:
        return UnsupportedOpError(
            f"{variant.name}: the model uses op(s) {', '.join(ops)} that {variant.format} cannot express",
            hint="replace those layers with supported ones, or skip this variant",
        )
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return ConversionError(f"{variant.name}: conversion failed: {first[:300]}",
                           hint="run with --verbose to see the converter's full output")


def io_spec(name: str, dtype: Any, shape: Any) -> dict[str, Any]:
    return {"name": name, "dtype": str(np.dtype(dtype)) if dtype is not None else None,
            "shape": [None if d is None or int(d) < 0 else int(d) for d in shape]}
