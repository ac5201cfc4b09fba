"""Real converters on real models: every variant converts, the cache skips work, nothing is zoo-specific."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from devicelab import api
from devicelab.artifacts import get_or_convert
from devicelab.convert import variants as registry
from devicelab.models import load_source

pytestmark = pytest.mark.slow
ALL_VARIANTS = [
    "tflite-fp32", "tflite-fp16", "tflite-dynamic-int8", "tflite-int8", "coreml-fp32", "coreml-fp16", "coreml-int8",
    "tfjs-fp32", "tfjs-fp16", "tfjs-uint8", "onnx-fp32", "onnx-int8-dynamic", "onnx-int8-static",
]


def test_registry_lists_every_variant_of_the_study() -> None:
    assert list(registry.VARIANTS) == [*ALL_VARIANTS, "executorch-fp32", "executorch-int8"]  # those from .pt2 only
    assert all(v.description for v in registry.VARIANTS.values())
    assert [v.name for v in registry.select(["tflite"], ["int8"])] == ["tflite-int8"]
    assert [v.name for v in registry.select(["tfjs", "onnx"], ["int8"])] == ["tfjs-uint8", "onnx-int8-static"]


def test_every_variant_converts_with_a_full_manifest(lenet5: Path, session_cache: Path) -> None:
    report = api.convert("lenet5", cache=session_cache)
    assert not report.failed, [str(c.error) for c in report.failed]
    by_name = {c.variant: c.artifact for c in report.conversions}
    assert list(by_name) == ALL_VARIANTS
    for name, artifact in by_name.items():
        manifest = json.loads((artifact.dir / "manifest.json").read_text())
        assert manifest["variant"] == name
        assert manifest["size_bytes"] == sum(f["size"] for f in manifest["files"]) > 0
        assert all(len(f["sha256"]) == 64 for f in manifest["files"])
        assert manifest["inputs"] and manifest["outputs"] and manifest["versions"]
        assert manifest["convert_seconds"] >= 0 and manifest["source"]["name"] == "lenet5"
        assert artifact.model_path.exists()
    # Full-integer TFLite takes int8 in and out, with the quantization parameters apps need.
    int8_input = by_name["tflite-int8"].manifest["inputs"][0]
    assert int8_input["dtype"] == "int8" and int8_input["quantization"]["scale"] > 0
    assert by_name["tflite-int8"].manifest["calibration"]["samples"] == 200
    # Sizes shrink as the quantization promises (weights dominate LeNet-5).
    for fmt, half, quarter in (("tflite", "tflite-fp16", "tflite-int8"), ("coreml", "coreml-fp16", "coreml-int8"),
                               ("tfjs", "tfjs-fp16", "tfjs-uint8"), ("onnx", None, "onnx-int8-static")):
        fp32 = by_name[f"{fmt}-fp32"].size_bytes
        if half:
            assert 0.45 < by_name[half].size_bytes / fp32 < 0.6, half
        assert by_name[quarter].size_bytes / fp32 < 0.36, quarter
    assert by_name["tflite-dynamic-int8"].size_bytes / by_name["tflite-fp32"].size_bytes < 0.32


def test_cache_hit_does_no_work(lenet5: Path, session_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = api.convert("lenet5", variants=["tflite-fp32", "onnx-int8-static"], cache=session_cache)
    stamps = {c.variant: (c.artifact.dir / "manifest.json").stat().st_mtime_ns for c in first.conversions}

    def explode(*args: object) -> None:
        raise AssertionError("a cache hit must not convert")

    for module in registry.CONVERTERS.values():
        monkeypatch.setattr(module, "convert", explode)
    again = api.convert("lenet5", variants=["tflite-fp32", "onnx-int8-static"], cache=session_cache)
    assert all(c.cache_hit for c in again.conversions)
    assert {c.variant: (c.artifact.dir / "manifest.json").stat().st_mtime_ns for c in again.conversions} == stamps


def test_other_calibration_data_makes_another_artifact(lenet5: Path, session_cache: Path, tmp_path: Path) -> None:
    source = load_source(lenet5)
    calibration = np.random.default_rng(1).random((20, 28, 28, 1), dtype=np.float32)
    int8 = registry.get("tflite-int8")
    a, _ = get_or_convert(source, int8, session_cache, calibration, "one")
    b, hit = get_or_convert(source, int8, session_cache, calibration, "two")
    assert not hit and a.dir != b.dir
    fp32 = registry.get("tflite-fp32")
    c, _ = get_or_convert(source, fp32, session_cache, calibration, "one")
    d, hit = get_or_convert(source, fp32, session_cache, calibration, "two")
    assert hit and c.dir == d.dir  # calibration only keys the variants that use it


def _non_zoo_model(path: Path) -> Path:
    """A model that is nothing like the zoo: batch norm, depthwise and separable convolutions, global pooling."""
    import keras
    from keras import layers

    from devicelab.data import load_dataset

    keras.utils.set_random_seed(3)
    inputs = keras.Input((28, 28, 1), name="pixels")
    x = layers.Conv2D(8, 3, padding="same", use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.SeparableConv2D(16, 3, padding="same")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(10, activation="softmax", name="scores")(x)
    model = keras.Model(inputs, outputs)
    train = load_dataset("mnist-sample", split="train", limit=2000)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(train.x, train.y, epochs=2, batch_size=64, verbose=0)
    model.save(path)
    return path


def test_a_model_with_batch_norm_and_depthwise_convs(tmp_path: Path, session_cache: Path,
                                                     store_path: Path) -> None:
    model = _non_zoo_model(tmp_path / "mobile_block.keras")
    report = api.convert(model, cache=session_cache, calibration="mnist-sample")
    assert not report.failed, [str(c.error) for c in report.failed]
    options = api.MeasureOptions(samples=300, runs=5, warmup_runs=1, min_seconds=0)
    measured = api.measure(model, variants=["original", "tflite-fp32", "onnx-fp32", "tflite-int8",
                                            "onnx-int8-static"], data="mnist-sample", options=options,
                           calibration="mnist-sample", cache=session_cache, store=store_path)
    by_variant = {m.variant: m for m in measured}
    assert all(m.ok for m in measured), [str(m.error) for m in measured if not m.ok]
    for fp32 in ("tflite-fp32", "onnx-fp32"):
        acc = by_variant[fp32].summary["accuracy"]
        assert acc["agreement"] == 1.0 and acc["max_abs_diff"] < 1e-4, fp32
    for int8 in ("tflite-int8", "onnx-int8-static"):
        assert by_variant[int8].summary["accuracy"]["agreement"] >= 0.9, int8


def test_savedmodel_source(lenet5: Path, tmp_path: Path, session_cache: Path, store_path: Path) -> None:
    import keras

    folder = tmp_path / "lenet5_savedmodel"
    keras.models.load_model(lenet5).export(str(folder), verbose=False)
    report = api.convert(folder, variants=["tflite-fp32", "onnx-fp32", "tfjs-uint8"], cache=session_cache)
    assert not report.failed, [str(c.error) for c in report.failed]
    options = api.MeasureOptions(samples=200, runs=5, warmup_runs=1, min_seconds=0)
    measured = api.measure(folder, variants=["original", "tflite-fp32", "onnx-fp32"], data="mnist-sample",
                           options=options, cache=session_cache, store=store_path)
    assert all(m.ok for m in measured), [str(m.error) for m in measured if not m.ok]
    for m in measured[1:]:
        assert m.summary["accuracy"]["agreement"] == 1.0


def test_onnx_source_gives_onnx_variants(lenet5: Path, session_cache: Path, store_path: Path) -> None:
    fp32 = api.convert("lenet5", variants=["onnx-fp32"], cache=session_cache).conversions[0].artifact
    report = api.convert(fp32.model_path, cache=session_cache, calibration="mnist-sample")
    made = {c.variant for c in report.conversions if c.artifact}
    assert made == {"onnx-fp32", "onnx-int8-dynamic", "onnx-int8-static"}
    assert not report.failed and "tflite-fp32" in report.skipped  # the rest are skipped, not failed
    named = api.convert(fp32.model_path, variants=["tflite-fp32"], cache=session_cache)
    assert "cannot be made from onnx models" in named.failed[0].error.message
    options = api.MeasureOptions(samples=200, runs=5, warmup_runs=1, min_seconds=0)
    measured = api.measure(fp32.model_path, variants=["original", "onnx-int8-dynamic"], data="mnist-sample",
                           options=options, cache=session_cache, store=store_path)
    assert [m.runtime for m in measured] == ["onnxruntime", "onnxruntime"]
    assert measured[1].summary["accuracy"]["agreement"] >= 0.97
