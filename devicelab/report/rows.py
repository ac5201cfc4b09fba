"""The report's rows: one plain dict per measured job, built the same way for a study and for a batch.

A row comes from a job's summary (the metrics document api.summarize writes and the store keeps), so a live
Measurement and a stored row give identical rows; ratios are then taken against the PC reference's row.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ORIGINAL = "original"


def row(*, framework: str, variant: str, target: str, runtime: str, ok: bool, error: str | None,
        hint: str | None, row_id: int | None, reused: bool, simulated: bool, size_bytes: int | None,
        summary: dict[str, Any], runs_ms: list[float]) -> dict[str, Any]:
    lat, acc, mem = (summary.get(part) or {} for part in ("latency", "accuracy", "memory"))
    return {
        "framework": framework, "variant": variant, "target": target, "runtime": runtime,
        "status": "ok" if ok else "error", "error": error, "hint": hint, "row_id": row_id, "reused": reused,
        "simulated": simulated, "size_bytes": size_bytes, "accuracy": acc.get("accuracy"),
        "accuracy_ci": acc.get("accuracy_ci"), "agreement": acc.get("agreement"),
        "agreement_ci": acc.get("agreement_ci"),
        "disagreements": len(acc.get("disagreements", [])) if "agreement" in acc else None,
        "max_abs_diff": acc.get("max_abs_diff"), "mean_abs_diff": acc.get("mean_abs_diff"),
        "task": acc.get("task"), "mae": acc.get("mae"), "rmse": acc.get("rmse"), "cosine": acc.get("cosine"),
        "cosine_min": acc.get("cosine_min"), "snr_db": acc.get("snr_db"), "identical": acc.get("identical"),
        "outputs": acc.get("outputs") or [], "warnings": acc.get("warnings") or [],
        "load_ms": lat.get("load_ms"), "first_ms": lat.get("first_ms"), "median_ms": lat.get("median_ms"),
        "p90_ms": lat.get("p90_ms"), "iqr_ms": _iqr(runs_ms), "cv": lat.get("cv"),
        "memory_mib": mem.get("peak_mib"), "memory_method": mem.get("method"), "runs_ms": runs_ms,
    }


def add_ratios(found: dict[str, Any], reference: dict[str, Any] | None) -> None:
    """Size ratio, speedup and accuracy change of a successful variant's row against the reference's row."""
    if reference is None or reference["status"] != "ok" or found["variant"] == ORIGINAL or found["status"] != "ok":
        return
    size, ref_size = found["size_bytes"], reference["size_bytes"]
    median, ref_median = found["median_ms"], reference["median_ms"]
    found["size_ratio"] = size / ref_size if size and ref_size else None
    found["speedup"] = ref_median / median if median and ref_median else None
    if found["accuracy"] is not None and reference["accuracy"] is not None:
        found["accuracy_delta_pt"] = (found["accuracy"] - reference["accuracy"]) * 100


def _iqr(runs_ms: list[float]) -> float | None:
    if len(runs_ms) < 4:
        return None
    q1, q3 = np.percentile(runs_ms, [25, 75])
    return float(q3 - q1)
