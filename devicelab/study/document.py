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

MAX_EXAMPLES = 12  # disagreement images shown per variant; all of them are saved


def write(study: Any) -> tuple[Path, dict[str, Any]]:
    """Write study.json, disagreements/*.npz and report.html into the study's folder; returns the report."""
    from devicelab.report import html

    out = Path(study.config.out)
    out.mkdir(parents=True, exist_ok=True)
    doc = build(study, out)
    # Raw latency samples stay in the store (the rows' row_id finds them); study.json keeps the summaries.
    slim = {**doc, "rows": [{k: v for k, v in r.items() if k != "runs_ms"} for r in doc["rows"]]}
    (out / "study.json").write_text(json.dumps(slim, indent=1, default=_jsonable))
    path = out / "report.html"
    path.write_text(html.render(doc), encoding="utf-8")
    return path, doc


def build(study: Any, out: Path) -> dict[str, Any]:
    dataset = study.dataset
    rows, examples = [], []
    for part in study.parts:
        reference = study.reference(part.framework)
        for m in part.clean:
            row = _row(part, m, reference)
            row["robustness"] = _robustness(part, m, dataset)
            rows.append(row)
            if m.variant != api.ORIGINAL and m.ok and reference is not None and reference.outputs:
                saved = _save_disagreements(out, part, m, reference, dataset)
                if saved:
                    row["disagreements_file"] = saved["file"]
                    examples.append(saved)
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


def _row(part: Any, m: api.Measurement, reference: api.Measurement | None) -> dict[str, Any]:
    summary = m.summary or {}
    lat, acc, mem = summary.get("latency", {}), summary.get("accuracy", {}), summary.get("memory", {})
    result = m.result
    size = m.size_bytes
    row: dict[str, Any] = {
        "framework": part.framework, "variant": m.variant, "target": part.target, "runtime": m.runtime,
        "status": "ok" if m.ok else "error", "error": m.error.message if m.error else None,
        "hint": m.error.hint if m.error else None, "row_id": m.row_id, "reused": m.reused,
        "simulated": bool(result.simulated) if result else False,
        "size_bytes": size, "accuracy": acc.get("accuracy"), "accuracy_ci": acc.get("accuracy_ci"),
        "agreement": acc.get("agreement"), "agreement_ci": acc.get("agreement_ci"),
        "disagreements": len(acc.get("disagreements", [])) if "agreement" in acc else None,
        "max_abs_diff": acc.get("max_abs_diff"), "mean_abs_diff": acc.get("mean_abs_diff"),
        "load_ms": lat.get("load_ms"), "first_ms": lat.get("first_ms"), "median_ms": lat.get("median_ms"),
        "p90_ms": lat.get("p90_ms"), "iqr_ms": _iqr(result), "cv": lat.get("cv"),
        "memory_mib": mem.get("peak_mib"), "memory_method": mem.get("method"),
        "runs_ms": list(result.timings_ms.runs) if result else [],
    }
    if reference is not None and reference.ok and m.variant != api.ORIGINAL:
        ref = reference.summary or {}
        ref_size, ref_median = reference.size_bytes, ref.get("latency", {}).get("median_ms")
        row["size_ratio"] = size / ref_size if size and ref_size else None
        row["speedup"] = ref_median / row["median_ms"] if ref_median and row["median_ms"] else None
        ref_acc = ref.get("accuracy", {}).get("accuracy")
        row["accuracy_delta_pt"] = (row["accuracy"] - ref_acc) * 100 if row["accuracy"] is not None and \
            ref_acc is not None else None
    return row


def _iqr(result: Any) -> float | None:
    runs = list(result.timings_ms.runs) if result else []
    if len(runs) < 4:
        return None
    q1, q3 = np.percentile(runs, [25, 75])
    return float(q3 - q1)


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

    probs, ref_probs = m.outputs[0], reference.outputs[0][: len(m.outputs[0])]
    pred, ref_pred = top1(probs), top1(ref_probs)
    indices = np.flatnonzero(pred != ref_pred)
    if len(indices) == 0:
        return None
    folder = out / "disagreements"
    folder.mkdir(exist_ok=True)
    name = f"{part.framework}-{m.variant}-{part.target}-{m.runtime}".replace("/", "_").replace(":", "_")
    labels = dataset.y[indices] if dataset.y is not None else None
    np.savez_compressed(folder / f"{name}.npz", indices=indices, x=dataset.x[indices], labels=labels,
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


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON-able: {type(value)}")
