"""The report's plots, drawn with matplotlib into inline SVG (text stays text: small, crisp, searchable)."""

from __future__ import annotations

import io
from typing import Any

_COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04"]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display here, and none needed
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
                         "axes.spines.right": False, "figure.dpi": 100})
    return plt


def _svg(fig: Any) -> str:
    plt = _pyplot()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and DOCTYPE: the SVG is inlined in HTML


def _label(row: dict[str, Any]) -> str:
    framework = "" if row["framework"] == "keras" else f"{row['framework']}: "
    return f"{framework}{row['variant']} @ {row['target']}"


def accuracy_vs_size(rows: list[dict[str, Any]]) -> str | None:
    """Each variant on each target: model size against accuracy, with its 95% interval."""
    points = [r for r in rows if r.get("accuracy") is not None and r.get("size_bytes")]
    if not points:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    targets = list(dict.fromkeys(r["target"] for r in points))
    frameworks = list(dict.fromkeys(r["framework"] for r in points))
    for r in points:
        color = _COLORS[frameworks.index(r["framework"]) % len(_COLORS)]
        marker = _MARKERS[targets.index(r["target"]) % len(_MARKERS)]
        x, y = r["size_bytes"] / 1024, r["accuracy"] * 100
        low, high = (r.get("accuracy_ci") or (r["accuracy"], r["accuracy"]))
        yerr = [[max(0.0, y - low * 100)], [max(0.0, high * 100 - y)]]
        ax.errorbar(x, y, yerr=yerr, fmt=marker, color=color, ms=6, capsize=2, ecolor="#d1d5db", elinewidth=0.8,
                    alpha=0.9)
        ax.annotate(r["variant"], (x, y), xytext=(4, 3), textcoords="offset points", fontsize=7, color="#374151")
    for i, target in enumerate(targets):
        ax.plot([], [], _MARKERS[i % len(_MARKERS)], color="#6b7280", label=target)
    for i, framework in enumerate(frameworks):
        ax.plot([], [], "o", color=_COLORS[i % len(_COLORS)], label=framework)
    ax.set_xscale("log")
    ax.set_xlabel("model size (KiB, log scale)")
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.grid(alpha=0.3)
    return _svg(fig)


def latency_distributions(rows: list[dict[str, Any]]) -> str | None:
    """Raw warm latencies of every variant, one box per variant, grouped by target."""
    timed = [r for r in rows if r.get("runs_ms")]
    if not timed:
        return None
    plt = _pyplot()
    timed = sorted(timed, key=lambda r: (r["target"], r["framework"], r["variant"]))
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(timed) + 1.2))
    targets = list(dict.fromkeys(r["target"] for r in timed))
    # Whiskers at the 1st and 99th percentiles; thousands of fliers would only bloat the SVG.
    boxes = ax.boxplot([r["runs_ms"] for r in timed], vert=False, showfliers=False, widths=0.6, whis=(1, 99),
                       patch_artist=True)
    for patch, r in zip(boxes["boxes"], timed, strict=True):
        patch.set_facecolor(_COLORS[targets.index(r["target"]) % len(_COLORS)])
        patch.set_alpha(0.55)
    ax.set_yticks(range(1, len(timed) + 1), [_label(r) for r in timed], fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("warm inference latency per sample (ms, log scale)")
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)


