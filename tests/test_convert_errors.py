"""A conversion that truly cannot work names the op and the converter's real cause, not `<unknown>:0`, and keeps
the converter's own output on the error; captured output leaves no file behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from devicelab.artifacts import get_or_convert
from devicelab.convert import variants as registry
from devicelab.convert.base import conversion_failure, real_cause
from devicelab.errors import UnsupportedOpError
from devicelab.models import SourceModel
from devicelab.quiet import captured_output, captured_text


def test_captured_output_leaves_nothing_and_keeps_the_text(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with captured_output() as captured:
        os.write(2, b"C++ says hello\n")
        os.write(1, b"python says hello\n")
    assert "C++ says hello" in captured.text and "python says hello" in captured.text
    with pytest.raises(RuntimeError) as raised, captured_output():
        os.write(2, b"error: the real cause\n")
        raise RuntimeError("<unknown>:0: error: loc(...)")
    assert "the real cause" in captured_text(raised.value)
    assert list(tmp_path.iterdir()) == []  # the old version left a tmp*.log per call


# The TFLite converter's own words for a Keras 3 LSTM converted with a free batch (devicelab no longer does
# that): the exception says only `<unknown>:0: error: loc(...)`; the cause is printed to stderr.
_TENSORLIST_LOG = """\
loc(callsite(callsite(fused["TensorListReserve:", "functional_1/gru_1/TensorArrayV2_1@__inference_function_3500"] \
at fused["StatefulPartitionedCall:", "x"]) at fused["StatefulPartitionedCall:", "y"])): error: \
'tf.TensorListReserve' op requires element_shape to be static during TF Lite transformation pass
loc(callsite(fused["TensorListReserve:", "z"])): error: failed to legalize operation 'tf.TensorListReserve' that \
was explicitly marked illegal
error: Lowering tensor list ops is failed. Please consider using Select TF ops and disabling \
`_experimental_lower_tensor_list_ops` flag in the TFLite converter object.
"""


def test_real_cause_is_taken_from_the_captured_log() -> None:
    assert real_cause(_TENSORLIST_LOG).startswith("Lowering tensor list ops is failed")
    exc = RuntimeError('<unknown>:0: error: loc(callsite(callsite(fused["TensorListReserve:", ...')
    exc._devicelab_captured_output = _TENSORLIST_LOG  # what captured_output attaches
    error = conversion_failure(registry.get("tflite-fp32"), exc)
    assert isinstance(error, UnsupportedOpError)
    assert "TensorListReserve" in error.message and "Lowering tensor list ops is failed" in error.message
    assert "<unknown>" not in error.message
    assert error.details and "explicitly marked illegal" in error.details


@pytest.mark.slow
def test_an_op_without_builtin_kernel_is_named(tmp_path: Path, session_cache: Path) -> None:
    """A real conversion: a determinant has no builtin TFLite op, and phones have no Flex delegate."""
    import keras
    import tensorflow as tf

    class Determinant(keras.layers.Layer):
        def call(self, x: tf.Tensor) -> tf.Tensor:
            return tf.expand_dims(tf.linalg.det(x), -1)

    inputs = keras.Input((3, 3), name="matrix")
    model = keras.Model(inputs, Determinant()(inputs))
    source = SourceModel("det", "keras", tmp_path / "det.keras", "d" * 64, _keras=model)
    with pytest.raises(UnsupportedOpError) as raised:
        get_or_convert(source, registry.get("tflite-fp32"), session_cache)
    error = raised.value
    assert "MatrixDeterminant" in error.message and "<unknown>" not in error.message
    assert "not supported" in error.message  # the converter's summary line, quoted
    assert error.details and "MatrixDeterminant" in error.details
    assert not any((session_cache / "tmp").iterdir()) if (session_cache / "tmp").exists() else True


def test_calibration_is_fed_per_input_in_its_own_dtype(tmp_path: Path) -> None:
    """One array per input; ids that arrive as float32 (an older loader) are fed as the int32 the model takes."""
    import numpy as np

    from devicelab.convert.base import ConversionContext
    from devicelab.errors import CalibrationError
    from devicelab.models import IOSpec

    source = SourceModel("two", "keras", tmp_path / "m.keras", "0" * 64)
    source.__dict__["inputs"] = [IOSpec("ids", "int32", [None, 5]), IOSpec("x", "float32", [None, 2])]
    ids = np.arange(15, dtype=np.float32).reshape(3, 5)
    ctx = ConversionContext(source, [ids, np.ones((3, 2), np.float32)], tmp_path)
    feeds = ctx.calibration_feeds(registry.get("tflite-int8"))
    assert len(feeds) == 3 and [a.dtype for a in feeds[0]] == [np.int32, np.float32]
    assert [a.shape for a in feeds[1]] == [(1, 5), (1, 2)] and feeds[1][0][0, 0] == 5
    with pytest.raises(CalibrationError, match=r"1 array.*2 input"):
        ConversionContext(source, [ids], tmp_path).calibration_feeds(registry.get("tflite-int8"))
    with pytest.raises(CalibrationError, match="fractional"):
        ConversionContext(source, [ids + 0.5, np.ones((3, 2), np.float32)], tmp_path).calibration_feeds(
            registry.get("onnx-int8-static"))
