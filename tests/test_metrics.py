"""Statistics computed on the host from raw samples."""

from __future__ import annotations

import numpy as np
import pytest

from devicelab.metrics import accuracy, latency


def test_latency_summary_of_known_samples() -> None:
    runs = [float(v) for v in range(1, 101)]  # 1..100 ms
    s = latency.summarize(runs, warmup_ms=[9.0, 7.0], first_ms=50.0, load_ms=3.0)
    assert s["n"] == 100 and s["median_ms"] == 50.5
    assert s["p90_ms"] == pytest.approx(90.1) and s["p99_ms"] == pytest.approx(99.01)
    assert s["min_ms"] == 1 and s["max_ms"] == 100 and s["mean_ms"] == 50.5
    assert s["std_ms"] == pytest.approx(np.std(runs, ddof=1))
    assert s["cv"] == pytest.approx(s["std_ms"] / 50.5)
    assert s["first_over_warm"] == pytest.approx(50 / 50.5) and s["warmup_median_ms"] == 8.0


def test_latency_summary_without_runs() -> None:
    assert latency.summarize([], first_ms=2.0) == {"n": 0, "load_ms": None, "first_ms": 2.0}


def test_agreement_finds_exactly_the_planted_disagreements() -> None:
    rng = np.random.default_rng(0)
    reference = rng.random((200, 10)).astype(np.float32)
    variant = reference.copy()
    planted = [3, 50, 199]
    for i in planted:  # move the winning class elsewhere
        variant[i] = np.roll(reference[i], 1)
    labels = reference.argmax(1)
    s = accuracy.compare(variant, labels, reference)
    assert s["disagreements"] == planted
    assert s["agreement"] == pytest.approx(197 / 200) and s["accuracy"] == pytest.approx(197 / 200)
    low, high = s["agreement_ci"]
    assert low < 197 / 200 < high
    assert s["max_abs_diff"] > 0


def test_identical_outputs_agree_fully() -> None:
    out = np.eye(10, dtype=np.float32)
    s = accuracy.compare(out, np.arange(10), out)
    assert s["agreement"] == 1.0 and s["max_abs_diff"] == 0.0 and s["disagreements"] == []
    assert s["agreement_ci"][1] == pytest.approx(1.0) and s["agreement_ci"][0] > 0.6


def test_wilson_interval_is_honest_at_the_edges() -> None:
    assert accuracy.wilson_interval(0, 100)[0] == 0.0
    assert accuracy.wilson_interval(100, 100)[1] == pytest.approx(1.0)
    low, high = accuracy.wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-3) and high == pytest.approx(0.5962, abs=1e-3)


def test_binary_outputs_use_threshold() -> None:
    assert accuracy.top1(np.array([[0.2], [0.7]])).tolist() == [0, 1]


def test_regression_is_compared_with_mae_and_rmse_never_top1() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(50, 1)).astype(np.float32)
    variant = reference + np.float32(0.01)
    labels = reference[:, 0].astype(np.float64) + 0.5
    s = accuracy.compare([variant], labels, [reference])
    assert s["task"] == "regression" and "agreement" not in s and "accuracy" not in s
    assert s["mae"] == pytest.approx(0.49, abs=1e-5) and s["rmse"] == pytest.approx(0.49, abs=1e-5)
    assert s["max_abs_diff"] == pytest.approx(0.01, abs=1e-6)
    assert s["snr_db"] == pytest.approx(10 * np.log10((reference.astype(np.float64) ** 2).sum()
                                                       / (50 * 0.01**2)), abs=0.05)
    unlabelled = accuracy.compare([variant], None, [reference])  # a single value without labels: values
    assert unlabelled["task"] == "regression" and "agreement" not in unlabelled


def test_embeddings_are_compared_by_cosine() -> None:
    rng = np.random.default_rng(2)
    reference = rng.normal(size=(20, 384)).astype(np.float32)
    variant = reference.copy()
    variant[7] = -variant[7]  # one sample points the other way
    s = accuracy.compare([variant], None, [reference])
    assert s["task"] == "embedding" and "agreement" not in s
    assert s["cosine_min"] == pytest.approx(-1.0, abs=1e-6)
    assert s["cosine"] == pytest.approx(18 / 20, abs=1e-6)
    same = accuracy.compare([reference], None, [reference], task="embedding")
    assert same["cosine"] == pytest.approx(1.0) and same["identical"] and same["snr_db"] is None


def test_constant_reference_warns_that_agreement_means_nothing() -> None:
    reference = np.tile(np.array([[0.1, 0.7, 0.2]], np.float32), (30, 1))  # the same output for every input
    s = accuracy.compare([reference.copy()], None, [reference])
    assert s["agreement"] == 1.0 and s["reference_constant"] is True
    assert any("meaningless" in w for w in s["warnings"])
    varied = np.random.default_rng(3).dirichlet(np.ones(3), size=30).astype(np.float32)
    assert "warnings" not in accuracy.compare([varied], None, [varied])


def test_every_output_is_compared_and_the_first_is_the_headline() -> None:
    rng = np.random.default_rng(4)
    scores = rng.dirichlet(np.ones(4), size=40).astype(np.float32)
    value = rng.normal(size=(40, 1)).astype(np.float32)
    s = accuracy.compare([scores, value + 1], scores.argmax(1), [scores, value], names=["cls", "reg"])
    assert s["task"] == "classification" and s["agreement"] == 1.0 and s["accuracy"] == 1.0
    cls, reg = s["outputs"]
    assert cls["name"] == "cls" and cls["kind"] == "scores" and cls["agreement_kind"] == "top-1"
    assert reg["name"] == "reg" and reg["kind"] == "values" and "agreement" not in reg
    assert reg["max_abs_diff"] == pytest.approx(1.0, abs=1e-6)


def test_binary_single_output_is_a_decision_not_top1() -> None:
    reference = np.array([[0.2], [0.9], [0.6], [0.4]], np.float32)
    variant = np.array([[0.2], [0.9], [0.4], [0.4]], np.float32)
    s = accuracy.compare([variant], np.array([0, 1, 1, 0]), [reference])
    assert s["task"] == "classification" and s["agreement_kind"] == "decision at 0.5"
    assert s["agreement"] == 0.75 and s["disagreements"] == [2] and s["accuracy"] == 0.75


def test_labels_out_of_range_are_named() -> None:
    assert accuracy.check_labels(np.array([1, 2, 99, 3]), [None, 10], None) == (
        "label 99 at index 2 is out of range for the model's 10 classes (1 such label(s))")
    assert accuracy.check_labels(np.array([1, 0]), [None, 1], None) is None  # sigmoid: 0/1
    assert accuracy.check_labels(np.array([1, 9]), [None, 10], "regression") is None
