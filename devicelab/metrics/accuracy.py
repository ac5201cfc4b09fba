"""Accuracy against labels and agreement with the PC reference, from raw outputs, for every kind of output.

Which comparison fits depends on what an output is:
- class scores (several values per sample): accuracy against class-id labels and top-1 agreement;
- a single value read as a binary decision (a sigmoid classifier): accuracy and decision agreement at 0.5
  (0 for logits), never called top-1;
- values (regression targets, embeddings): MAE and RMSE against float labels.
Every output, whatever its kind, is also compared value by value with the reference: max and mean absolute
difference, cosine similarity per sample (mean and minimum) and signal-to-noise ratio in dB.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

TASKS = ("classification", "regression", "embedding")
SCORES, BINARY, VALUES = "scores", "binary", "values"
# Reference outputs whose spread across inputs is below this share of their size are taken as constant.
CONSTANT_SPREAD = 1e-6
MAX_SCORE_CLASSES = 32  # without labels, a wider output that is not a probability vector is read as values


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


def _flat(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a.reshape(len(a), -1)


def _probabilities(flat: np.ndarray) -> bool:
    return bool(flat.size and flat.min() >= 0 and np.allclose(flat.sum(axis=1), 1.0, atol=1e-3))


def guess_task(output: np.ndarray, label_kind: str | None) -> str:
    """classification | regression | embedding, from the labels when there are any, else from the output."""
    if label_kind == "class":
        return "classification"
    if label_kind == "value":
        return "regression"
    flat = _flat(output)
    if flat.shape[1] == 1:
        return "regression"
    if _probabilities(flat) or flat.shape[1] <= MAX_SCORE_CLASSES:
        return "classification"
    return "embedding"


def output_kind(output: np.ndarray, task: str | None, headline: bool) -> str:
    flat = _flat(output)
    if headline:
        if task != "classification":
            return VALUES
        return BINARY if flat.shape[1] == 1 else SCORES
    # Outputs after the first carry no labels: read them by their look.
    if flat.shape[1] > 1 and (_probabilities(flat) or flat.shape[1] <= MAX_SCORE_CLASSES) and task == "classification":
        return SCORES
    return VALUES


def decisions(output: np.ndarray, kind: str, threshold: float = 0.5) -> np.ndarray:
    flat = _flat(output)
    if kind == BINARY:
        return (flat[:, 0] > threshold).astype(np.int64)
    return flat.argmax(axis=1)


def _binary_threshold(reference: np.ndarray | None, output: np.ndarray) -> float:
    """0.5 for probabilities; 0 for logits (values outside [0, 1])."""
    seen = _flat(reference if reference is not None else output)
    return 0.5 if seen.size == 0 or (seen.min() >= 0 and seen.max() <= 1) else 0.0


def value_differences(output: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    """max/mean |diff|, cosine similarity per sample (mean, min) and SNR in dB of output against reference."""
    out, ref = _flat(output), _flat(reference)
    diff = out - ref
    dot = (out * ref).sum(axis=1)
    norms = np.linalg.norm(out, axis=1) * np.linalg.norm(ref, axis=1)
    both_zero = (np.linalg.norm(out, axis=1) == 0) & (np.linalg.norm(ref, axis=1) == 0)
    cosine = np.where(both_zero, 1.0, np.divide(dot, norms, out=np.zeros_like(dot), where=norms > 0))
    noise, signal = float((diff**2).sum()), float((ref**2).sum())
    found: dict[str, Any] = {
        "max_abs_diff": float(np.abs(diff).max()) if diff.size else 0.0,
        "mean_abs_diff": float(np.abs(diff).mean()) if diff.size else 0.0,
        "cosine": float(cosine.mean()), "cosine_min": float(cosine.min()),
    }
    # Identical outputs have no noise: SNR is unbounded, said as "identical" rather than a made-up number.
    if noise == 0:
        found.update(snr_db=None, identical=True)
    else:
        found.update(snr_db=10 * math.log10(signal / noise) if signal > 0 else -math.inf, identical=False)
        if not math.isfinite(found["snr_db"]):
            found["snr_db"] = None
    return found


def constant_reference(reference: np.ndarray) -> bool:
    """True when the reference barely varies across inputs: then agreement with it means nothing."""
    ref = _flat(reference)
    if len(ref) < 2:
        return False
    spread = float(ref.std(axis=0).max())
    return spread <= CONSTANT_SPREAD * (float(np.abs(ref).mean()) + 1e-12)


def _labels_figures(output: np.ndarray, kind: str, labels: np.ndarray, threshold: float) -> dict[str, Any]:
    n = len(output)
    if kind in (SCORES, BINARY):
        labels = np.asarray(labels).reshape(-1)[:n]
        correct = int((decisions(output, kind, threshold) == labels).sum())
        return {"accuracy": correct / n, "accuracy_ci": wilson_interval(correct, n)}
    flat, target = _flat(output), np.asarray(labels, dtype=np.float64).reshape(n, -1)
    if flat.shape != target.shape:
        return {"labels_shape_mismatch": [list(target.shape), list(flat.shape)]}
    err = flat - target
    return {"mae": float(np.abs(err).mean()), "rmse": float(np.sqrt((err**2).mean()))}


def _output_figures(output: np.ndarray, reference: np.ndarray | None, kind: str,
                    threshold: float) -> dict[str, Any]:
    n = len(output)
    found: dict[str, Any] = {"kind": kind, "shape": list(np.shape(output))[1:]}
    if reference is None:
        return found
    reference = np.asarray(reference)[:n]
    if np.shape(reference) != np.shape(output):
        found["reference_shape_mismatch"] = [list(np.shape(reference)), list(np.shape(output))]
        return found
    if kind in (SCORES, BINARY):
        same = decisions(output, kind, threshold) == decisions(reference, kind, threshold)
        found.update(agreement=float(same.mean()), agreement_ci=wilson_interval(int(same.sum()), n),
                     agreement_kind="top-1" if kind == SCORES else f"decision at {threshold:g}",
                     disagreements=[int(i) for i in np.flatnonzero(~same)])
        if len(np.unique(decisions(reference, kind, threshold))) == 1 and n > 1:
            found["warning"] = ("the reference predicts the same class for every input: agreement with it says "
                                "little")
    found.update(value_differences(output, reference))
    if constant_reference(reference):
        found["reference_constant"] = True
        found["warning"] = ("the reference's outputs barely vary across inputs (an untrained or broken model?): "
                            "agreement with it is meaningless")
    return found


def compare(outputs: Sequence[np.ndarray] | np.ndarray, labels: np.ndarray | None,
            reference: Sequence[np.ndarray] | np.ndarray | None, *, task: str | None = None,
            label_kind: str | None = None, names: Sequence[str] | None = None) -> dict[str, Any]:
    """Figures of every output against the labels (first output) and the reference (every output).

    The first output is the headline: its figures are also at the top level of the returned dict
    (accuracy, agreement, mae, rmse, cosine, snr_db, ...), as tables and the store show them.
    """
    outputs = [outputs] if isinstance(outputs, np.ndarray) else list(outputs)
    refs: list[np.ndarray | None]
    if reference is None:
        refs = [None] * len(outputs)
    else:
        ref_list = [reference] if isinstance(reference, np.ndarray) else list(reference)
        refs = [ref_list[k] if k < len(ref_list) else None for k in range(len(outputs))]
    if label_kind is None and labels is not None:
        label_kind = "value" if np.asarray(labels).dtype.kind == "f" else "class"
    guessed = task is None
    task = task or guess_task(outputs[0], label_kind)
    n = len(outputs[0])
    summary: dict[str, Any] = {"samples": n, "task": task, "task_guessed": guessed, "outputs": []}
    warnings: list[str] = []
    for k, output in enumerate(outputs):
        kind = output_kind(output, task, headline=k == 0)
        threshold = _binary_threshold(refs[k], output) if kind == BINARY else 0.5
        figures = _output_figures(output, refs[k], kind, threshold)
        figures["name"] = names[k] if names and k < len(names) else f"output_{k}"
        if k == 0 and labels is not None:
            figures.update(_labels_figures(output, kind, labels, threshold))
        if figures.get("warning"):
            warnings.append(f"{figures['name']}: {figures['warning']}")
        summary["outputs"].append(figures)
    head = summary["outputs"][0]
    for key in ("accuracy", "accuracy_ci", "mae", "rmse", "agreement", "agreement_ci", "agreement_kind",
                "disagreements", "max_abs_diff", "mean_abs_diff", "cosine", "cosine_min", "snr_db", "identical",
                "reference_shape_mismatch", "labels_shape_mismatch", "reference_constant"):
        if key in head:
            summary[key] = head[key]
    if warnings:
        summary["warnings"] = warnings
    return summary


def check_labels(labels: np.ndarray, output_shape: Sequence[Any], task: str | None) -> str | None:
    """A message when class-id labels cannot belong to a classifier with this output shape, else None."""
    dims = [d for d in list(output_shape)[1:]]
    if task not in (None, "classification") or not dims or any(not isinstance(d, int) or d <= 0 for d in dims):
        return None
    classes = int(np.prod(dims))
    limit = 2 if classes == 1 else classes
    bad = np.flatnonzero(np.asarray(labels).reshape(-1) >= limit)
    if not len(bad):
        return None
    i = int(bad[0])
    return (f"label {int(labels[i])} at index {i} is out of range for the model's {limit} classes "
            f"({len(bad)} such label(s))")
