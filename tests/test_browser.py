"""The browser target in a real headless Chromium: every runtime and backend, and every failure we promise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from devicelab import api, protocol
from devicelab.data import load_dataset
from devicelab.targets import browsers
from devicelab.targets.browser import BrowserTarget

pytestmark = pytest.mark.slow
SAMPLES = 200


@pytest.fixture(scope="module")
def chrome():
    with BrowserTarget("chrome") as target:
        yield target


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser-store") / "results.sqlite"


def _measure(target: BrowserTarget, variant: str, store: Path, cache: Path, **kwargs) -> api.Measurement:
    options = api.MeasureOptions(samples=SAMPLES, runs=20, warmup_runs=2, min_seconds=0, timeout_seconds=180,
                                 **{k: v for k, v in kwargs.items() if k in ("backend", "threads", "timeout_seconds")})
    measured = api.measure("lenet5", variants=[variant], target=target, options=options, store=store, cache=cache,
                           runtime=kwargs.get("runtime"))
    return measured[-1]


@pytest.mark.parametrize(("variant", "backend"), [
    ("tfjs-fp32", "wasm"), ("tfjs-fp32", "cpu"), ("tfjs-fp32", "webgl"), ("tfjs-fp32", "webgpu"),
    ("tflite-fp32", "wasm"), ("onnx-fp32", "wasm"),
])
def test_fp32_in_the_browser_agrees_with_keras(chrome, store, lenet5, session_cache, variant, backend) -> None:
    m = _measure(chrome, variant, store, session_cache, backend=backend)  # tflite-*: LiteRT.js, the default
    assert m.ok, m.error
    acc = m.summary["accuracy"]
    assert acc["samples"] == SAMPLES and acc["agreement"] == 1.0, (variant, backend, acc.get("disagreements"))
    assert acc["max_abs_diff"] < 1e-3  # WebGL computes in fp32 textures; everything else is fp32 exact-ish
    result = m.result
    assert backend in result.runtime_used  # what really ran is named
    timings = result.timings_ms
    assert len(timings.runs) >= 20 and all(t > 0 for t in timings.runs) and timings.load > 0
    assert timings.first_inference >= min(timings.runs)  # the first run pays for compilation
    methods = {s.method for s in result.memory}
    assert any(method.startswith("psutil USS") for method in methods)
    assert any(method.startswith("CDP Performance.getMetrics") for method in methods)
    assert result.device["platform"] == "browser" and result.device["browser_version"].startswith("1")
    assert "Chrome" in result.device["model"]  # the user agent
    assert result.extra["crossOriginIsolated"] is True
    if variant.startswith("tfjs"):
        assert any(method.startswith("tf.memory") for method in methods)


def test_quantized_tfjs_stays_close(chrome, store, lenet5, session_cache) -> None:
    m = _measure(chrome, "tfjs-uint8", store, session_cache, backend="wasm")
    assert m.ok, m.error
    assert m.summary["accuracy"]["agreement"] >= 0.97


def test_a_backend_the_browser_lacks(lenet5, session_cache, store, monkeypatch) -> None:
    """WebGPU without --enable-unsafe-webgpu has no adapter in headless Linux Chromium."""
    original = browsers.chromium_arguments
    monkeypatch.setattr(browsers, "chromium_arguments",
                        lambda headed: [a for a in original(headed) if a != "--enable-unsafe-webgpu"])
    with BrowserTarget("chrome") as target:
        m = _measure(target, "tfjs-fp32", store, session_cache, backend="webgpu")
    assert not m.ok and m.result.error["kind"] == "backend_unavailable"
    assert "webgpu" in m.result.error["message"]


def test_unknown_backend_is_refused_before_the_browser(chrome, lenet5, session_cache, store) -> None:
    m = _measure(chrome, "onnx-fp32", store, session_cache, backend="webgl")
    assert not m.ok and m.result.error["kind"] == "backend_unavailable"


def _job(tmp_path: Path, artifact_dir: Path, runtime: str, **options) -> tuple[Path, Path]:
    job_dir, result_dir = tmp_path / "job", tmp_path / "result"
    x = load_dataset("mnist-sample", limit=20).x
    api.build_job(job_dir, artifact_dir, "tfjs", "tfjs-fp32", "0" * 64, x, runtime,
                  api.MeasureOptions(**{"runs": 5, "min_seconds": 0, "backend": "wasm", **options}))
    return job_dir, result_dir


def test_a_model_that_fails_to_load_is_an_error_result(chrome, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.json").write_text('{"format": "graph-model", "modelTopology": 42}')
    job_dir, result_dir = _job(tmp_path, broken / "model.json", "tfjs")
    result = chrome.run(job_dir, result_dir)
    assert result.status == "error" and result.error["message"]
    assert protocol.read_result(result_dir).status == "error"


def test_a_hung_page_times_out_and_the_session_recovers(chrome, lenet5, session_cache, store, tmp_path) -> None:
    artifact = api.convert("lenet5", variants=["tfjs-fp32"], cache=session_cache).conversions[0].artifact
    job_dir, result_dir = _job(tmp_path, artifact.model_path, "tfjs", min_seconds=600, max_seconds=600,
                               timeout_seconds=3)
    started = time.monotonic()
    result = chrome.run(job_dir, result_dir)
    assert result.status == "error" and result.error["kind"] == "timeout"
    assert time.monotonic() - started < 30
    m = _measure(chrome, "tfjs-fp32", store, session_cache, backend="cpu")  # the same session goes on
    assert m.ok, m.error


def test_browser_crash_is_reported_and_the_next_job_gets_a_new_browser(lenet5, session_cache, store,
                                                                       tmp_path) -> None:
    import psutil

    artifact = api.convert("lenet5", variants=["tfjs-fp32"], cache=session_cache).conversions[0].artifact
    job_dir, result_dir = _job(tmp_path, artifact.model_path, "tfjs", min_seconds=60, max_seconds=60,
                               timeout_seconds=120)
    with BrowserTarget("chrome") as target:
        target._ensure_session()
        browser = psutil.Process(target.driver.service.process.pid).children()[0]

        def kill_later() -> None:
            time.sleep(4)
            for child in browser.children(recursive=True):
                child.kill()
            browser.kill()

        import threading

        threading.Thread(target=kill_later, daemon=True).start()
        result = target.run(job_dir, result_dir)
        assert result.status == "error" and result.error["kind"] in ("browser_crash", "page_error")
        m = _measure(target, "tfjs-fp32", store, session_cache, backend="cpu")
        assert m.ok, m.error


def test_missing_browser_or_driver_is_named() -> None:
    with pytest.raises(browsers.BrowserUnavailableError, match="geckodriver"):
        browsers.find_local("firefox")
    with pytest.raises(browsers.BrowserUnavailableError, match="msedgedriver"):
        browsers.find_local("edge")


def test_driver_browser_version_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "chromedriver"
    fake.write_text("#!/bin/sh\necho 'ChromeDriver 120.0.6099.109 (abc)'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with pytest.raises(browsers.BrowserUnavailableError, match="do not match"):
        browsers.find_local("chrome")


def test_cli_sweeps_backends_and_reports_missing_browsers(lenet5, tmp_path: Path) -> None:
    env = {**os.environ, "DEVICELAB_STORE": str(tmp_path / "s.sqlite")}
    done = subprocess.run([sys.executable, "-m", "devicelab", "measure", "lenet5", "--browser", "chrome",
                           "--variant", "tfjs-fp32", "--backend", "wasm,cpu", "--samples", "50", "--runs", "10",
                           "--min-seconds", "0"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    listed = subprocess.run([sys.executable, "-m", "devicelab", "results", "--json"], capture_output=True, text=True,
                            env=env, timeout=300)
    used = {row["runtime_used"] for row in json.loads(listed.stdout) if row["target"] == "chrome"}
    assert used == {"tfjs-wasm", "tfjs-cpu"}, used  # the backends that really ran
    firefox = subprocess.run([sys.executable, "-m", "devicelab", "measure", "lenet5", "--browser", "firefox",
                              "--variant", "tfjs-fp32", "--samples", "20"], capture_output=True, text=True,
                             env=env, timeout=600)
    assert firefox.returncode != 0 and "geckodriver" in firefox.stderr and "Traceback" not in firefox.stderr


def test_remote_webdriver_through_a_real_grid(grid: str, lenet5, session_cache, store) -> None:
    with BrowserTarget("chrome", remote=grid) as target:
        first = _measure(target, "tfjs-fp32", store, session_cache, backend="wasm")
        second = _measure(target, "onnx-fp32", store, session_cache, backend="wasm")
    for m in (first, second):
        assert m.ok, m.error
        assert m.summary["accuracy"]["agreement"] == 1.0
        assert m.result.device["remote"] == grid


def test_outputs_are_the_same_tensors_keras_gives(chrome, lenet5, session_cache, store) -> None:
    """Not only the same top-1: the page's raw output file holds the probabilities, sample for sample."""
    import keras

    m = _measure(chrome, "tfjs-fp32", store, session_cache, backend="cpu")
    from devicelab.store import Store

    with Store(store) as db:
        outputs = db.get(m.row_id).outputs()[0]
    x = load_dataset("mnist-sample", limit=SAMPLES).x
    expected = keras.models.load_model(lenet5).predict(x, verbose=0)
    np.testing.assert_allclose(outputs, expected, atol=1e-5)


def test_performance_bar_counts_the_runs_min_seconds_takes(chrome, store, lenet5, session_cache) -> None:
    """--runs 5 with --min-seconds 1 times hundreds of runs: the bar must not stand at 5/5 while they go on."""
    seen: list[tuple[str, int, int]] = []
    options = api.MeasureOptions(samples=20, runs=5, warmup_runs=1, min_seconds=1.0, backend="wasm",
                                 timeout_seconds=180)
    measured = api.measure("lenet5", variants=["tfjs-fp32"], target=chrome, options=options, store=store,
                           cache=session_cache, progress=lambda label, done, total, phase:
                           seen.append((phase, done, total)) if "chrome" in label else None)
    m = measured[-1]
    assert m.ok, m.error
    runs = len(m.result.timings_ms.runs)
    performance = [(done, total) for phase, done, total in seen if phase == "performance"]
    assert runs > 20 and performance, (runs, seen[-5:])
    assert max(total for _, total in performance) > 5  # it grew past --runs toward what 1 s takes
    assert all(done <= total for done, total in performance)
