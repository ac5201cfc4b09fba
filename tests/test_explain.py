"""explain with planted faults: real TFLite and ONNX Runtime runs on small models built here.

- 'planted': float function untouched, but layer 'spiky' has a unit that fires (x2000) only on one calibration
  sample and that the next layer ignores; the calibrated int8 range of 'spiky' is then ~250x too wide and its
  real values round to zero. explain must name exactly 'spiky', and --fix bring agreement back.
- a runtime bug: one layer's weights edited inside the converted fp32 file (named too).
- 'healthy': the same architecture without the spike: no layer named.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from planted_models import planted_files, planted_torch_program, small_torch_program

from devicelab import api
from devicelab.convert import variants as registry
from devicelab.errors import RuntimeUnavailableError, UsageError
from devicelab.explain import FIX_BOUND, core, selective

pytestmark = pytest.mark.slow
JSON_KEYS = {"variant", "target", "layers", "first_divergent_layer", "unmatched"}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, session_cache: Path) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("explain")
    return {**planted_files(folder), "cache": session_cache, "store": folder / "store.sqlite"}


def _explain(files: dict[str, Path], model: str, variant: str, **kw: object) -> object:
    return api.explain(files[model], variant, data=str(files["eval"]), calibration=str(files["calib"]),
                       cache=files["cache"], store=files["store"], **kw)


@pytest.mark.parametrize("variant", ["tflite-int8", "onnx-int8-static"])
def test_int8_names_the_layer_whose_range_int8_loses_and_fix_restores_agreement(files: dict[str, Path],
                                                                                variant: str) -> None:
    report = _explain(files, "planted", variant, fix=True)
    by_layer = {s.layer: s for s in report.comparison.layers}
    assert report.first_divergent_layer == "spiky"
    assert list(by_layer) == ["dense1", "spiky", "out"] and report.comparison.unmatched == []
    assert by_layer["dense1"].sqnr_db > 30 and by_layer["spiky"].sqnr_db < 3
    assert by_layer["spiky"].scale > 3.0  # the 1000-wide range, where real values are below 0.5
    doc = report.to_json()
    assert set(doc) == JSON_KEYS | {"fix", "runs_on"}
    assert set(doc["layers"][0]) == {"layer", "tensor", "sqnr_db", "cosine", "max_abs", "scale"}
    fix = report.fix
    assert fix.full.agreement < 0.5 and fix.fp32.agreement == 1.0
    # 'out' re-quantizes spiky's output with the same range, so keeping spiky alone is not enough.
    assert [c.kept_float for c in fix.tried] == [["spiky"], ["spiky", "out"]]
    assert fix.within_bound and fix.chosen.agreement >= fix.fp32.agreement - FIX_BOUND
    assert fix.chosen.variant == f"{variant}-float-spiky.out"
    assert {"variant", "kept_float", "agreement", "size_bytes"} <= set(doc["fix"])
    assert doc["fix"]["size_bytes"] > 0
    # The fixed variant is a variant like any other: the registry names it, the cache holds it.
    resolved = registry.get(fix.chosen.variant)
    assert isinstance(resolved, selective.SelectiveVariant) and resolved.keep_float == ("spiky", "out")


def test_fixed_variant_measures_like_any_variant(files: dict[str, Path]) -> None:
    measured = api.measure(files["planted"], variants=["tflite-int8-float-spiky.out"], data=str(files["eval"]),
                           calibration=str(files["calib"]), cache=files["cache"], store=files["store"],
                           options=api.MeasureOptions(runs=3, min_seconds=0, warmup_runs=0))
    fixed = next(m for m in measured if m.variant == "tflite-int8-float-spiky.out")
    assert fixed.ok, fixed.error
    assert fixed.summary["accuracy"]["agreement"] >= 1 - FIX_BOUND


def test_healthy_model_has_no_divergent_layer(files: dict[str, Path]) -> None:
    report = _explain(files, "healthy", "tflite-int8", fix=True)
    assert report.first_divergent_layer is None
    assert all(s.sqnr_db > 20 for s in report.comparison.layers)
    assert report.fix is None and any("nothing to keep" in n for n in report.notes)
    assert report.to_json()["fix"] is None  # asked for: null, so scripts need not test for the key


def _plant_tflite_bug(path: Path, weights: np.ndarray) -> None:
    """A runtime/converter defect in one layer: that layer's kernel, found by its bytes, sign-flipped."""
    data = path.read_bytes()
    for candidate in (weights, weights.T):
        raw = np.ascontiguousarray(candidate, dtype="<f4").tobytes()
        at = data.find(raw)
        if at >= 0:
            path.write_bytes(data[:at] + (-np.frombuffer(raw, "<f4")).astype("<f4").tobytes()
                             + data[at + len(raw):])
            return
    raise AssertionError("kernel bytes not found in the .tflite file")


