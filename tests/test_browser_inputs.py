"""Any model in the page (issue 11): several inputs and outputs, int32/int64/bool/int8/uint8/float16 inputs fed
with their dtype, variable shapes sized from the data, in real headless Chromium, against the host runtimes.

The job folders are built here directly with devicelab.protocol, one tensor file per input.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import fixed_batch
import numpy as np
import pytest

from devicelab import protocol
from devicelab.protocol import Job, ModelRef, Performance, RuntimeSpec
from devicelab.targets.browser import BrowserTarget

pytestmark = pytest.mark.slow
N = 8  # samples per job: these tests check numbers, not speed


@pytest.fixture(scope="module")
def chrome():
    with BrowserTarget("chrome") as target:
        yield target


def _run(target: BrowserTarget, root: Path, files: list[Path], fmt: str, inputs: dict[str, np.ndarray],
         runtime: str, backend: str = "wasm") -> tuple[protocol.Result, list[np.ndarray]]:
    job_dir, result_dir = root / "job", root / "result"
    (job_dir / "model").mkdir(parents=True)
    for file in files:
        shutil.copy(file, job_dir / "model" / file.name)
    specs = [protocol.write_tensor(job_dir, f"inputs/{name}.bin", name, array) for name, array in inputs.items()]
    job = Job(id=f"{runtime}-{uuid.uuid4().hex[:8]}",
              model=ModelRef(format=fmt, variant=f"{fmt}-test", files=[f"model/{f.name}" for f in files],
                             sha256="0" * 64),
              inputs=specs, runtime=RuntimeSpec(name=runtime, threads=1, backend=backend),
              performance=Performance(warmup_runs=1, runs=2, min_seconds=0, max_seconds=10), timeout_seconds=240)
    protocol.write_job(job_dir, job)
    result = target.run(job_dir, result_dir)
    return result, [protocol.read_tensor(result_dir, spec) for spec in result.outputs] if result.ok else []


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    return float(np.min((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-30)))


def _agree(outputs: list[np.ndarray], expected: list[np.ndarray], classifier: tuple[int, ...] = ()) -> None:
    """Every output has the reference's shape and direction (cosine >= 0.9999); classifiers the same top-1."""
    assert len(outputs) == len(expected)
    for k, (out, ref) in enumerate(zip(outputs, expected, strict=True)):
        assert out.shape == ref.shape, (k, out.shape, ref.shape)
        assert _cosine(out, ref) >= 0.9999, (k, _cosine(out, ref))
        if k in classifier:
            assert (out.argmax(-1) == ref.argmax(-1)).all(), k


def _tfjs(keras_model, out_dir: Path) -> list[Path]:
    """A TF.js graph model through a SavedModel, as devicelab/convert/tfjs.py does."""
    os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")  # its banner imports IPython when piped
    from tensorflowjs.converters.tf_saved_model_conversion_v2 import convert_tf_saved_model

    keras_model.export(str(out_dir / "sm"), verbose=False)
    convert_tf_saved_model(str(out_dir / "sm"), str(out_dir / "tfjs"))
    return [out_dir / "tfjs" / "model.json", *sorted((out_dir / "tfjs").glob("*.bin"))]


# --- two inputs, two outputs ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_io(tmp_path_factory: pytest.TempPathFactory):
    import keras

    keras.utils.set_random_seed(3)
    features = keras.Input((6,), name="features")
    ids = keras.Input((5,), dtype="int32", name="ids")
    embedded = keras.layers.Flatten()(keras.layers.Embedding(20, 4)(ids))
    hidden = keras.layers.Dense(16, activation="relu")(keras.layers.Concatenate()([features, embedded]))
    model = keras.Model([features, ids], [keras.layers.Dense(3, activation="softmax", name="cls")(hidden),
                                          keras.layers.Dense(2, name="reg")(hidden)])
    rng = np.random.default_rng(0)
    data = {"features": rng.normal(size=(N, 6)).astype(np.float32),
            "ids": rng.integers(0, 20, size=(N, 5)).astype(np.int32)}
    expected = [np.asarray(o) for o in model.predict([data["features"], data["ids"]], verbose=0)]
    return model, data, expected, tmp_path_factory.mktemp("two-io")


def test_two_inputs_two_outputs_in_tfjs(chrome, two_io, tmp_path) -> None:
    model, data, expected, root = two_io
    files = _tfjs(model, root / "tfjs-conv")
    # Given in the reverse order of the model's: inputs go by name.
    result, outputs = _run(chrome, tmp_path, files, "tfjs", {"ids": data["ids"], "features": data["features"]},
                           "tfjs")
    assert result.ok, result.error
    _agree(outputs, expected, classifier=(0,))  # in the model's own output order


def test_two_inputs_two_outputs_in_ort_web(chrome, two_io, tmp_path) -> None:
    import tf2onnx

    model, data, expected, root = two_io
    path = root / "model.onnx"
    tf2onnx.convert.from_keras(model, opset=17, output_path=str(path))
    result, outputs = _run(chrome, tmp_path, [path], "onnx", data, "ort-web")
    assert result.ok, result.error
    _agree(outputs, expected, classifier=(0,))  # in the model's own output order


