"""Adversarial examples on the reference model (ART) and the attack success rate."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from devicelab.errors import DevicelabError, ModelLoadError, UsageError
from devicelab.study import attacks
from devicelab.study.attacks import AttackSpec, generate, generate_cached, parse_attack, success_rate

N = 100  # samples: enough for stable rates, few enough for PGD to take about a second


# --- parsing ----------------------------------------------------------------------------------------------------


def test_parse_defaults_and_labels() -> None:
    fgsm = parse_attack("fgsm")
    assert (fgsm.name, fgsm.eps, fgsm.eps_step, fgsm.max_iter, fgsm.norm) == ("fgsm", 0.1, 0.1, 1, "inf")
    assert fgsm.label == "fgsm eps=0.1"
    pgd = parse_attack("PGD")
    assert (pgd.eps, pgd.eps_step, pgd.max_iter, pgd.seed) == (0.1, 0.025, 20, 0)
    assert pgd.label == "pgd eps=0.1"
    custom = parse_attack("pgd:eps=0.2, steps=40, step=0.01, norm=2, seed=3")
    assert (custom.eps, custom.eps_step, custom.max_iter, custom.norm, custom.seed) == (0.2, 0.01, 40, "2", 3)
    assert custom.label == "pgd eps=0.2 step=0.01 steps=40 L2"
    assert parse_attack("pgd:eps=0.2,steps=20") == AttackSpec("pgd", eps=0.2) == AttackSpec("pgd", 0.2, 0.05, 20)
    for spec in (fgsm, pgd, custom, parse_attack("fgsm:eps=0.3,seed=1")):
        assert parse_attack(spec.text) == spec  # the stored text reads back to the same spec


def test_with_eps_keeps_the_relative_step() -> None:
    pgd = parse_attack("pgd:eps=0.1,eps_step=0.01,steps=40,seed=2").with_eps(0.3)
    assert (pgd.eps, pgd.max_iter, pgd.seed) == (0.3, 40, 2) and pgd.eps_step == pytest.approx(0.03)
    fgsm = parse_attack("fgsm").with_eps(0.3)
    assert (fgsm.eps, fgsm.eps_step) == (0.3, 0.3)
    assert parse_attack("pgd:eps=0").with_eps(0.2) == AttackSpec("pgd", 0.2)


@pytest.mark.parametrize("text, message", [
    ("cw", "unknown attack 'cw'"),
    ("", "unknown attack"),
    ("pgd:foo=1", "bad parameter 'foo=1'"),
    ("pgd:eps", "bad parameter 'eps'"),
    ("fgsm:eps=abc", "eps must be a number"),
    ("fgsm:eps=-0.1", "eps must be a number >= 0"),
    ("fgsm:eps=nan", "eps must be a number >= 0"),
    ("pgd:steps=0", "steps must be a whole number >= 1"),
    ("pgd:steps=2.5", "steps must be a whole number"),
    ("pgd:eps_step=0", "eps_step must be a number > 0"),
    ("pgd:eps=0.1,eps=0.2", "given twice"),
    ("pgd:norm=3", "unknown norm"),
    ("pgd:seed=-1", "seed must be a whole number >= 0"),
    ("fgsm:steps=10", "fgsm takes a single step"),
])
def test_parse_errors_are_usage_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        parse_attack(text)
    assert caught.value.hint
    if "unknown attack" in message:
        assert "fgsm, pgd" in caught.value.hint


# --- success rate ---------------------------------------------------------------------------------------------------


def test_success_rate_counts_only_clean_correct_samples() -> None:
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    clean = np.array([0, 1, 2, 3, 4, 5, 6, 7, 0, 0])  # 8 correct; the last two are wrong already
    adv = np.array([1, 1, 0, 0, 4, 5, 6, 0, 8, 9])  # flips samples 0, 2, 3, 7; 8 and 9 "recover", not counted
    result = success_rate(clean, adv, labels)
    assert (result["successes"], result["n"], result["rate"]) == (4, 8, 0.5)
    assert result["low"] < 0.5 < result["high"]
    assert (result["low"], result["high"]) == pytest.approx(attacks.wilson_interval(4, 8))
    # Probability outputs and one-hot labels give the same answer as class ids.
    eye = np.eye(10, dtype=np.float32)
    assert success_rate(eye[clean] * 0.9 + 0.01, eye[adv], eye[labels]) == result


def test_success_rate_edge_cases() -> None:
    assert success_rate([1, 1], [0, 0], [0, 0]) == {"rate": None, "successes": 0, "n": 0, "low": None, "high": None}
    assert success_rate([0, 1], [0, 1], [0, 1])["rate"] == 0.0
    assert success_rate([0, 1], [1, 0], [0, 1])["rate"] == 1.0
    with pytest.raises(DevicelabError, match="lengths differ"):
        success_rate([0, 1], [0], [0, 1])


# --- generation on the trained LeNet-5 ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist() -> tuple[np.ndarray, np.ndarray, str]:
    from devicelab.data import fit_to_shape, load_dataset

    ds = load_dataset("mnist-sample", split="test", limit=N)
    return fit_to_shape(ds.x, (None, 28, 28, 1)), np.asarray(ds.y), ds.sha256


@pytest.fixture(scope="module")
def reference(lenet5: Path) -> Any:
    from devicelab.models import load_source

    return load_source(lenet5).keras_model()


def _rate(model: Any, x: np.ndarray, x_adv: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    return success_rate(model.predict(x, verbose=0), model.predict(x_adv, verbose=0), y)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fgsm", "pgd"])
def test_zero_budget_changes_nothing(reference: Any, mnist: tuple, name: str) -> None:
    x, y, _ = mnist
    x_adv = generate(reference, x, y, AttackSpec(name, eps=0.0))
    assert x_adv is not x and np.array_equal(x_adv, x)
    result = _rate(reference, x, x_adv, y)
    assert result["n"] > 0.9 * N and result["successes"] == 0 and result["rate"] == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fgsm", "pgd"])
def test_perturbation_stays_in_budget_and_clip_range(reference: Any, mnist: tuple, name: str) -> None:
    x, y, _ = mnist
    spec = AttackSpec(name)  # default eps
    x_adv = generate(reference, x, y, spec)
    assert x_adv.shape == x.shape and x_adv.dtype == np.float32
    assert np.abs(x_adv - x).max() <= spec.eps + 1e-6
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert np.abs(x_adv - x).max() > spec.eps / 2  # it did move


@pytest.mark.slow
def test_strong_attacks_fool_the_reference(reference: Any, mnist: tuple) -> None:
    x, y, _ = mnist
    fgsm = _rate(reference, x, generate(reference, x, y, parse_attack("fgsm:eps=0.3")), y)
    pgd = _rate(reference, x, generate(reference, x, y, parse_attack("pgd:eps=0.3")), y)
    assert fgsm["rate"] > 0.5, fgsm
    assert pgd["rate"] >= fgsm["rate"], (pgd, fgsm)


@pytest.mark.slow
def test_pgd_is_reproducible_by_seed(reference: Any, mnist: tuple) -> None:
    x, y, _ = mnist
    x, y = x[:16], y[:16]
    spec = parse_attack("pgd:steps=2")
    state = np.random.get_state()[1].copy()
    first = generate(reference, x, y, spec)
    assert np.array_equal(np.random.get_state()[1], state)  # the caller's numpy generator is left alone
    assert np.array_equal(generate(reference, x, y, spec), first)
    assert not np.array_equal(generate(reference, x, y, AttackSpec("pgd", max_iter=2, seed=1)), first)


@pytest.mark.slow
def test_cache_reuses_the_examples_without_art(lenet5: Path, mnist: tuple, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from devicelab.hashing import sha256_path

    x, y, data_sha = mnist
    x, y = x[:32], y[:32]
    model_sha = sha256_path(lenet5)
    spec = parse_attack("fgsm")
    first, path = generate_cached(lenet5, model_sha, x, y, data_sha, spec, tmp_path)
    assert path.parent == tmp_path / "adversarial" and path.suffix == ".npz"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    with np.load(path) as saved:
        assert np.array_equal(saved["x_adv"], first) and np.array_equal(saved["y"], y)
        assert str(saved["model_sha256"]) == model_sha and str(saved["data_sha256"]) == data_sha
        assert parse_attack(str(saved["attack"])) == spec

    def no_art(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("generate() was called on a cache hit")

    monkeypatch.setattr(attacks, "generate", no_art)
    again, again_path = generate_cached(lenet5, model_sha, x, y, data_sha, spec, tmp_path)
    assert again_path == path and np.array_equal(again, first)
    # Another spec, or another number of samples, is another entry.
    assert attacks.cache_key(model_sha, data_sha, 32, spec) != attacks.cache_key(model_sha, data_sha, 16, spec)
    assert attacks.cache_key(model_sha, data_sha, 32, spec) != attacks.cache_key(model_sha, data_sha, 32,
                                                                                   spec.with_eps(0.2))
    with pytest.raises(AssertionError, match="cache hit"):
        generate_cached(lenet5, model_sha, x, y, data_sha, spec.with_eps(0.2), tmp_path)


@pytest.mark.slow
def test_cache_refuses_a_model_that_does_not_match_its_hash(lenet5: Path, mnist: tuple, tmp_path: Path) -> None:
    x, y, data_sha = mnist
    with pytest.raises(ModelLoadError, match="changed since it was hashed"):
        generate_cached(lenet5, "0" * 64, x[:4], y[:4], data_sha, parse_attack("fgsm"), tmp_path)
    assert not (tmp_path / "adversarial").exists()


def test_damaged_cache_entry_is_made_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.zeros((2, 3, 3, 1), np.float32)
    spec = parse_attack("fgsm")
    path = tmp_path / "adversarial" / f"{attacks.cache_key('m', 'd', 2, spec)}.npz"
    path.parent.mkdir()
    path.write_bytes(b"truncated")
    monkeypatch.setattr("devicelab.models.load_source", lambda p: _FakeSource())
    monkeypatch.setattr(attacks, "generate", lambda model, x, y, spec, clip: x + 0.5)
    x_adv, written = generate_cached(tmp_path / "model.keras", "m", x, np.array([0, 1]), "d", spec, tmp_path)
    assert written == path and np.array_equal(x_adv, x + 0.5)
    with np.load(path) as saved:
        assert np.array_equal(saved["x_adv"], x + 0.5)
        assert {k: v for k, v in asdict(spec).items()} == __import__("json").loads(str(saved["spec"]))


class _FakeSource:
    sha256 = "m"

    def keras_model(self) -> None:
        return None


def test_unknown_model_type_is_a_usage_error() -> None:
    pytest.importorskip("art")
    with pytest.raises(UsageError, match=r"Keras model or a torch nn\.Module"):
        generate(object(), np.zeros((2, 4), np.float32), np.array([0, 1]), parse_attack("fgsm"))


# --- PyTorch ------------------------------------------------------------------------------------------------------


def _torch_model(x: np.ndarray, y: np.ndarray, softmax: bool) -> Any:
    """Softmax regression on NHWC input, trained for a moment: linear models are easy to fool."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    layers = [torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10)]
    model = torch.nn.Sequential(*layers)
    inputs, targets = torch.tensor(x), torch.tensor(y, dtype=torch.int64)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(60):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(inputs), targets).backward()
        optimizer.step()
    if softmax:
        model.append(torch.nn.Softmax(dim=1))
    return model


