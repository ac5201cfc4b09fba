"""Where the time goes: ONNX Runtime per-op profiles stored with the result, and a provoked fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from devicelab import api
from devicelab.explain.profile import fallback_ops, summarize_ort

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def conv_model(tmp_path_factory: pytest.TempPathFactory, session_cache: Path) -> dict[str, Path]:
    """Convolutions big enough that kernel time, not ORT's per-run overhead, makes up an inference."""
    import keras

    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("profile")
    inp = keras.Input((32, 32, 3), name="image")
    h = keras.layers.Conv2D(32, 3, activation="relu", padding="same", name="conv1")(inp)
    h = keras.layers.Conv2D(32, 3, activation="relu", padding="same", name="conv2")(h)
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    out = keras.layers.Dense(10, name="logits")(h)
    keras.Model(inp, out).save(folder / "conv.keras")
    np.savez(folder / "data.npz", image=np.random.default_rng(0).uniform(0, 1, (4, 32, 32, 3)).astype(np.float32))
    return {"model": folder / "conv.keras", "data": folder / "data.npz", "cache": session_cache,
            "store": folder / "store.sqlite"}


def _profiled(files: dict[str, Path], delegate: str) -> dict:
    options = api.MeasureOptions(profile=True, delegate=delegate, runs=3, warmup_runs=1, min_seconds=0)
    measured = api.measure(files["model"], variants=["onnx-fp32"], data=str(files["data"]), options=options,
                           cache=files["cache"], store=files["store"], reference=False)
    assert measured[0].ok, measured[0].error
    return measured[0].result.extra["profile"]


def test_ort_profile_is_stored_and_ops_add_up_to_the_inference(conv_model: dict[str, Path]) -> None:
    profile = _profiled(conv_model, "cpu")
    assert profile["runs"] == 19 and profile["unit"] == "ms"  # 20 profiled, the cold first one left out
    types = {op["op_type"] for op in profile["operators"]}
    assert "Conv" in types or "FusedConv" in types
    assert all(op["provider"] == "CPUExecutionProvider" and op["mean_ms"] >= 0 for op in profile["operators"])
    # The per-op times are the inference: what is left is ORT's own per-run overhead.
    assert 0.6 <= profile["ops_ms_mean"] / profile["run_ms_mean"] <= 1.0
    assert profile["share_ops_on_requested"] == 1.0 and profile["share_time_on_requested"] == 1.0


def test_a_provoked_fallback_shows_in_the_stored_share(conv_model: dict[str, Path]) -> None:
    # The Azure provider ships in every onnxruntime wheel and implements no op: ORT silently runs every node
    # on the CPU, and only the profile says so (runtime_used names the provider that was asked for).
    profile = _profiled(conv_model, "azure")
    assert profile["requested_provider"] == "AzureExecutionProvider"
    assert profile["share_ops_on_requested"] == 0.0 and profile["share_time_on_requested"] == 0.0
    assert len(fallback_ops(profile)) == len(profile["operators"]) > 0


def test_explain_profile_reports_the_table_and_says_when_a_runtime_has_none(conv_model: dict[str, Path]) -> None:
    onnx_report = api.explain(conv_model["model"], "onnx-fp32", data=str(conv_model["data"]), profile=True,
                              cache=conv_model["cache"], store=conv_model["store"])
    assert onnx_report.profile["available"] and onnx_report.profile["operators"]
    assert onnx_report.first_divergent_layer is None
    assert "profile" in onnx_report.to_json()
    tflite_report = api.explain(conv_model["model"], "tflite-fp32", data=str(conv_model["data"]), profile=True,
                                cache=conv_model["cache"], store=conv_model["store"])
    assert not tflite_report.profile["available"] and "no per-operator times" in tflite_report.profile["reason"]


def test_summary_of_a_profile_trace() -> None:
    first = [{"cat": "Node", "name": "a_kernel_time", "dur": 5000, "args": {"op_name": "Conv", "provider": "X"}},
             {"cat": "Session", "name": "model_run", "dur": 6000}]  # the cold first run: left out
    events = [*first, {"cat": "Session", "name": "model_run", "dur": 100},
              {"cat": "Node", "name": "a_kernel_time", "dur": 60, "args": {"op_name": "Conv", "provider": "X"}},
              {"cat": "Node", "name": "b_kernel_time", "dur": 30,
               "args": {"op_name": "Softmax", "provider": "CPUExecutionProvider"}}]
    table = summarize_ort(events, "X")
    assert table["runs"] == 1
    assert table["run_ms_mean"] == 0.1 and table["ops_ms_mean"] == 0.09
    assert table["share_ops_on_requested"] == 0.5 and table["share_time_on_requested"] == round(60 / 90, 4)
    assert [op["name"] for op in fallback_ops(table)] == ["b"]


def test_measure_cli_says_where_the_ops_ran(conv_model: dict[str, Path]) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "devicelab", "measure", str(conv_model["model"]), "--variant",
                           "onnx-fp32", "--data", str(conv_model["data"]), "--delegate", "azure", "--profile",
                           "--runs", "2", "--warmup", "0", "--min-seconds", "0", "--no-accuracy",
                           "--cache-dir", str(conv_model["cache"]), "--store", str(conv_model["store"])],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "0% of them and 0% of op time on AzureExecutionProvider" in " ".join(done.stdout.split())
    shown = subprocess.run([sys.executable, "-m", "devicelab", "results", "--profile", "--variant", "onnx-fp32",
                            "--last", "1", "--store", str(conv_model["store"])], capture_output=True, text=True,
                           timeout=120)
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    assert "Per-operator times" in text and "Conv" in text and "on AzureExecutionProvider: 0% of ops" in text
