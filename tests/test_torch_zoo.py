"""The PyTorch twins of the zoo: same architecture as Keras, reproducible training, a cached ONNX file devicelab
converts, and the framework comparison metrics."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")
keras = pytest.importorskip("keras")
ort = pytest.importorskip("onnxruntime")

from devicelab import api  # noqa: E402
from devicelab.data import fit_to_shape, load_dataset  # noqa: E402
from devicelab.errors import DataError, MissingDependencyError, UsageError  # noqa: E402
from devicelab.metrics.accuracy import wilson_interval  # noqa: E402
from devicelab.metrics.frameworks import compare_frameworks, mcnemar_exact  # noqa: E402
from devicelab.models import load_source, torch_zoo, zoo  # noqa: E402
from devicelab.models.torch_zoo import train as torch_train  # noqa: E402
from devicelab.models.torch_zoo.architectures import count_parameters  # noqa: E402


@pytest.fixture(scope="module")
def mnist() -> tuple[np.ndarray, np.ndarray]:
    data = load_dataset("mnist-sample", split="test", limit=256)
    return fit_to_shape(data.x, (None, 28, 28, 1)).astype(np.float32), np.asarray(data.y)


def keras_twin(name: str, seed: int = 0) -> object:
    keras.utils.set_random_seed(seed)
    item = zoo.entry(name)
    return item.build(item.input_shape)


def run_onnx(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["probabilities"], {"input": x})[0]


def torch_probabilities(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(torch.from_numpy(x)).numpy()


# --- architecture ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lenet1", "lenet5", "resnet20"])
def test_parameter_count_equals_keras(name: str) -> None:
    assert count_parameters(torch_zoo.create(name)) == keras_twin(name).count_params()


def test_twin_starts_like_keras() -> None:
    """glorot-uniform kernels within Keras' limit, zero biases."""
    torch.manual_seed(0)
    model = torch_zoo.create("lenet5")
    for layer in (model.conv1, model.conv2, model.dense1, model.dense2, model.probabilities):
        fan_in, fan_out = layer.weight[0].numel(), layer.weight[:, 0].numel()
        assert layer.weight.abs().max() <= np.sqrt(6 / (fan_in + fan_out))
        assert not layer.bias.any()


@pytest.mark.parametrize("name", ["lenet1", "lenet5"])
def test_keras_weights_give_keras_outputs(name: str, mnist: tuple[np.ndarray, np.ndarray]) -> None:
    """Same weights, same outputs on real digits: layers, padding, pooling and the NHWC flatten order all match."""
    model = keras_twin(name)
    rng = np.random.default_rng(1)  # non-zero biases too, so every tensor's layout is exercised
    model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    x = mnist[0]
    expected = model.predict(x, verbose=0)
    twin = torch_zoo.load_keras_weights(torch_zoo.create(name), model)
    got = torch_probabilities(twin, x)
    assert expected.std() > 0.1  # outputs far from uniform: a layout mistake could not hide
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_resnet20_twin_matches_keras() -> None:
    """TensorFlow's bottom/right "same" padding at stride 2 and BatchNorm's moving statistics, at inference."""
    model = keras_twin("resnet20")
    rng = np.random.default_rng(2)
    weights = []
    for w in model.get_weights():  # BatchNorm's variance must stay positive
        weights.append(rng.uniform(0.5, 1.5, w.shape) if w.ndim == 1 else rng.normal(0, 0.2, w.shape))
    model.set_weights([w.astype(np.float32) for w in weights])
    x = rng.uniform(0, 1, (8, 32, 32, 3)).astype(np.float32)
    twin = torch_zoo.load_keras_weights(torch_zoo.create("resnet20"), model)
    np.testing.assert_allclose(torch_probabilities(twin, x), model.predict(x, verbose=0), atol=1e-5)


def test_keras_weights_of_another_model_are_refused() -> None:
    with pytest.raises(UsageError, match="does not have the layers"):
        torch_zoo.load_keras_weights(torch_zoo.create("lenet5"), keras_twin("lenet1"))


# --- build: training, ONNX export, cache -------------------------------------------------------------


