"""Any model, end to end on the host: several inputs and outputs, integer ids, free shapes, regression,
embeddings, and a model whose outputs never vary. Every model here is built by the test, not the zoo."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from devicelab import api
from devicelab.errors import DataError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
OPTIONS = api.MeasureOptions(runs=5, warmup_runs=1, min_seconds=0.0, max_seconds=5.0)


def _keras():
    import keras

    keras.utils.set_random_seed(0)
    return keras


def _by_variant(results: list[api.Measurement]) -> dict[str, api.Measurement]:
    failed = [f"{m.variant}: {m.error}" for m in results if not m.ok]
    assert not failed, failed
    return {m.variant: m for m in results}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("any-model") / "results.sqlite"


def test_two_inputs_two_outputs(tmp_path: Path, store: Path, session_cache: Path) -> None:
    keras = _keras()
    layers = keras.layers
    image, meta = keras.Input((6, 6, 1), name="image"), keras.Input((3,), name="meta")
    hidden = layers.Concatenate()([layers.Flatten()(layers.Conv2D(4, 3, activation="relu")(image)), meta])
    model = keras.Model([image, meta], [layers.Dense(4, activation="softmax", name="cls")(hidden),
                                        layers.Dense(1, name="reg")(hidden)])
    model.save(tmp_path / "two.keras")
    rng = np.random.default_rng(0)
    data = tmp_path / "two.npz"
    np.savez(data, meta=rng.normal(size=(40, 3)).astype(np.float32), image=rng.random((40, 6, 6, 1), np.float32),
             y=rng.integers(0, 4, 40))
    results = api.measure(tmp_path / "two.keras", variants=["original", "tflite-fp32", "onnx-fp32"],
                          data=str(data), options=OPTIONS, store=store, cache=session_cache)
    by = _by_variant(results)
    original = by["original"]
    assert [s.name for s in original.result.outputs] == ["cls", "reg"] and len(original.outputs) == 2
    for name in ("tflite-fp32", "onnx-fp32"):
        figures = by[name].summary["accuracy"]
        assert figures["task"] == "classification" and figures["agreement"] == 1.0, name
        cls, reg = figures["outputs"]
        assert cls["kind"] == "scores" and reg["kind"] == "values" and "agreement" not in reg, name
        assert reg["max_abs_diff"] < 1e-4 and reg["cosine"] > 0.9999, name
        np.testing.assert_allclose(by[name].outputs[1], original.outputs[1], atol=1e-4)
    from devicelab.store import Store

    with Store(store) as db:
        job = json.loads(db.get(by["tflite-fp32"].row_id)["job_json"])  # type: ignore[index]
    assert [(t["name"], t["dtype"], t["shape"]) for t in job["inputs"]] == [
        ("image", "float32", [40, 6, 6, 1]), ("meta", "float32", [40, 3])]


def test_text_gru_over_int32_ids(tmp_path: Path, store: Path, session_cache: Path) -> None:
    keras = _keras()
    layers = keras.layers
    ids = keras.Input((12,), dtype="int32", name="ids")
    hidden = layers.GRU(8)(layers.Embedding(50, 8)(ids))
    keras.Model(ids, layers.Dense(3, activation="softmax")(hidden)).save(tmp_path / "gru.keras")
    rng = np.random.default_rng(1)
    data = tmp_path / "text.npz"
    np.savez(data, ids=rng.integers(0, 50, (30, 12)).astype(np.int32), y=rng.integers(0, 3, 30))
    results = api.measure(tmp_path / "gru.keras", variants=["original", "onnx-fp32"], data=str(data),
                          options=OPTIONS, store=store, cache=session_cache)
    by = _by_variant(results)
    figures = by["onnx-fp32"].summary["accuracy"]
    assert figures["agreement"] == 1.0 and figures["max_abs_diff"] < 1e-5
    assert by["original"].summary["accuracy"]["accuracy"] is not None


def test_dynamic_shape_cnn_is_sized_from_the_data(tmp_path: Path, store: Path, session_cache: Path) -> None:
    keras = _keras()
    layers = keras.layers
    image = keras.Input((None, None, 3), name="image")
    hidden = layers.GlobalAveragePooling2D()(layers.Conv2D(6, 3, activation="relu")(image))
    keras.Model(image, layers.Dense(5, activation="softmax")(hidden)).save(tmp_path / "free.keras")
    data = tmp_path / "rgb.npz"
    rng = np.random.default_rng(2)
    np.savez(data, x=rng.random((20, 10, 14, 3), np.float32), y=rng.integers(0, 5, 20))
    results = api.measure(tmp_path / "free.keras", variants=["original", "tflite-fp32", "onnx-fp32"],
                          data=str(data), options=OPTIONS, store=store, cache=session_cache)
    by = _by_variant(results)
    for name in ("tflite-fp32", "onnx-fp32"):
        figures = by[name].summary["accuracy"]
        assert figures["agreement"] == 1.0 and figures["max_abs_diff"] < 1e-4, name


def test_regression_gets_mae_rmse_and_no_top1(tmp_path: Path, store: Path, session_cache: Path) -> None:
    keras = _keras()
    layers = keras.layers
    x = keras.Input((5,), name="features")
    keras.Model(x, layers.Dense(1)(layers.Dense(8, activation="relu")(x))).save(tmp_path / "reg.keras")
    rng = np.random.default_rng(3)
    data = tmp_path / "reg.npz"
    np.savez(data, x=rng.normal(size=(25, 5)).astype(np.float32), y=rng.normal(size=25) * 3.5)
    results = api.measure(tmp_path / "reg.keras", variants=["original", "tflite-fp32"], data=str(data),
                          options=OPTIONS, store=store, cache=session_cache)
    by = _by_variant(results)
    original, tflite = by["original"].summary["accuracy"], by["tflite-fp32"].summary["accuracy"]
    assert original["task"] == "regression" and "accuracy" not in original and original["mae"] > 0
    assert tflite["mae"] == pytest.approx(original["mae"], rel=1e-4) and tflite["rmse"] >= tflite["mae"]
    assert "agreement" not in tflite and tflite["cosine"] > 0.9999
    assert tflite["snr_db"] is None or tflite["snr_db"] > 60
    from devicelab.store import Store

    with Store(store) as db:
        row = db.get(by["tflite-fp32"].row_id)
    assert row is not None and row["task"] == "regression" and row["agreement"] is None
    assert row["mae"] == pytest.approx(tflite["mae"]) and row["cosine"] == pytest.approx(tflite["cosine"])


def test_constant_model_is_flagged(tmp_path: Path, store: Path, session_cache: Path) -> None:
    keras = _keras()
    layers = keras.layers
    x = keras.Input((4,), name="x")
    dense = layers.Dense(3, activation="softmax", kernel_initializer="zeros", bias_initializer="zeros")
    keras.Model(x, dense(x)).save(tmp_path / "flat.keras")
    data = tmp_path / "flat.npz"
    np.savez(data, x=np.random.default_rng(4).normal(size=(15, 4)).astype(np.float32))
    results = api.measure(tmp_path / "flat.keras", variants=["onnx-fp32"], data=str(data), options=OPTIONS,
                          store=store, cache=session_cache)
    figures = _by_variant(results)["onnx-fp32"].summary["accuracy"]
    assert figures["agreement"] == 1.0 and figures["reference_constant"] is True
    assert any("meaningless" in w for w in figures["warnings"])


def test_labels_out_of_range_and_wrong_dtypes_are_refused(tmp_path: Path, store: Path,
                                                          session_cache: Path) -> None:
    keras = _keras()
    x = keras.Input((4,), name="x")
    keras.Model(x, keras.layers.Dense(10, activation="softmax")(x)).save(tmp_path / "ten.keras")
    data = tmp_path / "bad.npz"
    np.savez(data, x=np.zeros((8, 4), np.float32), y=np.array([0, 1, 2, 3, 99, 5, 6, 7]))
    with pytest.raises(DataError, match="label 99 at index 4 is out of range for the model's 10 classes"):
        api.measure(tmp_path / "ten.keras", variants=["original"], data=str(data), options=OPTIONS, store=store,
                    cache=session_cache)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_torch_encoder_with_int64_ids_and_mask(tmp_path: Path, store: Path, session_cache: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(100, 16)
            self.layer = torch.nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.layer(self.embed(input_ids), src_key_padding_mask=attention_mask == 0)
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * weights).sum(1) / weights.sum(1)

    model = Encoder().eval()
    ids = torch.randint(0, 100, (1, 10))
    mask = torch.ones(1, 10, dtype=torch.int64)
    path = tmp_path / "encoder.onnx"
    torch.onnx.export(model, (ids, mask), str(path), input_names=["input_ids", "attention_mask"],
                      output_names=["embedding"], dynamo=False, opset_version=17)
    rng = np.random.default_rng(5)
    input_ids = rng.integers(0, 100, (12, 10)).astype(np.int64)
    attention = np.ones((12, 10), np.int64)
    attention[:, 7:] = 0  # padded tail
    data = tmp_path / "tokens.npz"
    np.savez(data, attention_mask=attention, input_ids=input_ids)
    results = api.measure(path, variants=["original", "onnx-fp32", "onnx-int8-dynamic"], data=str(data),
                          options=OPTIONS, store=store, cache=session_cache, task="embedding")
    by = _by_variant(results)
    with torch.no_grad():
        eager = model(torch.from_numpy(input_ids), torch.from_numpy(attention)).numpy()
    np.testing.assert_allclose(by["original"].outputs[0], eager, atol=1e-4)
    figures = by["onnx-fp32"].summary["accuracy"]
    assert figures["task"] == "embedding" and not figures["task_guessed"] and "agreement" not in figures
    assert figures["cosine"] >= 0.9999 and figures["cosine_min"] >= 0.9999
    int8 = by["onnx-int8-dynamic"].summary["accuracy"]
    assert 0.9 < int8["cosine"] < 1.0 and int8["snr_db"] is not None and int8["snr_db"] > 10


def test_measure_reuses_the_artifact_convert_calibrated(tmp_path: Path, session_cache: Path) -> None:
    """convert --calibration, then measure without it: the calibrated artifact is used, and said so."""
    import subprocess
    import sys

    keras = _keras()
    x = keras.Input((6,), name="x")
    keras.Model(x, keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(8, activation="relu")(x))
                ).save(tmp_path / "small.keras")
    rng = np.random.default_rng(6)
    np.savez(tmp_path / "calib.npz", x=rng.normal(size=(32, 6)).astype(np.float32))
    np.savez(tmp_path / "test.npz", x=rng.normal(size=(16, 6)).astype(np.float32), y=rng.integers(0, 3, 16))
    env = {**os.environ, "DEVICELAB_STORE": str(tmp_path / "r.sqlite"), "DEVICELAB_CACHE": str(session_cache)}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "devicelab", *args], capture_output=True, text=True, env=env,
                              timeout=600, cwd=tmp_path)

    before = cli("measure", "small.keras", "--variant", "tflite-int8", "--data", "test.npz", "--runs", "3",
                 "--min-seconds", "0")
    assert before.returncode == 1 and "needs calibration data" in before.stdout + before.stderr
    made = cli("convert", "small.keras", "--variant", "tflite-int8", "--calibration", "calib.npz")
    assert made.returncode == 0, made.stdout + made.stderr
    after = cli("measure", "small.keras", "--variant", "tflite-int8", "--data", "test.npz", "--runs", "3",
                "--min-seconds", "0")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "calibrated earlier on 'calib.npz'" in " ".join(after.stdout.split())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calib.npz", "r.sqlite", "small.keras", "test.npz"]
