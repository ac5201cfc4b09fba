#!/usr/bin/env python3
"""Compile the Android shell (android_app/app) with `javac -Werror` without the Android SDK.

What it compiles against:
- ONNX Runtime: the REAL classes of Microsoft's onnxruntime-android AAR (1.29.0), which the npm package
  `com.github.asus4.onnxruntime` 0.4.9 carries (pinned in tools/ortjar/package-lock.json, installed by `npm ci`);
  its classes.jar is extracted from the AAR. No ONNX Runtime stubs exist: a call the real API lacks fails here.
- android.*, LiteRT's org.tensorflow.lite.* and ExecuTorch's org.pytorch.executorch.*: hand-written stubs in
  tools/apistubs (no real android.jar, LiteRT or ExecuTorch jar can be had from any registry reachable here), each
  member as in the published API.
- the core (android_app/core), compiled as the app gets it (Java 8 level: what Android 7.0 has).

Usage: python3 android_app/tools/compile_shell.py [OUT_DIR]   (default: android_app/build/shell)
Exit 0 when everything compiled with no warning; 1 with javac's messages otherwise. Standard library only, so
`make android-shell` needs no virtual environment.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ANDROID_APP = Path(__file__).resolve().parents[1]
ORT_NPM = ANDROID_APP / "tools" / "ortjar"
ORT_PACKAGE = ORT_NPM / "node_modules" / "com.github.asus4.onnxruntime"
ORT_AAR = ORT_PACKAGE / "Plugins" / "Android" / "onnxruntime.aar"
ORT_NPM_VERSION = "0.4.9"  # carries onnxruntime-android 1.29.0 (README of the package, libonnxruntime.so)
STUBS = ANDROID_APP / "tools" / "apistubs" / "src"
CORE_MAIN = ANDROID_APP / "core" / "src" / "main" / "java"
APP_MAIN = ANDROID_APP / "app" / "src" / "main" / "java"
LINT = ["-Xlint:all", "-Xlint:-options", "-Werror", "-encoding", "UTF-8"]


class BuildError(Exception):
    pass


def sources(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*.java"))


def javac() -> str:
    found = shutil.which("javac")
    if not found:
        raise BuildError("javac is not installed: the Android shell needs a JDK 17 "
                         "(Debian: apt-get install default-jdk-headless)")
    return found


def ort_classes_jar(out: Path) -> Path:
    """classes.jar of the real onnxruntime-android AAR, extracted into ``out``."""
    if not ORT_AAR.is_file():
        raise BuildError(f"the ONNX Runtime Android AAR is missing ({ORT_AAR}); install it with "
                         f"`cd {ORT_NPM.relative_to(ANDROID_APP.parent)} && npm ci` (or `make android-shell`)")
    version = json.loads((ORT_PACKAGE / "package.json").read_text())["version"]
    if version != ORT_NPM_VERSION:
        raise BuildError(f"com.github.asus4.onnxruntime {version} is installed, {ORT_NPM_VERSION} is pinned: "
                         "run `npm ci` in android_app/tools/ortjar")
    jar = out / "onnxruntime-android-classes.jar"
    with zipfile.ZipFile(ORT_AAR) as aar:
        jar.write_bytes(aar.read("classes.jar"))
    return jar


def run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0 or done.stderr.strip():
        raise BuildError(f"{what} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")


def compile_shell(out: Path) -> dict[str, Path]:
    """Compiles core, stubs and app into ``out``; returns the class folders and the ORT jar."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    tool = javac()
    if (STUBS / "ai" / "onnxruntime").exists():
        raise BuildError("tools/apistubs holds ONNX Runtime stubs: the app must compile against the real classes")
    jar = ort_classes_jar(out)
    core, stubs, app = out / "core", out / "stubs", out / "app"
    run([tool, "--release", "8", *LINT, "-d", str(core), *sources(CORE_MAIN)], "compiling android_app/core")
    # Stubs only declare signatures; they are never packaged, so no lint on them.
    run([tool, "--release", "17", "-encoding", "UTF-8", "-d", str(stubs), *sources(STUBS)],
        "compiling the android.* / LiteRT / ExecuTorch stubs")
    classpath = ":".join([str(core), str(stubs), str(jar)])
    # The app is Java 17 (app/build.gradle.kts); ORT's classes.jar is Java 17 bytecode too.
    run([tool, "--release", "17", *LINT, "-cp", classpath, "-d", str(app), *sources(APP_MAIN)],
        "compiling android_app/app against the real ONNX Runtime classes")
    return {"core": core, "stubs": stubs, "app": app, "ort_jar": jar}


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else ANDROID_APP / "build" / "shell"
    try:
        built = compile_shell(out)
    except BuildError as exc:
        print(f"android-shell: {exc}", file=sys.stderr)
        return 1
    count = sum(1 for _ in built["app"].rglob("*.class"))
    print(f"android-shell: android_app/app compiled with javac -Werror ({count} classes) against the real "
          f"onnxruntime-android classes ({ORT_AAR.name} from com.github.asus4.onnxruntime {ORT_NPM_VERSION}) "
          f"and the android.*/LiteRT/ExecuTorch stubs; output in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
