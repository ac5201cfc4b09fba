"""The Android app's measurement core (android_app/core, plain Java) on this machine's JVM, without the Android SDK.

The core's JUnit suite runs here with javac + JUnit 4 (Debian packages `junit4`, which pulls `libhamcrest-java`;
a JDK such as `default-jdk-headless` or `openjdk-17-jdk-headless` provides javac). Then the core runs a job that
*Python* wrote, and what it writes is read back with devicelab.protocol: the JSON Schema, the tensor files and the
numbers must all be what the host expects from a phone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from devicelab import protocol

ANDROID_APP = Path(__file__).resolve().parent.parent / "android_app"
CORE = ANDROID_APP / "core"
JAVA_TIMEOUT = 300


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(f"`{name}` is not installed: the Android core tests need a JDK 17 "
                    "(Debian: apt-get install default-jdk-headless)", pytrace=False)
    return path


def _junit_classpath() -> list[str]:
    jars = [os.environ.get("JUNIT_JAR", "/usr/share/java/junit4.jar"),
            os.environ.get("HAMCREST_JAR", "/usr/share/java/hamcrest-core.jar")]
    missing = [jar for jar in jars if not Path(jar).is_file()]
    if missing:
        pytest.fail(f"JUnit 4 is missing ({', '.join(missing)}): apt-get install junit4 (it pulls libhamcrest-java),"
                    " or point JUNIT_JAR and HAMCREST_JAR at the jars", pytrace=False)
    return jars


def _run(cmd: list[str], what: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=JAVA_TIMEOUT)
    if proc.returncode != 0:
        pytest.fail(f"{what} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}", pytrace=False)
    return proc


def _sources(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*.java"))


@pytest.fixture(scope="module")
def core_classpath(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The core compiled as the app gets it, and its tests: [main classes, test classes, junit, hamcrest]."""
    javac = _tool("javac")
    junit = _junit_classpath()
    out = tmp_path_factory.mktemp("android-core")
    main, test = out / "main", out / "test"
    # Main sources at Java 8 level: only APIs that Android API 24 (minSdk) has, nothing D8 must desugar.
    _run([javac, "--release", "8", "-Xlint:all", "-Xlint:-options", "-Werror", "-encoding", "UTF-8", "-d", str(main),
          *_sources(CORE / "src/main/java")], "compiling android_app/core/src/main/java")
    _run([javac, "--release", "17", "-encoding", "UTF-8", "-cp", os.pathsep.join([str(main), *junit]),
          "-d", str(test), *_sources(CORE / "src/test/java")], "compiling android_app/core/src/test/java")
    return [str(main), str(test), *junit]


def test_core_junit_suite(core_classpath: list[str]) -> None:
    tests_root = CORE / "src/test/java"
    classes = sorted(".".join(p.relative_to(tests_root).with_suffix("").parts)
                     for p in tests_root.rglob("*Test.java"))
    assert classes, "no JUnit test classes found"
    proc = subprocess.run([_tool("java"), "-cp", os.pathsep.join(core_classpath), "org.junit.runner.JUnitCore",
                           *classes], capture_output=True, text=True, timeout=JAVA_TIMEOUT)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "OK (" in output, output
    print(output.strip().splitlines()[-1])  # "OK (N tests)"


# --- what the core writes, read by the host's own code ----------------------------------------------------------

def _fake_linear(x: np.ndarray, out_features: int) -> np.ndarray:
    """FakeLinearRuntime (core test sources): y = x W + b, W[i][j] = ((7i + 3j) % 11 - 5) / 10, b[j] = (j - 1) / 4."""
    i = np.arange(x.shape[1])[:, None]
    j = np.arange(out_features)[None, :]
    w = (((7 * i + 3 * j) % 11 - 5) / 10).astype(np.float32)
    b = ((np.arange(out_features) - 1) / 4).astype(np.float32)
    return x @ w + b


