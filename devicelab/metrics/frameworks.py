"""The same model trained in two frameworks, compared on the same labelled samples.

Accuracy of each with its 95% interval, how often they agree on the top-1 class, how far their probabilities
are apart, per-class accuracy, and McNemar's exact test: is one framework's model really the more accurate,
or are the samples only one of them gets right a coin toss's worth?
"""

from __future__ import annotations

from math import comb
from typing import Any

import numpy as np

from devicelab.errors import DataError
from devicelab.metrics.accuracy import top1, wilson_interval


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: the discordant pairs as a fair-coin binomial (scipy's binomtest agrees)."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(comb(n, k) for k in range(min(only_a, only_b) + 1))  # exact integers: no underflow at large n
    return min(1.0, 2 * tail / 2**n)


def _proportion(successes: int, total: int) -> tuple[float, list[float]]:
    return successes / total, list(wilson_interval(successes, total))


def compare_frameworks(probs_a: np.ndarray, probs_b: np.ndarray, labels: np.ndarray,
                       names: tuple[str, str] = ("keras", "pytorch")) -> dict[str, Any]:
    """Compare two frameworks' outputs (N x classes probabilities) for the same N samples; a JSON-able dict.

    "a" and "b" in keys mean names[0] and names[1]; a per-class diff is accuracy_a - accuracy_b.
    """
    a = np.asarray(probs_a, dtype=np.float64)
    b = np.asarray(probs_b, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    if a.shape != b.shape or len(a) != len(labels) or len(a) == 0:
        raise DataError(f"cannot compare outputs of shapes {list(a.shape)} and {list(b.shape)} "
                        f"on {len(labels)} labels", hint="give both frameworks' outputs for the same samples")
    n = len(labels)
    pred_a, pred_b = top1(a), top1(b)
    right_a, right_b = pred_a == labels, pred_b == labels
    same = pred_a == pred_b
    frameworks = {}
    for name, right in zip(names, (right_a, right_b), strict=True):
        accuracy, interval = _proportion(int(right.sum()), n)
        frameworks[name] = {"accuracy": accuracy, "accuracy_ci": interval, "correct": int(right.sum())}
    agreement, agreement_ci = _proportion(int(same.sum()), n)
    per_class = []
    for cls in np.unique(labels):
        mask = labels == cls
        acc_a, acc_b = float(right_a[mask].mean()), float(right_b[mask].mean())
        per_class.append({"class": int(cls), "n": int(mask.sum()), "accuracy_a": acc_a, "accuracy_b": acc_b,
                          "diff": acc_a - acc_b})
    only_a, only_b = int((right_a & ~right_b).sum()), int((right_b & ~right_a).sum())
    diff = np.abs(a - b).reshape(n, -1)
    return {
        "names": list(names),
        "samples": n,
        "frameworks": frameworks,
        "agreement": agreement,
        "agreement_ci": agreement_ci,
        "disagreements": [int(i) for i in np.flatnonzero(~same)],
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "per_class": per_class,
        "mcnemar": {"only_a_correct": only_a, "only_b_correct": only_b,
                    "p_value": mcnemar_exact(only_a, only_b)},
    }
