"""Compare two sets of results (A = before, B = after) and say which differences are significant.

Pure functions over plain records: a record is a dict of store summary columns (model, variant, target,
runtime, status, accuracy, agreement, samples, memory_mib, size_bytes, ...) plus "runs", the raw warm
per-run latency samples in ms. Records are matched on (model, variant, target, runtime); per key the last
successful record on each side is used.

- latency: median ratio B/A from the raw samples, a bootstrap 95% interval of that ratio and a two-sided
  Mann-Whitney U p-value; significant when the interval excludes 1 and p < 0.05.
- accuracy, agreement: difference in points (B - A) * 100, Newcombe's hybrid-score (Wilson) 95% interval of
  the difference and a two-proportion z-test p-value; significant when the interval excludes 0 and p < 0.05.
  The test treats A and B as independent samples, which is conservative when both ran on the same samples.
- memory (memory_mib), size (size_bytes) and, for regression models, mae (error against the labels): plain
  ratios, no test (one number per side).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from devicelab.errors import UsageError
from devicelab.metrics.accuracy import wilson_interval

KEY_FIELDS = ("model", "variant", "target", "runtime")
ALPHA = 0.05
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0

Key = tuple[str, str, str, str]


@dataclass
class MetricDiff:
    """One metric of one key, A versus B. ``change`` is in ``unit``: '%' (ratio - 1) or 'pt' (points)."""

    metric: str  # latency | accuracy | agreement | memory | size
    a: float | None
    b: float | None
    change: float | None
    unit: str
    low: float | None = None  # 95% interval of the change, same unit
    high: float | None = None
    p: float | None = None
    significant: bool | None = None  # None: no test for this metric (memory, size) or too little data


@dataclass
class KeyComparison:
    key: Key
    diffs: list[MetricDiff] = field(default_factory=list)

    def get(self, metric: str) -> MetricDiff | None:
        return next((d for d in self.diffs if d.metric == metric), None)


@dataclass
class Comparison:
    a_label: str
    b_label: str
    keys: list[KeyComparison] = field(default_factory=list)
    added: list[Key] = field(default_factory=list)  # only in B
    removed: list[Key] = field(default_factory=list)  # only in A


@dataclass(frozen=True)
class Gate:
    """`latency>+10%`: fails when the change goes beyond the threshold in that direction (and is significant)."""

    metric: str
    op: str  # '>' or '<'
    threshold: float
    unit: str
    text: str


@dataclass
class GateFailure:
    gate: Gate
    key: Key
    diff: MetricDiff | None
    reason: str | None = None  # a gate that could not be checked at all says why

    def describe(self) -> str:
        if self.diff is None:
            return f"{self.gate.text}: {self.reason}"
        return (f"{self.gate.text}: {' / '.join(self.key)} {format_change(self.diff)} "
                f"({format_interval(self.diff)})")


# --- statistics --------------------------------------------------------------------------------------


def latency_diff(a_runs: Iterable[float], b_runs: Iterable[float], *, resamples: int = BOOTSTRAP_RESAMPLES,
                 seed: int = BOOTSTRAP_SEED) -> MetricDiff:
    """Median ratio B/A as a % change, with a bootstrap 95% interval and the Mann-Whitney U p-value."""
    a = np.asarray(list(a_runs), dtype=np.float64)
    b = np.asarray(list(b_runs), dtype=np.float64)
    if len(a) == 0 or len(b) == 0:
        return MetricDiff("latency", _median(a), _median(b), None, "%")
    med_a, med_b = float(np.median(a)), float(np.median(b))
    change = (med_b / med_a - 1) * 100 if med_a > 0 else None
    if len(a) < 2 or len(b) < 2 or med_a <= 0:
        return MetricDiff("latency", med_a, med_b, change, "%")
    rng = np.random.default_rng(seed)
    boot_a = np.median(a[rng.integers(0, len(a), (resamples, len(a)))], axis=1)
    boot_b = np.median(b[rng.integers(0, len(b), (resamples, len(b)))], axis=1)
    ratios = boot_b / np.where(boot_a > 0, boot_a, np.nan)
    low, high = np.nanpercentile(ratios, [2.5, 97.5])
    p = float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    significant = bool((low > 1 or high < 1) and p < ALPHA)
    return MetricDiff("latency", med_a, med_b, change, "%", (low - 1) * 100, (high - 1) * 100, p, significant)


def proportion_diff(metric: str, p_a: float | None, n_a: int | None, p_b: float | None,
                    n_b: int | None) -> MetricDiff | None:
    """Difference of two proportions in points: Newcombe (Wilson) 95% interval and two-proportion z-test."""
    if p_a is None or p_b is None:
        return None
    change = (p_b - p_a) * 100
    if not n_a or not n_b:
        return MetricDiff(metric, p_a, p_b, change, "pt")
    x_a, x_b = round(p_a * n_a), round(p_b * n_b)
    l_a, u_a = wilson_interval(x_a, n_a)
    l_b, u_b = wilson_interval(x_b, n_b)
    pa, pb = x_a / n_a, x_b / n_b
    d = pb - pa
    low = d - math.sqrt((pb - l_b) ** 2 + (u_a - pa) ** 2)
    high = d + math.sqrt((u_b - pb) ** 2 + (pa - l_a) ** 2)
    pooled = (x_a + x_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    p = 1.0 if se == 0 else float(2 * stats.norm.sf(abs(d) / se))
    significant = bool((low > 0 or high < 0) and p < ALPHA)
    return MetricDiff(metric, p_a, p_b, change, "pt", low * 100, high * 100, p, significant)


def ratio_diff(metric: str, a: float | None, b: float | None) -> MetricDiff | None:
    if a is None or b is None:
        return None
    change = (b / a - 1) * 100 if a else None
    return MetricDiff(metric, float(a), float(b), change, "%")


def _median(values: np.ndarray) -> float | None:
    return float(np.median(values)) if len(values) else None


# --- matching ----------------------------------------------------------------------------------------


def key_of(record: Mapping[str, Any]) -> Key:
    return tuple(str(record.get(f) or "-") for f in KEY_FIELDS)  # type: ignore[return-value]


def latest_ok(records: Iterable[Mapping[str, Any]]) -> dict[Key, Mapping[str, Any]]:
    """The last successful record per key (records come oldest first, as the store returns them)."""
    found: dict[Key, Mapping[str, Any]] = {}
    for record in records:
        if record.get("status") == "ok":
            found[key_of(record)] = record
    return found


def compare_records(a_records: Iterable[Mapping[str, Any]], b_records: Iterable[Mapping[str, Any]],
                    a_label: str = "A", b_label: str = "B") -> Comparison:
    a, b = latest_ok(a_records), latest_ok(b_records)
    result = Comparison(a_label, b_label, added=sorted(set(b) - set(a)), removed=sorted(set(a) - set(b)))
    for key in sorted(set(a) & set(b)):
        ra, rb = a[key], b[key]
        entry = KeyComparison(key)
        if ra.get("runs") or rb.get("runs"):
            entry.diffs.append(latency_diff(ra.get("runs") or [], rb.get("runs") or []))
        elif ra.get("median_ms") is not None and rb.get("median_ms") is not None:  # no raw samples: no test
            entry.diffs.append(MetricDiff("latency", ra["median_ms"], rb["median_ms"],
                                          (rb["median_ms"] / ra["median_ms"] - 1) * 100 if ra["median_ms"] else None,
                                          "%"))
        for metric in ("accuracy", "agreement"):
            diff = proportion_diff(metric, ra.get(metric), ra.get("samples"), rb.get(metric), rb.get("samples"))
            if diff:
                entry.diffs.append(diff)
        # Regression models have no accuracy: their error against the labels (MAE) is compared as a ratio.
        for metric, column in (("mae", "mae"), ("memory", "memory_mib"), ("size", "size_bytes")):
            diff = ratio_diff(metric, ra.get(column), rb.get(column))
            if diff:
                entry.diffs.append(diff)
        result.keys.append(entry)
    return result


# --- gates -------------------------------------------------------------------------------------------

GATE_SYNTAX = "latency>+10%, accuracy<-0.5pt, agreement<-1pt, mae>+5%, memory>+20%, size>+5%"
_UNITS = {"latency": "%", "memory": "%", "size": "%", "accuracy": "pt", "agreement": "pt", "mae": "%"}
_TESTED = {"latency", "accuracy", "agreement"}
_GATE = re.compile(r"^\s*([a-z]+)\s*([<>])\s*([+-]?\d+(?:\.\d+)?)\s*(%|pt)\s*$")


def parse_gate(text: str) -> Gate:
    match = _GATE.match(text.lower())
    hint = f"write METRIC>+N% or METRIC<-Npt, for example: {GATE_SYNTAX}"
    if not match:
        raise UsageError(f"cannot read gate '{text}'", hint=hint)
    metric, op, number, unit = match.groups()
    if metric not in _UNITS:
        raise UsageError(f"unknown metric '{metric}' in gate '{text}'",
                         hint=f"metrics: {', '.join(_UNITS)}; for example: {GATE_SYNTAX}")
    if unit != _UNITS[metric]:
        raise UsageError(f"gate '{text}': {metric} changes are measured in {_UNITS[metric]}, not {unit}", hint=hint)
    return Gate(metric, op, float(number), unit, text.strip())


def evaluate_gates(comparison: Comparison, gates: Iterable[Gate]) -> list[GateFailure]:
    """Gates fail when a change is beyond the threshold in the gate's direction (and, for tested metrics,
    significant)."""
    failures = []
    for gate in gates:
        checked = 0
        for entry in comparison.keys:
            diff = entry.get(gate.metric)
            if diff is None or diff.change is None:
                continue
            checked += 1
            beyond = diff.change > gate.threshold if gate.op == ">" else diff.change < gate.threshold
            if beyond and (gate.metric not in _TESTED or diff.significant):
                failures.append(GateFailure(gate, entry.key, diff))
        if not checked:  # a gate that compared nothing must not pass by accident
            failures.append(GateFailure(gate, (), None, _nothing_compared(comparison, gate.metric)))
    return failures


def _nothing_compared(comparison: Comparison, metric: str) -> str:
    if not comparison.keys:
        return ("nothing to compare: no (model, variant, target, runtime) measured successfully on both sides "
                f"({len(comparison.removed)} only in A, {len(comparison.added)} only in B)")
    return f"nothing to compare: no result pair has a {metric} figure on both sides"


# --- rendering ---------------------------------------------------------------------------------------


def format_value(diff: MetricDiff, value: float | None) -> str:
    if value is None:
        return "-"
    if diff.metric == "latency":
        return f"{value:.3f} ms"
    if diff.metric in ("accuracy", "agreement"):
        return f"{value * 100:.2f}%"
    if diff.metric == "memory":
        return f"{value:.1f} MiB"
    if diff.metric == "mae":
        return f"{value:.4g}"
    return f"{value / 1024:.0f} KiB" if value < 2**20 else f"{value / 2**20:.2f} MiB"


def format_change(diff: MetricDiff) -> str:
    return "-" if diff.change is None else f"{diff.change:+.2f}{' pt' if diff.unit == 'pt' else '%'}"


def format_interval(diff: MetricDiff) -> str:
    if diff.low is None or diff.high is None:
        return "-"
    suffix = " pt" if diff.unit == "pt" else "%"
    return f"[{diff.low:+.2f}, {diff.high:+.2f}]{suffix}"


def format_p(diff: MetricDiff) -> str:
    if diff.p is None:
        return "-"
    return "<0.001" if diff.p < 0.001 else f"{diff.p:.3f}"


def format_significant(diff: MetricDiff) -> str:
    return "n/a" if diff.significant is None else "yes" if diff.significant else "no"


def rows(comparison: Comparison) -> list[list[str]]:
    """Table rows: key, metric, A, B, change, 95% interval, p, significant."""
    out = []
    for entry in comparison.keys:
        label = " / ".join(entry.key)
        for diff in entry.diffs:
            out.append([label, diff.metric, format_value(diff, diff.a), format_value(diff, diff.b),
                        format_change(diff), format_interval(diff), format_p(diff), format_significant(diff)])
    return out


HEADER = ["key", "metric", "A", "B", "change", "95% interval", "p", "significant"]


def markdown(comparison: Comparison, failures: list[GateFailure] | None = None,
             gates: list[Gate] | None = None) -> str:
    """A table for a pull request comment."""
    lines = [f"### devicelab compare: `{comparison.a_label}` → `{comparison.b_label}`", ""]
    if comparison.keys:
        lines += ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        for row in rows(comparison):
            if row[-1] == "yes":
                row = [*row[:-1], "**yes**"]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    else:
        lines.append("No (model, variant, target, runtime) measured successfully on both sides.")
    for title, keys in (("Only in B", comparison.added), ("Only in A", comparison.removed)):
        if keys:
            lines += ["", f"{title}: " + ", ".join(f"`{' / '.join(k)}`" for k in keys)]
    if gates:
        lines.append("")
        if failures:
            lines.append("**Gates failed:**")
            lines += [f"- `{f.gate.text}`: " + (f"{' / '.join(f.key)} {format_change(f.diff)}" if f.diff else
                                                 str(f.reason)) for f in failures]
        else:
            lines.append("Gates passed: " + ", ".join(f"`{g.text}`" for g in gates))
    return "\n".join(lines) + "\n"