def test_fp32_runtime_bug_in_one_layer_is_named(files: dict[str, Path], tmp_path: Path) -> None:
    import keras
    import onnx
    from onnx import numpy_helper

    model = tmp_path / "bugged.keras"
    model.write_bytes(files["healthy"].read_bytes())  # its own source hash: its own cached artifacts to edit
    kernel = keras.models.load_model(model).get_layer("spiky").get_weights()[0]
    tfl = api.convert(model, variants=["tflite-fp32", "onnx-fp32"], cache=files["cache"])
    by_name = {c.variant: c.artifact for c in tfl.conversions}
    _plant_tflite_bug(by_name["tflite-fp32"].model_path, kernel)
    onnx_path = by_name["onnx-fp32"].model_path
    proto = onnx.load(str(onnx_path))
    spiky = next(i for i in proto.graph.initializer if "spiky" in i.name and numpy_helper.to_array(i).ndim == 2)
    spiky.CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(spiky), spiky.name))
    onnx.save(proto, str(onnx_path))
    for variant in ("tflite-fp32", "onnx-fp32"):
        report = api.explain(model, variant, data=str(files["eval"]), cache=files["cache"])
        stats = {s.layer: s for s in report.comparison.layers}
        assert report.first_divergent_layer == "spiky", variant
        assert stats["dense1"].sqnr_db is None or stats["dense1"].sqnr_db > 100  # float: exact or nearly
        assert stats["spiky"].sqnr_db < 0


def test_core_ml_needs_macos_and_tfjs_needs_a_browser(files: dict[str, Path]) -> None:
    if sys.platform != "darwin":
        with pytest.raises(RuntimeUnavailableError, match="needs macOS"):
            _explain(files, "planted", "coreml-fp32")
    with pytest.raises(UsageError, match="only in a browser"):
        _explain(files, "planted", "tfjs-fp32")


def test_first_divergent_rule() -> None:
    def stats(*values: float | None) -> list[core.LayerStat]:
        return [core.LayerStat(f"l{k}", "t", v) for k, v in enumerate(values)]

    rule = core.Threshold()
    assert core.first_divergent(stats(38, 35, 31, 28), rule) is None  # int8 noise growing slowly
    assert core.first_divergent(stats(140, 120, 95), rule) is None  # float rounding: capped at 60 dB
    assert core.first_divergent(stats(40, 38, 22, 20), rule) == "l2"  # 16 dB under the best before it
    assert core.first_divergent(stats(None, None, 30), rule) == "l2"  # exact, then 30 dB: a float defect
    assert core.first_divergent(stats(8, 30), rule) == "l0"  # below the floor from the start


