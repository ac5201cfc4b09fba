"""Turn a finished study into its document (study.json), its saved disagreements and its report.html."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from devicelab import __version__, api
from devicelab.metrics.accuracy import top1
from devicelab.report import rows as report_rows
from devicelab.store import json_default

MAX_EXAMPLES = 12  # disagreement images shown per variant; all of them are saved


def write(study: Any) -> tuple[Path, dict[str, Any]]:
    """Write study.json, disagreements/*.npz and report.html into the study's folder; returns the report."""
    from devicelab.report import html

    out = Path(study.config.out)
    out.mkdir(parents=True, exist_ok=True)
    doc = build(study, out)
    # Raw latency samples stay in the store (the rows' row_id finds them); study.json keeps the summaries.
    slim = {**doc, "rows": [{k: v for k, v in r.items() if k != "runs_ms"} for r in doc["rows"]]}
    (out / "study.json").write_text(json.dumps(slim, indent=1, default=json_default))
    path = out / "report.html"
    path.write_text(html.render(doc), encoding="utf-8")
    return path, doc


def build(study: Any, out: Path) -> dict[str, Any]:
    dataset = study.dataset
    rows, examples = [], []
    for part in study.parts:
        reference = study.reference(part.framework)
        for m in part.clean:
            row = _row(part, m)
            row["robustness"] = _robustness(part, m, dataset)
            rows.append(row)
            if m.variant != api.ORIGINAL and m.ok and reference is not None and reference.outputs:
                saved = _save_disagreements(out, part, m, reference, dataset)
                if saved:
                    row["disagreements_file"] = saved["file"]
                    examples.append(saved)
    references = {r["framework"]: r for r in rows if r["target"] == "host" and r["variant"] == api.ORIGINAL}
    for row in rows:
        report_rows.add_ratios(row, references.get(row["framework"]))
    return {
        "schema": "devicelab.study/1",
        "title": f"devicelab study: {_model_name(study)}",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "devicelab": __version__,
        "host": {"python": platform.python_version(), "platform": platform.platform(), "machine": platform.machine()},
        "model": {f: {"name": s.name, "format": s.format, "path": str(s.path), "sha256": s.sha256}
                  for f, s in study.sources.items()},
        "training": {f: {**info, "framework_version": _framework_version(f, info)}
                     for f, info in study.training.items()},
        "dataset": None if dataset is None else {"name": dataset.name, "samples": len(dataset), "kind": dataset.kind,
                                                 "sha256": dataset.sha256, "classes": dataset.num_classes},
        "targets": [spec.name for spec in study.config.targets],
        "rows": rows,
        "failures": [{"framework": p.framework, "target": p.target, "kind": p.error.kind, "error": p.error.message,
                      "hint": p.error.hint, "failed_jobs": sum(1 for m in p.jobs if not m.ok),
                      "jobs": len(p.jobs)} for p in study.parts if p.error is not None],
        "skipped": [{"framework": p.framework, "target": p.target, "variant": v, "reason": r}
                    for p in study.parts for v, r in p.skipped.items()],
        "environments": _environments(study),
        "attacks": study.attack_sets,
        "frameworks": study.frameworks,
        "examples": examples,
        "explain_below": study.config.explain_below,
        "diagnoses": study.diagnoses,
        "profiles": _profiles(study),
        "phases": study.phases,
        "store": str(study.config.store),
    }


def _framework_version(framework: str, info: dict[str, Any]) -> str | None:
    """What trained the model: recorded by the PyTorch twin; for Keras, the installed Keras (it trained it here)."""
    from importlib.metadata import PackageNotFoundError, version

    if framework == "pytorch" and info.get("torch"):
        return info["torch"]
    try:
        return version("keras" if framework == "keras" else "torch")
    except PackageNotFoundError:
        return None


def _model_name(study: Any) -> str:
    return next(iter(study.sources.values())).name if study.sources else str(study.config.model)


def _row(part: Any, m: api.Measurement) -> dict[str, Any]:
    result = m.result
    return report_rows.row(
        framework=part.framework, variant=m.variant, target=part.target, runtime=m.runtime, ok=m.ok,
        error=m.error.message if m.error else None, hint=m.error.hint if m.error else None, row_id=m.row_id,
        reused=m.reused, simulated=bool(result.simulated) if result else False, size_bytes=m.size_bytes,
        summary=m.summary or {}, runs_ms=list(result.timings_ms.runs) if result else [])


def _robustness(part: Any, clean: api.Measurement, dataset: Any) -> dict[str, Any]:
    from devicelab.study import attacks

    found: dict[str, Any] = {}
    if not clean.ok or not clean.outputs or dataset is None or dataset.y is None:
        return found
    for label, measured in part.attacked.items():
        match = next((a for a in measured if a.variant == clean.variant and a.runtime == clean.runtime), None)
        if match is None or not match.ok or not match.outputs:
            found[label] = {"error": match.error.message if match and match.error else "not measured"}
            continue
        adv_pred = top1(match.outputs[0])
        n = len(adv_pred)
        found[label] = attacks.success_rate(top1(clean.outputs[0])[:n], adv_pred, dataset.y[:n])
    return found


def _save_disagreements(out: Path, part: Any, m: api.Measurement, reference: api.Measurement,
                        dataset: Any) -> dict[str, Any] | None:
    """Every input on which the variant's top-1 differs from the reference: saved, and the first few shown."""
    from devicelab.report import images

    # The indices the summary counted against the same reference: the report's count and its examples agree.
    indices = np.asarray((m.summary or {}).get("accuracy", {}).get("disagreements") or [], dtype=np.int64)
    if len(indices) == 0:
        return None
    probs, ref_probs = m.outputs[0], reference.outputs[0][: len(m.outputs[0])]
    pred, ref_pred = top1(probs), top1(ref_probs)
    folder = out / "disagreements"
    folder.mkdir(exist_ok=True)
    name = f"{part.framework}-{m.variant}-{part.target}-{m.runtime}".replace("/", "_").replace(":", "_")
    labels = dataset.y[indices] if dataset.y is not None else None
    # Every input of the disagreeing samples: x for a single-input model, input_<name> for each of several.
    inputs = ({"x": dataset.x[indices]} if len(dataset.inputs) == 1
              else {f"input_{key}": array[indices] for key, array in dataset.inputs.items()})
    np.savez_compressed(folder / f"{name}.npz", indices=indices, **inputs, labels=labels,
                        reference_pred=ref_pred[indices], pred=pred[indices], reference_probs=ref_probs[indices],
                        probs=probs[indices])
    shown = []
    for i in indices[:MAX_EXAMPLES]:
        shown.append({"index": int(i), "label": None if labels is None else int(dataset.y[i]),
                      "reference": int(ref_pred[i]), "variant": int(pred[i]),
                      "reference_p": float(np.max(ref_probs[i])), "variant_p": float(np.max(probs[i])),
                      "png": images.png_data_uri(dataset.x[i]) if dataset.kind == "image" else None})
    return {"framework": part.framework, "variant": m.variant, "target": part.target, "runtime": m.runtime,
            "count": len(indices), "indices": [int(i) for i in indices],
            "file": str((folder / f"{name}.npz").relative_to(out)), "shown": shown}


def _environments(study: Any) -> list[dict[str, Any]]:
    """What each target really was: device, OS, browser and runtime versions, from its first result."""
    seen: dict[str, dict[str, Any]] = {}
    for part in study.parts:
        for m in part.clean:
            if m.result is not None and part.target not in seen:
                seen[part.target] = {"target": part.target, "device": m.result.device,
                                     "runtime_used": m.result.runtime_used}
    return list(seen.values())


def _profiles(study: Any) -> list[dict[str, Any]]:
    """The per-operator table of every clean run that was profiled (result extra.profile), in one shape:
    ONNX Runtime on the host gives ms per inference per node with its provider and the share on the requested
    one; the browser's ort-web and tfjs give per-node microseconds over their runs; ExecuTorch per-event ms."""
    found = []
    for part in study.parts:
        for m in part.clean:
            raw = (m.result.extra.get("profile") if m.result is not None else None) or None
            if not raw:
                continue
            entry: dict[str, Any] = {"framework": part.framework, "variant": m.variant, "target": part.target,
                                     "runtime": m.runtime, "row_id": m.row_id, **profile_table(raw)}
            found.append(entry)
    return found


def profile_table(raw: dict[str, Any]) -> dict[str, Any]:
    """One runtime's profile as {method, runs, run_ms, ops_ms, requested, share_ops, share_time, share_cost,
    estimated, operators: [{name, op_type, provider, calls, ms, cost, supported}] (ms: time per inference; the
    mean, or for ort-web in the browser the median call times the calls per inference), error}. ``estimated``:
    a plan, not a measurement (Core ML's MLComputePlan: each op's preferred device and share of the estimated
    cost, no ms)."""
    if raw.get("error") or raw.get("available") is False:
        return {"error": raw.get("error") or raw.get("reason") or "no per-operator table", "operators": []}
    runs = raw.get("runs") or 1
    operators = []
    if "nodes" in raw:  # the browser page: per-node microseconds over `runs` inferences
        for node in raw["nodes"]:
            calls = node.get("calls") or runs
            # ort-web gives the median call: its fresh session's first run pays for setup (shader compiles).
            total = float(node["median_us"]) * calls if node.get("median_us") is not None else \
                float(node.get("total_us") or 0)
            operators.append({"name": node.get("node"), "op_type": node.get("op_type"),
                              "provider": node.get("provider"), "calls": node.get("calls"),
                              "ms": round(total / runs / 1000.0, 6)})
    else:
        for op in raw.get("operators") or []:  # ORT host (mean_ms per inference), ExecuTorch (per event), or
            # Core ML's MLComputePlan on iOS (preferred device and estimated cost share, no time)
            operators.append({"name": op.get("name"), "op_type": op.get("op_type"),
                              "provider": op.get("provider") or op.get("backend"),
                              "calls": op.get("calls", op.get("runs")), "ms": op.get("mean_ms"),
                              "cost": op.get("cost_weight"), "supported": op.get("supported")})
    ops_ms = raw.get("ops_ms_mean")
    if ops_ms is None and "nodes" in raw:  # (ExecuTorch's events nest: Method::execute holds the others)
        ops_ms = round(sum(op["ms"] for op in operators), 6)
    return {"method": raw.get("source") or raw.get("method"), "runs": raw.get("runs"),
            "run_ms": raw.get("run_ms_mean"), "ops_ms": ops_ms, "requested": raw.get("requested_provider"),
            "share_ops": raw.get("share_ops_on_requested"), "share_time": raw.get("share_time_on_requested"),
            "share_cost": raw.get("share_cost_on_requested"), "estimated": "share_cost_on_requested" in raw,
            "operators": operators}
