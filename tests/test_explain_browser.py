"""explain --target chrome: the variant's layers as headless Chromium computes them (tfjs, ort-web).

The planted model (tests/planted_models.py) has one layer, 'spiky', whose int8 activation range and whose
uint8 weight range a single outlier ruins; the float function is untouched. The page must name exactly that
layer, for the tfjs-uint8 variant (weights quantized) and the onnx-int8-static variant (QDQ), and --fix must
bring the agreement back; a planted sign flip in an fp32 variant's weights is named too; a healthy model has
no divergent layer.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from planted_models import planted_files

from devicelab import api
from devicelab.errors import UsageError
from devicelab.explain import FIX_BOUND, browser

pytestmark = pytest.mark.slow
JSON_KEYS = {"variant", "target", "layers", "first_divergent_layer", "unmatched"}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, session_cache: Path) -> dict[str, Path]:
    return {**planted_files(tmp_path_factory.mktemp("explain-browser")), "cache": session_cache}


def _explain(files: dict[str, Path], model: str | Path, variant: str, **kw: object):
    source = files[model] if isinstance(model, str) else model
    return api.explain(source, variant, target="chrome", data=str(files["eval"]),
                       calibration=str(files["calib"]), cache=files["cache"], **kw)


@pytest.mark.parametrize("variant", ["tfjs-uint8", "onnx-int8-static"])
def test_the_page_names_the_layer_quantization_loses(files: dict[str, Path], variant: str) -> None:
    report = _explain(files, "planted", variant)
    stats = {s.layer: s for s in report.comparison.layers}
    assert report.first_divergent_layer == "spiky"
    assert stats["dense1"].sqnr_db > 30 and stats["spiky"].sqnr_db < 10
    assert report.agreement is not None and report.agreement < 0.5
    assert report.runs_on.startswith(("tfjs (wasm) in chrome", "ort-web (wasm) in chrome"))
    doc = report.to_json()
    assert set(doc) >= JSON_KEYS and doc["target"] == "chrome"


def test_healthy_model_on_webgl_names_nothing(files: dict[str, Path]) -> None:
    report = _explain(files, "healthy", "tfjs-fp32", backend="webgl")
    assert report.first_divergent_layer is None
    assert [s.layer for s in report.comparison.layers] == ["dense1", "spiky", "out"]
    assert all(s.sqnr_db is None or s.sqnr_db > 60 for s in report.comparison.layers)
    assert "webgl" in report.runs_on and report.agreement == 1.0


def test_fix_keeps_the_layers_weights_float_and_agreement_comes_back(files: dict[str, Path], tmp_path: Path
                                                                    ) -> None:
    report = _explain(files, "planted", "tfjs-uint8", fix=True)
    fix = report.fix
    assert fix is not None and fix.chosen.variant == "tfjs-uint8-float-spiky"
    assert fix.chosen.kept_float == ["spiky"] and fix.within_bound
    assert fix.chosen.agreement >= fix.fp32.agreement - FIX_BOUND and fix.full.agreement < 0.5
    assert fix.full.size_bytes < fix.chosen.size_bytes < fix.fp32.size_bytes
    # Stored like any variant: measure resolves it by name and it agrees in the page too.
    measured = api.measure(files["planted"], variants=["tfjs-uint8-float-spiky"], data=str(files["eval"]),
                           target=api.choose_target(browser="chrome"), cache=files["cache"],
                           store=tmp_path / "store.sqlite",
                           options=api.MeasureOptions(runs=2, warmup_runs=0, min_seconds=0))
    fixed = next(m for m in measured if m.variant == "tfjs-uint8-float-spiky")
    assert fixed.ok and fixed.target == "chrome" and fixed.summary["accuracy"]["agreement"] >= 0.95


def test_a_sign_flip_in_one_layer_of_an_fp32_variant_is_named(files: dict[str, Path], tmp_path: Path) -> None:
    import keras

    model = tmp_path / "bugged.keras"
    model.write_bytes(files["healthy"].read_bytes())  # its own source hash: its own cached artifact to edit
    kernel = keras.models.load_model(model).get_layer("spiky").get_weights()[0]
    artifact = api.convert(model, variants=["tfjs-fp32"], cache=files["cache"]).conversions[0].artifact
    shard = next(artifact.model_path.parent.glob("*.bin"))
    data, raw = shard.read_bytes(), np.ascontiguousarray(kernel, dtype="<f4").tobytes()
    at = data.find(raw)
    assert at >= 0, "the spiky kernel's bytes are not in the weight shard"
    shard.write_bytes(data[:at] + (-kernel).astype("<f4").tobytes() + data[at + len(raw):])
    report = _explain(files, model, "tfjs-fp32")
    stats = {s.layer: s for s in report.comparison.layers}
    assert report.first_divergent_layer == "spiky"
    assert stats["dense1"].sqnr_db is None or stats["dense1"].sqnr_db > 100


def test_a_small_capture_cap_compares_fewer_samples_and_says_so(files: dict[str, Path],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser, "CAPTURE_BYTES", 8 << 10)  # a few hundred floats a sample are captured
    report = _explain(files, "planted", "onnx-int8-static")
    assert report.first_divergent_layer == "spiky"
    kept = [int(m.group(1)) for note in report.notes if (m := re.search(r"first (\d+) of 100 samples", note))]
    assert kept and 1 < kept[0] < 100 and "at most 8 KiB" in " ".join(report.notes), report.notes
    assert report.agreement is not None and report.samples == 100


def test_formats_the_page_cannot_explain_and_bad_targets_are_usage_errors(files: dict[str, Path]) -> None:
    with pytest.raises(UsageError, match="return only the model's outputs"):
        _explain(files, "planted", "tflite-int8")
    with pytest.raises(UsageError, match="neither"):
        api.explain(files["planted"], "tfjs-fp32", target="phone", data=str(files["eval"]), cache=files["cache"])
    with pytest.raises(UsageError, match="only to a browser"):
        api.explain(files["planted"], "onnx-fp32", backend="wasm", data=str(files["eval"]), cache=files["cache"])
    with pytest.raises(UsageError, match="through ort-web"):
        _explain(files, "planted", "onnx-fp32", runtime="tfjs")
    with pytest.raises(UsageError, match="no 'webnn' backend"):  # before any work, not from the page
        _explain(files, "planted", "tfjs-fp32", backend="webnn")


def test_a_model_whose_one_sample_exceeds_the_cap_is_refused_clearly(files: dict[str, Path],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from devicelab.errors import DevicelabError

    monkeypatch.setattr(browser, "CAPTURE_BYTES", 64)  # less than one sample's 42 floats
    with pytest.raises(DevicelabError, match=r"take \d+ B, more than the 64 B the page may return") as caught:
        _explain(files, "planted", "tfjs-fp32")
    assert caught.value.kind == "capture" and "--target host" in caught.value.hint


def test_cli_writes_the_json_and_exits_2_on_usage_errors(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "explain.json"
    base = [sys.executable, "-m", "devicelab", "explain", str(files["planted"]), "--data", str(files["eval"]),
            "--cache-dir", str(files["cache"])]
    done = subprocess.run([*base, "--variant", "tfjs-uint8", "--target", "chrome", "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "First divergent layer: spiky" in done.stdout and "in chrome" in done.stdout
    assert json.loads(out.read_text())["first_divergent_layer"] == "spiky"
    bad = subprocess.run([*base, "--variant", "tflite-int8", "--target", "chrome"], capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr + bad.stdout


def test_tfjs_nodes_come_in_topological_order_without_weights(tmp_path: Path) -> None:
    nodes = [{"name": "out", "op": "Identity", "input": ["b"]}, {"name": "w", "op": "Const"},
             {"name": "b", "op": "Relu", "input": ["a:0", "^x"]}, {"name": "x", "op": "Placeholder"},
             {"name": "a", "op": "MatMul", "input": ["x", "w"]}]
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"modelTopology": {"node": nodes}}))
    assert browser.tfjs_nodes(path) == ["a", "b", "out"]


def test_explain_profile_in_the_page_says_what_tfjs_cannot_tell(files: dict[str, Path], tmp_path: Path) -> None:
    report = _explain(files, "healthy", "tfjs-fp32", profile=True, store=tmp_path / "store.sqlite")
    profile = report.profile  # one shape for every runtime (the stored result keeps tfjs' own)
    assert profile["available"] and profile["operators"] and profile["requested"] == "wasm"
    assert profile["share_ops"] is None and "does not say" in profile["share_note"]
    assert sum(op["ms"] for op in profile["operators"]) > 0
    assert {"MatMul", "Relu"} & {op["op_type"] for op in profile["operators"]}
    # Kernels only: tf.profile's whole-op records ('matMul__op') hold the kernels' time again.
    assert not [op["name"] for op in profile["operators"] if op["name"].endswith("__op")]
    assert 0 < profile["ops_ms"] <= profile["run_ms"]
    stored = api.results(store=tmp_path / "store.sqlite")[0].result["extra"]["profile"]
    assert stored["nodes"] and stored["requested_provider"] == "wasm"


def test_a_backend_that_computes_the_file_differently_is_told_apart_from_quantization(files: dict[str, Path]
                                                                                      ) -> None:
    """ort-web 1.30's WebGPU (JSEP) dequantizes this QDQ file wrongly (likely microsoft/onnxruntime#32578; JSEP is
    deprecated since 1.29): the page names the first layer while ONNX Runtime on this PC finds nothing, so explain
    says it is the backend and does not offer float layers as the cure. When this fails, onnxruntime-web fixed it."""
    report = _explain(files, "healthy", "onnx-int8-static", backend="webgpu", fix=True)
    assert report.first_divergent_layer == "dense1" and report.agreement < 0.5
    assert report.host_check["first_divergent_layer"] is None and report.host_check["sqnr_db"] > 30
    assert any("runtime defect" in note for note in report.notes) and report.fix is None
    assert report.to_json()["fix"] is None and report.to_json()["host_check"]["sqnr_db"] > 30