def _torch_predict(model: Any, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.tensor(x)).numpy()


@pytest.fixture(scope="module")
def mnist_train() -> tuple[np.ndarray, np.ndarray]:
    from devicelab.data import fit_to_shape, load_dataset

    ds = load_dataset("mnist-sample", split="train", limit=1000)
    return fit_to_shape(ds.x, (None, 28, 28, 1)), np.asarray(ds.y)


@pytest.mark.parametrize("softmax", [True, False], ids=["probabilities", "logits"])
def test_torch_module(mnist_train: tuple, softmax: bool) -> None:
    pytest.importorskip("art")
    x_train, y_train = mnist_train
    model = _torch_model(x_train, y_train, softmax)
    model.train()
    x, y = x_train[:64], y_train[:64]
    assert np.array_equal(generate(model, x, y, parse_attack("pgd:eps=0")), x)
    results = {}
    for text in ("fgsm:eps=0.2", "pgd:eps=0.2,steps=10"):
        spec = parse_attack(text)
        x_adv = generate(model, x, y, spec)
        assert np.abs(x_adv - x).max() <= spec.eps + 1e-6 and x_adv.min() >= 0.0 and x_adv.max() <= 1.0
        results[spec.name] = success_rate(_torch_predict(model, x), _torch_predict(model, x_adv), y)
    assert results["fgsm"]["n"] > 40 and results["fgsm"]["rate"] > 0.5, results
    assert results["pgd"]["rate"] >= results["fgsm"]["rate"], results
    assert model.training  # the caller's mode is given back


def test_cache_takes_a_loaded_model_and_loads_it_only_on_a_miss(mnist_train: tuple, tmp_path: Path) -> None:
    """The PyTorch twin's path: the model comes from `load`, and a cache hit never calls it."""
    x_train, y_train = mnist_train
    model = _torch_model(x_train, y_train, softmax=True)
    x, y = x_train[:20], y_train[:20]
    calls = []

    def load() -> Any:
        calls.append(1)
        return model

    spec = parse_attack("fgsm:eps=0.2")
    first, path = generate_cached(tmp_path / "twin.onnx", "b" * 64, x, y, "d" * 64, spec, tmp_path, load=load)
    again, same = generate_cached(tmp_path / "twin.onnx", "b" * 64, x, y, "d" * 64, spec, tmp_path, load=load)
    assert calls == [1] and same == path
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - x).max() == pytest.approx(0.2, abs=1e-6)
