"""User errors end in one readable message and a hint, a non-zero exit code, no traceback, and no lost results.

Most cases run the real CLI in a subprocess (``python -m devicelab``) with its cache and results store under
pytest's tmp dirs; a few need Python objects (a registered custom layer, a monkeypatched import, a worker
process to watch) and use the API in-process. The zoo model lenet5 trains once per session into a shared cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from devicelab.errors import MissingDependencyError

CLI_TIMEOUT_S = 300


# --- helpers ----------------------------------------------------------------------------------------


def run_cli(*args: str, cache: Path, store: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEVICELAB_CACHE": str(cache), "DEVICELAB_STORE": str(store), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("DEVICELAB_VERBOSE", None)
    return subprocess.run([sys.executable, "-m", "devicelab", *args], capture_output=True, text=True, env=env,
                          timeout=CLI_TIMEOUT_S, check=False)


def flat(text: str) -> str:
    """The terminal folds long messages at 80 columns; compare phrases with whitespace collapsed."""
    return " ".join(text.split())


def assert_user_error(proc: subprocess.CompletedProcess[str], *phrases: str, errors: int = 1) -> str:
    """One "Error:" (per failure) and a "Hint:" on stderr, non-zero exit, no traceback; returns flat stderr."""
    shown = f"exit code {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    assert proc.returncode != 0, shown
    assert "Traceback" not in proc.stderr + proc.stdout, shown
    assert proc.stderr.count("Error:") == errors, shown
    assert "Hint:" in proc.stderr, shown
    stderr = flat(proc.stderr)
    for phrase in phrases:
        assert phrase in stderr, f"{phrase!r} not in the message\n{shown}"
    return stderr


def exported_rows(cache: Path, store: Path) -> list[dict]:
    proc = run_cli("export", "--format", "json", cache=cache, store=store)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["results"]


@pytest.fixture(scope="session")
def zoo_cache(session_cache: Path, lenet5: Path) -> Path:
    """The session's shared cache (conftest.py), with lenet5 trained into it once (about 10 s)."""
    return session_cache


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "results.sqlite"


@pytest.fixture
def empty_cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def tiny_keras_model(layer: object | None = None) -> object:
    """A 4-in model, optionally through ``layer``: saving and loading it takes a second, not a training run."""
    import keras

    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2)(inputs if layer is None else layer(inputs))
    return keras.Model(inputs, outputs)


# --- 1-3: model files that cannot be loaded, models that do not exist ----------------------------------------


def test_corrupt_keras_file(tmp_path: Path, empty_cache: Path, store: Path) -> None:
    path = tmp_path / "model.keras"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    proc = run_cli("convert", str(path), "--variant", "tflite-fp32", cache=empty_cache, store=store)
    assert_user_error(proc, "is not a valid .keras file", "corrupt", "re-save the model")


