"""LiteRT.js (@litertjs/core) in headless Chromium: every TFLite variant on wasm and WebGPU, against ai-edge-litert.

The TFLite variants are devicelab's own artifacts (batch 1; LiteRT.js refuses -1); the -1 batch files that
tfjs-tflite still runs are made here.
"""

from __future__ import annotations

from pathlib import Path

import fixed_batch
import numpy as np
import pytest

from devicelab import api, protocol
from devicelab.data import load_dataset
from devicelab.protocol import RuntimeSpec
from devicelab.runtimes.tflite import TFLiteRuntime
from devicelab.targets.browser import BrowserTarget

pytestmark = pytest.mark.slow
SAMPLES = 20
QUANTS = ("fp32", "fp16", "dynamic-int8", "int8")


@pytest.fixture(scope="module")
def chrome():
    with BrowserTarget("chrome") as target:
        yield target


@pytest.fixture(scope="module")
def samples() -> np.ndarray:
    return load_dataset("mnist-sample", limit=SAMPLES).x.astype(np.float32)


@pytest.fixture(scope="module")
def models(lenet5: Path, session_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """devicelab's own TFLite artifacts (batch 1, each with its manifest), and a -1 batch file made here."""
    import keras

    report = api.convert("lenet5", variants=[f"tflite-{q}" for q in QUANTS], cache=session_cache)
    made = {}
    for quant, conversion in zip(QUANTS, report.conversions, strict=True):
        assert conversion.error is None, conversion.error
        made[quant] = conversion.artifact.model_path
    root = tmp_path_factory.mktemp("litert-models")
    made["dynamic-batch"] = fixed_batch.convert(keras.models.load_model(lenet5), "fp32", root / "dynamic-batch",
                                                fixed=False)
    made["int8-dynamic-batch"] = fixed_batch.convert(
        keras.models.load_model(lenet5), "int8", root / "int8-dynamic-batch",
        load_dataset("mnist-sample", split="train", limit=100).x.astype(np.float32), fixed=False)
    return made


def _host(model: Path, x: np.ndarray) -> np.ndarray:
    """ai-edge-litert (XNNPACK), one sample at a time, int8 I/O (de)quantized as devicelab does on the host."""
    runtime = TFLiteRuntime(RuntimeSpec(name="tflite"))
    runtime.load(model)
    return np.concatenate([runtime.finish(runtime.run(runtime.prepare([s[None]])))[0] for s in x])


def _run(target: BrowserTarget, model: Path, x: np.ndarray, tmp_path: Path, runtime: str = "litert-js",
         backend: str = "wasm") -> tuple[protocol.Result, np.ndarray | None]:
    job_dir, result_dir = tmp_path / f"job-{backend}", tmp_path / f"result-{backend}"
    api.build_job(job_dir, model, "tflite", "tflite-test", "0" * 64, x, runtime,
                  api.MeasureOptions(runs=3, warmup_runs=1, min_seconds=0, backend=backend, timeout_seconds=180))
    result = target.run(job_dir, result_dir)
    outputs = protocol.read_tensor(result_dir, result.outputs[0]) if result.ok else None
    return result, outputs


@pytest.mark.parametrize(("quant", "backend"), [
    ("fp32", "wasm"), ("fp16", "wasm"), ("dynamic-int8", "wasm"), ("int8", "wasm"),
    ("fp32", "webgpu"), ("dynamic-int8", "webgpu"), ("int8", "webgpu"),
])
def test_litert_js_agrees_with_ai_edge_litert(chrome, models, samples, tmp_path, quant, backend) -> None:
    result, out = _run(chrome, models[quant], samples, tmp_path, backend=backend)
    assert result.ok, result.error
    expected = _host(models[quant], samples)
    assert out.shape == expected.shape == (SAMPLES, 10)
    assert (out.argmax(1) == expected.argmax(1)).mean() == 1.0
    diff = float(np.abs(out - expected).max())
    details = result.extra["runtime_details"]
    if backend == "wasm":
        # Both run XNNPACK: float variants agree to rounding, int8 bit for bit.
        assert diff == 0.0 if quant == "int8" else diff < 1e-5, diff
        assert result.runtime_used.startswith("litert-js-wasm") and details["output_accelerator"] == "wasm"
    elif quant == "int8":
        # int8 I/O on WebGPU: the outputs come back in host memory (named as such) and differ from XNNPACK's
        # integer kernels by a few quantization steps (1/256 each): measured 9 steps on LeNet-5.
        assert diff <= 12 / 256, diff
        assert details["output_accelerator"] == "wasm" and "asked webgpu" in result.runtime_used
    else:
        assert diff < 2e-2, diff  # SwiftShader's float kernels; dynamic-range weights dequantized on the GPU
        assert result.runtime_used.startswith("litert-js-webgpu") and details["output_accelerator"] == "webgpu"
    assert len(result.timings_ms.runs) >= 3 and result.timings_ms.load > 0


def test_litert_js_refuses_a_dynamic_batch_clearly(chrome, models, samples, tmp_path) -> None:
    result, _ = _run(chrome, models["dynamic-batch"], samples, tmp_path)
    assert result.status == "error" and result.error["kind"] == "model_load"
    assert "dynamic dimension" in result.error["message"] and "fixed batch" in result.error["hint"]


def test_tflite_web_feeds_int8_io_with_the_manifest_and_runs_a_dynamic_batch(chrome, models, samples,
                                                                            tmp_path) -> None:
    """tfjs-tflite is kept for -1 batch files; int8 I/O is quantized with the manifest's parameters."""
    result, out = _run(chrome, models["int8-dynamic-batch"], samples, tmp_path / "int8", runtime="tflite-web")
    assert result.ok, result.error
    np.testing.assert_array_equal(out, _host(models["int8-dynamic-batch"], samples))
    result, out = _run(chrome, models["dynamic-batch"], samples, tmp_path / "dyn", runtime="tflite-web")
    assert result.ok, result.error
    np.testing.assert_allclose(out, _host(models["dynamic-batch"], samples), atol=1e-5)  # sample 0 too


def test_int8_io_without_quantization_parameters_is_refused(chrome, models, samples, tmp_path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "model.tflite").write_bytes(models["int8"].read_bytes())  # no manifest.json beside it
    result, _ = _run(chrome, bare / "model.tflite", samples, tmp_path)
    assert result.status == "error" and result.error["kind"] == "unsupported_io"
    assert "quantization parameters" in result.error["message"]


def test_litert_js_is_the_default_browser_runtime_for_tflite() -> None:
    target = BrowserTarget("chrome")
    assert target.default_runtime("tflite") == "litert-js"
    assert target.backends("litert-js") == ("wasm", "webgpu")


def test_jobs_carry_the_artifact_manifest(models, samples, tmp_path) -> None:
    job = api.build_job(tmp_path / "job", models["int8"], "tflite", "tflite-int8", "0" * 64, samples, "litert-js",
                        api.MeasureOptions())
    assert job.model.files == ["model/model.tflite", "model/manifest.json"]
    assert (tmp_path / "job/model/manifest.json").is_file()


def test_litert_js_loads_its_threaded_build_when_asked(chrome, models, samples, tmp_path) -> None:
    """The page is cross-origin isolated, so --threads 2 gets LiteRT.js's threaded wasm and two threads."""
    job_dir = tmp_path / "job"
    api.build_job(job_dir, models["fp32"], "tflite", "tflite-fp32", "0" * 64, samples, "litert-js",
                  api.MeasureOptions(runs=3, warmup_runs=1, min_seconds=0, backend="wasm", threads=2,
                                     timeout_seconds=180))
    result = chrome.run(job_dir, tmp_path / "result")
    assert result.ok, result.error
    assert result.extra["threads"] == 2 and result.extra["runtime_details"]["threaded_build"] is True
    assert "threaded build" in result.runtime_used
    np.testing.assert_allclose(protocol.read_tensor(tmp_path / "result", result.outputs[0]),
                               _host(models["fp32"], samples), atol=1e-5)
