"""Latency statistics, computed once on the host from the raw per-run samples a target sends back."""

from __future__ import annotations

from typing import Any

import numpy as np


def summarize(runs_ms: list[float], warmup_ms: list[float] | None = None, first_ms: float | None = None,
              load_ms: float | None = None) -> dict[str, Any]:
    """median, p90, p99, mean, std, min, max, CV of warm runs; first vs warm kept apart."""
    summary: dict[str, Any] = {"n": len(runs_ms), "load_ms": load_ms, "first_ms": first_ms}
    if not runs_ms:
        return summary
    runs = np.asarray(runs_ms, dtype=np.float64)
    mean = float(runs.mean())
    std = float(runs.std(ddof=1)) if len(runs) > 1 else 0.0
    summary.update(
        median_ms=float(np.median(runs)),
        p90_ms=float(np.percentile(runs, 90)),
        p99_ms=float(np.percentile(runs, 99)),
        mean_ms=mean,
        std_ms=std,
        min_ms=float(runs.min()),
        max_ms=float(runs.max()),
        cv=std / mean if mean > 0 else None,
    )
    if first_ms is not None and summary["median_ms"] > 0:
        summary["first_over_warm"] = first_ms / summary["median_ms"]
    if warmup_ms:
        summary["warmup_median_ms"] = float(np.median(warmup_ms))
    return summary