def test_truncated_h5_file(tmp_path: Path, empty_cache: Path, store: Path) -> None:
    whole = tmp_path / "whole.h5"
    tiny_keras_model().save(whole)
    data = whole.read_bytes()
    assert data.startswith(b"\x89HDF\r\n\x1a\n")
    path = tmp_path / "model.h5"
    path.write_bytes(data[: len(data) // 2])
    proc = run_cli("convert", str(path), "--variant", "tflite-fp32", cache=empty_cache, store=store)
    assert_user_error(proc, "cannot load", "truncated", "the file may be corrupt")


def test_h5_file_that_is_not_hdf5(tmp_path: Path, empty_cache: Path, store: Path) -> None:
    path = tmp_path / "model.h5"
    path.write_text("this is a text file, not a Keras model\n")
    proc = run_cli("convert", str(path), "--variant", "tflite-fp32", cache=empty_cache, store=store)
    assert_user_error(proc, "is not a valid HDF5 file", "re-save the model")


@pytest.mark.parametrize("model", ["no/such/model.keras", "lenet7"])
def test_unknown_model_lists_the_zoo(model: str, empty_cache: Path, store: Path) -> None:
    proc = run_cli("convert", model, "--variant", "tflite-fp32", cache=empty_cache, store=store)
    assert_user_error(proc, f"model '{model}' not found", "not a zoo model", "lenet1, lenet5, resnet20")


# --- 4, 12, 13: bad arguments -----------------------------------------------------------------------


def test_unknown_variant_suggests_the_nearest(empty_cache: Path, store: Path) -> None:
    proc = run_cli("convert", "lenet5", "--variant", "tflite-int9", cache=empty_cache, store=store)
    assert_user_error(proc, "unknown variant 'tflite-int9'", "did you mean tflite-int8")
    assert proc.returncode == 2  # usage errors
    assert not (empty_cache / "zoo").exists()  # rejected before building anything


def test_unknown_target(empty_cache: Path, store: Path) -> None:
    proc = run_cli("measure", "lenet5", "--target", "pixel", cache=empty_cache, store=store)
    assert_user_error(proc, "unknown target 'pixel'", "--target host")
    assert not (empty_cache / "zoo").exists()


def _tiny_onnx(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "tiny",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def test_tflite_variant_from_onnx_source(tmp_path: Path, empty_cache: Path, store: Path) -> None:
    model = _tiny_onnx(tmp_path / "tiny.onnx")
    proc = run_cli("convert", str(model), "--variant", "tflite-fp32", cache=empty_cache, store=store)
    assert_user_error(proc, "tflite-fp32 cannot be made from", "onnx model", "keras, savedmodel")
    # Named alongside one that can be made: that one converts, the other fails on its own with the same reason.
    proc = run_cli("convert", str(model), "--variant", "tflite-fp32,onnx-fp32", cache=empty_cache, store=store)
    assert_user_error(proc, "tflite-fp32 cannot be made from", "onnx model")
    assert "onnx-fp32" in proc.stdout and "converted" in proc.stdout
    # A whole format that an ONNX source cannot give.
    proc = run_cli("convert", str(model), "--to", "tflite", cache=empty_cache, store=store)
    assert_user_error(proc, "none of the selected variants can be made from", "onnx model", "onnx-* variants")
    assert proc.returncode == 2


@pytest.mark.parametrize("content", [b"", b"\x00not a protobuf" * 64], ids=["empty", "garbage"])
@pytest.mark.parametrize("command", ["convert", "measure"])
def test_corrupt_onnx_source(command: str, content: bytes, tmp_path: Path, empty_cache: Path,
                             store: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(content)
    args = ["--variant", "onnx-fp32"] if command == "convert" else ["--data", "mnist-sample", "--samples", "5"]
    proc = run_cli(command, str(model), *args, cache=empty_cache, store=store)
    assert_user_error(proc, "ONNX model", "export it again")


def test_converter_output_that_cannot_be_read_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A converter whose output its own reader rejects fails that variant readably and caches nothing."""
    from devicelab import api
    from devicelab.convert import onnx as onnx_converter
    from devicelab.errors import ConversionError

    def unreadable(out_dir: Path) -> dict:
        raise RuntimeError("[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Protobuf parsing failed.")

    monkeypatch.setattr(onnx_converter, "describe", unreadable)
    report = api.convert(_tiny_onnx(tmp_path / "tiny.onnx"), variants=["onnx-fp32"], cache=tmp_path / "cache")
    [conversion] = report.conversions
    assert isinstance(conversion.error, ConversionError) and conversion.artifact is None
    assert "onnx-fp32: conversion failed" in conversion.error.message and "INVALID_PROTOBUF" in conversion.error.message
    assert not list((tmp_path / "cache" / "artifacts").rglob("*.onnx"))


def test_unknown_runtime(empty_cache: Path, store: Path) -> None:
    proc = run_cli("measure", "lenet5", "--runtime", "foo", cache=empty_cache, store=store)
    assert_user_error(proc, "unknown runtime 'foo'", "runtimes: keras, tflite, onnxruntime")
    assert not (empty_cache / "zoo").exists()


# --- 5, 6: models that load only with code, or use ops a format lacks ----------------------------------------


def test_lambda_layer_is_refused(tmp_path: Path, empty_cache: Path, store: Path) -> None:
    import keras

    path = tmp_path / "lambda.keras"
    tiny_keras_model(keras.layers.Lambda(lambda x: x * 2)).save(path)
    proc = run_cli("convert", str(path), "--variant", "tflite-fp32", cache=empty_cache, store=store)
    assert_user_error(proc, "Lambda layer", "devicelab will not execute", "registered custom layer")


@pytest.mark.slow
def test_op_tflite_cannot_express(tmp_path: Path) -> None:
    """A registered custom layer computing a determinant: TFLite has no builtin MatrixDeterminant (flex only)."""
    import keras
    import tensorflow as tf

    from devicelab import api
    from devicelab.errors import UnsupportedOpError

    @keras.saving.register_keras_serializable(package="devicelab_test")
    class Determinant(keras.layers.Layer):
        def call(self, x: object) -> object:
            return tf.reshape(tf.linalg.det(tf.reshape(x, (-1, 2, 2))), (-1, 1))

    path = tmp_path / "det.keras"
    tiny_keras_model(Determinant()).save(path)
    report = api.convert(path, variants=["tflite-fp32"], cache=tmp_path / "cache")
    [conversion] = report.conversions
    assert conversion.artifact is None
    assert isinstance(conversion.error, UnsupportedOpError), conversion.error
    assert conversion.error.kind == "unsupported_op"
    assert "MatrixDeterminant" in conversion.error.message
    assert "tflite cannot express" in conversion.error.message
    assert conversion.error.hint
    assert "Traceback" not in str(conversion.error)
    assert not list((tmp_path / "cache" / "artifacts").rglob("model.tflite"))  # no half artifact left behind


# --- 7: calibration data ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_calibration_data_of_the_wrong_shape(tmp_path: Path, zoo_cache: Path, store: Path) -> None:
    data = tmp_path / "X.npz"
    np.savez(data, x=np.zeros((10, 5, 5), np.float32))
    proc = run_cli("convert", "lenet5", "--variant", "tflite-int8", "--calibration", str(data), cache=zoo_cache,
                   store=store)
    assert_user_error(proc, "calibration data", "does not fit the model", "(10, 5, 5)", "28, 28, 1",
                      "shaped like the model input")


# --- 8: optional dependencies ---------------------------------------------------------------------------


def test_missing_optional_dependency(monkeypatch: pytest.MonkeyPatch) -> None:
    from devicelab.errors import require
    from devicelab.runtimes.onnxruntime import OnnxRuntime

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError
    with pytest.raises(MissingDependencyError) as direct:
        require("onnxruntime", "onnx")
    assert direct.value.kind == "missing_dependency"
    assert "'onnxruntime' is not installed" in direct.value.message
    assert direct.value.hint == "install it with: pip install 'devicelab[onnx]'"
    with pytest.raises(MissingDependencyError) as runtime:
        OnnxRuntime.check_available()
    assert "needed for running ONNX models" in runtime.value.message
    assert "pip install 'devicelab[onnx]'" in (runtime.value.hint or "")


# --- 9: a runtime that cannot run here, with results already stored ----------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "darwin", reason="Core ML runs on macOS")
def test_coreml_off_macos_keeps_the_stored_results(zoo_cache: Path, store: Path) -> None:
    quick = ("--samples", "20", "--runs", "5", "--min-seconds", "0")
    ok = run_cli("measure", "lenet5", "--variant", "tflite-fp32", *quick, cache=zoo_cache, store=store)
    assert ok.returncode == 0, ok.stderr
    before = exported_rows(zoo_cache, store)
    assert len(before) >= 2 and {r["variant"] for r in before} >= {"original", "tflite-fp32"}
    assert all(r["status"] == "ok" for r in before)

    proc = run_cli("measure", "lenet5", "--variant", "coreml-fp32", *quick, cache=zoo_cache, store=store)
    assert_user_error(proc, "needs macOS", "Core ML variants convert here but cannot run", "on a Mac")

    after = exported_rows(zoo_cache, store)
    assert after[: len(before)] == before  # nothing stored earlier is lost or changed
    [failure] = after[len(before):]
    assert failure["variant"] == "coreml-fp32"
    assert failure["status"] == "error"
    assert failure["error_kind"] == "runtime_unavailable"
    assert "needs macOS" in failure["error_message"]


# --- 10, 11: jobs that time out, model files a runtime cannot read ----------------------------------------------


def _tiny_tflite(path: Path) -> Path:
    import tensorflow as tf

    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(tiny_keras_model()).convert())
    return path


@pytest.mark.slow
def test_job_timeout_stops_the_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from devicelab import api, protocol
    from devicelab.hashing import sha256_path
    from devicelab.targets import host

    model = _tiny_tflite(tmp_path / "model.tflite")
    # Runs until min_seconds=30: it cannot finish within the 0.5 s timeout.
    options = api.MeasureOptions(runs=1_000_000, min_seconds=30, max_seconds=60, timeout_seconds=0.5)
    api.build_job(tmp_path / "job", model, "tflite", "tflite-fp32", sha256_path(model),
                  np.zeros((4, 4), np.float32), "tflite", options)

    workers: list[subprocess.Popen] = []
    real_popen = subprocess.Popen

    def recording_popen(*args: object, **kwargs: object) -> subprocess.Popen:
        worker = real_popen(*args, **kwargs)  # type: ignore[call-overload]
        workers.append(worker)
        return worker

    monkeypatch.setattr(host.subprocess, "Popen", recording_popen)
    started = time.monotonic()
    result = host.HostTarget().run(tmp_path / "job", tmp_path / "result")
    assert time.monotonic() - started < 20

    assert result.status == "error"
    assert result.error is not None and result.error["kind"] == "timeout"
    assert "did not finish within 0.5 s" in result.error["message"]
    assert result.error["hint"] == "raise --timeout"
    assert protocol.read_result(tmp_path / "result").status == "error"  # the result folder is complete
    [worker] = workers
    assert worker.poll() is not None
    with pytest.raises(ProcessLookupError):  # the worker's whole process group is gone
        os.killpg(worker.pid, 0)


def test_corrupt_tflite_file_in_the_runner(tmp_path: Path) -> None:
    from devicelab import api, protocol
    from devicelab.runner import run_job

    model = tmp_path / "model.tflite"
    model.write_bytes(np.random.default_rng(1).bytes(4096))
    options = api.MeasureOptions(runs=3, warmup_runs=1, min_seconds=0)
    api.build_job(tmp_path / "job", model, "tflite", "tflite-fp32", "0" * 64, np.zeros((3, 4), np.float32),
                  "tflite", options)
    result = run_job(tmp_path / "job", tmp_path / "result")
    assert result.status == "error"
    assert result.error is not None and result.error["kind"] == "model_run"
    assert result.error["message"].startswith("TFLite could not load the model")
    assert "not a valid Flatbuffer" in result.error["message"]
    assert "corrupt" in result.error["hint"]
    assert "Traceback" not in result.error["message"]
    assert protocol.read_result(tmp_path / "result").error == result.error


# --- issue 13: usage errors exit 2 before any work and store nothing -----------------------------------------


@pytest.mark.parametrize("command", [
    "measure lenet5 --runs -5", "measure lenet5 --warmup -1", "measure lenet5 --threads 0",
    "measure lenet5 --timeout -1", "measure lenet5 --min-seconds -1", "measure lenet5 --max-seconds 0",
    "measure lenet5 --samples 0", "measure lenet5 --min-seconds 5 --max-seconds 2",
    "measure lenet5 --no-accuracy --no-performance",
    "deploy lenet5 --device pixel --warmup -1",  # before any adb server is asked for the device
    "study lenet5 --runs 0",
])
def test_numbers_out_of_range_are_usage_errors(command: str, empty_cache: Path, store: Path) -> None:
    proc = run_cli(*command.split(), cache=empty_cache, store=store)
    flag = [word for word in command.split() if word.startswith("--")][-1]
    assert_user_error(proc, flag)
    assert proc.returncode == 2
    assert not store.exists() and not empty_cache.exists()  # no rows, no store, nothing built


@pytest.mark.parametrize(("args", "phrase"), [
    (["--variant", "tfjs-fp32"], "no runtime on this PC runs tfjs models"),
    (["--runtime", "tfjs"], "unknown host runtime 'tfjs'"),
    (["--browser", "netscape"], "unknown browser 'netscape'"),
    (["--browser", "chrome", "--backend", "gpu3"], "no 'gpu3' setting"),
    (["--backend", "wasm"], "--backend needs --browser"),
    (["--browser", "chrome", "--remote", "localhost:4444"], "is not a WebDriver URL"),
    (["--browser", "chrome", "--remote", "http://127.0.0.1:99999"], "not a valid WebDriver URL"),
])
def test_measure_usage_errors_exit_2_and_store_nothing(args: list[str], phrase: str, empty_cache: Path,
                                                       store: Path) -> None:
    proc = run_cli("measure", "lenet5", *args, cache=empty_cache, store=store)
    assert_user_error(proc, phrase)
    assert proc.returncode == 2
    assert not store.exists() and not empty_cache.exists()


def test_unreachable_remote_is_one_message_naming_the_endpoint(zoo_cache: Path, store: Path) -> None:
    proc = run_cli("measure", "lenet5", "--browser", "chrome", "--remote", "http://127.0.0.1:1", "--samples", "5",
                   "--runs", "1", "--warmup", "0", "--min-seconds", "0", cache=zoo_cache, store=store)
    stderr = assert_user_error(proc, "could not start the WebDriver endpoint http://127.0.0.1:1",
                               "Connection refused", "http://127.0.0.1:1/status")
    assert "MaxRetryError" not in stderr and proc.returncode == 1
    rows = exported_rows(zoo_cache, store)  # the PC reference measured first is kept
    assert [(r["variant"], r["status"]) for r in rows] == [("original", "ok"), ("tfjs-fp32", "error")]


def test_verbose_is_an_option_of_every_command(empty_cache: Path, store: Path) -> None:
    quiet = run_cli("schema", "nope", cache=empty_cache, store=store)
    assert_user_error(quiet, "unknown schema 'nope'")
    assert quiet.returncode == 2
    for args in (["schema", "nope", "--verbose"], ["--verbose", "schema", "nope"], ["schema", "-v", "nope"]):
        loud = run_cli(*args, cache=empty_cache, store=store)
        assert loud.returncode == 2 and "Traceback" in loud.stderr and "unknown schema 'nope'" in loud.stderr
    for command in ("convert", "measure", "deploy", "study", "batch", "zoo build", "farm export"):
        shown = run_cli(*command.split(), "--help", cache=empty_cache, store=store)
        assert "--verbose" in shown.stdout, command


def test_verbose_shows_the_details_behind_an_error(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """What a converter printed rides on the error as `details`; --verbose shows it, plain runs do not."""
    from devicelab.cli.base import _print_error
    from devicelab.errors import ConversionError

    error = ConversionError("tflite-fp32: conversion failed: boom", hint="run with --verbose to see the converter's "
                            "full output")
    error.details = "loc(fused[...]): error: 'tf.Foo' op is [bold]neither[/bold] a custom op nor a flex op"
    monkeypatch.delenv("DEVICELAB_VERBOSE", raising=False)
    _print_error(error)
    assert "tf.Foo" not in capsys.readouterr().err
    monkeypatch.setenv("DEVICELAB_VERBOSE", "1")
    _print_error(error)
    err = capsys.readouterr().err
    assert "'tf.Foo' op is [bold]neither[/bold] a custom op" in err  # printed literally, not as markup
    assert "Error: tflite-fp32: conversion failed: boom" in err


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_an_interrupted_host_job_leaves_no_folder_and_no_worker(sig: str, zoo_cache: Path, store: Path,
                                                                tmp_path: Path) -> None:
    """Ctrl-C or `kill` while the host worker measures: the worker is stopped and the job folder removed (SIGTERM
    used to end devicelab without any cleanup and leave the worker running)."""
    import signal

    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    env = {**os.environ, "DEVICELAB_CACHE": str(zoo_cache), "DEVICELAB_STORE": str(store), "TMPDIR": str(private_tmp)}
    proc = subprocess.Popen([sys.executable, "-m", "devicelab", "measure", "lenet5", "--samples", "20",
                             "--min-seconds", "60", "--max-seconds", "120"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    def worker_running() -> bool:
        args = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True).stdout
        return any("host_worker" in line and str(private_tmp) in line for line in args.splitlines())

    deadline = time.monotonic() + 120
    while not worker_running() and time.monotonic() < deadline:
        time.sleep(0.2)
    if not worker_running():
        proc.kill()
        pytest.fail(f"no job started: {proc.communicate()}")
    time.sleep(2)  # inside the measurement
    proc.send_signal(getattr(signal, sig))
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode in (1, 130), stderr
    assert "Traceback" not in stderr
    assert not list(private_tmp.glob("devicelab-job-*"))
    assert not worker_running()  # no host worker of this run is left


@pytest.mark.parametrize(("command", "phrase"), [
    ("convert lenet5 --calibration-samples 0", "--calibration-samples must be at least 1 (got 0)"),
    ("zoo build lenet5 --epochs 0", "--epochs must be at least 1 (got 0)"),  # built an untrained model, exit 0
    ("zoo build lenet5 --epochs -2", "--epochs must be at least 1 (got -2)"),  # "trained" to 11%, exit 0
])
def test_other_numbers_out_of_range(command: str, phrase: str, empty_cache: Path, store: Path) -> None:
    proc = run_cli(*command.split(), cache=empty_cache, store=store)
    assert_user_error(proc, phrase)
    assert proc.returncode == 2 and not empty_cache.exists()


def test_a_crashed_host_worker_shows_its_output_with_verbose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    """The hint said 'rerun with --verbose', and --verbose showed nothing more."""
    from devicelab import api
    from devicelab.targets import host

    model = tmp_path / "model.tflite"
    model.write_bytes(b"unused: the worker dies first")
    api.build_job(tmp_path / "job", model, "tflite", "tflite-fp32", "0" * 64, np.zeros((2, 4), np.float32),
                  "tflite", api.MeasureOptions(runs=1, min_seconds=0))
    crash = tmp_path / "crash"
    crash.mkdir()  # a worker that dies at start-up, after saying why on stderr
    (crash / "sitecustomize.py").write_text("import os, sys\nsys.stderr.write('boom: the runtime aborted\\n')\n"
                                            "sys.stderr.flush()\nos._exit(3)\n")
    monkeypatch.setenv("PYTHONPATH", f"{crash}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    for verbose in ("", "1"):
        monkeypatch.setenv("DEVICELAB_VERBOSE", verbose)
        result = host.HostTarget().run(tmp_path / "job", tmp_path / f"result{verbose}")
        assert result.error["kind"] == "crash" and "boom: the runtime aborted" in result.error["message"]
        assert "--verbose" in result.error["hint"]
        err = capfd.readouterr().err
        assert ("the host worker's last output" in err) == bool(verbose)