def _write_job(job_dir: Path, x: np.ndarray, runtime: str = "fake-linear", profile: bool = False) -> protocol.Job:
    job_dir.mkdir(parents=True)
    (job_dir / "model").mkdir()
    (job_dir / "model/model.tflite").write_bytes(b"the fake runtime only checks that the model file exists")
    spec = protocol.write_tensor(job_dir, "inputs/x.bin", "x", x)
    job = protocol.Job(
        id=job_dir.name,
        model=protocol.ModelRef(format="tflite", variant="tflite-fp32", files=["model/model.tflite"],
                                sha256="0" * 64),
        inputs=[spec],
        runtime=protocol.RuntimeSpec(name=runtime, threads=2, delegate="xnnpack", profile=profile),
        performance=protocol.Performance(warmup_runs=3, runs=20, min_seconds=0.0, max_seconds=5.0),
    )
    protocol.write_job(job_dir, job)
    return job


def _run_core(core_classpath: list[str], job_dir: Path, result_dir: Path) -> str:
    proc = _run([_tool("java"), "-cp", os.pathsep.join(core_classpath), "dev.devicelab.core.WriteSampleResult",
                 str(job_dir), str(result_dir)], "WriteSampleResult")
    return proc.stdout.strip()


def test_core_result_follows_the_python_protocol(core_classpath: list[str], tmp_path: Path) -> None:
    x = np.random.default_rng(7).normal(size=(5, 6)).astype(np.float32)
    _write_job(tmp_path / "jobs/core-sample", x)
    result_dir = tmp_path / "results/core-sample"
    assert _run_core(core_classpath, tmp_path / "jobs/core-sample", result_dir) == "ok"

    assert (result_dir / protocol.DONE_MARKER).read_text() == "ok\n"
    result = protocol.read_result(result_dir)  # validates against result.schema.json
    assert result.ok and result.job_id == "core-sample" and result.error is None
    assert result.simulated is True  # a test fake produced it
    assert result.device["runtime"] == {"name": "fake-linear", "version": "fake-linear 1.0"}
    assert result.runtime_used == "fake-linear-cpu"

    t = result.timings_ms
    assert t.load >= 0 and t.first_inference >= 0 and t.accuracy_total >= 0
    assert len(t.warmup) == 3 and len(t.runs) >= 20 and all(r >= 0 for r in t.runs)
    assert result.extra["threads"] == 2 and result.extra["samples"] == 5
    assert result.extra["delegate_requested"] == "xnnpack"

    methods = {m.method for m in result.memory}
    assert "VmRSS (/proc/self/status)" in methods  # the JVM here is on Linux, as Android is
    assert any(m.startswith("VmHWM (/proc/self/status)") for m in methods)

    (spec,) = result.outputs
    assert (spec.name, spec.dtype, spec.shape, spec.file) == ("logits", "float32", [5, 3], "outputs/output_0.bin")
    y = protocol.read_tensor(result_dir, spec)
    np.testing.assert_allclose(y, _fake_linear(x, 3), rtol=1e-5, atol=1e-6)


def test_core_answers_a_python_profile_request_with_a_file_in_its_result(core_classpath: list[str],
                                                                         tmp_path: Path) -> None:
    """Issue 15: job.runtime.profile as devicelab writes it reaches the core; the runtime's profile (the fake's
    one line per run) lands in the result folder under the name extra.profile gives, which the schema accepts."""
    x = np.ones((4, 6), dtype=np.float32)
    _write_job(tmp_path / "jobs/prof", x, profile=True)
    _write_job(tmp_path / "jobs/noprof", x)
    for name in ("prof", "noprof"):
        assert _run_core(core_classpath, tmp_path / f"jobs/{name}", tmp_path / f"results/{name}") == "ok"
    result = protocol.read_result(tmp_path / "results/prof")  # validates against result.schema.json
    assert result.extra["profile"] == {"file": "profile/fake.txt", "runs": 11, "method": "fake profiler"}
    lines = (tmp_path / "results/prof/profile/fake.txt").read_text().splitlines()
    assert lines[:5] == ["run 0 sample 0", "run 1 sample 1", "run 2 sample 2", "run 3 sample 3", "run 4 sample 0"]
    assert len(lines) == 11
    assert "profile" not in protocol.read_result(tmp_path / "results/noprof").extra
    assert not (tmp_path / "results/noprof/profile").exists()


