"""Measuring on the host through the protocol, end to end, through the real CLI and the Python API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from devicelab import api
from devicelab.store import Store

pytestmark = pytest.mark.slow
HOST_VARIANTS = ["tflite-fp32", "tflite-fp16", "tflite-dynamic-int8", "tflite-int8", "onnx-fp32",
                 "onnx-int8-dynamic", "onnx-int8-static"]


def _cli(*args: str, store: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DEVICELAB_STORE": str(store), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "devicelab", *args], capture_output=True, text=True, env=env,
                          timeout=600)


@pytest.fixture(scope="module")
def measured(lenet5: Path, session_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[list, Path]:
    store = tmp_path_factory.mktemp("store") / "results.sqlite"
    options = api.MeasureOptions(samples=500, runs=30, warmup_runs=3, min_seconds=0.1)
    results = api.measure("lenet5", variants=["original", *HOST_VARIANTS], options=options, store=store,
                          cache=session_cache)
    return results, store


def test_every_host_variant_measures(measured: tuple[list, Path]) -> None:
    results, _ = measured
    assert [m.variant for m in results] == ["original", *HOST_VARIANTS]
    assert all(m.ok for m in results), [str(m.error) for m in results if not m.ok]


def test_fp32_variants_agree_fully_with_keras(measured: tuple[list, Path]) -> None:
    by = {m.variant: m.summary["accuracy"] for m in measured[0]}
    for name in ("tflite-fp32", "onnx-fp32"):
        assert by[name]["agreement"] == 1.0 and by[name]["disagreements"] == [], name
        assert by[name]["max_abs_diff"] < 1e-4, name
        assert by[name]["accuracy"] == by["original"]["accuracy"]


def test_quantized_variants_stay_within_bounds(measured: tuple[list, Path]) -> None:
    by = {m.variant: m.summary["accuracy"] for m in measured[0]}
    assert by["original"]["accuracy"] > 0.9
    assert by["tflite-fp16"]["agreement"] >= 0.995 and by["tflite-fp16"]["max_abs_diff"] < 0.01
    for name in ("tflite-dynamic-int8", "tflite-int8", "onnx-int8-dynamic", "onnx-int8-static"):
        assert by[name]["agreement"] >= 0.97, name
        assert abs(by[name]["accuracy"] - by["original"]["accuracy"]) <= 0.02, name
        assert 0 < by[name]["max_abs_diff"] < 0.5, name


def test_performance_mode_keeps_raw_samples(measured: tuple[list, Path]) -> None:
    for m in measured[0]:
        t = m.result.timings_ms
        assert len(t.runs) >= 30 and len(t.warmup) == 3 and all(r > 0 for r in t.runs)
        assert t.load > 0 and t.first_inference > 0
        lat = m.summary["latency"]
        assert lat["min_ms"] <= lat["median_ms"] <= lat["p90_ms"] <= lat["max_ms"]
        methods = {s.method for s in m.result.memory}
        assert any(meth.startswith("VmHWM") for meth in methods)
        assert m.summary["memory"]["peak_mib"] > 0 and m.summary["memory"]["method"]
        assert m.result.device["runtime"]["version"]
    used = {m.variant: m.result.runtime_used for m in measured[0]}
    assert used["tflite-int8"] == "tflite-xnnpack" and used["onnx-fp32"].startswith("onnxruntime-CPU")


def test_results_are_stored_with_raw_documents(measured: tuple[list, Path]) -> None:
    results, store = measured
    with Store(store) as db:
        rows = db.rows()
        assert len(rows) == len(results)
        row = rows[-1]
        assert row["variant"] == "onnx-int8-static" and row["status"] == "ok"
        assert row["size_bytes"] > 0 and row["median_ms"] > 0 and row["samples"] == 500
        assert len(row.result["timings_ms"]["runs"]) == row["runs"]
        assert row.outputs()[0].shape == (500, 10)
        assert row.result["schema"] == "devicelab.result/1" and json.loads(row["job_json"])["schema"]


def test_reference_is_reused_from_the_store(measured: tuple[list, Path], session_cache: Path) -> None:
    _, store = measured
    options = api.MeasureOptions(samples=500, runs=5, warmup_runs=0, min_seconds=0)
    again = api.measure("lenet5", variants=["tflite-fp32"], options=options, store=store, cache=session_cache)
    assert [m.variant for m in again] == ["tflite-fp32"]  # no second "original" run
    assert again[0].summary["accuracy"]["agreement"] == 1.0


def test_cli_measure_results_export(lenet5: Path, tmp_path: Path) -> None:
    store = tmp_path / "cli.sqlite"
    done = _cli("measure", "lenet5", "--variant", "tflite-int8", "--samples", "100", "--runs", "10",
                "--min-seconds", "0", store=store)
    assert done.returncode == 0, done.stderr
    assert "tflite-int8" in done.stdout and "original" in done.stdout and "Traceback" not in done.stderr
    table = _cli("results", store=store)
    assert table.returncode == 0 and "tflite-int8" in table.stdout and "median ms" in table.stdout
    csv_out = tmp_path / "r.csv"
    exported = _cli("export", "--format", "csv", "-o", str(csv_out), store=store)
    assert exported.returncode == 0
    lines = csv_out.read_text().splitlines()
    assert lines[0].startswith("id,created_at") and len(lines) == 3
    as_json = json.loads(_cli("export", "--format", "json", store=store).stdout)
    assert {r["variant"] for r in as_json["results"]} == {"original", "tflite-int8"}
    assert len(as_json["results"][1]["result"]["timings_ms"]["runs"]) >= 10


def test_tflite_builtin_cpu_kernels(lenet5: Path, tmp_path: Path, session_cache: Path) -> None:
    options = api.MeasureOptions(samples=100, runs=5, warmup_runs=0, min_seconds=0, delegate="cpu")
    got = api.measure("lenet5", variants=["tflite-fp32"], options=options, store=tmp_path / "s.sqlite",
                      cache=session_cache)
    assert got[-1].result.runtime_used == "tflite-cpu (builtin kernels)"
    assert got[-1].summary["accuracy"]["agreement"] == 1.0


def test_reuse_takes_finished_jobs_from_the_store(lenet5: Path, session_cache: Path, tmp_path: Path) -> None:
    store = tmp_path / "reuse.sqlite"
    options = api.MeasureOptions(samples=100, performance=False)
    measure = partial(api.measure, lenet5, data="mnist-sample", variants=["tflite-fp32"], store=store,
                      cache=session_cache, reuse=True)
    first = measure(options=options)
    again = measure(options=options)
    assert [m.reused for m in first] == [False, False] and [m.reused for m in again] == [True]
    assert again[0].row_id == first[1].row_id
    assert json.dumps(again[0].summary) == json.dumps(first[1].summary, default=list)
    np.testing.assert_array_equal(again[0].outputs[0], first[1].outputs[0])
    # Other samples, or a repeat told apart by its tag, are other jobs: measured anew.
    more = measure(options=replace(options, samples=50))
    tagged = measure(options=options, tag="repeat-2")
    assert not any(m.reused for m in more) and [m.reused for m in tagged] == [False]
    with Store(store) as db:
        assert len({r["job_key"] for r in db.rows()}) == len(db.rows())