def test_two_inputs_two_outputs_in_litert_js(chrome, two_io, tmp_path) -> None:
    model, data, expected, root = two_io
    path = fixed_batch.convert(model, "fp32", root / "tflite")
    result, outputs = _run(chrome, tmp_path, [path, path.parent / "manifest.json"], "tflite", data, "litert-js")
    assert result.ok, result.error
    _agree(outputs, expected, classifier=(0,))  # in the model's own output order


# --- every input dtype ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dtypes_model(tmp_path_factory: pytest.TempPathFactory):
    """Inputs int32 ids, float32, bool and int32 counts; the job gives int64, float16, bool and int8."""
    import keras

    keras.utils.set_random_seed(5)
    ids = keras.Input((3,), dtype="int32", name="ids")
    x = keras.Input((4,), dtype="float32", name="x")
    mask = keras.Input((4,), dtype="bool", name="mask")
    counts = keras.Input((4,), dtype="int32", name="counts")
    parts = [keras.layers.Flatten()(keras.layers.Embedding(10, 2)(ids)), x, keras.ops.cast(mask, "float32"),
             keras.ops.cast(counts, "float32")]
    model = keras.Model([ids, x, mask, counts], keras.layers.Dense(5)(keras.layers.Concatenate()(parts)))
    rng = np.random.default_rng(1)
    job_data = {"ids": rng.integers(0, 10, size=(N, 3)).astype(np.int64),
                "x": rng.normal(size=(N, 4)).astype(np.float16),
                "mask": rng.integers(0, 2, size=(N, 4)).astype(bool),
                "counts": rng.integers(-5, 6, size=(N, 4)).astype(np.int8)}
    expected = model.predict([job_data["ids"].astype(np.int32), job_data["x"].astype(np.float32), job_data["mask"],
                              job_data["counts"].astype(np.int32)], verbose=0)
    return model, job_data, np.asarray(expected), tmp_path_factory.mktemp("dtypes")


def test_tfjs_feeds_every_dtype(chrome, dtypes_model, tmp_path) -> None:
    model, job_data, expected, root = dtypes_model
    result, outputs = _run(chrome, tmp_path, _tfjs(model, root / "tfjs"), "tfjs", job_data, "tfjs")
    assert result.ok, result.error
    np.testing.assert_allclose(outputs[0], expected, atol=1e-5)


def test_litert_js_feeds_every_dtype(chrome, dtypes_model, tmp_path) -> None:
    model, job_data, expected, root = dtypes_model
    path = fixed_batch.convert(model, "fp32", root / "tflite")
    result, outputs = _run(chrome, tmp_path, [path], "tflite", job_data, "litert-js")
    assert result.ok, result.error
    np.testing.assert_allclose(outputs[0], expected, atol=1e-5)