def test_core_keeps_integer_inputs_and_outputs_exact(core_classpath: list[str], tmp_path: Path) -> None:
    """Issue 11: int32 ids and an int64 mask written by Python reach the runtime with their dtypes; int64, bool and
    float32 outputs come back as such (FakeTokenRuntime in the core's test sources)."""
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 30522, size=(6, 8), dtype=np.int32)
    ids[2, 1] = 2**24 + 1  # not a float32: an int64 sum through float would lose it
    mask = (rng.random((6, 8)) > 0.3).astype(np.int64)
    job_dir = tmp_path / "jobs/tokens"
    (job_dir / "model").mkdir(parents=True)
    (job_dir / "model/model.onnx").write_bytes(b"the fake runtime does not read it")
    job = protocol.Job(
        id="tokens",
        model=protocol.ModelRef(format="onnx", variant="onnx-fp32", files=["model/model.onnx"], sha256="0" * 64),
        inputs=[protocol.write_tensor(job_dir, "inputs/input_ids.bin", "input_ids", ids),
                protocol.write_tensor(job_dir, "inputs/attention_mask.bin", "attention_mask", mask)],
        runtime=protocol.RuntimeSpec(name="fake-tokens", threads=1),
        performance=protocol.Performance(warmup_runs=1, runs=3, min_seconds=0.0, max_seconds=5.0),
    )
    protocol.write_job(job_dir, job)
    result_dir = tmp_path / "results/tokens"
    assert _run_core(core_classpath, job_dir, result_dir) == "ok"
    result = protocol.read_result(result_dir)
    specs = {spec.name: spec for spec in result.outputs}
    assert [(s.name, s.dtype, s.shape) for s in result.outputs] == [
        ("masked_sum", "int64", [6, 1]), ("kept", "bool", [6, 8]), ("mean_id", "float32", [6])]
    masked = (ids.astype(np.int64) * mask).sum(axis=1, keepdims=True)
    np.testing.assert_array_equal(protocol.read_tensor(result_dir, specs["masked_sum"]), masked)
    np.testing.assert_array_equal(protocol.read_tensor(result_dir, specs["kept"]), mask != 0)
    np.testing.assert_allclose(protocol.read_tensor(result_dir, specs["mean_id"]),
                               masked[:, 0] / np.maximum(mask.sum(axis=1), 1), rtol=1e-6)


@pytest.mark.parametrize(("case", "kind", "message"), [
    ("unknown_runtime", "unknown_runtime", "no runtime 'tflite-on-a-toaster'"),
    ("other_schema", "protocol", "this app supports devicelab.job/1"),
    ("truncated_input", "protocol", "holds 7 bytes; float32[2, 3] needs 24"),
])
def test_core_error_results_follow_the_python_protocol(core_classpath: list[str], tmp_path: Path, case: str,
                                                       kind: str, message: str) -> None:
    job_dir = tmp_path / "jobs" / case
    x = np.ones((2, 3), dtype=np.float32)
    _write_job(job_dir, x, runtime="tflite-on-a-toaster" if case == "unknown_runtime" else "fake-linear")
    if case == "other_schema":
        doc = json.loads((job_dir / "job.json").read_text())
        doc["schema"] = "devicelab.job/2"
        (job_dir / "job.json").write_text(json.dumps(doc))
    if case == "truncated_input":
        (job_dir / "inputs/x.bin").write_bytes(b"\0" * 7)

    result_dir = tmp_path / "results" / case
    assert _run_core(core_classpath, job_dir, result_dir).startswith(f"error {kind}")
    assert (result_dir / protocol.DONE_MARKER).read_text() == "error\n"
    result = protocol.read_result(result_dir)
    assert not result.ok and result.error["kind"] == kind and message in result.error["message"]
    assert result.outputs == [] and result.runtime_used is None


def test_core_main_sources_avoid_apis_android_24_lacks() -> None:
    """javac --release 8 (above) keeps out Java 9+ APIs; these Java 8 ones are missing on Android 7.0 too."""
    missing_on_api_24 = re.compile(r"java\.nio\.file|java\.time\b|String\.join\(|java\.util\.Base64|"
                                   r"\.toPath\(\)|java\.util\.concurrent\.CompletableFuture")
    offenders = [f"{p.relative_to(CORE)}:{n}: {line.strip()}"
                 for p in sorted((CORE / "src/main/java").rglob("*.java"))
                 for n, line in enumerate(p.read_text().splitlines(), 1) if missing_on_api_24.search(line)]
    assert not offenders, "APIs Android 7.0 (minSdk 24) lacks:\n" + "\n".join(offenders)
