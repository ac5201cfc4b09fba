"""Accuracy against labels and agreement with the PC reference, from raw outputs."""

from __future__ import annotations

from typing import Any

import numpy as np


def top1(outputs: np.ndarray) -> np.ndarray:
    """Predicted class per sample; a single-unit output is read as a binary probability."""
    outputs = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0.5).astype(np.int64)
    return outputs.argmax(axis=1)


def wilson_interval(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95% confidence interval of a proportion; honest at 0% and 100% where the normal one is not."""
    if total == 0:
        return (0.0, 1.0)
    p = successes / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * np.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return (max(0.0, float(centre - half)), min(1.0, float(centre + half)))


def compare(outputs: np.ndarray, labels: np.ndarray | None, reference: np.ndarray | None) -> dict[str, Any]:
    """accuracy (vs labels) and agreement / output differences (vs the reference), with 95% intervals."""
    outputs = np.asarray(outputs, dtype=np.float64)
    predicted = top1(outputs)
    n = len(predicted)
    summary: dict[str, Any] = {"samples": n}
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)[:n]
        correct = int((predicted == labels).sum())
        summary.update(accuracy=correct / n, accuracy_ci=wilson_interval(correct, n))
    if reference is not None:
        reference = np.asarray(reference, dtype=np.float64)[:n]
        if reference.shape != outputs.shape:
            summary["reference_shape_mismatch"] = [list(reference.shape), list(outputs.shape)]
            return summary
        same = predicted == top1(reference)
        diff = np.abs(outputs - reference).reshape(n, -1)
        summary.update(
            agreement=float(same.mean()),
            agreement_ci=wilson_interval(int(same.sum()), n),
            disagreements=[int(i) for i in np.flatnonzero(~same)],
            max_abs_diff=float(diff.max()),
            mean_abs_diff=float(diff.mean()),
        )
    return summary
