"""Recurrent text classifiers over int32 token ids convert to every format with builtin ops only.

Each test builds and briefly trains its own small Embedding + LSTM/GRU model on the synthetic token task (so
agreement is measured on a model with a real signal) and runs the variants with the host runtimes directly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from convert_helpers import agreement, builtin_only, run_onnx, run_tflite

from devicelab.artifacts import artifact_key, get_or_convert
from devicelab.convert import variants as registry
from devicelab.data.text import synthetic_text
from devicelab.errors import ConversionError
from devicelab.models import load_source

pytestmark = pytest.mark.slow
T = 40


def _text_model(kind: str, path: Path, length: int | None = T) -> Path:
    import keras
    from keras import layers

    x, y, _ = synthetic_text("train", 1200, T)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((length,), dtype="int32", name="tokens")
    h = layers.Embedding(5000, 16)(inputs)
    h = (layers.LSTM if kind == "lstm" else layers.GRU)(16)(h)
    outputs = layers.Dense(2, activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    model.save(path)
    return path


@pytest.fixture(scope="module")
def test_tokens() -> tuple[np.ndarray, np.ndarray]:
    x, y, _ = synthetic_text("test", 120, T)
    return x, y


@pytest.fixture(scope="module")
def calibration() -> list[np.ndarray]:
    return [synthetic_text("train", 64, T)[0]]


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_recurrent_text_model_converts_to_every_format(kind: str, tmp_path: Path, session_cache: Path,
                                                        test_tokens: tuple[np.ndarray, np.ndarray],
                                                        calibration: list[np.ndarray]) -> None:
    import keras

    source = load_source(_text_model(kind, tmp_path / f"{kind}.keras"))
    x, y = test_tokens
    reference = keras.models.load_model(source.path).predict(x, verbose=0)
    assert (reference.argmax(1) == y).mean() > 0.8  # the model learned the task: agreement means something

    names = ["tflite-fp32", "tflite-fp16", "tflite-dynamic-int8", "tflite-int8", "onnx-fp32", "onnx-int8-dynamic",
             "onnx-int8-static", "tfjs-fp32", "tfjs-uint8", "coreml-fp32"]
    made = {n: get_or_convert(source, registry.get(n), session_cache, calibration, f"calib-{kind}")[0]
            for n in names}

    # TFLite: builtin ops only (a WHILE loop, or unrolled for int8), fixed batch of one, int32 ids in.
    figures = {}
    for name in names[:4]:
        ops = builtin_only(made[name].model_path)
        assert made[name].manifest["inputs"][0]["dtype"] == "int32"
        assert made[name].manifest["inputs"][0]["shape"] == [1, T]
        out = run_tflite(made[name].model_path, {"tokens": x})[0]
        figures[name] = (agreement(out, reference), float(np.abs(out - reference).max()))
        if name == "tflite-int8":
            assert "WHILE" not in ops
            assert made[name].manifest["outputs"][0]["dtype"] == "int8"
    assert figures["tflite-fp32"][0] == 1.0 and figures["tflite-fp32"][1] < 1e-4, figures
    assert figures["tflite-fp16"][0] >= 0.98 and figures["tflite-fp16"][1] < 0.02, figures
    assert figures["tflite-dynamic-int8"][0] >= 0.95, figures
    assert figures["tflite-int8"][0] >= 0.9, figures

    for name in names[4:7]:
        out = run_onnx(made[name].model_path, {"tokens": x})[0]
        figures[name] = (agreement(out, reference), float(np.abs(out - reference).max()))
        assert made[name].manifest["inputs"][0]["dtype"] == "int32"
    assert figures["onnx-fp32"][0] == 1.0 and figures["onnx-fp32"][1] < 1e-4, figures
    assert figures["onnx-int8-dynamic"][0] >= 0.95, figures
    assert figures["onnx-int8-static"][0] >= 0.9, figures
    print(kind, json.dumps(figures))

    for name in ("tfjs-fp32", "tfjs-uint8"):
        signature = json.loads((made[name].dir / "model.json").read_text())["signature"]["inputs"]
        assert [v["dtype"] for v in signature.values()] == ["DT_INT32"]
    coreml = made["coreml-fp32"].manifest
    assert coreml["inputs"] == [{"name": "tokens", "dtype": "int32", "shape": [1, T]}]
    assert coreml["fixed_shapes"] is None  # the sequence length was fixed in the model already


def test_free_sequence_length(tmp_path: Path, session_cache: Path, test_tokens: tuple[np.ndarray, np.ndarray],
                              calibration: list[np.ndarray]) -> None:
    """A (None,) token input: TFLite keeps the length free where it can, and fixes it for int8 from `shapes`."""
    import keras

    source = load_source(_text_model("lstm", tmp_path / "free.keras", length=None))
    model = keras.models.load_model(source.path)
    fp32, _ = get_or_convert(source, registry.get("tflite-fp32"), session_cache)
    assert fp32.manifest["inputs"][0]["shape"] == [1, None] and fp32.manifest["fixed_shapes"] is None
    for length in (T, 25):  # the runtime resizes the free length from the data
        x = test_tokens[0][:40, -length:]
        out = run_tflite(fp32.model_path, {"tokens": x})[0]
        assert np.abs(out - model.predict(x, verbose=0)).max() < 1e-4

    int8 = registry.get("tflite-int8")
    with pytest.raises(ConversionError, match=r"needs fixed input shapes.*tokens"):
        get_or_convert(source, int8, session_cache, calibration, "free")
    made, _ = get_or_convert(source, int8, session_cache, calibration, "free", shapes=[[1, T]])
    assert made.manifest["fixed_shapes"] == {"tokens": [1, T]}
    assert made.manifest["inputs"][0]["shape"] == [1, T]
    out = run_tflite(made.model_path, {"tokens": test_tokens[0]})[0]
    assert agreement(out, model.predict(test_tokens[0], verbose=0)) >= 0.9
    # The shapes key the cache only where they can change the bytes.
    assert artifact_key(source, int8, "free", [[1, T]]) != artifact_key(source, int8, "free", [[1, 30]])
    onnx = registry.get("onnx-fp32")
    assert artifact_key(source, onnx, None, [[1, T]]) == artifact_key(source, onnx, None, [[1, 30]])