def test_build_is_reproducible_cached_and_convertible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      mnist: tuple[np.ndarray, np.ndarray]) -> None:
    config = zoo.default_config("lenet5", epochs=2)
    epochs: list[tuple[int, int]] = []
    path, info = torch_zoo.build(config, tmp_path, lambda done, total: epochs.append((done, total)))
    assert epochs == [(1, 2), (2, 2)]
    assert path.name.startswith("lenet5-pytorch-") and path.suffix == ".onnx"
    assert json.loads(path.with_suffix(".json").read_text()) == info
    assert info["framework"] == "pytorch" and info["torch"] == torch.__version__
    assert info["parameters"] == 61706 and info["trained"] and info["test_samples"] == 1000
    assert info["test_accuracy"] > 0.8
    assert info["dataset_sha256"] == load_dataset("mnist-sample", split="test").sha256
    assert not list(path.parent.glob("*.tmp*"))

    # the ONNX file is the trained torch model, for any batch size
    twin = torch_zoo.create("lenet5")
    twin.load_state_dict(torch.load(path.with_suffix(".pt")))
    x = mnist[0]
    onnx_out = run_onnx(path, x)
    np.testing.assert_allclose(onnx_out, torch_probabilities(twin, x), atol=1e-5)
    np.testing.assert_allclose(run_onnx(path, x[:1]), onnx_out[:1], atol=1e-6)

    # the same configuration trains to the very same model
    again, again_info = torch_zoo.build(config, tmp_path, force=True)
    assert again == path and again_info["test_accuracy"] == info["test_accuracy"]
    np.testing.assert_array_equal(run_onnx(again, x), onnx_out)

    # and a second call takes it from the cache
    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("trained again despite the cache")

    monkeypatch.setattr(torch_train, "train", no_training)
    assert torch_zoo.build(config, tmp_path) == (path, again_info)

    source = load_source(path, tmp_path)
    assert source.format == "onnx"
    assert [(i.name, i.shape) for i in source.inputs] == [("input", [None, 28, 28, 1])]
    assert [o.name for o in source.outputs] == ["probabilities"]
    variants = ["onnx-fp32", "onnx-int8-dynamic", "onnx-int8-static"]
    report = api.convert(path, variants=variants, calibration="mnist-sample", cache=tmp_path)
    assert not report.failed and [c.variant for c in report.conversions] == variants


def test_untrained_build_without_dataset(tmp_path: Path) -> None:
    config = zoo.default_config("resnet20")  # no offline data, as in the Keras zoo: exported untrained
    path, info = torch_zoo.build(config, tmp_path)
    assert not info["trained"] and info["parameters"] == 274042
    assert run_onnx(path, np.zeros((3, 32, 32, 3), np.float32)).shape == (3, 10)


def test_missing_torch_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    with pytest.raises(MissingDependencyError) as caught:
        torch_zoo.build(zoo.default_config("lenet1"), tmp_path)
    assert "pip install 'devicelab[pytorch]'" in caught.value.hint


@pytest.mark.slow
def test_default_recipe_matches_keras(tmp_path: Path, lenet5: Path) -> None:
    """Default epochs: both frameworks over 90% on the test split, and mostly the same answers."""
    path, info = torch_zoo.build(zoo.default_config("lenet5"), tmp_path)
    assert info["test_accuracy"] > 0.9
    test = load_dataset("mnist-sample", split="test")
    x = fit_to_shape(test.x, (None, 28, 28, 1)).astype(np.float32)
    keras_probs = load_source(lenet5).keras_model().predict(x, verbose=0)
    summary = compare_frameworks(keras_probs, run_onnx(path, x), test.y)
    assert summary["frameworks"]["pytorch"]["accuracy"] == pytest.approx(info["test_accuracy"])
    assert summary["frameworks"]["keras"]["accuracy"] > 0.9
    assert summary["agreement"] > 0.9
    json.dumps(summary)


# --- compare_frameworks ------------------------------------------------------------------------------


def one_hot(classes: np.ndarray) -> np.ndarray:
    return np.eye(10)[classes]


def test_compare_frameworks_on_planted_disagreements() -> None:
    labels = np.arange(100) % 10  # 10 samples per class
    wrong = [3, 13, 23]  # three 3s that only the second framework gets wrong
    predicted_b = labels.copy()
    predicted_b[wrong] = 4
    summary = compare_frameworks(one_hot(labels), one_hot(predicted_b), labels)
    assert json.loads(json.dumps(summary)) == summary  # plain JSON types throughout
    assert summary["samples"] == 100
    assert summary["frameworks"]["keras"]["accuracy"] == 1.0
    assert summary["frameworks"]["pytorch"]["accuracy"] == 0.97
    assert summary["frameworks"]["pytorch"]["accuracy_ci"] == list(wilson_interval(97, 100))
    assert summary["agreement"] == 0.97 and summary["agreement_ci"] == list(wilson_interval(97, 100))
    assert summary["disagreements"] == wrong
    assert summary["max_abs_diff"] == 1.0
    assert summary["mean_abs_diff"] == pytest.approx(3 * 2 / 1000)
    per_class = {c["class"]: c for c in summary["per_class"]}
    assert per_class[3] == {"class": 3, "n": 10, "accuracy_a": 1.0, "accuracy_b": 0.7, "diff": pytest.approx(0.3)}
    assert all(c["diff"] == 0 and c["n"] == 10 for k, c in per_class.items() if k != 3)
    # three discordant pairs, all one way: p = 2 * 0.5**3
    assert summary["mcnemar"] == {"only_a_correct": 3, "only_b_correct": 0, "p_value": 0.25}


def test_mcnemar_exact_matches_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 10) == pytest.approx(2 / 1024)
    for only_a, only_b in [(1, 1), (2, 9), (15, 5), (40, 60), (500, 560)]:
        expected = stats.binomtest(only_a, only_a + only_b, 0.5).pvalue
        assert mcnemar_exact(only_a, only_b) == pytest.approx(expected, rel=1e-9)


def test_compare_frameworks_refuses_mismatched_outputs() -> None:
    with pytest.raises(DataError):
        compare_frameworks(np.zeros((5, 10)), np.zeros((4, 10)), np.zeros(5))
