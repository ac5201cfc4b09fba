"""The CLI surface: complete help, the variant list, the version."""

from __future__ import annotations

import subprocess
import sys

import pytest

COMMANDS = ["convert", "measure", "results", "export", "variants", "demo", "schema", "zoo build", "zoo list"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "devicelab", *args], capture_output=True, text=True, timeout=120)


def test_top_level_help_lists_every_command() -> None:
    done = _run("--help")
    assert done.returncode == 0
    for command in ("convert", "measure", "results", "export", "variants", "demo", "zoo"):
        assert command in done.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    done = _run(*command.split(), "--help")
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout and len(done.stdout.splitlines()) > 5


def test_variants_lists_all_thirteen() -> None:
    done = _run("variants")
    assert done.returncode == 0
    for name in ("tflite-fp32", "tflite-int8", "coreml-int8", "tfjs-uint8", "onnx-int8-static"):
        assert name in done.stdout
    assert "needs calibration data" in done.stdout


def test_version_and_schema() -> None:
    assert _run("--version").stdout.startswith("devicelab ")
    assert '"devicelab.result/1"' in _run("schema", "result").stdout
    bad = _run("schema", "nope")
    assert bad.returncode != 0 and "unknown schema" in bad.stderr and "Traceback" not in bad.stderr
