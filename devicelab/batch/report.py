"""The batch's report: its stored rows as the study report's document, rendered to one self-contained HTML file.

The document has the shape ``devicelab.report.html.render`` reads (rows, failures, skipped, environments,
phases); every figure comes from the store rows the batch produced, compared with each model's reference row.
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from devicelab.batch.expand import ORIGINAL
from devicelab.batch.session import BatchReport


def write_report(report: BatchReport, out: Path) -> Path:
    """report.html for this batch in ``out``; returns its path."""
    from devicelab.report import html

    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.html"
    path.write_text(html.render(build_document(report)), encoding="utf-8")
    return path


def build_document(report: BatchReport) -> dict[str, Any]:
    from devicelab import __version__
    from devicelab.store import Store

    with Store(report.store) as db:
        stored = [row for i in report.row_ids() if (row := db.get(i)) is not None]
        references = {}
        for row in stored:
            key = (row["model_sha256"], row["dataset_sha256"], row["samples"])
            if key not in references:
                references[key] = db.find_reference(*key)
    earlier = {o.row_id for o in report.outcomes.values() if o.earlier}
    rows = []
    own = {row["id"] for row in stored}
    for reference in (r for r in references.values() if r is not None and r["id"] not in own):
        rows.append({**_row(reference, None), "reused": True})  # the PC reference, measured before this batch
    rows.extend(_row(row, references.get((row["model_sha256"], row["dataset_sha256"], row["samples"])),
                     row["id"] in earlier) for row in stored)
    first = stored[0] if stored else None
    return {
        "schema": "devicelab.batch/1",
        "title": f"devicelab batch {report.plan.name or (report.plan.path.name if report.plan.path else '')}"
                 f" ({report.batch_id})",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "devicelab": __version__,
        "host": {"python": platform.python_version(), "platform": platform.platform()},
        "model": {m: {"name": m, "format": ""} for m in report.plan.models},
        "dataset": None if first is None else {"name": first["dataset"], "samples": first["samples"]},
        "targets": [p.label for p in report.pools],
        "rows": rows,
        "failures": _failures(report),
        "skipped": [{"framework": s.model, "target": s.target or "-", "variant": s.variant, "reason": s.reason}
                    for s in report.skipped],
        "examples": _disagreements(rows),
        "environments": _environments(stored),
        "phases": dict(report.phases),
        "store": str(report.store),
    }


def _row(row: Any, reference: Any, reused: bool = False) -> dict[str, Any]:
    metrics = row.metrics
    acc = metrics.get("accuracy", {})
    runs = list(row.result.get("timings_ms", {}).get("runs") or [])
    found: dict[str, Any] = {
        "framework": row["model"], "variant": row["variant"], "target": row["target"],
        "runtime": row["runtime_used"] or row["runtime"], "status": "ok" if row["status"] == "ok" else "error",
        "error": row["error_message"], "hint": metrics.get("hint"), "row_id": row["id"], "reused": reused,
        "simulated": bool(row["simulated"]), "size_bytes": row["size_bytes"], "accuracy": row["accuracy"],
        "accuracy_ci": acc.get("accuracy_ci"), "agreement": row["agreement"], "agreement_ci": acc.get("agreement_ci"),
        "disagreements": len(acc.get("disagreements", [])) if "agreement" in acc else None,
        "max_abs_diff": row["max_abs_diff"], "mean_abs_diff": row["mean_abs_diff"], "load_ms": row["load_ms"],
        "first_ms": row["first_ms"], "median_ms": row["median_ms"], "p90_ms": row["p90_ms"],
        "iqr_ms": float(np.subtract(*np.percentile(runs, [75, 25]))) if len(runs) >= 4 else None, "cv": row["cv"],
        "memory_mib": row["memory_mib"], "memory_method": row["memory_method"], "runs_ms": runs,
    }
    if reference is not None and row["variant"] != ORIGINAL and row["status"] == "ok":
        size, ref_size = row["size_bytes"], reference["size_bytes"]
        median, ref_median = row["median_ms"], reference["median_ms"]
        found["size_ratio"] = size / ref_size if size and ref_size else None
        found["speedup"] = ref_median / median if median and ref_median else None
        if row["accuracy"] is not None and reference["accuracy"] is not None:
            found["accuracy_delta_pt"] = (row["accuracy"] - reference["accuracy"]) * 100
    return found


def _disagreements(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows whose top-1 differs from the reference on some inputs; the indices are in the store row."""
    return [{"framework": r["framework"], "variant": r["variant"], "target": r["target"], "runtime": r["runtime"],
             "count": r["disagreements"], "indices": [], "file": f"store row {r['row_id']}", "shown": []}
            for r in rows if r.get("disagreements")]


def _failures(report: BatchReport) -> list[dict[str, Any]]:
    """Jobs not run, per pool: the device or browser that was missing, and why."""
    by_pool: dict[str, list[Any]] = {}
    for outcome in report.outcomes.values():
        if outcome.status == "not_run":
            by_pool.setdefault(outcome.job.pool, []).append(outcome)
    totals: dict[str, int] = {}
    for job in report.jobs:
        totals[job.pool] = totals.get(job.pool, 0) + 1
    labels = {p.key: p.label for p in report.pools}
    return [{"framework": ", ".join(dict.fromkeys(o.job.model for o in outcomes)), "target": labels.get(key, key),
             "kind": "not_run", "error": outcomes[0].error or "not run", "hint": outcomes[0].hint,
             "failed_jobs": len(outcomes), "jobs": totals.get(key, 0)} for key, outcomes in by_pool.items()]


def _environments(rows: list[Any]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for row in rows:
        device = row.get("device_json")
        if row["target"] not in seen and device and device != "{}":
            seen[row["target"]] = {"target": row["target"], "device": json.loads(device),
                                   "runtime_used": row["runtime_used"]}
    return list(seen.values())