def test_ort_web_feeds_every_dtype(chrome, tmp_path) -> None:
    """An ONNX graph with one input of each dtype, each cast to float: the page must give each its own type."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    types = {"i64": (TensorProto.INT64, np.int64), "i32": (TensorProto.INT32, np.int32),
             "flag": (TensorProto.BOOL, bool), "i8": (TensorProto.INT8, np.int8),
             "u8": (TensorProto.UINT8, np.uint8), "f16": (TensorProto.FLOAT16, np.float16)}
    nodes = [helper.make_node("Cast", [name], [f"{name}_f"], to=TensorProto.FLOAT) for name in types]
    nodes.append(helper.make_node("Sum", [f"{name}_f" for name in types], ["total"]))
    nodes.append(helper.make_node("Mul", ["i64_f", "f16_f"], ["product"]))
    graph = helper.make_graph(nodes, "dtypes", [helper.make_tensor_value_info(name, t, [1, "n"])
                                                for name, (t, _) in types.items()],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, "n"])
                               for out in ("total", "product")])
    path = tmp_path / "dtypes.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    rng = np.random.default_rng(2)
    data = {name: rng.integers(0, 100, size=(N, 7)).astype(dtype) for name, (_, dtype) in types.items()}
    data["i64"] += 2**40  # beyond int32 and float32's exact range: only a real int64 feed keeps it
    data["f16"] = (rng.normal(size=(N, 7)) * 10).astype(np.float16)
    session = ort.InferenceSession(str(path))
    expected = [np.concatenate(parts) for parts in zip(*[session.run(None, {k: v[i:i + 1] for k, v in data.items()})
                                                       for i in range(N)], strict=True)]
    result, outputs = _run(chrome, tmp_path / "run", [path], "onnx", data, "ort-web")
    assert result.ok, result.error
    for out, ref in zip(outputs, expected, strict=True):
        np.testing.assert_allclose(out, ref, rtol=1e-6)


# --- a text GRU (TF.js) and a PyTorch encoder with int64 ids and a mask (ort-web) -------------------------


def test_gru_over_int32_ids_in_tfjs(chrome, tmp_path) -> None:
    import keras

    keras.utils.set_random_seed(7)
    ids = keras.Input((12,), dtype="int32", name="tokens")
    # Unrolled over the fixed sequence length, as the phones need it too: TF.js cannot run the while loop a
    # Keras 3 GRU exports to ("Cannot compute the outputs [Identity] from the provided inputs").
    hidden = keras.layers.GRU(16, unroll=True)(keras.layers.Embedding(50, 8)(ids))
    model = keras.Model(ids, keras.layers.Dense(2, activation="softmax")(hidden))
    tokens = np.random.default_rng(3).integers(1, 50, size=(N, 12)).astype(np.int32)
    result, outputs = _run(chrome, tmp_path / "run", _tfjs(model, tmp_path), "tfjs", {"tokens": tokens}, "tfjs")
    assert result.ok, result.error
    _agree(outputs, [model.predict(tokens, verbose=0)], classifier=(0,))


def test_torch_encoder_with_int64_ids_and_mask_in_ort_web(chrome, tmp_path) -> None:
    import onnxruntime as ort
    import torch

    class Encoder(torch.nn.Module):
        """Embedding, one masked self-attention block, mean pooling over the real tokens: a tiny BERT."""

        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(100, 32)
            self.q, self.k, self.v, self.out = (torch.nn.Linear(32, 32) for _ in range(4))

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            h = self.embed(input_ids)
            scores = self.q(h) @ self.k(h).transpose(1, 2) / 32**0.5
            scores = scores + (1 - attention_mask[:, None, :].to(h.dtype)) * -1e4  # padding gets no attention
            h = torch.tanh(self.out(h + torch.softmax(scores, -1) @ self.v(h)))
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            return (h * mask).sum(1) / mask.sum(1)

    torch.manual_seed(0)
    model = Encoder().eval()
    example = (torch.ones(1, 8, dtype=torch.int64), torch.ones(1, 8, dtype=torch.int64))
    path = tmp_path / "encoder.onnx"
    torch.onnx.export(model, example, str(path), input_names=["input_ids", "attention_mask"],
                      output_names=["embedding"], dynamic_axes={"input_ids": {1: "seq"},
                                                                "attention_mask": {1: "seq"}},
                      opset_version=17, dynamo=False)
    rng = np.random.default_rng(4)
    seq = 16  # not the export's 8: the page sizes inputs from the data
    input_ids = rng.integers(1, 100, size=(N, seq)).astype(np.int64)
    lengths = rng.integers(4, seq + 1, size=N)
    attention_mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int64)
    input_ids[attention_mask == 0] = 0
    session = ort.InferenceSession(str(path))
    native = np.concatenate([session.run(None, {"input_ids": input_ids[i:i + 1],
                                                "attention_mask": attention_mask[i:i + 1]})[0] for i in range(N)])
    with torch.no_grad():
        eager = model(torch.from_numpy(input_ids), torch.from_numpy(attention_mask)).numpy()
    result, outputs = _run(chrome, tmp_path / "run", [path], "onnx",
                           {"attention_mask": attention_mask, "input_ids": input_ids}, "ort-web")
    assert result.ok, result.error
    _agree(outputs, [native])
    _agree(outputs, [eager])
    assert result.outputs[0].name == "embedding" and outputs[0].shape == (N, 32)


# --- the user's path: devicelab measure --browser with a multi-input .npz ---------------------------------


def test_measure_a_two_input_model_in_the_browser(chrome, tmp_path, session_cache) -> None:
    """api.measure with --data file.npz (one array per input) runs every format's default web runtime."""
    import keras

    from devicelab import api

    keras.utils.set_random_seed(0)
    layers = keras.layers
    image, meta = keras.Input((6, 6, 1), name="image"), keras.Input((3,), name="meta")
    hidden = layers.Concatenate()([layers.Flatten()(layers.Conv2D(4, 3, activation="relu")(image)), meta])
    keras.Model([image, meta], [layers.Dense(4, activation="softmax", name="cls")(hidden),
                                layers.Dense(1, name="reg")(hidden)]).save(tmp_path / "two.keras")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "two.npz", meta=rng.normal(size=(N, 3)).astype(np.float32),
             image=rng.random((N, 6, 6, 1), np.float32), y=rng.integers(0, 4, N))
    results = api.measure(tmp_path / "two.keras", variants=["tfjs-fp32", "tflite-fp32", "onnx-fp32"],
                          data=str(tmp_path / "two.npz"), target=chrome, store=tmp_path / "s.sqlite",
                          cache=session_cache,
                          options=api.MeasureOptions(runs=2, warmup_runs=1, min_seconds=0, timeout_seconds=240))
    by = {m.variant: m for m in results}
    for name in ("tfjs-fp32", "tflite-fp32", "onnx-fp32"):
        m = by[name]
        assert m.ok, (name, m.error)
        assert m.target == "chrome" and m.result.runtime_used.split("-")[0] in ("tfjs", "litert", "ort"), name
        figures = m.summary["accuracy"]
        assert figures.get("agreement") == 1.0, (name, figures)
        cls, reg = figures["outputs"]
        assert cls["cosine"] > 0.9999 and reg["cosine"] > 0.9999 and reg["max_abs_diff"] < 1e-4, (name, reg)
