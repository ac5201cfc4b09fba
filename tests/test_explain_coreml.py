"""explain for Core ML: what runs here, on real coremltools conversions of a small Keras model.

Prediction (MLModelInspector's) needs macOS, so off a Mac these tests cover reading the ML Program (op outputs in
program order, their types, the op names), matching each output to its Keras layer despite coremltools' name
sanitizing, the inspector's cache fix, the feeds, and the clear "needs macOS" error. No Core ML value is made up.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import numpy as np
import pytest
from planted_models import small_torch_program

from devicelab import api
from devicelab.errors import RuntimeUnavailableError
from devicelab.explain import core, coreml

pytestmark = pytest.mark.slow
# Layer names as Keras auto-names them: Keras 3 traces 'dense' as 'dense_1' and 'dense_1' as 'dense_1_2', and
# coremltools writes '/' as '_', so 'auto_1_dense_1_...' must go to 'dense' and 'auto_1_dense_1_2_...' to 'dense_1'.
LAYERS = ["conv2d", "conv2d_1", "max_pooling2d", "flatten", "dense", "dense_1"]
# Every float op output the converter writes (its '_cast_fp16' dropped), with the layer it belongs to.
OWNERS = {
    "img_to_fp16": None, "transpose_1": None,  # the NHWC -> NCHW transpose Core ML computes in
    "auto_1_conv2d_1_convolutionx": "conv2d", "auto_1_conv2d_1_Relu": "conv2d",
    "auto_1_conv2d_1_2_convolutionx": "conv2d_1", "auto_1_conv2d_1_2_Relu": "conv2d_1",
    "max_pool_0": None,  # made by the compiler (NCHW pooling); the transpose back keeps the TF name
    "auto_1_max_pooling2d_1_MaxPool2d": "max_pooling2d",
    "auto_1_flatten_1_Reshape": "flatten",
    "auto_1_dense_1_MatMul": "dense", "auto_1_dense_1_Relu": "dense",
    "auto_1_dense_1_2_MatMul": "dense_1",
    "Identity": "dense_1",  # the model output: its op keeps the TF name ('auto_1_dense_1_2_Softmax')
}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 6, 2), name="img")
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv2d")(inp)
    h = keras.layers.Conv2D(4, 3, activation="relu", name="conv2d_1")(h)
    h = keras.layers.MaxPooling2D(name="max_pooling2d")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(8, activation="relu", name="dense")(h)
    out = keras.layers.Dense(3, activation="softmax", name="dense_1")(h)
    path = tmp_path_factory.mktemp("coreml") / "auto.keras"
    keras.Model(inp, out, name="auto").save(path)
    return path


def _package(model: Path, variant: str, cache: Path) -> Path:
    conversion = api.convert(model, variants=[variant], cache=cache).conversions[0]
    assert conversion.error is None, conversion.error
    return conversion.artifact.model_path


def _spec(package: Path) -> object:
    import coremltools as ct

    return ct.models.MLModel(str(package), skip_model_load=True).get_spec()


def _ops(package: Path) -> list[coreml.MilOp]:
    return coreml.program_outputs(_spec(package))


@pytest.mark.parametrize("variant", ["coreml-fp32", "coreml-fp16"])
def test_every_op_output_is_matched_to_its_keras_layer(model: Path, session_cache: Path, variant: str) -> None:
    from devicelab.explain import keras as keras_side
    from devicelab.models import load_source

    assert keras_side.layer_names(load_source(model, session_cache).keras_model()) == LAYERS
    ops = _ops(_package(model, variant, session_cache))
    computed = [op for op in ops if op.dtype and not op.is_const]
    dtype = "float32" if variant == "coreml-fp32" else "float16"
    assert {op.dtype for op in computed} == {dtype}
    owners = coreml.owners(ops, LAYERS)
    found = {coreml._CAST.sub("", op.output): owners[op.output] for op in computed}
    expected = dict(OWNERS) if variant == "coreml-fp16" else {k: v for k, v in OWNERS.items() if k != "img_to_fp16"}
    assert found == expected
    # What explain compares per layer is the layer's LAST tensor in program order: the activation, not the conv.
    last = {owners[op.output]: op.type for op in computed}
    assert last == {None: "max_pool", "conv2d": "relu", "conv2d_1": "relu", "max_pooling2d": "transpose",
                    "flatten": "reshape", "dense": "relu", "dense_1": "softmax"}
    # What --fix keeps float for a conv layer: the weight its conv reads, though the compiler named it
    # ('transpose_0...', from TF's kernel transpose), not only consts named after the layer.
    def conv_weight(layer: str) -> coreml.MilOp:
        conv = next(op for op in computed if op.type == "conv" and owners[op.output] == layer)
        return next(op for op in ops if op.output in conv.inputs and op.is_const and op.dtype)

    weight, other = conv_weight("conv2d_1"), conv_weight("conv2d")
    assert owners[weight.output] is None and weight.output.startswith("transpose_")
    kept = coreml.float_ops(_spec(_package(model, variant, session_cache)), ["conv2d_1"], LAYERS)
    assert weight.op in kept and other.op not in kept
    assert all(owners.get(n) in ("conv2d_1", None) for n in kept)


def test_sanitized_names_read_back_as_paths() -> None:
    assert coreml.source_path("auto_1_dense_1_2_MatMul", LAYERS) == "auto_1/dense_1_2/MatMul"
    assert coreml.source_path("auto_1_dense_1_MatMul", LAYERS) == "auto_1/dense_1/MatMul"
    assert coreml.source_path("m_1_conv_a_1_Relu", ["conv-a"]) == "m_1/conv-a_1/Relu"  # sanitized layer name
    assert coreml.source_path("Identity", LAYERS) == "Identity"
    assert coreml.made_by_mil("max_pool_0_cast_fp16", "max_pool") and coreml.made_by_mil("transpose_1", "transpose")
    assert not coreml.made_by_mil("auto_1_flatten_1_Reshape", "reshape")


def test_a_compiler_made_tensor_never_falls_back_to_a_layer_of_its_name() -> None:
    """A Keras layer named 'reshape' and the compiler's own 'reshape_0' (after the layer's tensor): without an
    explicit None alias, core's fallback would read 'reshape_0' as layer 'reshape' + suffix and pick it."""
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(4, 6)).astype(np.float32)
    tensors = [core.VariantTensor("m_1_reshape_1_Reshape", ref.copy(), None, "reshape m_1_reshape_1_Reshape"),
               core.VariantTensor("reshape_0", -ref, None, "reshape reshape_0")]
    aliases = coreml.aliases(tensors, ["reshape"])
    assert aliases == {"m_1_reshape_1_Reshape": "reshape", "reshape_0": None}
    stats = core.compare({"reshape": ref}, tensors, aliases=aliases).layers
    assert [(s.layer, s.tensor, s.sqnr_db) for s in stats] == [("reshape", "m_1_reshape_1_Reshape", None)]
    assert core.compare({"reshape": ref}, tensors).layers[0].tensor == "reshape_0"  # the defect, without them


