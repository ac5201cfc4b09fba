"""What every converter shares: the Variant record, the context a converter gets, log capture, op errors."""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from devicelab.errors import CalibrationError, ConversionError, UnsupportedOpError
from devicelab.models import SourceModel
from devicelab.quiet import captured_output, captured_text


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
    """What a converter gets besides the variant.

    calibration: one array per SOURCE model input, in the model's input order, each (N, *sample_shape) in that
        input's own dtype (float32 for float inputs; int32/int64/bool kept). A single array is taken as the one
        input of a one-input model.
    shapes: concrete per-input shapes with batch 1 ([[1, 80]], [[1, 32, 32, 3], [1, 4]]), taken from the data,
        when the caller knows them. Formats that need fixed shapes (Core ML, unrolled RNNs) are made for these.
    """

    source: SourceModel
    calibration: list[np.ndarray] | None
    scratch: Path  # per-source folder for intermediates several variants share (a SavedModel export)
    shapes: list[list[int]] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.calibration, np.ndarray):
            self.calibration = [self.calibration]

    def require_calibration(self, variant: Variant) -> list[np.ndarray]:
        if self.calibration is None:
            raise CalibrationError(
                f"{variant.name} needs calibration data for full-integer quantization",
                hint="pass --calibration DATA (a dataset name, .npz, IDX file or image folder)",
            )
        inputs = self.source.inputs
        if len(self.calibration) != len(inputs):
            raise CalibrationError(
                f"{variant.name}: calibration data has {len(self.calibration)} array(s) but the model has "
                f"{len(inputs)} input(s) ({', '.join(i.name for i in inputs)})",
                hint="give one calibration array per model input, named like the inputs in a .npz")
        if len({len(a) for a in self.calibration}) != 1:
            raise CalibrationError(f"{variant.name}: calibration arrays have different sample counts "
                                   f"({', '.join(str(len(a)) for a in self.calibration)})",
                                   hint="give every input the same number of samples")
        return self.calibration

    def calibration_feeds(self, variant: Variant) -> list[list[np.ndarray]]:
        """One list per sample, holding every input with a batch of one (what calibrators feed)."""
        arrays = self.require_calibration(variant)
        return [[np.ascontiguousarray(a[i:i + 1]) for a in arrays] for i in range(len(arrays[0]))]

    def input_shapes(self, fixed: bool = False, variant: Variant | None = None) -> list[list[int | None]]:
        """Per-input shapes with batch 1; free dimensions stay None unless `fixed`, then they come from `shapes`."""
        shapes: list[list[int | None]] = [[1, *spec.shape[1:]] for spec in self.source.inputs]
        if not fixed or not any(None in s for s in shapes):
            return shapes
        name = variant.name if variant else self.source.name
        if self.shapes is None:
            free = [f"{spec.name} {_shape_text(s)}" for spec, s in zip(self.source.inputs, shapes, strict=True)
                    if None in s]
            raise ConversionError(f"{name} needs fixed input shapes, and the model's are free: {', '.join(free)}",
                                  hint="give --data (or --calibration) so the variant is made for the data's shape")
        if len(self.shapes) != len(shapes):
            raise ConversionError(f"{name}: {len(self.shapes)} input shape(s) given for {len(shapes)} input(s)")
        out: list[list[int | None]] = []
        for spec, model_shape, given in zip(self.source.inputs, shapes, self.shapes, strict=True):
            given = [int(d) for d in given]
            fits = len(given) == len(model_shape) and all(m is None or m == g for m, g in
                                                          zip(model_shape[1:], given[1:], strict=True))
            if not fits:
                raise ConversionError(f"{name}: shape {_shape_text(given)} does not fit input {spec.name} "
                                      f"{_shape_text(model_shape)}", hint="check the data's shape")
            out.append([1, *given[1:]])
        return out

    def has_free_dims(self) -> bool:
        return any(None in spec.shape[1:] for spec in self.source.inputs)

    def saved_model(self) -> Path:
        """The source as a SavedModel folder (exported once per source, shared by TF.js and friends)."""
        if self.source.format == "savedmodel":
            return self.source.path
        folder = self.scratch / "saved_model"
        if not (folder / "saved_model.pb").exists():
            with private_tmp(self) as tmp:
                with captured_output():
                    self.source.keras_model().export(str(tmp / "sm"), verbose=False)
                (tmp / "sm").replace(folder)
        return folder


