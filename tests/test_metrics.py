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