def test_the_inspector_reuses_the_program_copy_it_compiled(model: Path, session_cache: Path) -> None:
    """coremltools 9.0's own cache lookup never hits: each sample would compile the program again."""
    import coremltools as ct

    package = _package(model, "coreml-fp32", session_cache)
    loaded = ct.models.MLModel(str(package), skip_model_load=True, compute_units=ct.ComputeUnit.CPU_ONLY)
    inspector = coreml.inspector_class()(loaded, compute_units=ct.ComputeUnit.CPU_ONLY)
    assert inspector.compute_units == ct.ComputeUnit.CPU_ONLY
    names = ["auto_1_dense_1_Relu", "Identity"]
    # capture asks the inspector for program_outputs' vars: it refuses any it does not list
    assert {op.output for op in _ops(package) if not op.is_const} <= set(inspector.output_names)

    class Compiled:
        def cleanup(self) -> None:
            pass

    compiled = Compiled()
    inspector._cached_models[frozenset(names)] = compiled
    assert asyncio.run(inspector._create_model_with_outputs(list(reversed(names)), True)) is compiled


def test_feeds_are_one_sample_each_in_the_declared_dtype(model: Path, session_cache: Path) -> None:
    import coremltools as ct

    spec = ct.utils.load_spec(str(_package(model, "coreml-fp32", session_cache)))
    x = [np.arange(3 * 6 * 6 * 2, dtype=np.float64).reshape(3, 6, 6, 2)]
    feeds = coreml._feeds(spec, x, ["img"])
    assert len(feeds) == 3 and list(feeds[1]) == ["img"]
    assert feeds[1]["img"].dtype == np.float32 and feeds[1]["img"].shape == (1, 6, 6, 2)
    assert np.array_equal(feeds[1]["img"][0], x[0][1])