def fixed_shapes_entry(ctx: ConversionContext, shapes: list[list[int | None]]) -> dict[str, list[int]]:
    """The manifest's `fixed_shapes`: the inputs whose free dimensions this variant fixed, and to what."""
    return {spec.name: [int(d) for d in shape] for spec, shape in zip(ctx.source.inputs, shapes, strict=True)
            if None in spec.shape[1:]}


def _shape_text(shape: list[int | None]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


_CWD_LOCK = threading.Lock()


@contextlib.contextmanager
def private_tmp(ctx: ConversionContext) -> Iterator[Path]:
    """A temporary folder inside devicelab's cache, also the working and tempfile folder for the duration.

    Some converters write into the current directory (onnxruntime's symbolic shape inference leaves
    `sym_shape_infer_temp.onnx` there when it gives up) or into $TMPDIR: both land here and are removed.
    """
    root = ctx.scratch.parent.parent / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="convert-", dir=root))
    with _CWD_LOCK:
        saved_tempdir = tempfile.tempdir
        try:
            tempfile.tempdir = str(folder)
            with contextlib.chdir(folder):
                yield folder
        finally:
            tempfile.tempdir = saved_tempdir
            shutil.rmtree(folder, ignore_errors=True)


_OP_PATTERNS = [
    re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op"),
    re.compile(r"Conversion for TF op '(\w+)' not implemented"),
    re.compile(r"Unsupported Ops in the model[^:]*:\s*([\w ,]+)"),
    re.compile(r"No conversion function registered for op type (\w+)"),
    re.compile(r"Tensorflow op \[[^\]]*: (\w+)\] is not supported"),
    re.compile(r"failed to legalize operation 'tf\.(\w+)'"),
    re.compile(r"'tf\.(\w+)' op requires"),
]
# MLIR diagnostics: `loc(...): error: <message>` or `<unknown>:0: error: <message>` or `error: <message>`.
_MLIR_ERROR = re.compile(r"(?:^|\s)error:\s*(.+)$")


def _mlir_errors(text: str) -> list[str]:
    found = []
    for line in text.splitlines():
        match = _MLIR_ERROR.search(line)
        if match:
            message = match.group(1).strip().replace("\\n", " ").strip()
            if message and not message.startswith("loc(") and message not in found:
                found.append(message)
    return found


def real_cause(text: str) -> str | None:
    """The converter's summary error line (TFLite's MLIR prints it last, after the per-op diagnostics)."""
    errors = _mlir_errors(text)
    if not errors:
        return None
    summary = [e for e in errors if not re.search(r"'tf\.\w+' op|failed to legalize", e)]
    return (summary or errors)[-1][:400]


def conversion_failure(variant: Variant, exc: BaseException) -> ConversionError:
    """Turn a converter's exception into one readable error, naming unsupported ops and the real cause."""
    captured = captured_text(exc)
    text = f"{type(exc).__name__}: {exc}\n{captured}"
    ops = sorted({op.strip() for pattern in _OP_PATTERNS for match in pattern.finditer(text)
                  for op in match.group(1).split(",") if op.strip()})
    cause = real_cause(text)
    details = _details(exc, captured)
    if ops:
        because = f": {cause}" if cause else ""
        return UnsupportedOpError(
            f"{variant.name}: the model uses op(s) {', '.join(ops)} that {variant.format} cannot express{because}",
            hint="replace those layers with supported ones, or skip this variant; --verbose shows the "
                 "converter's output", details=details)
    first = cause or next((line.strip() for line in str(exc).splitlines()
                           if line.strip() and not line.strip().startswith("<unknown>")), type(exc).__name__)
    return ConversionError(f"{variant.name}: conversion failed: {first[:400]}",
                           hint="run with --verbose to see the converter's full output", details=details)


def _details(exc: BaseException, captured: str) -> str | None:
    parts = [f"{type(exc).__name__}: {exc}".strip()]
    if captured.strip():
        parts.append("converter output:\n" + captured.strip()[-20_000:])
    return "\n\n".join(parts)


def io_spec(name: str, dtype: Any, shape: Any) -> dict[str, Any]:
    return {"name": name, "dtype": str(np.dtype(dtype)) if dtype is not None else None,
            "shape": [None if d is None or int(d) < 0 else int(d) for d in shape]}
