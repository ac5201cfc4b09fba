"""Models unlike an image classifier convert to every variant: several typed inputs, free spatial dimensions,
a regression head, two outputs. Each test builds its own small model and runs the variants on the host directly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from convert_helpers import agreement, run_onnx, run_tflite

from devicelab.artifacts import Artifact, get_or_convert
from devicelab.convert import variants as registry
from devicelab.models import SourceModel, load_source

pytestmark = pytest.mark.slow
TFLITE = ["tflite-fp32", "tflite-fp16", "tflite-dynamic-int8", "tflite-int8"]
ONNX = ["onnx-fp32", "onnx-int8-dynamic", "onnx-int8-static"]
OTHERS = ["tfjs-fp32", "tfjs-fp16", "tfjs-uint8", "coreml-fp32", "coreml-fp16", "coreml-int8"]
rng = np.random.default_rng(0)


def _convert_all(source: SourceModel, cache: Path, calibration: list[np.ndarray], names: list[str],
                 **kw: Any) -> dict[str, Artifact]:
    made = {}
    for name in names:
        made[name], _ = get_or_convert(source, registry.get(name), cache, calibration, "calib", **kw)
    return made


def _check_fp32(made: dict[str, Artifact], inputs: dict[str, np.ndarray], reference: list[np.ndarray],
                classify: bool) -> dict[str, float]:
    figures: dict[str, float] = {}
    for name, run in (("tflite-fp32", run_tflite), ("onnx-fp32", run_onnx)):
        outs = run(made[name].model_path, inputs)
        assert len(outs) == len(reference), name
        for out, ref in zip(outs, reference, strict=True):
            diff = float(np.abs(out.reshape(ref.shape) - ref).max())
            figures[name] = max(diff, figures.get(name, 0.0))
            assert diff < 1e-4, (name, diff)
            if classify and ref.shape[-1] > 1:
                assert agreement(out.reshape(ref.shape), ref) == 1.0, name
    return figures


def test_two_inputs_image_and_meta_in_reverse_name_order(tmp_path: Path, session_cache: Path) -> None:
    """An image and a meta vector (named so alphabetical order is not the model's): every variant, int8 too."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(1)
    image = keras.Input((16, 16, 3), name="zimage")
    meta = keras.Input((4,), name="ameta")
    h = layers.Conv2D(4, 3, activation="relu")(image)
    h = layers.GlobalAveragePooling2D()(h)
    h = layers.Concatenate()([h, layers.Dense(4, activation="relu")(meta)])
    out = layers.Dense(3, activation="softmax", name="scores")(h)
    keras.Model([image, meta], out).save(tmp_path / "two.keras")
    source = load_source(tmp_path / "two.keras")
    inputs = {"zimage": rng.random((40, 16, 16, 3), dtype=np.float32),
              "ameta": rng.normal(size=(40, 4)).astype(np.float32)}
    reference = [keras.models.load_model(source.path).predict(list(inputs.values()), verbose=0)]

    made = _convert_all(source, session_cache, [a[:20] for a in inputs.values()], TFLITE + ONNX + OTHERS)
    print(_check_fp32(made, inputs, reference, classify=True))
    # Each format lists its inputs in its own order under the source's names (TFLite sorts them by name).
    for name in ("tflite-fp32", "tflite-int8", "onnx-fp32", "coreml-fp32", "tfjs-fp32"):
        assert {i["name"] for i in made[name].manifest["inputs"]} == {"zimage", "ameta"}, name
    assert [i["name"] for i in made["onnx-fp32"].manifest["inputs"]] == ["zimage", "ameta"]
    assert made["tflite-fp32"].manifest["inputs"][0]["tensor"] == "serving_default_ameta:0"
    assert made["tflite-fp32"].manifest["outputs"][0]["name"] == "scores"
    int8 = made["tflite-int8"].manifest["inputs"]
    assert [i["dtype"] for i in int8] == ["int8", "int8"]
    assert agreement(run_tflite(made["tflite-int8"].model_path, inputs)[0], reference[0]) >= 0.8
    assert agreement(run_onnx(made["onnx-int8-static"].model_path, inputs)[0], reference[0]) >= 0.8


def test_int_ids_and_float_features(tmp_path: Path, session_cache: Path) -> None:
    """int32 ids through an embedding beside float features: the ids stay int32 in every int8 variant."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(2)
    ids = keras.Input((6,), dtype="int32", name="ids")
    features = keras.Input((3,), name="features")
    h = layers.GlobalAveragePooling1D()(layers.Embedding(50, 8)(ids))
    h = layers.Concatenate()([h, features])
    out = layers.Dense(4, activation="softmax")(layers.Dense(8, activation="relu")(h))
    keras.Model([ids, features], out).save(tmp_path / "ids.keras")
    source = load_source(tmp_path / "ids.keras")
    inputs = {"ids": rng.integers(0, 50, (40, 6)).astype(np.int32),
              "features": rng.normal(size=(40, 3)).astype(np.float32)}
    reference = [keras.models.load_model(source.path).predict(list(inputs.values()), verbose=0)]
    made = _convert_all(source, session_cache, [a[:20] for a in inputs.values()], TFLITE + ONNX + OTHERS)
    _check_fp32(made, inputs, reference, classify=True)
    tflite_int8 = {i["name"]: i["dtype"] for i in made["tflite-int8"].manifest["inputs"]}
    assert tflite_int8 == {"ids": "int32", "features": "int8"}
    assert agreement(run_tflite(made["tflite-int8"].model_path, inputs)[0], reference[0]) >= 0.8
    assert [i["dtype"] for i in made["onnx-int8-static"].manifest["inputs"]] == ["int32", "float32"]
    assert [i["dtype"] for i in made["coreml-fp32"].manifest["inputs"]] == ["int32", "float32"]
    assert agreement(run_onnx(made["onnx-int8-static"].model_path, inputs)[0], reference[0]) >= 0.8


def test_dynamic_shape_cnn(tmp_path: Path, session_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """(None, None, 3) input: TFLite keeps the free dims (batch fixed to 1); ONNX quantizes and leaves nothing in
    the working directory; Core ML is made for `shapes` when given, with flexible ranges otherwise."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(3)
    image = keras.Input((None, None, 3), name="image")
    h = layers.Conv2D(8, 3, padding="same", activation="relu")(image)
    h = layers.MaxPooling2D()(h)
    h = layers.Conv2D(8, 3, padding="same", activation="relu")(h)
    out = layers.Dense(5, activation="softmax")(layers.GlobalAveragePooling2D()(h))
    keras.Model(image, out).save(tmp_path / "dyn.keras")
    source = load_source(tmp_path / "dyn.keras")
    model = keras.models.load_model(source.path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    calibration = [rng.random((16, 24, 24, 3), dtype=np.float32)]

    made = _convert_all(source, session_cache, calibration, TFLITE + ONNX + ["tfjs-fp32"])
    assert made["tflite-fp32"].manifest["inputs"][0]["shape"] == [1, None, None, 3]
    assert made["tflite-fp32"].manifest["fixed_shapes"] is None
    assert os.listdir(workdir) == []  # no sym_shape_infer_temp.onnx
    assert not any((session_cache / "tmp").iterdir())
    for size in (24, 33):  # any size: the runtime resizes from the data
        x = rng.random((6, size, size, 3), dtype=np.float32)
        reference = [model.predict(x, verbose=0)]
        _check_fp32(made, {"image": x}, reference, classify=True)
        for name in ("tflite-dynamic-int8", "tflite-int8"):
            assert agreement(run_tflite(made[name].model_path, {"image": x})[0], reference[0]) >= 0.5, name
    coreml, _ = get_or_convert(source, registry.get("coreml-fp32"), session_cache, shapes=[[1, 24, 24, 3]])
    assert coreml.manifest["fixed_shapes"] == {"image": [1, 24, 24, 3]}
    assert coreml.manifest["inputs"][0]["shape"] == [1, 24, 24, 3]
    flexible, _ = get_or_convert(source, registry.get("coreml-fp32"), session_cache)
    assert flexible.dir != coreml.dir and flexible.manifest["fixed_shapes"] is None


def test_regression_and_two_outputs(tmp_path: Path, session_cache: Path) -> None:
    """One float output, and a model with a class head and a regression head: every output, in order."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(4)
    x_in = keras.Input((8,), name="x")
    h = layers.Dense(16, activation="relu")(x_in)
    keras.Model(x_in, layers.Dense(1, name="value")(h)).save(tmp_path / "reg.keras")
    keras.Model(x_in, [layers.Dense(3, activation="softmax", name="klass")(h),
                       layers.Dense(1, name="amount")(h)]).save(tmp_path / "two_out.keras")
    x = rng.normal(size=(30, 8)).astype(np.float32)
    for file, outputs in (("reg.keras", 1), ("two_out.keras", 2)):
        source = load_source(tmp_path / file)
        prediction = keras.models.load_model(source.path).predict(x, verbose=0)
        reference = prediction if isinstance(prediction, list) else [prediction]
        made = _convert_all(source, session_cache, [x[:20]], TFLITE + ONNX + OTHERS)
        _check_fp32(made, {"x": x}, reference, classify=outputs == 2)
        for name in ("tflite-fp32", "tflite-int8", "onnx-fp32", "coreml-fp32", "tfjs-fp32"):
            shapes = [o["shape"][1:] for o in made[name].manifest["outputs"]]
            assert sorted(shapes) == sorted([list(r.shape[1:]) for r in reference]), (file, name, shapes)
        names = [o["name"] for o in made["tflite-fp32"].manifest["outputs"]]
        assert names == (["value"] if outputs == 1 else ["klass", "amount"]), names
        int8 = run_tflite(made["tflite-int8"].model_path, {"x": x})[-1]
        assert np.abs(int8.reshape(reference[-1].shape) - reference[-1]).max() < 0.2
