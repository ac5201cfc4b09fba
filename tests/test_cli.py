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


# --- issue 13: progress that says what is really happening -------------------------------------------------------


def test_performance_progress_counts_the_runs_min_seconds_adds() -> None:
    """The bar read runs/runs while --min-seconds kept the runtime going for many more runs."""
    import time

    from devicelab import protocol
    from devicelab.runner import _performance

    class Sleeper:
        def run(self, feed: object) -> None:
            time.sleep(0.002)

    reports: list[tuple[str, int, int]] = []
    perf = protocol.Performance(enabled=True, warmup_runs=1, runs=5, min_seconds=0.6, max_seconds=5)
    _, runs = _performance(Sleeper(), [None], perf, lambda phase, done, total: reports.append((phase, done, total)))
    assert len(runs) > 20  # min-seconds, not --runs, ended it
    assert reports[-1] == ("performance", len(runs), len(runs))  # the bar ends full, at the real count
    assert all(done <= total for _, done, total in reports)
    assert any(total > 5 for _, done, total in reports[1:-1])  # past --runs the total is the expected count
    assert not any(done == total == 5 for _, done, total in reports)  # never "5/5" while runs go on


def test_piped_progress_prints_each_phase_as_it_starts(lenet5: object, tmp_path: object) -> None:
    import os
    from pathlib import Path

    env = {**os.environ, "DEVICELAB_STORE": str(Path(str(tmp_path)) / "s.sqlite")}
    done = subprocess.run([sys.executable, "-m", "devicelab", "measure", "lenet5", "--variant", "tflite-fp32",
                           "--samples", "20", "--runs", "5", "--min-seconds", "0"], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "original on host: accuracy (0/20)" in lines and "tflite-fp32 on host: performance (0/5)" in lines
    converting = lines.index("tflite-fp32 on host: converting")
    assert lines[converting + 1] in ("tflite-fp32 on host: cached", "tflite-fp32 on host: converted")


def test_help_reads_right_at_80_columns() -> None:
    import os

    env = {**os.environ, "COLUMNS": "80"}

    def helped(*command: str) -> str:
        done = subprocess.run([sys.executable, "-m", "devicelab", *command, "--help"], capture_output=True,
                              text=True, timeout=120, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    measure = helped("measure")
    assert "<bool>" not in measure and "--no-accuracy" in measure  # on/off flags take no value
    deploy = " ".join(helped("deploy").replace("│", " ").split())
    assert "onnx-int8-static" in deploy and "…" not in deploy  # the variant list was cut mid-word
    assert "chromium" in helped("study")


def test_cli_package_has_no_import_cycle() -> None:
    """base.py (the typer app, shared options) imports no command module; each command module imports only it."""
    import ast
    from pathlib import Path

    import devicelab.cli

    folder = Path(devicelab.cli.__file__).parent
    for module in folder.glob("*.py"):
        imported = {node.module for node in ast.walk(ast.parse(module.read_text()))
                    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("devicelab.cli")}
        if module.name == "base.py":
            assert not imported, imported
        elif module.name != "__init__.py":
            assert imported <= {"devicelab.cli.base"}, (module.name, imported)
