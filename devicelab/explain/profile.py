"""Per-operator time tables: where the time of one inference goes, and which provider ran each op.

ONNX Runtime's session profiling (``SessionOptions.enable_profiling``) writes a Chrome-trace JSON with one
``Node`` event per kernel run (op type, node name, provider, duration in us) and one ``model_run`` event per
inference. ``summarize_ort`` turns it into the table stored in a result's ``extra["profile"]``, with the share
of ops and of op time that ran on the provider the job asked for: a silent fallback to the CPU shows as a
share below 1. TFLite's Python API (ai-edge-litert) has no per-op timing, so no table is made for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

NO_PER_OP_TIMES = {
    "tflite": "ai-edge-litert's Python API gives no per-operator times (TFLite's benchmark_model does, on a "
              "phone); only whole-inference times are measured",
    "keras": "Keras gives no per-operator times here; profile the converted variants",
    "coreml": "Core ML per-op costs need MLComputePlan on macOS/iOS 17.4+",
}


def summarize_ort(events: Iterable[dict[str, Any]], requested: str) -> dict[str, Any]:
    """The per-op table of an ONNX Runtime profile: ops in the order they first ran, times per inference
    (the first inference left out when there are more)."""
    ops: dict[str, dict[str, Any]] = {}
    runs: list[float] = []
    events = list(events)
    ends = [k for k, e in enumerate(events) if e.get("cat") == "Session" and e.get("name") == "model_run"]
    if len(ends) > 1:  # the first inference allocates and plans: leave it out, as timed runs follow warm-ups
        events = events[ends[0] + 1:]
    for event in events:
        if event.get("cat") == "Session" and event.get("name") == "model_run":
            runs.append(float(event.get("dur", 0)))
            continue
        if event.get("cat") != "Node" or not str(event.get("name", "")).endswith("_kernel_time"):
            continue
        args = event.get("args") or {}
        name = str(event["name"])[: -len("_kernel_time")]
        row = ops.setdefault(name, {"name": name, "op_type": args.get("op_name"),
                                    "provider": args.get("provider"), "calls": 0, "total_us": 0.0})
        row["calls"] += 1
        row["total_us"] += float(event.get("dur", 0))
    count = max(len(runs), 1)
    table = [{"name": r["name"], "op_type": r["op_type"], "provider": r["provider"], "calls": r["calls"],
              "mean_ms": round(r["total_us"] / count / 1000.0, 6)} for r in ops.values()]
    op_time = sum(r["total_us"] for r in ops.values())
    on_requested = [r for r in ops.values() if r["provider"] == requested]
    return {
        "source": "onnxruntime session profiling",
        "requested_provider": requested,
        "runs": len(runs),
        "run_ms_mean": round(sum(runs) / count / 1000.0, 6) if runs else None,
        "ops_ms_mean": round(op_time / count / 1000.0, 6),
        "share_ops_on_requested": round(len(on_requested) / len(ops), 4) if ops else None,
        "share_time_on_requested": round(sum(r["total_us"] for r in on_requested) / op_time, 4) if op_time else None,
        "operators": table,
    }


def fallback_ops(profile: dict[str, Any]) -> list[dict[str, Any]]:
    """The ops that ran somewhere other than the requested provider."""
    return [op for op in profile.get("operators", []) if op.get("provider") != profile.get("requested_provider")]


def normalized(raw: dict[str, Any] | None, row_id: int | None = None) -> dict[str, Any]:
    """A stored profile (result extra.profile, in the runtime's own shape) in the one shape explain and
    `results --profile` show: {available, method, runs, run_ms, ops_ms, requested, share_ops, share_time,
    share_note, operators: [{name, op_type, provider, calls, ms}], row_id}, or {available: False, reason}."""
    raw = raw or {}
    if not (raw.get("operators") or raw.get("nodes")):
        reason = raw.get("reason") or raw.get("error") or "the runtime gave no per-operator table"
        return {"available": False, "reason": reason, "row_id": row_id}
    from devicelab.study.document import profile_table

    return {"available": True, **profile_table(raw), "share_note": raw.get("share_note"), "row_id": row_id}
