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

from devicelab.batch.session import BatchReport
from devicelab.report import rows as report_rows


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
    reference_rows = {key: _row(r, reused=True) for key, r in references.items() if r is not None}
    own = {row["id"] for row in stored}
    # The PC reference first when it was measured before this batch (else it is one of the batch's own rows).
    rows = [r for r in reference_rows.values() if r["row_id"] not in own]
    for row in stored:
        found = _row(row, row["id"] in earlier)
        report_rows.add_ratios(found, reference_rows.get((row["model_sha256"], row["dataset_sha256"],
                                                          row["samples"])))
        rows.append(found)
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


def _row(row: Any, reused: bool = False) -> dict[str, Any]:
    metrics = row.metrics
    return report_rows.row(
        framework=row["model"], variant=row["variant"], target=row["target"],
        runtime=row["runtime_used"] or row["runtime"], ok=row["status"] == "ok", error=row["error_message"],
        hint=metrics.get("hint"), row_id=row["id"], reused=reused, simulated=bool(row["simulated"]),
        size_bytes=row["size_bytes"], summary=metrics, runs_ms=list(row.result.get("timings_ms", {}).get("runs") or []))


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
