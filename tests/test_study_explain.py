"""The study diagnoses the variants that disagree: real conversions, real TFLite and ONNX Runtime runs.

A model whose float function is untouched but whose layer 'spiky' has a unit that fires (x2000) only on one
calibration sample (the same planted fault as tests/test_explain.py): full int8 loses 'spiky', agreement
collapses, and the study must run explain --fix on that variant, name 'spiky' in study.json and show the chart
and the fix in report.html. The same architecture without the spike, in float, agrees: no diagnosis runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from planted_models import planted_model

from devicelab import api
from devicelab.cli.study import EXPLAIN_BELOW_PERCENT
from devicelab.errors import DevicelabError, UsageError
from devicelab.study.run import DEFAULT_EXPLAIN_BELOW, StudyConfig, run_study
from devicelab.study.targets import parse_targets

pytestmark = pytest.mark.slow  # real conversions and runs (seconds each)
FAST = api.MeasureOptions(runs=3, warmup_runs=1, min_seconds=0, max_seconds=2)
SAMPLES = 60


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, session_cache: Path) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("study_explain")
    rng = np.random.default_rng(0)
    # The train split calibrates the int8 variants (with the spike), the test split is measured and explained.
    calibration = np.concatenate([rng.uniform(0, 0.5, (50, 16)), np.ones((1, 16))]).astype(np.float32)
    np.savez(folder / "data.npz", x_train=calibration,
             x_test=rng.uniform(0, 0.5, (SAMPLES, 16)).astype(np.float32))
    return {"planted": planted_model(folder / "planted.keras", True),
            "healthy": planted_model(folder / "healthy.keras", False),
            "data": folder / "data.npz", "cache": session_cache, "folder": folder}


def _config(files: dict[str, Path], model: str, variants: list[str], out: str, **changes: object) -> StudyConfig:
    options = api.MeasureOptions(**{**FAST.__dict__, "profile": bool(changes.pop("profile", False))})
    changes.setdefault("targets", parse_targets("host"))
    return StudyConfig(model=files[model], data=str(files["data"]),
                       variants=variants, samples=SAMPLES, options=options, out=files["folder"] / out,
                       store=files["folder"] / f"{model}.sqlite", cache=files["cache"], **changes)  # type: ignore


@pytest.fixture(scope="module")
def planted(files: dict[str, Path]):
    return run_study(_config(files, "planted", ["tflite-int8", "onnx-int8-static", "onnx-fp32"], "planted",
                             profile=True))


def test_study_diagnoses_the_int8_variants_names_the_planted_layer_and_shows_the_fix(planted) -> None:
    doc = json.loads((planted.config.out / "study.json").read_text())
    rows = {r["variant"]: r for r in doc["rows"] if r["variant"] != "original"}
    assert rows["tflite-int8"]["agreement"] < 0.5 and rows["onnx-int8-static"]["agreement"] < 0.5
    assert rows["onnx-fp32"]["agreement"] == 1.0
    by_variant = {d["variant"]: d for d in doc["diagnoses"]}
    assert set(by_variant) == {"tflite-int8", "onnx-int8-static"}  # onnx-fp32 agrees: not diagnosed
    assert doc["explain_below"] == DEFAULT_EXPLAIN_BELOW and "explain" in doc["phases"]
    for variant, d in by_variant.items():
        report = d["explain"]
        # The same shape `devicelab explain --json` writes.
        assert {"variant", "target", "layers", "first_divergent_layer", "unmatched", "fix"} <= set(report)
        assert report["variant"] == variant and report["first_divergent_layer"] == "spiky"
        sqnr = {s["layer"]: s["sqnr_db"] for s in report["layers"]}
        assert sqnr["dense1"] > 30 and sqnr["spiky"] < 3
        fix = report["fix"]
        assert "spiky" in fix["kept_float"] and fix["variant"].startswith(f"{variant}-float-spiky")
        assert fix["within_bound"] and fix["agreement"] >= fix["against"]["fp32"]["agreement"] - fix["bound"]
        assert fix["against"]["full"]["agreement"] < 0.5
    html = (planted.config.out / "report.html").read_text()
    section = html[html.index("<h2>Why variants disagree</h2>"):]
    assert section.count("<svg") >= 2 and "first divergent: spiky" in section  # one chart per diagnosis
    fix = by_variant["tflite-int8"]["explain"]["fix"]
    assert fix["variant"] in section and f"{fix['agreement'] * 100:.1f}%" in section
    assert "<script" not in html


def test_study_profile_puts_a_per_operator_table_in_the_report(planted) -> None:
    doc = planted.document
    profiles = {p["variant"]: p for p in doc["profiles"]}
    ort = profiles["onnx-fp32"]
    assert ort["target"] == "host" and ort["operators"] and ort["share_ops"] == 1.0
    assert any(op["op_type"] in ("MatMul", "Gemm") and op["provider"] == "CPUExecutionProvider"
               for op in ort["operators"])
    assert 0 < ort["ops_ms"] <= ort["run_ms"] * 1.5
    assert "no per-operator times" in profiles["tflite-int8"]["error"]  # TFLite's Python API says so
    html = (planted.config.out / "report.html").read_text()
    section = html[html.index("<h2>Where the time goes</h2>"):]
    assert ort["operators"][0]["name"] in section and "ms / inference" in section


def test_a_failed_diagnosis_is_listed_and_the_study_goes_on(files: dict[str, Path], planted,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(model: object, variant: str, **kw: object) -> object:
        raise DevicelabError(f"planted failure explaining {variant}", hint="a hint")

    monkeypatch.setattr(api, "explain", broken)
    # The same store: the measurements are reused, only the (broken) diagnosis runs again.
    study = run_study(_config(files, "planted", ["tflite-int8"], "broken", profile=True))
    assert all(r["reused"] for r in study.document["rows"])
    [d] = study.document["diagnoses"]
    assert d["error"]["message"] == "planted failure explaining tflite-int8" and "explain" not in d
    html = study.report_path.read_text()
    assert "The diagnosis failed" in html and "planted failure explaining tflite-int8" in html


def test_a_healthy_study_runs_no_diagnosis(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: object, **kw: object) -> object:
        raise AssertionError("explain ran on a study whose variants all agree")

    monkeypatch.setattr(api, "explain", never)
    study = run_study(_config(files, "healthy", ["tflite-fp32", "onnx-fp32"], "healthy"))
    doc = study.document
    assert [r["agreement"] for r in doc["rows"] if r["variant"] != "original"] == [1.0, 1.0]
    assert doc["diagnoses"] == [] and "explain" not in doc["phases"] and doc["profiles"] == []
    html = study.report_path.read_text()
    assert "Why variants disagree" not in html and "Where the time goes" not in html


def test_explain_below_is_a_percentage_on_the_command_line(files: dict[str, Path]) -> None:
    assert EXPLAIN_BELOW_PERCENT == DEFAULT_EXPLAIN_BELOW * 100
    done = subprocess.run([sys.executable, "-m", "devicelab", "study", str(files["healthy"]), "--data",
                           str(files["data"]), "--explain-below", "150", "-o", str(files["folder"] / "x")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--explain-below" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
    from devicelab.cli.study import _threshold

    assert _threshold(0) is None and _threshold(99.5) == 0.995  # 0 turns the diagnosis off
    with pytest.raises(UsageError, match="between 0 and 1"):
        run_study(_config(files, "healthy", ["tflite-fp32"], "bad", explain_below=1.5))


def test_profile_tables_of_every_runtime_come_out_in_one_shape() -> None:
    """The shapes the runtimes store (ORT on the host: ms per inference; the browser page: us summed over its
    runs, as web_runner's ort-web and tfjs write them; a runtime without a profiler: its error)."""
    from devicelab.study.document import profile_table

    browser = profile_table({"available": True, "method": "onnxruntime-web enableProfiling", "runs": 10,
                             "nodes": [{"node": "conv1", "op_type": "Conv", "provider": "JsExecutionProvider",
                                        "calls": 10, "total_us": 500.0, "mean_us": 50.0, "median_us": 48.0},
                                       {"node": "relu", "op_type": "Relu", "provider": "JsExecutionProvider",
                                        "calls": 10, "total_us": 100.0, "mean_us": 10.0, "median_us": 9.0}]})
    # ort-web's median call (its first run pays for setup), per inference.
    assert [(op["name"], op["ms"]) for op in browser["operators"]] == [("conv1", 0.048), ("relu", 0.009)]
    assert browser["ops_ms"] == pytest.approx(0.057) and browser["method"].startswith("onnxruntime-web")
    tfjs = profile_table({"available": True, "method": "tf.profile()", "runs": 1, "nodes": [
        {"node": "Conv2D", "op_type": "Conv2D", "provider": "wasm", "calls": 2, "total_us": 30.0, "mean_us": 15.0}]})
    assert tfjs["operators"][0]["ms"] == 0.03  # two calls in the one profiled inference
    missing = profile_table({"available": False, "reason": "webnn has no per-node profiling in the page"})
    assert missing == {"error": "webnn has no per-node profiling in the page", "operators": []}
    assert profile_table({"error": "the tflite runtime gives no per-operator times here"})["operators"] == []


def test_a_tfjs_variant_that_disagrees_in_the_browser_is_diagnosed_there(files: dict[str, Path]) -> None:
    from dataclasses import replace

    # 'Chrome' as a user may type it; the page's webgl backend, which the diagnosis must use too.
    config = _config(files, "planted", ["tfjs-uint8"], "browser", targets=parse_targets("Chrome"))
    config.options = replace(config.options, backend="webgl")
    study = run_study(config)
    doc = json.loads((config.out / "study.json").read_text())
    (diagnosis,) = doc["diagnoses"]
    assert diagnosis["variant"] == "tfjs-uint8" and diagnosis["target"] == "chrome"
    assert diagnosis["runtime"] == "tfjs/webgl", diagnosis
    report = diagnosis["explain"]
    assert report["target"] == "chrome" and report["first_divergent_layer"] == "spiky"
    assert report["runs_on"] == "tfjs (webgl) in chrome"
    assert report["fix"]["variant"] == "tfjs-uint8-float-spiky" and report["fix"]["within_bound"]
    section = (config.out / "report.html").read_text().split("<h2>Why variants disagree</h2>")[1]
    assert "tfjs-uint8 @ chrome" in section and "first divergent: spiky" in section
    assert study.diagnoses == doc["diagnoses"]