@pytest.mark.skipif(sys.platform == "darwin", reason="on macOS capture runs Core ML")
def test_capture_says_it_needs_macos(model: Path, session_cache: Path) -> None:
    with pytest.raises(RuntimeUnavailableError, match="needs macOS"):
        coreml.capture(_package(model, "coreml-fp32", session_cache), [np.zeros((1, 6, 6, 2), np.float32)],
                       ["img"])


def test_on_macos_explain_takes_the_coreml_module(monkeypatch: pytest.MonkeyPatch) -> None:
    from devicelab import explain

    monkeypatch.setattr(sys, "platform", "darwin")
    module = explain._module("coreml")
    assert module is coreml and module.FORMAT == "coreml" and "CPU_ONLY" in module.RUNS_ON


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 -> dense1 -> spiky -> out: dense1's and spiky's 4096 weights are above coremltools' 2048-element
    threshold, so coreml-int8 quantizes them (out's 640 stay float16 in every variant)."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((64,), name="x")
    h = keras.layers.Dense(64, activation="relu", name="dense1")(inp)
    h = keras.layers.Dense(64, activation="relu", name="spiky")(h)
    out = keras.layers.Dense(10, name="out")(h)
    path = tmp_path_factory.mktemp("coreml-wide") / "wide.keras"
    keras.Model(inp, out, name="wide").save(path)
    return path


def _weights(package: Path) -> dict[str, str]:
    """The op type holding each layer's weight matrix (const: float16; constexpr_*: int8 dequantized on load)."""
    ops = _ops(package)
    owners = coreml.owners(ops, ["dense1", "spiky", "out"])
    return {owners[op.output]: op.type for op in ops if op.is_const and "ReadVariableOp" in op.output}


def test_fix_variant_keeps_the_layer_weights_float16(wide: Path, session_cache: Path) -> None:
    from devicelab.convert import variants as registry

    variant = registry.get("coreml-int8-float-spiky")
    assert variant.base == "coreml-int8" and variant.keep_float == ("spiky",) and "float16" in variant.description
    full = _weights(_package(wide, "coreml-int8", session_cache))
    kept = _weights(_package(wide, "coreml-int8-float-spiky", session_cache))
    assert full == {"dense1": "constexpr_affine_dequantize", "spiky": "constexpr_affine_dequantize",
                    "out": "const"}
    assert kept == {"dense1": "constexpr_affine_dequantize", "spiky": "const", "out": "const"}
    conversion = api.convert(wide, variants=["coreml-int8-float-nosuch"], cache=session_cache).conversions[0]
    assert conversion.error is not None and "no layer(s) nosuch" in str(conversion.error)


def test_pt2_sources_match_by_the_op_names_coremltools_keeps(tmp_path: Path, session_cache: Path) -> None:
    """A .pt2 source's layers are its modules, named by their last op ('relu' is module 'act'); coremltools keeps
    those op names as vars, with '_cast_fp16' in float16 programs."""
    from devicelab.explain import executorch
    from devicelab.models import load_source

    small_torch_program(tmp_path / "small.pt2")
    layers, _, _, known = executorch.reference(load_source(tmp_path / "small.pt2", session_cache),
                                               [np.zeros((1, 1, 8, 8), np.float32)])
    ops = [op for op in _ops(_package(tmp_path / "small.pt2", "coreml-fp16", session_cache))
           if op.dtype and not op.is_const]
    found = coreml.owners(ops, list(layers), known)
    assert {name: found[name] for name in ("conv2d_cast_fp16", "relu_cast_fp16", "linear")} == \
        {"conv2d_cast_fp16": "conv1", "relu_cast_fp16": "act", "linear": "fc"}
    assert found["x_to_fp16"] is None
