"""ONNX Runtime Web in headless Chromium: WebGPU (JSEP) against native onnxruntime, per-node profiles, WebNN."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from devicelab import api, protocol
from devicelab.data import load_dataset
from devicelab.targets.browser import BrowserTarget

pytestmark = pytest.mark.slow
SAMPLES = 20


@pytest.fixture(scope="module")
def onnx_model(lenet5: Path, session_cache: Path) -> Path:
    return api.convert("lenet5", variants=["onnx-fp32"], cache=session_cache).conversions[0].artifact.model_path


@pytest.fixture(scope="module")
def samples() -> np.ndarray:
    return load_dataset("mnist-sample", limit=SAMPLES).x.astype(np.float32)


def _native(model: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: s[None]})[0] for s in x])


def _run(target: BrowserTarget, model: Path, fmt: str, runtime: str, x: np.ndarray, tmp_path: Path,
         backend: str) -> tuple[protocol.Result, np.ndarray | None]:
    api.build_job(tmp_path / "job", model, fmt, f"{fmt}-test", "0" * 64, x, runtime,
                  api.MeasureOptions(runs=10, warmup_runs=2, min_seconds=0, backend=backend, timeout_seconds=180))
    result = target.run(tmp_path / "job", tmp_path / "result")
    return result, protocol.read_tensor(tmp_path / "result", result.outputs[0]) if result.ok else None


def test_ort_web_webgpu_agrees_with_native_onnxruntime_and_profiles_every_node(onnx_model, samples,
                                                                                tmp_path) -> None:
    with BrowserTarget("chrome", profile=True) as chrome:
        result, out = _run(chrome, onnx_model, "onnx", "ort-web", samples, tmp_path, "webgpu")
    assert result.ok, result.error
    expected = _native(onnx_model, samples)
    assert (out.argmax(1) == expected.argmax(1)).mean() == 1.0
    assert np.abs(out - expected).max() < 1e-4
    assert result.runtime_used == "ort-web-webgpu" and "ort.webgpu" not in result.device["runtime"]["version"]
    profile = result.extra["profile"]
    assert profile["available"] and "enableProfiling" in profile["method"]
    ops = {row["op_type"] for row in profile["nodes"]}
    assert {"Conv", "MaxPool"} & ops or any("Conv" in op for op in ops), ops
    assert all(row["provider"] == "JsExecutionProvider" for row in profile["nodes"] if "Conv" in row["op_type"])
    assert all(row["calls"] == profile["runs"] and row["median_us"] >= 0 for row in profile["nodes"])
    # The nodes' median times add up to about one timed inference (0.9 here; a unit slip would be 1000x off).
    ops_ms = sum(row["median_us"] for row in profile["nodes"]) / 1000
    assert 0.3 < ops_ms / float(np.median(result.timings_ms.runs)) < 3


def test_the_native_webgpu_bundle_still_gives_wrong_outputs_here(onnx_model, samples, tmp_path) -> None:
    """Why the page loads ort.min.js (JSEP): ort.webgpu.min.js's own WebGPU provider is off in SwiftShader.

    When this fails, onnxruntime-web fixed it: the native provider may then be offered as a backend.
    """
    with BrowserTarget("chrome", page_options={"ort_bundle": "webgpu"}) as chrome:
        result, out = _run(chrome, onnx_model, "onnx", "ort-web", samples, tmp_path, "webgpu")
    assert result.ok, result.error
    assert "ort.webgpu.min.js" in result.device["runtime"]["version"]
    assert np.abs(out - _native(onnx_model, samples)).max() > 1e-2  # measured 0.30 (onnxruntime-web 1.30)


def test_webnn_is_refused_where_the_browser_has_none(onnx_model, samples, tmp_path) -> None:
    with BrowserTarget("chrome") as chrome:
        result, _ = _run(chrome, onnx_model, "onnx", "ort-web", samples, tmp_path, "webnn")
    assert result.status == "error" and result.error["kind"] == "backend_unavailable"
    assert result.error["message"].startswith("WebNN is not available in this browser")
    assert "wasm or webgpu" in result.error["hint"]


def test_tfjs_profile_gives_per_kernel_times_that_add_up_to_an_inference(lenet5, session_cache, samples,
                                                                         tmp_path) -> None:
    artifact = api.convert("lenet5", variants=["tfjs-fp32"], cache=session_cache).conversions[0].artifact
    with BrowserTarget("chrome", profile=True) as chrome:
        result, _ = _run(chrome, artifact.model_path, "tfjs", "tfjs", samples[:4], tmp_path / "tfjs", "webgl")
    assert result.ok, result.error
    profile = result.extra["profile"]
    assert profile["available"] and {"Conv2D", "FusedConv2D"} & {row["op_type"] for row in profile["nodes"]}
    # webgl's kernel times come from GPU timer queries: in ms, and about one timed inference in all (0.8 here).
    assert profile["ops_ms_mean"] <= profile["run_ms_mean"]
    assert 0.3 < profile["ops_ms_mean"] / float(np.median(result.timings_ms.runs)) < 3


def test_profile_is_not_only_for_browsers() -> None:
    """--profile on this PC is no usage error: runtimes with per-operator times give them, others say so."""
    from devicelab import api
    from devicelab.errors import UsageError
    from devicelab.targets.host import HostTarget

    assert isinstance(api.choose_target(profile=True), HostTarget)
    with pytest.raises(UsageError, match="--backend needs --browser"):
        api.choose_target(backends=["wasm"], profile=True)


def test_a_provoked_fallback_to_the_cpu_shows_in_the_stored_share(tmp_path: Path) -> None:
    """JSEP (ort-web's WebGPU) has no Det kernel: ORT places that node on the CPU without a word; the page's
    profile must say so in the share it stores."""
    import onnx
    from onnx import TensorProto, helper

    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 4], (np.eye(4, dtype=np.float32) * 2).ravel())
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("MatMul", ["r", "w"], ["m"], name="mm"),
             helper.make_node("Det", ["m"], ["y"], name="det")]
    graph = helper.make_graph(nodes, "det", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "det.onnx"
    onnx.save(model, str(path))
    x = np.random.default_rng(0).random((4, 4, 4), dtype=np.float32)
    with BrowserTarget("chrome", profile=True) as chrome:
        result, _ = _run(chrome, path, "onnx", "ort-web", x, tmp_path, "webgpu")
    assert result.ok, result.error
    profile = result.extra["profile"]
    providers = {row["node"]: row["provider"] for row in profile["nodes"]}
    assert providers["det"] == "CPUExecutionProvider" and providers["mm"] == "JsExecutionProvider"
    assert profile["requested_provider"] == "JsExecutionProvider"
    assert 0 < profile["share_ops_on_requested"] < 1 and 0 < profile["share_time_on_requested"] < 1