def test_layouts_are_aligned_before_comparing() -> None:
    ref = np.arange(2 * 4 * 5 * 3, dtype=np.float32).reshape(2, 4, 5, 3)  # NHWC
    aligned, layout = core.align(ref, np.transpose(ref, (0, 3, 1, 2)))  # what tf2onnx computes (NCHW)
    assert layout == "NCHW->NHWC" and np.array_equal(aligned, ref)
    square = np.random.default_rng(0).normal(size=(1, 6, 6, 6)).astype(np.float32)
    # C == H == W: the NCHW tensor has the NHWC shape too, and must still be transposed (found on a 32x32x32 conv)
    aligned, layout = core.align(square, np.transpose(square, (0, 3, 1, 2)))
    assert layout == "NCHW->NHWC" and np.array_equal(aligned, square)
    assert core.align(square, square)[1] is None
    assert core.align(ref, ref.reshape(2, -1))[1] == "reshape"
    assert core.align(ref, np.zeros((2, 7), np.float32)) is None


def test_cli_writes_the_json_document(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "explain.json"
    done = subprocess.run([sys.executable, "-m", "devicelab", "explain", str(files["planted"]), "--variant",
                           "tflite-int8", "--data", str(files["eval"]), "--calibration", str(files["calib"]),
                           "--cache-dir", str(files["cache"]), "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "First divergent layer: spiky" in done.stdout
    doc = json.loads(out.read_text())
    assert set(doc) == JSON_KEYS | {"runs_on"} and doc["first_divergent_layer"] == "spiky"
    bad = subprocess.run([sys.executable, "-m", "devicelab", "explain", str(files["planted"]), "--variant",
                          "coreml-fp32", "--data", str(files["eval"]), "--cache-dir", str(files["cache"])],
                         capture_output=True, text=True, timeout=300)
    if sys.platform != "darwin":
        assert bad.returncode == 1 and "needs macOS" in bad.stderr and "Traceback" not in bad.stderr


def test_onnx_source_layers_are_its_tensors_and_fix_keeps_what_was_fused(files: dict[str, Path],
                                                                         tmp_path: Path) -> None:
    fp32 = api.convert(files["planted"], variants=["onnx-fp32"], cache=files["cache"]).conversions[0].artifact
    source = tmp_path / "planted.onnx"
    source.write_bytes(fp32.model_path.read_bytes())
    report = api.explain(source, "onnx-int8-static", data=str(files["eval"]), calibration=str(files["calib"]),
                         cache=files["cache"], fix=True)
    assert report.first_divergent_layer.endswith("spiky_1/Relu:0")
    # The MatMul before the Relu has no tensor of its own in the QDQ model (quantized together): listed, and
    # kept in float by the fix with the layer it is part of.
    assert any(u.endswith("spiky_1/MatMul:0") for u in report.comparison.unmatched)
    assert report.fix.within_bound and report.fix.chosen.agreement == 1.0
    assert report.fix.tried[0].kept_float[:2] == [n for n in report.fix.tried[0].kept_float if "spiky" in n]


def test_layer_names_with_keras_trace_suffixes() -> None:
    # LeNet-5 as TFLite names it: 'conv2d' is traced as 'conv2d_1' and 'conv2d_1' as 'conv2d_1_2'.
    layers = ["conv2d", "average_pooling2d", "conv2d_1", "flatten", "dense", "probabilities"]
    tensors = ["lenet5_1/conv2d_1/Relu;lenet5_1/conv2d_1/BiasAdd", "lenet5_1/average_pooling2d_1/AvgPool",
               "lenet5_1/conv2d_1_2/Relu;lenet5_1/conv2d_1_2/Conv2D", "lenet5_1/flatten_1/Reshape",
               "lenet5_1/dense_1/MatMul;lenet5_1/dense_1/Relu", "PartitionedCall:0"]
    names = core.LayerNames(layers, tensors)
    assert [names.owner(t) for t in tensors] == [*layers[:5], None]
    # A layer named like the model (zoo 'lstm'): the model's scope heading every path is not that layer.
    rnn = ["lstm_1/embedding_1/GatherV2", "lstm_1/lstm_1/transpose", "lstm_1/lstm_1/lstm_cell/mul_2"]
    assert [core.LayerNames(["embedding", "lstm", "probabilities"], rnn).owner(t) for t in rnn] == \
        ["embedding", "lstm", "lstm"]
    # Names traced without suffixes match as they are.
    plain = core.LayerNames(["conv2d", "conv2d_1"], ["model/conv2d/Relu", "model/conv2d_1/Relu"])
    assert plain.owner("model/conv2d_1/Relu") == "conv2d_1" and plain.owner("model/conv2d/Relu") == "conv2d"


def test_a_fused_tensor_named_after_its_first_layer_goes_to_the_layer_it_holds() -> None:
    # TFLite names a Conv2D + BatchNormalization output after the Conv2D only (found on a conv/bn model).
    rng = np.random.default_rng(0)
    conv = rng.normal(size=(8, 4, 4, 3)).astype(np.float32)
    bn = 3.0 * conv + 1.0
    head = bn.reshape(8, -1)[:, :5]
    tensors = [core.VariantTensor("m_1/conv_1/Conv2D;m_1/conv_1/BiasAdd", bn.copy()),
               core.VariantTensor("m_1/head_1/MatMul", head.copy())]
    found = core.compare({"conv": conv, "bn": bn, "head": head}, tensors)
    assert [s.layer for s in found.layers] == ["bn", "head"] and found.unmatched == ["conv"]
    assert found.first_divergent is None


def test_onnx_figures_agree_with_onnxruntimes_own_qdq_debugger(files: dict[str, Path], tmp_path: Path) -> None:
    """The second source: onnxruntime.quantization.qdq_loss_debug on the same QDQ file gives the same SQNR."""
    from onnxruntime.quantization import qdq_loss_debug, quant_pre_process

    report = _explain(files, "planted", "onnx-int8-static")
    made = api.convert(files["planted"], variants=["onnx-fp32", "onnx-int8-static"], calibration=str(files["calib"]),
                       cache=files["cache"])
    arts = {c.variant: c.artifact for c in made.conversions}
    quant_pre_process(str(arts["onnx-fp32"].model_path), str(tmp_path / "float.onnx"))
    x = np.load(files["eval"])["x"]
    activations = []
    for name, path in (("float", tmp_path / "float.onnx"), ("qdq", arts["onnx-int8-static"].model_path)):
        qdq_loss_debug.modify_model_output_intermediate_tensors(str(path), str(tmp_path / f"{name}-all.onnx"))
        activations.append(qdq_loss_debug.collect_activations(str(tmp_path / f"{name}-all.onnx"),
                                                              [{"x": x[i:i + 1]} for i in range(len(x))]))
    errors = qdq_loss_debug.compute_activation_error(qdq_loss_debug.create_activation_matching(activations[1],
                                                                                                activations[0]))
    ours = {s.tensor.removesuffix("_DequantizeLinear_Output"): s.sqnr_db for s in report.comparison.layers}
    theirs = {name: e["xmodel_err"] for name, e in errors.items() if name in ours}
    assert len(theirs) == 3
    for name, value in theirs.items():
        assert ours[name] == pytest.approx(value, abs=0.05), name


def test_executorch_compares_outputs_and_says_the_layers_are_inside_xnnpack(tmp_path: Path,
                                                                            session_cache: Path) -> None:
    small_torch_program(tmp_path / "small.pt2")
    np.savez(tmp_path / "data.npz", x=np.random.default_rng(0).normal(size=(20, 1, 8, 8)).astype(np.float32))
    for variant in ("executorch-fp32", "executorch-int8"):
        report = api.explain(tmp_path / "small.pt2", variant, data=str(tmp_path / "data.npz"),
                             calibration=str(tmp_path / "data.npz"), cache=session_cache, fix=True)
        assert [s.layer for s in report.comparison.layers] == ["fc"]  # the output: all the delegate gives
        assert report.comparison.unmatched == ["conv1", "act", "flatten"]
        assert any("inside the XNNPACK delegate" in note for note in report.notes)
        assert report.first_divergent_layer is None and report.agreement == 1.0
        assert report.comparison.layers[0].sqnr_db is None or report.comparison.layers[0].sqnr_db > 30
    # The source's op names, which torch.onnx keeps, match an ONNX variant's tensors to the modules.
    onnx_report = api.explain(tmp_path / "small.pt2", "onnx-int8-static", data=str(tmp_path / "data.npz"),
                              calibration=str(tmp_path / "data.npz"), cache=session_cache)
    assert "act" in [s.layer for s in onnx_report.comparison.layers]


def test_fix_for_a_pt2_source_keeps_its_modules_float(files: dict[str, Path], tmp_path: Path) -> None:
    """A .pt2 source's layers are its modules; its ONNX nodes, named after the ops by torch.onnx, are found by
    those names, so --fix can keep a module float (the same planted fault as the Keras model)."""
    source = planted_torch_program(tmp_path / "planted.pt2", True)
    report = api.explain(source, "onnx-int8-static", data=str(files["eval"]), calibration=str(files["calib"]),
                         cache=files["cache"], fix=True)
    stats = {s.layer: s for s in report.comparison.layers}
    assert report.first_divergent_layer == "relu_1"  # spiky's ReLU: QDQ quantizes Gemm and Relu as one
    assert "spiky" in report.comparison.unmatched and stats["relu"].sqnr_db > 30
    fix = report.fix
    assert fix is not None and fix.within_bound and "spiky" in fix.chosen.kept_float
    assert fix.full.agreement < 0.5 and fix.chosen.agreement >= fix.fp32.agreement - FIX_BOUND
    assert fix.chosen.variant.startswith("onnx-int8-static-float-spiky.relu_1")


def test_onnx_capture_leaves_weights_out_and_host_runs_are_not_truncated(files: dict[str, Path],
                                                                        tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    from devicelab.explain import onnx as onnx_side

    made = api.convert(files["planted"], variants=["onnx-int8-static"], calibration=str(files["calib"]),
                       cache=files["cache"]).conversions[0].artifact
    exposed = onnx_side.expose(made.model_path)
    weights = {i.name for i in exposed.model.graph.initializer}
    from_weights = [n.output[0] for n in exposed.model.graph.node
                    if n.op_type == "DequantizeLinear" and n.input[0] in weights]
    assert from_weights and not set(from_weights) & set(exposed.intermediates)  # int8 weights: not captured
    # A tensor with no rows (an empty slice) must not make the host compare on 0 samples.
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Slice", ["r", "s", "s", "a"], ["empty"], name="slice"),
             helper.make_node("Concat", ["r", "empty"], ["y"], name="concat", axis=0)]
    consts = [helper.make_tensor(n, TensorProto.INT64, [1], [v]) for n, v in (("s", 1), ("a", 0))]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])], consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "empty.onnx"))
    report = api.explain(tmp_path / "empty.onnx", "onnx-fp32", data=str(files["eval"]), cache=files["cache"])
    assert not any("first" in note and "samples" in note for note in report.notes), report.notes
    assert "r" not in report.comparison.unmatched and report.agreement is not None


def test_cli_checks_json_path_and_thresholds_before_any_work(files: dict[str, Path], tmp_path: Path) -> None:
    base = [sys.executable, "-m", "devicelab", "explain", str(files["planted"]), "--variant", "tflite-fp32",
            "--data", str(files["eval"]), "--cache-dir", str(tmp_path / "cache")]
    for extra, message in ((["--json", str(tmp_path / "missing" / "x.json")], "does not exist"),
                           (["--json", str(tmp_path)], "is a folder"),
                           (["--threshold-floor", "-5"], "--threshold-floor must be between"),
                           (["--threshold-drop", "0"], "--threshold-drop must be above 0"),
                           (["--samples", "0"], "--samples must be at least 1")):
        done = subprocess.run([*base, *extra], capture_output=True, text=True, timeout=120)
        out = " ".join((done.stdout + done.stderr).split())
        assert done.returncode == 2 and message in out and "Hint:" in out and "Traceback" not in out, out
    assert not (tmp_path / "cache").exists()  # nothing was converted