def memory(rows: list[dict[str, Any]]) -> str | None:
    """Peak memory of each variant, labelled with how it was measured (methods differ by target)."""
    measured = [r for r in rows if r.get("memory_mib") is not None]
    if not measured:
        return None
    plt = _pyplot()
    measured = sorted(measured, key=lambda r: (r["target"], r["framework"], r["variant"]))
    targets = list(dict.fromkeys(r["target"] for r in measured))
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(measured) + 1.2))
    values = [r["memory_mib"] for r in measured]
    ax.barh(range(len(measured)), values, color=[_COLORS[targets.index(r["target"]) % len(_COLORS)]
                                                  for r in measured], alpha=0.7)
    for i, r in enumerate(measured):
        method = (r.get("memory_method") or "?").split(",")[0]  # the full method is in the details table
        ax.annotate(f" {r['memory_mib']:.1f} MiB ({method})", (values[i], i),
                    va="center", fontsize=6.5, color="#374151")
    ax.set_yticks(range(len(measured)), [_label(r) for r in measured], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("peak memory (MiB)")
    ax.set_xlim(0, max(values) * 1.9 if max(values) > 0 else 1)
    return _svg(fig)


def robustness(rows: list[dict[str, Any]]) -> str | None:
    """Attack success rate per variant and target, one bar per attack, with 95% intervals."""
    attacked = [r for r in rows if any(v.get("rate") is not None for v in (r.get("robustness") or {}).values())]
    if not attacked:
        return None
    plt = _pyplot()
    attacked = sorted(attacked, key=lambda r: (r["target"], r["framework"], r["variant"]))
    labels = list(dict.fromkeys(k for r in attacked for k in r["robustness"]))
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(attacked) * max(1, len(labels)) / 1.5 + 1.2))
    height = 0.8 / len(labels)
    for j, label in enumerate(labels):
        ys, rates, errs = [], [], [[], []]
        for i, r in enumerate(attacked):
            found = r["robustness"].get(label) or {}
            if found.get("rate") is None:
                continue
            ys.append(i + (j - (len(labels) - 1) / 2) * height)
            rates.append(found["rate"] * 100)
            errs[0].append(max(0.0, found["rate"] - found["low"]) * 100)  # rounding can put an end past the rate
            errs[1].append(max(0.0, found["high"] - found["rate"]) * 100)
        ax.barh(ys, rates, height=height, xerr=errs, color=_COLORS[j % len(_COLORS)], alpha=0.75, label=label,
                error_kw={"elinewidth": 0.8, "capsize": 1.5})
    ax.set_yticks(range(len(attacked)), [_label(r) for r in attacked], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("attack success rate (% of clean-correct samples now misclassified)")
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    return _svg(fig)


def per_class(frameworks: dict[str, Any] | None) -> str | None:
    """Per-class accuracy of the two frameworks' originals, side by side."""
    classes = (frameworks or {}).get("per_class") or []
    if not classes:
        return None
    plt = _pyplot()
    names = frameworks.get("names") or ["a", "b"]  # type: ignore[union-attr]
    fig, ax = plt.subplots(figsize=(8, 2.8))
    xs = range(len(classes))
    ax.bar([x - 0.2 for x in xs], [c["accuracy_a"] * 100 for c in classes], width=0.4, label=names[0],
           color=_COLORS[0], alpha=0.75)
    ax.bar([x + 0.2 for x in xs], [c["accuracy_b"] * 100 for c in classes], width=0.4, label=names[1],
           color=_COLORS[1], alpha=0.75)
    ax.set_xticks(list(xs), [str(c["class"]) for c in classes])
    low = min(min(c["accuracy_a"], c["accuracy_b"]) for c in classes) * 100
    ax.set_ylim(max(0, low - 5), 100.5)
    ax.set_xlabel("class")
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize=8, frameon=False)
    return _svg(fig)


def layer_errors(diagnosis: dict[str, Any], floor_db: float | None = None) -> str | None:
    """SQNR of the variant's tensor against the original's, layer by layer in graph order (explain's layers),
    the first divergent layer marked in red; identical tensors (infinite SQNR) drawn at the top as 'identical'."""
    layers = diagnosis.get("layers") or []
    if not layers:
        return None
    plt = _pyplot()
    finite = [s["sqnr_db"] for s in layers if s.get("sqnr_db") is not None and abs(s["sqnr_db"]) != float("inf")]
    top = max([*finite, 0.0]) + 10.0
    bottom = min([*finite, 0.0]) - 5.0
    values = []
    for s in layers:
        value = s.get("sqnr_db")
        values.append(top if value is None or value == float("inf") else bottom if value == float("-inf") else value)
    first = diagnosis.get("first_divergent_layer")
    names = [s["layer"] for s in layers]
    fig, ax = plt.subplots(figsize=(min(11.0, max(4.5, 2.0 + 0.45 * len(layers))), 3.2))
    xs = range(len(layers))
    ax.plot(xs, values, "-", color=_COLORS[0], lw=1.2, alpha=0.8)
    colors = [_COLORS[1] if name == first else _COLORS[0] for name in names]
    ax.scatter(xs, values, c=colors, s=[60 if name == first else 22 for name in names], zorder=3)
    for x, s in zip(xs, layers, strict=True):
        if s.get("sqnr_db") is None:
            ax.annotate("identical", (x, top), xytext=(0, 4), textcoords="offset points", ha="center", fontsize=6.5,
                        color="#6b7280")
    if first in names:
        at = names.index(first)
        ax.axvline(at, color=_COLORS[1], lw=1, ls="--", alpha=0.7)
        ax.annotate(f"first divergent: {first}", (at, values[at]), xytext=(6, -12), textcoords="offset points",
                    fontsize=8, color=_COLORS[1], fontweight="bold")
    if floor_db is not None:
        ax.axhline(floor_db, color="#9ca3af", lw=0.8, ls=":")
        ax.annotate(f"floor {floor_db:g} dB", (len(layers) - 0.5, floor_db), xytext=(0, 3), textcoords="offset points",
                    ha="right", fontsize=6.5, color="#6b7280")
    ax.set_xticks(list(xs), names, rotation=35 if len(layers) > 4 else 0, ha="right" if len(layers) > 4 else "center",
                  fontsize=7)
    ax.set_xlim(-0.5, len(layers) - 0.5)
    ax.set_ylim(bottom, top + 8)
    ax.set_xlabel("layer, in graph order")
    ax.set_ylabel("SQNR vs original (dB)")
    ax.grid(axis="y", alpha=0.3)
    return _svg(fig)
